"""The search-space contract: architectures, parsing, completions."""

import random

import pytest

from layernas_tf.space import Architecture, DecisionPoint


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
