"""The layer counter equals graph profiling on keras.applications networks and on random user models."""

import math
import random

import keras
import pytest

from layernas_tf.cost import graph
from layernas_tf.cost.layers import count_madds

APPLICATIONS = {
    "MobileNet": lambda shape: keras.applications.MobileNet(weights=None, input_shape=shape),
    "MobileNetV2": lambda shape: keras.applications.MobileNetV2(weights=None, input_shape=shape),
    "MobileNetV3Small": lambda shape: keras.applications.MobileNetV3Small(weights=None, input_shape=shape),
    "MobileNetV3Large": lambda shape: keras.applications.MobileNetV3Large(weights=None, input_shape=shape),
    "EfficientNetB0": lambda shape: keras.applications.EfficientNetB0(weights=None, input_shape=shape),
    "ResNet50": lambda shape: keras.applications.ResNet50(weights=None, input_shape=shape),
    "DenseNet121": lambda shape: keras.applications.DenseNet121(weights=None, input_shape=shape),
    "NASNetMobile": lambda shape: keras.applications.NASNetMobile(weights=None, input_shape=shape),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_keras_applications_count_as_they_profile(name):
    """At 128x128, which every one of them builds at; `python -m benchmarks.layer_counter` runs them at 224."""
    keras.backend.clear_session()
    model = APPLICATIONS[name]((128, 128, 3))
    assert count_madds(model) == graph.profile_madds(model)


def random_model(rng: random.Random) -> keras.Model:
    """A user's model as they write them: convolutions of every kind the counter knows, nested and shared."""
    size = rng.choice([17, 24, 32])
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(rng.choice([4, 8]), rng.choice([1, 3, 5]), strides=rng.choice([1, 2]),
                            padding=rng.choice(["same", "valid"]))(inputs)
    for _ in range(rng.randint(2, 5)):
        kind = rng.choice(["conv", "dilated", "depthwise", "separable", "block"])
        channels = x.shape[-1]
        if kind == "conv":
            x = keras.layers.Conv2D(rng.choice([4, 8, 12]), rng.choice([(1, 3), 3]), strides=rng.choice([1, 2]),
                                    padding=rng.choice(["same", "valid"]), use_bias=rng.random() < 0.5)(x)
        elif kind == "dilated":
            x = keras.layers.Conv2D(rng.choice([4, 8]), 3, dilation_rate=rng.choice([2, 3]),
                                    padding=rng.choice(["same", "valid"]))(x)
        elif kind == "depthwise":
            x = keras.layers.DepthwiseConv2D(rng.choice([3, 5]), strides=rng.choice([1, 2]), padding="same",
                                             depth_multiplier=rng.choice([1, 2]))(x)
        elif kind == "separable":
            x = keras.layers.SeparableConv2D(rng.choice([8, 16]), 3, padding="same", depth_multiplier=rng.choice([1, 2]))(x)
        else:  # a nested block, called twice: counted per call
            inner = keras.Input(x.shape[1:])
            y = keras.layers.BatchNormalization()(keras.layers.Conv2D(channels, 1)(inner))
            block = keras.Model(inner, keras.layers.ReLU()(y))
            x = keras.layers.Add()([block(x), block(x)])
        if x.shape[1] < 4:
            break
    sequence = keras.layers.Reshape((-1, x.shape[-1]))(x)
    sequence = keras.layers.Dense(6)(sequence)  # a Dense on rank 3
    paddings = ["same", "valid", "causal"] if sequence.shape[1] >= 8 else ["same", "causal"]
    sequence = keras.layers.Conv1D(5, 3, padding=rng.choice(paddings), dilation_rate=rng.choice([1, 2]))(sequence)
    pooled = keras.layers.GlobalAveragePooling1D()(sequence)
    head = keras.Sequential([keras.layers.Dense(7), keras.layers.Softmax()])
    return keras.Model(inputs, head(pooled))


@pytest.mark.parametrize("seed", range(12))
def test_random_user_models_count_as_they_profile(seed):
    keras.backend.clear_session()
    model = random_model(random.Random(seed))
    assert count_madds(model) == graph.profile_madds(model)


@pytest.mark.parametrize("groups, strides, padding", [(2, 1, "same"), (4, 2, "valid")])
def test_a_grouped_convolution_counts_as_its_groups_side_by_side(groups, strides, padding):
    """Keras runs a grouped convolution as an XLA function, which the graph profiler does not look into (it
    counts 0): the same convolution written as its groups, each a Conv2D on its share of the channels, profiles
    what the counter says."""
    inputs = keras.Input((9, 9, 8))
    grouped = keras.Model(inputs, keras.layers.Conv2D(12, 3, strides=strides, padding=padding, groups=groups)(inputs))
    per = 8 // groups
    parts = [keras.layers.Conv2D(12 // groups, 3, strides=strides, padding=padding)(inputs[..., g * per:(g + 1) * per])
             for g in range(groups)]
    side_by_side = keras.Model(inputs, keras.layers.Concatenate()(parts))
    assert count_madds(grouped) == graph.profile_madds(side_by_side) > 0


@pytest.mark.parametrize("layer", [keras.layers.Conv3D(2, 3), keras.layers.Conv2DTranspose(2, 3),
                                   keras.layers.Lambda(lambda t: t * 2)])
def test_a_layer_it_cannot_count_is_named_never_counted_as_zero(layer):
    shape = (6, 6, 6, 2) if isinstance(layer, keras.layers.Conv3D) else (6, 6, 2)
    inputs = keras.Input(shape)
    model = keras.Model(inputs, layer(inputs))
    with pytest.raises(ValueError, match=f"layer {layer.name!r} \\({type(layer).__name__}\\) cannot be counted"):
        count_madds(model)


def random_sequence_model(rng: random.Random) -> keras.Model:
    """A keyword-spotting or sensor model as users write them: 1-D convolutions of every kind, then recurrence."""
    steps, features = rng.choice([20, 33]), rng.choice([6, 13])
    inputs = keras.Input((steps, features))
    x = inputs
    for _ in range(rng.randint(2, 4)):
        kind = rng.choice(["conv", "causal", "depthwise", "separable", "pool"])
        if kind == "conv":
            x = keras.layers.Conv1D(rng.choice([4, 8]), rng.choice([1, 3, 5]), strides=rng.choice([1, 2]),
                                    padding=rng.choice(["same", "valid"]))(x)
        elif kind == "causal":
            x = keras.layers.Conv1D(rng.choice([4, 8]), 3, padding="causal", dilation_rate=rng.choice([1, 2, 4]))(x)
        elif kind == "depthwise":
            x = keras.layers.DepthwiseConv1D(rng.choice([3, 5]), strides=rng.choice([1, 2]), padding="same",
                                             depth_multiplier=rng.choice([1, 2]))(x)
        elif kind == "separable":
            x = keras.layers.SeparableConv1D(rng.choice([6, 10]), 3, padding="same",
                                             depth_multiplier=rng.choice([1, 2]))(x)
        else:
            x = keras.layers.MaxPooling1D(2, padding="same")(x)
    # Recurrence unrolled: the profiler counts a loop's body once, an unrolled one at every step.
    recurrent = rng.choice([keras.layers.GRU, keras.layers.LSTM, keras.layers.SimpleRNN])
    x = recurrent(rng.choice([5, 9]), return_sequences=True, unroll=True)(x)
    if rng.random() < 0.5:
        x = keras.layers.Bidirectional(keras.layers.LSTM(4, unroll=True, return_sequences=True))(x)
    x = keras.layers.GRU(6, unroll=True)(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


@pytest.mark.parametrize("seed", range(6))
def test_random_sequence_models_count_as_they_profile(seed):
    keras.backend.clear_session()
    model = random_sequence_model(random.Random(seed))
    assert count_madds(model) == graph.profile_madds(model) > 0


def test_an_embedding_counts_nothing_and_what_follows_it_counts():
    tokens = keras.Input((12,), dtype="int32")
    x = keras.layers.Embedding(50, 8)(tokens)
    model = keras.Model(tokens, keras.layers.LSTM(4, unroll=True)(x))
    assert count_madds(model) == 12 * 4 * (8 + 4) * 4


@pytest.mark.parametrize("query_shape, value_shape, axes", [((10, 16), (10, 16), None), ((10, 16), (7, 12), None),
                                                            ((4, 5, 16), (4, 5, 16), (2,))])
def test_attention_counts_as_the_same_attention_written_with_matmuls(query_shape, value_shape, axes):
    """TensorFlow's profiler does not count `Einsum`, which MultiHeadAttention's scores use: the same attention
    written with Dense projections and matmuls (its weights copied, so the two agree) profiles what the counter
    says."""
    heads, key_dim, value_dim = 2, 8, 4
    query, value = keras.Input(query_shape), keras.Input(value_shape)
    layer = keras.layers.MultiHeadAttention(heads, key_dim, value_dim=value_dim, attention_axes=axes)
    attention = keras.Model([query, value], layer(query, value))

    def split(t, size):  # (..., heads * size) -> heads first, then the attention positions
        t = keras.ops.reshape(t, (-1, *t.shape[1:-1], heads, size))
        if axes is None:
            return keras.ops.transpose(keras.ops.reshape(t, (-1, t.shape[1], heads, size)), (0, 2, 1, 3))
        return keras.ops.transpose(t, (0, 1, 3, 2, 4))  # (batch, rows, heads, columns, size)

    q = split(keras.layers.Dense(heads * key_dim)(query), key_dim)
    k = split(keras.layers.Dense(heads * key_dim)(value), key_dim)
    v = split(keras.layers.Dense(heads * value_dim)(value), value_dim)
    weights = keras.ops.softmax(keras.ops.matmul(q, keras.ops.swapaxes(k, -1, -2)))
    mixed = keras.ops.matmul(weights, v)
    mixed = keras.ops.reshape(keras.ops.swapaxes(mixed, -2, -3), (-1, *query_shape[:-1], heads * value_dim))
    written = keras.Model([query, value], keras.layers.Dense(query_shape[-1])(mixed))
    assert count_madds(attention) == graph.profile_madds(written) > 0


def test_a_user_counter_counts_a_layer_the_counter_does_not_know():
    inputs = keras.Input((6, 6, 6, 2))
    model = keras.Model(inputs, keras.layers.Conv3D(4, 3)(inputs))

    def conv3d(layer, input_shapes, output_shapes):
        return math.prod(output_shapes[0][1:]) * math.prod(layer.kernel_size) * input_shapes[0][-1]

    assert count_madds(model, count={keras.layers.Conv3D: conv3d}) == 4 ** 3 * 4 * 27 * 2
