"""Keras building blocks shared by the spaces, each beside its exact cost.

Every block has a Keras builder and a counter of its multiply-adds and parameters.
The two sit side by side because the analytic counter must give exactly what graph
profiling of the built model gives (the tests pin that): LayerNAS evaluates the cost
of every child before it trains anything, so the counter, not the profiler, is on
the search's critical path.

Layer names follow keras.applications (`expanded_conv_{id}_expand`, `..._depthwise`,
`..._project`, ...), so they stay stable across architectures of one space. Spatial
sizes follow "same" padding: a stride-s layer maps n to ceil(n / s). Parameter
counts include BatchNorm's moving statistics, as `keras.Model.count_params` does.
"""

from __future__ import annotations

import dataclasses
import math

from keras import layers

from layernas_tf.core.space import Architecture, SearchSpace

BN_EPSILON = 1e-3
# keras.applications uses 0.999; moving statistics that slow stay unsettled after a
# proxy training of a few hundred steps, and every candidate's reward would suffer.
BN_MOMENTUM = 0.9
SE_RATIO = 0.25
ACTIVATIONS = ("relu", "relu6", "hard_swish")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Rounds a channel count to a multiple of `divisor`, never down by more than 10%."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def same_padding_size(size: int, stride: int) -> int:
    return math.ceil(size / stride)


@dataclasses.dataclass
class Counter:
    """Accumulates multiply-adds (Conv2D, DepthwiseConv2D, MatMul) and parameters."""

    madds: int = 0
    params: int = 0

    def conv(self, out_h: int, out_w: int, kernel: int, c_in: int, c_out: int, *, bias=False, bn=False):
        self.madds += out_h * out_w * kernel * kernel * c_in * c_out
        self.params += kernel * kernel * c_in * c_out + (c_out if bias else 0) + (4 * c_out if bn else 0)

    def depthwise(self, out_h: int, out_w: int, kernel: int, channels: int, *, bn=True):
        self.madds += out_h * out_w * kernel * kernel * channels
        self.params += kernel * kernel * channels + (4 * channels if bn else 0)

    def dense(self, c_in: int, c_out: int):
        self.madds += c_in * c_out
        self.params += c_in * c_out + c_out


class CountedSpace(SearchSpace):
    """A space that counts its networks layer by layer into a `Counter` (`_count`); MAdds is its cost.

    Subclasses set `input_shape` and `num_classes` (what a count or a build uses unless
    given others) and may tighten `_check`.
    """

    input_shape: tuple[int, int, int]
    num_classes: int

    def _count(self, arch: Architecture, input_shape, num_classes) -> Counter:
        raise NotImplementedError

    def _check(self, input_shape, num_classes) -> tuple[tuple[int, int, int], int]:
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ValueError(f"input_shape must be (height, width, channels) of positive ints, got {shape}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        return shape, num_classes

    def _resolve(self, input_shape, num_classes) -> tuple[tuple[int, int, int], int]:
        return self._check(self.input_shape if input_shape is None else input_shape,
                           self.num_classes if num_classes is None else num_classes)

    def madds(self, arch: Architecture, input_shape=None, num_classes: int | None = None) -> int:
        """Multiply-adds of Conv2D, DepthwiseConv2D and MatMul for one image (what graph profiling counts)."""
        return self._count(arch, input_shape, num_classes).madds

    def params(self, arch: Architecture, input_shape=None, num_classes: int | None = None) -> int:
        """All weights, BatchNorm moving statistics included (`keras.Model.count_params`)."""
        return self._count(arch, input_shape, num_classes).params

    def cost(self, arch: Architecture) -> int:
        return self.madds(arch)


def activation(name: str, layer_name: str) -> layers.Layer:
    """ReLU, ReLU6 or hard-swish as one named layer."""
    if name == "relu":
        return layers.ReLU(name=layer_name)
    if name == "relu6":
        return layers.ReLU(6.0, name=layer_name)
    if name == "hard_swish":
        return layers.Activation("hard_swish", name=layer_name)
    raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")


def conv_bn(x, filters: int, kernel: int, stride: int, act: str | None, name: str):
    """Conv2D (no bias), BatchNorm, optional activation."""
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return activation(act, f"{name}_{act}")(x) if act else x


def depthwise_bn(x, kernel: int, stride: int, act: str, name: str):
    """DepthwiseConv2D (no bias), BatchNorm, activation."""
    x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return activation(act, f"{name}_{act}")(x)


def se_block(x, channels: int, se_channels: int, prefix: str):
    """Squeeze-and-excite: pooled 1x1 convs with ReLU and hard-sigmoid gate the channels."""
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(x)
    s = layers.Conv2D(se_channels, 1, name=f"{prefix}squeeze_excite_conv")(s)
    s = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(s)
    s = layers.Conv2D(channels, 1, name=f"{prefix}squeeze_excite_conv_1")(s)
    s = layers.Activation("hard_sigmoid", name=f"{prefix}squeeze_excite_hard_sigmoid")(s)
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([x, s])


@dataclasses.dataclass(frozen=True)
class Bottleneck:
    """One inverted-residual bottleneck, fully resolved (channels, kernel, stride, SE).

    Attributes:
      expand: whether a 1x1 expansion conv runs (expansion ratio != 1).
      se_channels: squeeze width, 0 for no squeeze-and-excite.
    """

    in_channels: int
    expanded_channels: int
    out_channels: int
    kernel: int
    stride: int
    se_channels: int
    activation: str
    expand: bool

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels

    def build(self, x, prefix: str):
        """Expand 1x1, depthwise kxk, optional SE, project 1x1, residual when shapes allow."""
        shortcut = x
        if self.expand:
            x = conv_bn(x, self.expanded_channels, 1, 1, self.activation, f"{prefix}expand")
        x = depthwise_bn(x, self.kernel, self.stride, self.activation, f"{prefix}depthwise")
        if self.se_channels:
            x = se_block(x, self.expanded_channels, self.se_channels, prefix)
        x = conv_bn(x, self.out_channels, 1, 1, None, f"{prefix}project")
        if self.residual:
            x = layers.Add(name=f"{prefix}add")([shortcut, x])
        return x

    def count(self, counter: Counter, h: int, w: int) -> tuple[int, int]:
        """Adds this block's cost at input size h x w; returns the output size."""
        if self.expand:
            counter.conv(h, w, 1, self.in_channels, self.expanded_channels, bn=True)
        h, w = same_padding_size(h, self.stride), same_padding_size(w, self.stride)
        counter.depthwise(h, w, self.kernel, self.expanded_channels)
        if self.se_channels:
            counter.conv(1, 1, 1, self.expanded_channels, self.se_channels, bias=True)
            counter.conv(1, 1, 1, self.se_channels, self.expanded_channels, bias=True)
        counter.conv(h, w, 1, self.expanded_channels, self.out_channels, bn=True)
        return h, w
