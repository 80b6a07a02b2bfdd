"""MAdds of any built Keras model, counted from its layers and their shapes: graph profiling's exact twin.

`graph.profile_madds` traces a model and lets TensorFlow's profiler count the
multiply-adds of Conv2D, DepthwiseConv2dNative and MatMul. This walks the
model's layers instead, each call with its input and output shapes, and adds
what each of those ops computes; no tracing, so it is cheap enough to count a
user's model at every architecture a search looks at.

What it counts, for one image: `Conv1D`/`Conv2D` (groups and dilation; a dilated
convolution as TensorFlow runs it, on its space-to-batch grid), `DepthwiseConv2D`,
`SeparableConv2D` (its depthwise and pointwise parts), `Dense` on any rank, nested
models and layers used several times (once per call). Layers that do no such
multiply-adds (normalization, activations, pooling, merges, reshapes, padding,
preprocessing) count 0. Anything else (`Conv3D`, `Conv2DTranspose`, attention,
`Lambda`, a custom layer) raises a `ValueError` naming it: it is never counted
as 0. Parameters are `model.count_params()`, BatchNorm's moving statistics
included.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import keras

# Layers whose work the profiler does not count: no Conv2D, DepthwiseConv2dNative or MatMul inside.
_FREE = (
    keras.layers.InputLayer, keras.layers.BatchNormalization, keras.layers.LayerNormalization,
    keras.layers.GroupNormalization, keras.layers.UnitNormalization, keras.layers.Activation, keras.layers.ReLU,
    keras.layers.Softmax, keras.layers.LeakyReLU, keras.layers.ELU, keras.layers.PReLU,
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply, keras.layers.Average, keras.layers.Maximum,
    keras.layers.Minimum, keras.layers.Concatenate, keras.layers.Reshape, keras.layers.Flatten, keras.layers.Permute,
    keras.layers.RepeatVector, keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise, keras.layers.GaussianDropout, keras.layers.AlphaDropout, keras.layers.Identity,
    keras.layers.Rescaling, keras.layers.Normalization, keras.layers.Resizing, keras.layers.CenterCrop,
    keras.layers.ZeroPadding1D, keras.layers.ZeroPadding2D, keras.layers.Cropping1D, keras.layers.Cropping2D,
    keras.layers.UpSampling1D, keras.layers.UpSampling2D,
    keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D,
)


def _calls(model: keras.Model) -> Iterator[tuple[keras.layers.Layer, list[tuple], list[tuple]]]:
    """(layer, input shapes, output shapes) for every call of every layer, nested models walked into."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            for _ in layer._inbound_nodes:  # pylint: disable=protected-access  (Keras keeps calls there)
                yield from _calls(layer)
            continue
        for node in layer._inbound_nodes:  # pylint: disable=protected-access
            yield (layer, [tuple(t.shape) for t in node.input_tensors],
                   [tuple(t.shape) for t in node.output_tensors])


def _positions(inputs: Sequence[int], outputs: Sequence[int], kernel: Sequence[int], dilation: Sequence[int],
               padding: str) -> int:
    """Output positions a convolution computes. Dilated, TensorFlow runs it at stride 1 on a space-to-batch grid
    whose sides are padded to a multiple of the dilation, so it computes more positions than it outputs."""
    if all(d == 1 for d in dilation):
        return math.prod(outputs)
    total = 1
    for n, k, d in zip(inputs, kernel, dilation):
        if padding == "causal":  # padded on the left first, then run as "valid"
            n += d * (k - 1)
        grid = d * math.ceil(n / d)
        total *= grid if padding == "same" else grid - d * (k - 1)
    return total


def layer_madds(layer: keras.layers.Layer, inputs: list[tuple], outputs: list[tuple]) -> int:
    """The multiply-adds of one call of `layer` on one image.

    Raises:
      ValueError: a layer this does not know how to count, named.
    """
    if isinstance(layer, _FREE):
        return 0
    x, y = inputs[0][1:], outputs[0][1:]
    if isinstance(layer, keras.layers.SeparableConv2D):
        positions = _positions(x[:-1], y[:-1], layer.kernel_size, layer.dilation_rate, layer.padding)
        depthwise = positions * x[-1] * layer.depth_multiplier * math.prod(layer.kernel_size)
        return depthwise + math.prod(y[:-1]) * x[-1] * layer.depth_multiplier * layer.filters
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        positions = _positions(x[:-1], y[:-1], layer.kernel_size, layer.dilation_rate, layer.padding)
        return positions * x[-1] * layer.depth_multiplier * math.prod(layer.kernel_size)
    if type(layer) in (keras.layers.Conv1D, keras.layers.Conv2D):  # pylint: disable=unidiomatic-typecheck
        if layer.data_format != "channels_last":
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) is channels_first: only channels_last "
                             "convolutions are counted")
        positions = _positions(x[:-1], y[:-1], layer.kernel_size, layer.dilation_rate, layer.padding)
        return positions * layer.filters * math.prod(layer.kernel_size) * (x[-1] // layer.groups)
    if type(layer) is keras.layers.Dense:  # pylint: disable=unidiomatic-typecheck  (subclasses may do more)
        return math.prod(x[:-1]) * x[-1] * layer.units
    raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) cannot be counted: the counter knows Conv1D, "
                     "Conv2D, DepthwiseConv2D, SeparableConv2D, Dense and layers without multiply-adds; "
                     "count this model with graph.profile_madds, or build it from those")


def count_madds(model: keras.Model) -> int:
    """Multiply-adds of one forward pass of `model` on one image, from its layers' shapes.

    Raises:
      ValueError: a layer it cannot count (named), or a shape that is not fully known.
    """
    total = 0
    for layer, inputs, outputs in _calls(model):
        if any(d is None for shape in inputs + outputs for d in shape[1:]):
            raise ValueError(f"layer {layer.name!r} has shapes {inputs} -> {outputs}: build the model on a fully "
                             "defined input shape (keras.Input((h, w, c)))")
        total += layer_madds(layer, inputs, outputs)
    return total
