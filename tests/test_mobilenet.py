"""MobileNet spaces: decision points as the issue lays them out, and what they change."""

import re

import keras
import pytest

import search_spaces
from layernas_tf.algorithms import LayerNAS
from search_spaces import mobilenet, mobilenet_v2, mobilenet_v3

# keras.applications(weights=None) at 224x224, 1000 classes: profiled MAdds, count_params().
REFERENCE = {
    "mbv2": (300_774_272, 3_538_984, lambda: keras.applications.MobileNetV2(weights=None)),
    "mbv2_140": (582_195_824, 6_156_712, lambda: keras.applications.MobileNetV2(weights=None, alpha=1.4)),
    "mbv3_small": (56_510_400, 2_554_968, lambda: keras.applications.MobileNetV3Small(weights=None, input_shape=(224, 224, 3))),
    "mbv3_large": (216_589_760, 5_507_432, lambda: keras.applications.MobileNetV3Large(weights=None, input_shape=(224, 224, 3))),
}
NAMES = sorted(REFERENCE)


@pytest.mark.parametrize("name", NAMES)
def test_default_architecture_is_the_keras_applications_network(name):
    madds, params, _ = REFERENCE[name]
    space = search_spaces.get(name)
    assert space.madds(space.default()) == madds
    assert space.params(space.default()) == params
    approx = {"mbv2": 300.8e6, "mbv2_140": 582.2e6, "mbv3_small": 56.5e6, "mbv3_large": 216.6e6}[name]
    assert abs(space.cost(space.default()) - approx) / approx < 0.005


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_reference_figures_are_those_of_keras_applications_today(name):
    from layernas_tf.cost import graph  # pylint: disable=import-outside-toplevel

    madds, params, make = REFERENCE[name]
    model = make()
    assert (graph.profile_madds(model, input_shape=(224, 224, 3)), model.count_params()) == (madds, params)


@pytest.mark.parametrize("name", NAMES)
def test_decision_points_per_block_and_stage(name):
    space = search_spaces.get(name)
    family = space.family
    points = {p.name: p for p in space.decision_points}
    default = dict(zip(points, space.values(space.default())))
    for s, stage in enumerate(space.stages):
        width = points[f"stage{s}_width"]
        assert {0.75, 1.0, 1.25} <= set(width.options) and default[width.name] == 1.0
        if name.startswith("mbv3"):
            assert points[f"stage{s}_activation"].options == ("relu", "hard_swish")
            assert default[f"stage{s}_activation"] == family.rows[stage[0]].activation
        else:
            assert f"stage{s}_activation" not in points
        for b in stage:
            row = family.rows[b]
            assert points[f"block{b}_kernel"].options == (3, 5, 7) and default[f"block{b}_kernel"] == row.kernel
            expansions = points[f"block{b}_expansion"].options
            assert len(expansions) >= 3 and default[f"block{b}_expansion"] == row.expansion
            assert points[f"block{b}_se"].options == (False, True) and default[f"block{b}_se"] == row.se
            assert (f"block{b}_skip" in points) == (b != stage[0])
    order = [re.match(r"(stage|block)(\d+)", p.name).groups() for p in space.decision_points]
    blocks_in_order = [int(i) for kind, i in order if kind == "block"]
    assert blocks_in_order == sorted(blocks_in_order)  # network order


@pytest.mark.parametrize("name", NAMES)
def test_docstrings_state_the_space_size_and_layernas_bound(name):
    space = search_spaces.get(name)
    doc = (mobilenet_v2 if name.startswith("mbv2") else mobilenet_v3).__doc__
    total = sum(len(p) for p in space.decision_points)
    line = " ".join(re.search(rf"- `{name}`.*?of them", doc, re.S).group(0).split())
    assert f"{len(space)} decision points" in line
    assert f"{space.size:.2e} architectures" in line
    assert f"1 + 10 * {total} = {LayerNAS.trial_bound(space, 10):,}" in line


def test_skip_width_se_and_activation_change_the_network():
    space = search_spaces.get("mbv3_large")
    index = {p.name: i for i, p in enumerate(space.decision_points)}
    default = space.default()
    base = dict(space.bottlenecks(default))
    assert len(base) == 15

    skipped = default.replace(index["block2_skip"], 1)
    assert 2 not in dict(space.bottlenecks(skipped)) and space.cost(skipped) < space.cost(default)

    wider = dict(space.bottlenecks(default.replace(index["stage3_width"], 3)))  # 1.25x of 80
    assert [wider[b].out_channels for b in (6, 7, 8, 9)] == [104] * 4 and wider[10].in_channels == 104

    with_se = dict(space.bottlenecks(default.replace(index["block1_se"], 1)))
    assert base[1].se_channels == 0 and with_se[1].se_channels == 16  # 0.25 x 64 expanded channels

    swish = dict(space.bottlenecks(default.replace(index["stage0_activation"], 1)))
    assert swish[0].activation == "hard_swish" and base[0].activation == "relu"
    assert space.cost(default.replace(index["stage0_activation"], 1)) == space.cost(default)


@pytest.mark.parametrize("name", ["mbv2", "mbv3_small", "mbv3_large"])
def test_strings_of_one_network_share_a_canonical_form(name):
    import random  # pylint: disable=import-outside-toplevel

    space = search_spaces.get(name)
    rng = random.Random(0)
    for _ in range(200):
        arch = space.random(rng)
        canonical = space.canonical(arch)
        assert space.bottlenecks(canonical) == space.bottlenecks(arch) and space.canonical(canonical) == canonical
    index = {p.name: i for i, p in enumerate(space.decision_points)}
    skip = next(n for n in index if n.endswith("_skip"))
    block = skip[: -len("_skip")]
    skipped = space.default().replace(index[skip], 1)
    other_kernel = skipped.replace(index[f"{block}_kernel"], 2)
    assert other_kernel != skipped and space.canonical(other_kernel) == space.canonical(skipped)
    kept = space.default().replace(index[f"{block}_kernel"], 2)  # a kept block's kernel matters
    assert space.canonical(kept) != space.canonical(space.default())
    narrow = [(s, m) for s in range(len(space.stages)) for m in range(5)
              if mobilenet.blocks.make_divisible(space.family.rows[space.stages[s][0]].filters
                                                 * mobilenet.WIDTHS[m]) ==
              mobilenet.blocks.make_divisible(space.family.rows[space.stages[s][0]].filters * mobilenet.WIDTHS[m - 1])
              and m > 0]
    for s, m in narrow:  # widths that round to the same channel count: one network
        wide = space.default().replace(index[f"stage{s}_width"], m)
        assert space.canonical(wide) == space.canonical(space.default().replace(index[f"stage{s}_width"], m - 1))


def test_stages_are_runs_of_equal_width():
    rows = [mobilenet.Row(1, f, 3, 1, False, "relu") for f in (16, 24, 24, 40, 24)]
    assert mobilenet.stages_of(rows) == [[0], [1, 2], [3], [4]]
