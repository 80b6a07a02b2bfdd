"""Zoph & Le's CIFAR-10 layer space: its decision points, its default, and exact analytic cost."""

import random

import pytest

import search_spaces
from layernas_tf.cost import graph
from layernas_tf.algorithms import LayerNAS
from layernas_tf.core.space import decision_kind


def test_the_default_is_the_network_its_docstring_states():
    space = search_spaces.get("zoph_le")
    assert len(space) == 45 and LayerNAS.trial_bound(space) == 1801 and space.size == 64 ** 15
    default = space.default()
    assert all(layer == {"kernel": (3, 3), "filters": 48, "stride": 1, "inputs": [i - 1] if i else []}
               for i, layer in enumerate(space.layers(default)))
    assert space.madds(default) == 298_598_880 and space.params(default) == 294_970
    for figure in ("298,598,880 MAdds", "294,970 parameters", "1,801"):
        assert figure in " ".join(search_spaces.zoph_le.__doc__.split())
    assert {decision_kind(p.name) for p in space.decision_points} == {"filter_height", "filter_width", "filters"}


@pytest.mark.parametrize("options", [{"depth": 5, "skips": True}, {"depth": 5, "strides": True}])
def test_skips_and_strides_count_exactly_what_profiling_counts(options):
    space = search_spaces.get("zoph_le", **options)
    kinds = {decision_kind(p.name) for p in space.decision_points}
    assert ("skip" in kinds) == ("skips" in options) and ("stride" in kinds) == ("strides" in options)
    rng = random.Random(0)
    for arch in [space.default(), space.cheapest(), space.dearest()] + [space.random(rng) for _ in range(4)]:
        for shape in ((32, 32, 3), (224, 224, 3)):
            model = space.build(arch, input_shape=shape, num_classes=100)
            assert graph.profile_madds(model) == space.madds(arch, shape, 100), (str(arch), shape)
            assert model.count_params() == space.params(arch, shape, 100)


def test_a_layer_with_no_input_takes_the_image_and_unused_outputs_reach_the_classifier():
    space = search_spaces.get("zoph_le", depth=3, skips=True)
    index = {p.name: i for i, p in enumerate(space.decision_points)}
    arch = space.default().replace(index["layer2_skip_1"], 0)  # layer 2 takes nothing: the image
    layers = space.layers(arch)
    assert layers[2]["inputs"] == [] and space._outputs(layers) == [1, 2]  # pylint: disable=protected-access
    model = space.build(arch, num_classes=10)
    assert model.get_layer("outputs_concat").output.shape[-1] == 96
    assert model.get_layer("layer2_conv").input.shape[-1] == 3


def test_bad_settings_say_what_is_wrong():
    with pytest.raises(ValueError, match="strides and skips do not combine"):
        search_spaces.get("zoph_le", strides=True, skips=True)
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        search_spaces.get("zoph_le", depth=0)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        search_spaces.get("zoph_le", num_classes=0)
