"""Random search: uniform over feasible networks, never the same one twice."""

import collections

from layernas_tf.algorithms import RandomSearch


def test_draws_feasible_networks_uniformly(additive_space):
    feasible = [a for a in additive_space.all_architectures() if additive_space.cost(a) <= 12]
    counts = collections.Counter()
    for seed in range(300):
        algo = RandomSearch(additive_space, 12, seed=seed, max_trials=1)
        (trial,) = algo.suggest(1)
        counts[trial.arch] += 1
    assert set(counts) == set(feasible)
    assert max(counts.values()) < 4 * min(counts.values())


def test_ends_when_the_feasible_set_is_exhausted(additive_space):
    feasible = {a for a in additive_space.all_architectures() if additive_space.cost(a) <= 4}
    algo = RandomSearch(additive_space, 4, seed=0)
    while not algo.done:
        for trial in algo.suggest(2):
            algo.report(trial.id, 1.0)
    assert {t.arch for t in algo.trials} == feasible
    assert not algo.stopped_early


def test_same_seed_same_search(additive_space):
    a = RandomSearch(additive_space, 20, seed=5).suggest(6)
    b = RandomSearch(additive_space, 20, seed=5).suggest(6)
    c = RandomSearch(additive_space, 20, seed=6).suggest(6)
    assert [t.arch for t in a] == [t.arch for t in b] != [t.arch for t in c]


def test_a_feasible_set_too_small_for_rejection_is_enumerated_and_done_comes_at_once():
    from conftest import AdditiveSpace  # pylint: disable=import-outside-toplevel

    space = AdditiveSpace(((0, 1, 2),) * 8)  # 6,561 networks; 9 cost at most 1
    feasible = {a for a in space.all_architectures() if space.cost(a) <= 1}
    algo = RandomSearch(space, 1, seed=0)
    found = set()
    while len(found) < len(feasible):
        assert not algo.done
        (trial,) = algo.suggest(1)
        found.add(trial.arch)
        algo.report(trial.id, 0.5)
    assert found == feasible and algo.done  # without another, empty, suggest() call
