"""Shared Keras blocks: rounding, and each block's count against graph profiling."""

import keras
import pytest

from layernas_tf.cost import graph
from search_spaces import blocks


@pytest.mark.parametrize("value, expected", [(16, 16), (22, 24), (44.8, 48), (3, 8), (11, 16), (134.4, 136), (89.6, 88)])
def test_make_divisible_rounds_to_8_never_down_more_than_10_percent(value, expected):
    assert blocks.make_divisible(value) == expected
    assert blocks.make_divisible(value) % 8 == 0 and blocks.make_divisible(value) >= 0.9 * value


@pytest.mark.parametrize(
    "bottleneck, residual",
    [
        (blocks.Bottleneck(16, 64, 16, 3, 1, 16, "relu", True), True),
        (blocks.Bottleneck(16, 64, 24, 5, 1, 0, "hard_swish", True), False),
        (blocks.Bottleneck(16, 16, 16, 7, 2, 0, "relu6", False), False),
    ],
)
def test_bottleneck_count_equals_profiling_and_residual_only_when_shapes_allow(bottleneck, residual):
    inputs = keras.Input((15, 15, bottleneck.in_channels))
    model = keras.Model(inputs, bottleneck.build(inputs, "expanded_conv_1_"))
    counter = blocks.Counter()
    h, w = bottleneck.count(counter, 15, 15)
    assert model.outputs[0].shape[1:] == (h, w, bottleneck.out_channels)
    assert bottleneck.residual == residual == any(l.name == "expanded_conv_1_add" for l in model.layers)
    assert counter.madds == graph.profile_madds(model)
    assert counter.params == model.count_params()
    names = {l.name for l in model.layers}
    assert ("expanded_conv_1_expand" in names) == bottleneck.expand
    assert ("expanded_conv_1_squeeze_excite_conv" in names) == bool(bottleneck.se_channels)
    assert {"expanded_conv_1_depthwise", "expanded_conv_1_project"} <= names


def test_unknown_activation_names_the_valid_ones():
    with pytest.raises(ValueError, match="relu, relu6, hard_swish"):
        blocks.activation("gelu", "x")
