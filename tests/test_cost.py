"""Graph profiling counts exactly the multiply-adds of Conv2D, DepthwiseConv2D and MatMul."""

import subprocess
import sys

import keras
import pytest
from keras import layers

from layernas_tf.cost import graph


def test_counts_conv_depthwise_and_dense_exactly():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)      # 4x4x4 outputs, 3*3*3 each
    x = layers.DepthwiseConv2D(3, padding="same")(x)                  # 4x4x4 outputs, 3*3 each
    x = layers.BatchNormalization()(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(5)(x)                                       # 4*5
    model = keras.Model(inputs, outputs)
    assert graph.profile_madds(model) == 4 * 4 * 4 * 27 + 4 * 4 * 4 * 9 + 4 * 5


def test_undefined_input_shape_needs_an_explicit_one():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match="not fully defined"):
        graph.profile_madds(model)
    assert graph.profile_madds(model, input_shape=(4, 4, 3)) == 4 * 4 * 3 * 2


def test_profiling_prints_none_of_the_v1_profiler_chatter():
    code = (
        "from layernas_tf.cost import graph\n"
        "import keras\n"
        "inputs = keras.Input((4, 4, 3))\n"
        "print(graph.profile_madds(keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "96\n"
    assert "Instructions for updating" not in result.stderr and "profiler" not in result.stderr.lower()
