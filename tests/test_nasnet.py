"""The NASNet cell space: NASNet-A equal to keras.applications' NASNetMobile, exact analytic cost, every op exports."""

import random

import keras
import numpy as np
import pytest

import search_spaces
from layernas_tf.cost import graph
from layernas_tf.deploy import tflite
from layernas_tf.algorithms import LayerNAS
from layernas_tf.core.space import decision_kind
from search_spaces.nasnet import BLOCKS, COMBINATIONS, OPERATIONS

# keras.applications.NASNetMobile(weights=None) at 224x224, 1000 classes, profiled on TensorFlow 2.21 / Keras 3.15.
NASNET_MOBILE_MADDS, NASNET_MOBILE_PARAMS = 563_638_816, 5_326_716
SMALL = {"cells": 1, "penultimate_filters": 96}  # every path of the network (both adjust kinds), quick to build


def test_the_default_is_nasnet_mobile_and_its_docstring_says_so():
    space = search_spaces.get("nasnet")
    default = space.default()
    assert space.madds(default) == NASNET_MOBILE_MADDS and space.params(default) == NASNET_MOBILE_PARAMS
    assert space.madds(default, (32, 32, 3), 10) == 11_459_680 and space.params(default, (32, 32, 3), 10) == 4_280_286
    assert len(space) == 50 and LayerNAS.trial_bound(space) == 3601
    assert f"{float(space.size):.1e}" == "5.2e+36"
    for figure in ("563,638,816 MAdds", "5,326,716 parameters", "11,459,680 MAdds", "4,280,286 parameters",
                   "3,601", "50 decision points", "5.2e36"):
        assert figure in " ".join(search_spaces.nasnet.__doc__.split()), figure
    kinds = {decision_kind(p.name) for p in space.decision_points}
    assert kinds == {f"{cell}_{kind}" for cell in ("normal", "reduction") for kind in ("input", "operation", "combine")}
    normal = space.cell(default, "normal")
    assert normal[0] == {"inputs": (0, 1), "operations": ("sep_conv_5x5", "sep_conv_3x3"), "combine": "add"}
    assert space.cell(default, "reduction")[3]["inputs"] == (2, 3)  # block 4 takes x1 and x2


@pytest.mark.slow
def test_keras_nasnet_mobile_still_measures_what_the_default_is_pinned_to():
    model = keras.applications.NASNetMobile(weights=None)
    assert model.count_params() == NASNET_MOBILE_PARAMS
    assert graph.profile_madds(model) == NASNET_MOBILE_MADDS
    ours = search_spaces.get("nasnet").build(search_spaces.get("nasnet").default())
    # keras.applications calls the reduction cell's 5th block "left4" (its pooling block 4 has no weights);
    # we number it 5.
    theirs = {layer.name.replace("reduction_left4", "reduction_left5") for layer in model.layers if layer.weights}
    mine = {layer.name for layer in ours.layers if layer.weights}
    # Every separable convolution, its batch normalization and each cell's 1x1 convolution carry keras's name.
    named = {n for n in theirs if n.startswith(("separable_conv", "normal_conv_1", "reduction_conv_1"))}
    assert len(named) == 336 and named <= mine
    assert graph.profile_madds(ours) == NASNET_MOBILE_MADDS


def _covering(space):
    """Two architectures that put each of the 13 operations, and each combination, in both cells."""
    archs = []
    for shift in (0, 7):
        indices = []
        for cell in range(2):
            for b in range(BLOCKS):
                slot = cell * 2 * BLOCKS + 2 * b + shift
                indices += [b + 1, slot % len(OPERATIONS), b % 2, (slot + 1) % len(OPERATIONS), (b + shift) % 2]
        archs.append(space.validate(indices))
    used = {op for a in archs for cell in ("normal", "reduction") for block in space.cell(a, cell)
            for op in block["operations"]}
    assert used == set(OPERATIONS)
    assert {block["combine"] for a in archs for block in space.cell(a, "reduction")} == set(COMBINATIONS)
    return archs


@pytest.mark.parametrize("shape", [(32, 32, 3), pytest.param((224, 224, 3), marks=pytest.mark.slow)])
def test_analytic_cost_equals_profiling_for_nasnet_a_random_and_covering_cells(shape):
    space = search_spaces.get("nasnet", **SMALL)
    rng = random.Random(0)
    for arch in [space.default()] + _covering(space) + [space.random(rng) for _ in range(2)]:
        model = space.build(arch, input_shape=shape, num_classes=10)
        assert graph.profile_madds(model) == space.madds(arch, shape, 10), (str(arch), shape)
        assert model.count_params() == space.params(arch, shape, 10)
        keras.backend.clear_session()


@pytest.mark.slow
def test_every_operation_converts_to_tflite_and_litert_agrees_with_keras(tmp_path):
    space = search_spaces.get("nasnet", **SMALL, input_shape=(32, 32, 3), num_classes=5)
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    for i, arch in enumerate(_covering(space)):
        model = space.build(arch)
        expected = np.asarray(model(images, training=False))
        tflite.export_saved_model(model, str(tmp_path / f"sm{i}"))
        flat = tflite.convert_tflite(str(tmp_path / f"sm{i}"), "float")
        np.testing.assert_allclose(tflite.tflite_predict(flat, images), expected, atol=1e-4)


def test_a_cell_searched_small_builds_at_imagenet_size():
    small = search_spaces.get("nasnet", cells=2, penultimate_filters=192, input_shape=(32, 32, 3), num_classes=10)
    large = search_spaces.get("nasnet")
    arch = small.random(random.Random(3))
    assert large.parse(str(arch)) == arch  # the same string: N and F size the network, not the cells
    assert large.madds(arch) > 30 * small.madds(arch)
    concat = lambda a: sum(b["combine"] == "concat" for b in small.cell(a, "normal"))  # noqa: E731
    wider = arch
    for b in range(BLOCKS):
        wider = wider.replace(5 * b + 4, 1)
    assert concat(wider) == BLOCKS and small.madds(wider) > small.madds(arch.replace(4, 0))


def test_bad_sizes_say_what_is_valid():
    with pytest.raises(ValueError, match="multiple of 96"):
        search_spaces.get("nasnet", penultimate_filters=1000)
    with pytest.raises(ValueError, match="cells"):
        search_spaces.get("nasnet", cells=0)
