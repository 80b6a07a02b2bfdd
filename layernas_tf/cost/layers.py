"""MAdds of any built Keras model, counted from its layers and their shapes: graph profiling's exact twin.

`graph.profile_madds` traces a model and lets TensorFlow's profiler count the
multiply-adds of Conv2D, DepthwiseConv2dNative and MatMul. This walks the
model's layers instead, each call with its input and output shapes, and adds
what each of those ops computes; no tracing, so it is cheap enough to count a
user's model at every architecture a search looks at.

What it counts, for one example: `Conv1D`/`Conv2D` (groups, dilation and causal
padding; a dilated convolution as TensorFlow runs it, on its space-to-batch grid),
`DepthwiseConv1D`/`DepthwiseConv2D`, `SeparableConv1D`/`SeparableConv2D` (depthwise
and pointwise parts), `Dense` on any rank, `SimpleRNN`/`GRU`/`LSTM` (their gates'
input and recurrent products at every time step; `Bidirectional` both ways),
`MultiHeadAttention` (the four projections, the scores and the weighted values),
nested models and layers used several times (once per call). Layers that do no
such multiply-adds (normalization, activations, pooling, merges, reshapes,
padding, embeddings, preprocessing) count 0. Anything else (`Conv3D`,
`Conv2DTranspose`, `Lambda`, a custom layer) raises a `ValueError` naming it
unless the caller gives its own counter for that class (`count`): it is never
counted as 0. Parameters are `model.count_params()`, BatchNorm's moving
statistics included.

Held to graph profiling (`graph.profile_madds`) in `tests/test_layers.py`; the
recurrent layers at `unroll=True` (a loop's body is profiled once, not per step)
and attention against the same attention written with matmuls (TensorFlow's
profiler does not count `Einsum`).
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Mapping, Optional, Sequence

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
    keras.layers.GlobalMaxPooling1D, keras.layers.GlobalMaxPooling2D, keras.layers.Embedding,
    keras.layers.Masking,
)
# Weight products per time step of each recurrent layer, in units of (input + units) x units.
_GATES = {keras.layers.SimpleRNN: 1, keras.layers.GRU: 3, keras.layers.LSTM: 4}

# A user's counter for a layer class: (layer, input shapes, output shapes), batch first, -> multiply-adds.
Counter = Callable[[keras.layers.Layer, list, list], int]


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


def layer_madds(layer: keras.layers.Layer, inputs: list[tuple], outputs: list[tuple],
                count: Optional[Mapping[type, Counter]] = None) -> int:
    """The multiply-adds of one call of `layer` on one example; `count`: the caller's counters by layer class.

    Raises:
      ValueError: a layer this does not know how to count, named.
    """
    for kind, counter in (count or {}).items():
        if isinstance(layer, kind):
            return int(counter(layer, inputs, outputs))
    if isinstance(layer, _FREE):
        return 0
    x, y = inputs[0][1:], outputs[0][1:]
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        positions = _positions(x[:-1], y[:-1], layer.kernel_size, layer.dilation_rate, layer.padding)
        depthwise = positions * x[-1] * layer.depth_multiplier * math.prod(layer.kernel_size)
        return depthwise + math.prod(y[:-1]) * x[-1] * layer.depth_multiplier * layer.filters
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
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
    if type(layer) in _GATES:  # subclasses may do more
        # (steps, features): every step multiplies the input and the previous state by each gate's weights.
        return x[0] * _GATES[type(layer)] * (x[-1] + layer.units) * layer.units
    if isinstance(layer, keras.layers.Bidirectional):
        return sum(layer_madds(half, inputs[:1], outputs, count) for half in (layer.forward_layer,
                                                                             layer.backward_layer))
    if type(layer) is keras.layers.MultiHeadAttention:  # pylint: disable=unidiomatic-typecheck
        return _attention(layer, inputs)
    raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) cannot be counted: the counter knows Conv1D, "
                     "Conv2D, their depthwise and separable forms, Dense, SimpleRNN, GRU, LSTM, MultiHeadAttention and "
                     f"layers without multiply-adds; give KerasSpace(..., count={{{type(layer).__name__}: "
                     "fn(layer, input_shapes, output_shapes) -> madds}}), or build the model from those")


def _attention(layer: keras.layers.MultiHeadAttention, inputs: list[tuple]) -> int:
    """Query, key and value projections, the scores, the weighted values and the output projection of one call.

    The feature sizes are the projections' kernels'; the positions the query's and the value's (the call's first
    two inputs; the key shares the value's positions).
    """
    # pylint: disable=protected-access  (the layer's own projections; Keras has no public name for them)
    q_kernel, k_kernel, v_kernel, o_kernel = (dense.kernel.shape for dense in (
        layer._query_dense, layer._key_dense, layer._value_dense, layer._output_dense))
    query, value = inputs[0], inputs[1]
    q_positions, kv_positions = math.prod(query[1:-1]), math.prod(value[1:-1])
    heads, key_dim, value_dim = q_kernel[-2], q_kernel[-1], v_kernel[-1]
    projections = (q_positions * math.prod(q_kernel) + kv_positions * (math.prod(k_kernel) + math.prod(v_kernel))
                   + q_positions * math.prod(o_kernel))
    # Positions along the attention axes attend to one another; the other axes are like a batch.
    axes = layer._attention_axes or tuple(range(1, len(query) - 1))
    alike = math.prod(query[a] for a in range(1, len(query) - 1) if a not in axes)
    attended = alike * math.prod(query[a] for a in axes) * math.prod(value[a] for a in axes)
    return projections + heads * attended * (key_dim + value_dim)


def count_madds(model: keras.Model, count: Optional[Mapping[type, Counter]] = None) -> int:
    """Multiply-adds of one forward pass of `model` on one example, from its layers' shapes.

    Args:
      count: the caller's counters for layer classes the counter does not know (or
        counts otherwise): {LayerClass: fn(layer, input_shapes, output_shapes) -> int}.

    Raises:
      ValueError: a layer it cannot count (named), or a shape that is not fully known.
    """
    total = 0
    for layer, inputs, outputs in _calls(model):
        if any(d is None for shape in inputs + outputs for d in shape[1:]):
            raise ValueError(f"layer {layer.name!r} has shapes {inputs} -> {outputs}: build the model on a fully "
                             "defined input shape (keras.Input((h, w, c)))")
        total += layer_madds(layer, inputs, outputs, count)
    return total
