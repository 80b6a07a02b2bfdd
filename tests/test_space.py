"""The search-space contract: architectures, parsing, completions."""

import random

import pytest

from layernas_tf.core.space import Architecture, DecisionPoint


def test_architecture_prints_colon_separated_and_parses_back(additive_space):
    arch = Architecture([0, 3, 1, 2])
    assert str(arch) == "0:3:1:2"
    assert additive_space.parse(str(arch)) == arch
    assert additive_space.parse(" 0:3:1:2 ") == arch
    assert hash(additive_space.parse("0:3:1:2")) == hash(arch)


def test_every_architecture_round_trips(additive_space):
    archs = list(additive_space.all_architectures())
    assert len(archs) == additive_space.size == 3 * 4 * 2 * 3
    assert len(set(archs)) == len(archs)
    assert archs[0] == Architecture([0, 0, 0, 0]) and archs[1] == Architecture([0, 0, 0, 1])
    assert all(additive_space.parse(str(a)) == a for a in archs)


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("0:1:1", ["3 layers", "has 4"]),
        ("0:1:1:0:0", ["5 layers"]),
        ("0:4:1:0", ["layer 1 (layer_1)", "4", "0..3", "0, 5, 10, 20"]),
        ("0:-1:1:0", ["layer 1", "-1"]),
        ("0:x:1:0", ["layer 1 (layer_1)", "'x'", "not an integer", "0..3"]),
        ("", ["layer 0", "not an integer"]),
        ("0:1:1:0:z", ["layer 4", "not an integer"]),
    ],
)
def test_invalid_strings_say_which_layer_and_what_is_allowed(additive_space, text, fragments):
    with pytest.raises(ValueError) as e:
        additive_space.parse(text)
    for fragment in fragments:
        assert fragment in str(e.value)


def test_parse_rejects_non_strings(additive_space):
    with pytest.raises(ValueError):
        additive_space.parse([0, 1, 1, 0])


def test_default_random_and_values(additive_space):
    assert additive_space.default() == Architecture([2, 3, 1, 2])
    assert additive_space.values(additive_space.default()) == (3, 20, 2, 6)
    rng = random.Random(0)
    seen = {additive_space.random(rng) for _ in range(2000)}
    assert len(seen) == additive_space.size


def test_completions_give_cheapest_and_dearest_costs(additive_space):
    arch = additive_space.parse("1:0:1:2")
    assert additive_space.cheapest() == Architecture([0, 0, 0, 0])
    assert additive_space.dearest() == Architecture([2, 3, 1, 2])
    assert additive_space.completion(arch, 1) == Architecture([1, 0, 0, 0])
    assert additive_space.completion(arch, 1, dearest=True) == Architecture([1, 0, 1, 2])
    assert additive_space.cheapest_completion_cost(arch, 1) == 2 + 0 + 1 + 0
    assert additive_space.dearest_completion_cost(arch, 1) == 2 + 0 + 2 + 6
    assert additive_space.cheapest_completion_cost(arch, 3) == additive_space.cost(arch)
    assert additive_space.cheapest_completion_cost(arch, -1) == additive_space.cost(additive_space.cheapest())


def test_describe_marks_changed_layers(additive_space):
    table = additive_space.describe(additive_space.parse("0:3:1:2"))
    lines = table.splitlines()
    assert len(lines) == 5
    assert lines[1].split() == ["layer_0", "0", "1", "*"]
    assert lines[2].split() == ["layer_1", "3", "20"]


def test_decision_point_needs_two_options_and_a_valid_default():
    with pytest.raises(ValueError, match="at least 2 options"):
        DecisionPoint("x", (1,))
    with pytest.raises(ValueError, match="default 3"):
        DecisionPoint("x", (1, 2), default=3)


def test_a_subspace_searches_some_kinds_and_keeps_the_others_at_their_defaults():
    import search_spaces  # pylint: disable=import-outside-toplevel
    from layernas_tf.algorithms import LayerNAS  # pylint: disable=import-outside-toplevel
    from layernas_tf.core.space import Subspace, decision_kind  # pylint: disable=import-outside-toplevel

    assert [decision_kind(n) for n in ("stage2_width", "block7_se", "channels_3", "stage0_activation")] == [
        "width", "se", "channels", "activation"]
    whole = search_spaces.get("mbv3_small", input_shape=(32, 32, 3), num_classes=10)
    widths = Subspace(whole, ["width"])
    assert [p.name for p in widths.decision_points] == [p.name for p in whole.decision_points
                                                        if p.name.endswith("_width")]
    assert widths.size == 5 ** len(widths) and LayerNAS.trial_bound(widths) == 1 + 10 * 5 * len(widths)
    assert widths.full(widths.default()) == whole.default()
    narrow = widths.default().replace(0, 0)
    assert widths.full(narrow) == whole.default().replace(0, 0)
    assert widths.cost(narrow) == whole.cost(whole.default().replace(0, 0)) < widths.cost(widths.default())
    assert widths.madds(narrow, input_shape=(64, 64, 3)) == whole.madds(widths.full(narrow), input_shape=(64, 64, 3))
    assert widths.canonical(widths.default()) == widths.canonical(widths.default().replace(0, 1))  # 0.75x == 1x here
    assert widths.parse(str(narrow)) == narrow
    with pytest.raises(ValueError, match="kind depth; valid: activation, expansion, kernel, se, skip, width"):
        Subspace(whole, ["width", "depth"])
