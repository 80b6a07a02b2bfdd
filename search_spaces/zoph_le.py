"""Zoph & Le's CIFAR-10 space (ICLR 2017): a plain stack of convolutions, one layer at a time.

"Neural Architecture Search with Reinforcement Learning" searched, for a fixed
number of convolution layers, each layer's filter height, filter width and number
of filters (and, in some runs, its stride), with optional skip connections chosen
per layer through "anchor points": layer i takes the depth-concatenation of the
earlier layers its anchor picks (the image when it picks none), and the outputs no
later layer takes are concatenated for the classifier.

Decision points, in network order: for each of `depth` layers (default 15), its
filter height and filter width in {1, 3, 5, 7} and its filters in {24, 36, 48, 64};
with `strides=True` its stride in {1, 2, 3}; with `skips=True`, one on/off decision
per earlier layer (`layer5_skip_2`: does layer 5 take layer 2's output?), the
immediately preceding layer on by default. Each layer is Conv2D (no bias, same
padding), batch normalization and ReLU; global average pooling and a softmax
classifier follow. Strides and skips do not combine (earlier outputs would need
resizing the paper does not specify).

The default network is 3x3 convolutions with 48 filters in every layer, no stride,
each layer on the one before: at 32x32 and 10 classes, 298,598,880 MAdds and
294,970 parameters. The space holds 64^15 (about 1.2e27) networks; LayerNAS with
H = 10, k = 1 trains at most 1 + 15 * 10 * (4 + 4 + 4) = 1,801.
"""

from __future__ import annotations

from typing import Optional

from layernas_tf.core.space import Architecture, DecisionPoint
from search_spaces.blocks import CountedSpace, Counter, same_padding_size

FILTER_SIZES = (1, 3, 5, 7)
FILTERS = (24, 36, 48, 64)
STRIDES = (1, 2, 3)
BN_MOMENTUM = 0.99


class ZophLeSpace(CountedSpace):
    """The Zoph & Le layer space; the cost is MAdds at the space's input size."""

    name = "zoph_le"

    def __init__(self, depth: int = 15, strides: bool = False, skips: bool = False, input_shape=(32, 32, 3),
                 num_classes: int = 10):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive integer, got {depth!r}")
        if strides and skips:
            raise ValueError("zoph_le: strides and skips do not combine (earlier outputs would need resizing)")
        self.depth, self.strides, self.skips = depth, strides, skips
        points = []
        for i in range(depth):
            points.append(DecisionPoint(f"layer{i}_filter_height", FILTER_SIZES, default=1))
            points.append(DecisionPoint(f"layer{i}_filter_width", FILTER_SIZES, default=1))
            points.append(DecisionPoint(f"layer{i}_filters", FILTERS, default=2))
            if strides:
                points.append(DecisionPoint(f"layer{i}_stride", STRIDES, default=0))
            if skips:
                points += [DecisionPoint(f"layer{i}_skip_{j}", (False, True), default=int(j == i - 1))
                           for j in range(i)]
        super().__init__(points)
        self.input_shape, self.num_classes = self._check(input_shape, num_classes)

    def layers(self, arch: Architecture) -> list[dict]:
        """Each layer resolved: kernel (height, width), filters, stride, and the earlier layers it takes."""
        values = dict(zip((p.name for p in self.decision_points), self.values(arch)))
        out = []
        for i in range(self.depth):
            inputs = ([j for j in range(i) if values[f"layer{i}_skip_{j}"]] if self.skips
                      else [i - 1] if i else [])
            out.append({"kernel": (values[f"layer{i}_filter_height"], values[f"layer{i}_filter_width"]),
                        "filters": values[f"layer{i}_filters"],
                        "stride": values[f"layer{i}_stride"] if self.strides else 1,
                        "inputs": inputs})
        return out

    def _outputs(self, layers: list[dict]) -> list[int]:
        """The layers whose output no later layer takes: concatenated for the classifier."""
        taken = {j for layer in layers for j in layer["inputs"]}
        return [i for i in range(len(layers)) if i not in taken]

    def _count(self, arch: Architecture, input_shape, num_classes) -> Counter:
        (h, w, c), classes = self._resolve(input_shape, num_classes)
        counter, layers = Counter(), self.layers(arch)
        for layer in layers:
            c_in = sum(layers[j]["filters"] for j in layer["inputs"]) or c
            h, w = same_padding_size(h, layer["stride"]), same_padding_size(w, layer["stride"])
            kh, kw = layer["kernel"]
            counter.madds += h * w * kh * kw * c_in * layer["filters"]
            counter.params += kh * kw * c_in * layer["filters"] + 4 * layer["filters"]
        counter.dense(sum(layers[i]["filters"] for i in self._outputs(layers)), classes)
        return counter

    def build(self, arch: Architecture, input_shape=None, num_classes: Optional[int] = None):
        """The Keras model of `arch`; it takes RGB pixels in [0, 255] and outputs class probabilities."""
        import keras  # pylint: disable=import-outside-toplevel  (no TensorFlow until a network is built)
        from keras import layers as kl  # pylint: disable=import-outside-toplevel  (no TensorFlow until a network is built)

        (h, w, c), classes = self._resolve(input_shape, num_classes)
        layers = self.layers(arch)
        inputs = keras.Input(shape=(h, w, c), name="image")
        image = kl.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(inputs)
        outputs = []
        for i, layer in enumerate(layers):
            taken = [outputs[j] for j in layer["inputs"]]
            x = image if not taken else taken[0] if len(taken) == 1 else kl.Concatenate(name=f"layer{i}_concat")(taken)
            x = kl.Conv2D(layer["filters"], layer["kernel"], strides=layer["stride"], padding="same", use_bias=False,
                          name=f"layer{i}_conv")(x)
            x = kl.BatchNormalization(momentum=BN_MOMENTUM, name=f"layer{i}_bn")(x)
            outputs.append(kl.ReLU(name=f"layer{i}_relu")(x))
        last = [outputs[i] for i in self._outputs(layers)]
        x = last[0] if len(last) == 1 else kl.Concatenate(name="outputs_concat")(last)
        x = kl.GlobalAveragePooling2D(name="global_average_pooling")(x)
        probabilities = kl.Dense(classes, activation="softmax", dtype="float32", name="predictions")(x)
        return keras.Model(inputs, probabilities, name=self.name)
