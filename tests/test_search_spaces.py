"""Every registered space: the public surface, bad input, and analytic cost == graph profiling."""

import random

import keras
import numpy as np
import pytest

import search_spaces
from layernas_tf.cost import graph
from layernas_tf.core.space import SearchSpace

MOBILENETS = ["mbv2", "mbv2_140", "mbv3_large", "mbv3_small"]
SIZES = [(224, 224, 3), (32, 32, 3)]


def test_registry_names_and_errors():
    assert search_spaces.names() == ["mbv2", "mbv2_140", "mbv3_large", "mbv3_small", "nasnet", "nats_sss", "tiny_cnn",
                                     "zoph_le"]
    with pytest.raises(ValueError, match="mbv2, mbv2_140, mbv3_large, mbv3_small, nasnet, nats_sss, tiny_cnn, zoph_le"):
        search_spaces.get("mbv4")
    for name in search_spaces.names():
        space = search_spaces.get(name)
        assert isinstance(space, SearchSpace) and space.name == name


@pytest.mark.parametrize("name", search_spaces.names())
def test_architecture_strings_round_trip(name):
    space = search_spaces.get(name)
    rng = random.Random(0)
    for arch in [space.default(), space.cheapest(), space.dearest()] + [space.random(rng) for _ in range(200)]:
        assert space.parse(str(arch)) == arch
    assert max(len(p) for p in space.decision_points) <= 20
    with pytest.raises(ValueError, match="layer 0"):
        space.parse("x" + str(space.default())[1:])
    with pytest.raises(ValueError, match=f"space {name!r} has {len(space)}"):
        space.parse("0:0")


@pytest.mark.parametrize("name", MOBILENETS)
def test_bad_shapes_and_classes_name_what_is_valid(name):
    space = search_spaces.get(name)
    arch = space.default()
    with pytest.raises(ValueError, match="at least 32x32"):
        space.madds(arch, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="at least 32x32"):
        space.build(arch, input_shape=(224, 31, 3))
    with pytest.raises(ValueError, match="positive integer"):
        space.params(arch, num_classes=0)
    with pytest.raises(ValueError, match="positive ints"):
        search_spaces.get(name, input_shape=(224, 224))
    small = search_spaces.get(name, input_shape=(32, 32, 3), num_classes=10)
    assert small.cost(arch) == space.madds(arch, (32, 32, 3), 10) < space.cost(arch)


def _analytic_matches_profile(space, arch, shape, classes=1000):
    model = space.build(arch, input_shape=shape, num_classes=classes)
    profiled = graph.profile_madds(model)
    analytic = space.madds(arch, shape, classes)
    if space.name == "nats_sss":  # NATS-Bench counts the classifier's bias adds; profiling does not
        analytic -= classes
        assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == space.params(arch, shape, classes)
    else:
        assert model.count_params() == space.params(arch, shape, classes)
    assert profiled == analytic, (space.name, str(arch), shape)


def _random_architectures(space, n, seed=0):
    rng = random.Random(seed)
    return [space.default()] + [space.random(rng) for _ in range(n)]


# NASNet-A takes seconds to build, 14 cells of 5 blocks: tests/test_nasnet.py checks its cost on a
# smaller stack (N=1) of the same cells, and NASNetMobile's own size once.
CELL_SPACES = ["nasnet"]


@pytest.mark.parametrize("name", [n for n in search_spaces.names() if n not in CELL_SPACES])
def test_analytic_madds_equal_profiled_madds(name):
    space = search_spaces.get(name)
    for arch in _random_architectures(space, 2):
        for shape in SIZES:
            _analytic_matches_profile(space, arch, shape)
    keras.backend.clear_session()


# zoph_le is a CIFAR space whose layers all run at full resolution: at 224x224 a forward pass costs up
# to 150 GMAC, so its many-architecture and 224x224 checks live in tests/test_zoph_le.py, smaller.
LARGE_INPUT_SPACES = [name for name in search_spaces.names() if name not in ["zoph_le"] + CELL_SPACES]


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE_INPUT_SPACES)
def test_analytic_madds_equal_profiled_madds_on_8_random_architectures(name):
    """On top of the covering architectures (every option of every point, in the fast tier): 8 drawn at random,
    at both sizes. 50 took 2.5 minutes a space and found nothing the covering ones did not."""
    space = search_spaces.get(name)
    for i, arch in enumerate(_random_architectures(space, 8, seed=1)):
        for shape in SIZES:
            _analytic_matches_profile(space, arch, shape, classes=10)
        if i % 10 == 9:
            keras.backend.clear_session()


def covering_architectures(space):
    """Few architectures that together use every option of every decision point.

    Skips are off while the other options rotate (a skipped block ignores its kernel and
    expansion); one last architecture turns every skip on.
    """
    skips = [i for i, p in enumerate(space.decision_points) if p.name.endswith("_skip")]
    width = max(len(p) for p in space.decision_points)
    archs = [
        space.validate([0 if i in skips else j % len(p) for i, p in enumerate(space.decision_points)])
        for j in range(width)
    ]
    if skips:
        archs.append(space.validate([1 if i in skips else d for i, d in enumerate(space.default())]))
    return archs


@pytest.mark.parametrize(
    "name, shape",
    [(name, (32, 32, 3)) for name in search_spaces.names() if name not in CELL_SPACES]
    + [pytest.param(name, (224, 224, 3), marks=pytest.mark.slow) for name in LARGE_INPUT_SPACES],
)
def test_every_option_builds_and_runs_a_forward_pass(name, shape):
    space = search_spaces.get(name)
    archs = covering_architectures(space)
    used = {(i, a[i]) for a in archs for i in range(len(space))}
    assert used == {(i, o) for i, p in enumerate(space.decision_points) for o in range(len(p))}
    images = np.random.default_rng(0).uniform(0, 255, (2, *shape)).astype("float32")
    for arch in archs:
        model = space.build(arch, input_shape=shape, num_classes=7)
        probabilities = np.asarray(model(images, training=False))
        assert probabilities.shape == (2, 7)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    keras.backend.clear_session()
