"""LayerNAS, checked against a direct transcription of the contract in LAYERNAS.md."""

import pytest

from layernas_tf.algorithms import COMPLETE, LayerNAS
from layernas_tf.algorithms.layernas import bucketize
from conftest import toy_reward


def reference_layernas(space, reward, t_min, t_max, buckets, per_bucket):
    """LAYERNAS.md, step by step, as plain loops; returns (trained archs in order, answer)."""
    trained = {}
    default = space.default()
    trained[default] = reward(default)
    candidates = [default]
    for layer in range(len(space)):
        children = []
        for parent in candidates:
            for option in range(len(space.decision_points[layer])):
                child = parent.replace(layer, option)
                if child not in children:
                    children.append(child)
        searchable = [
            c for c in children
            if space.cheapest_completion_cost(c, layer) <= t_max and space.dearest_completion_cost(c, layer) >= t_min
        ]
        for c in searchable:
            if c not in trained:
                trained[c] = reward(c)
        costs = [space.cost(c) for c in searchable]
        lo, hi = min(costs), max(costs)
        kept = []
        for b in range(buckets):
            members = [
                c for c, cost in zip(searchable, costs)
                if (b == min(buckets - 1, int((cost - lo) / ((hi - lo) / buckets))) if hi > lo else b == 0)
            ]
            members.sort(key=lambda c: (-trained[c], space.cost(c), searchable.index(c)))
            kept += members[:per_bucket]
        candidates = kept
    feasible = [a for a in trained if t_min <= space.cost(a) <= t_max]
    answer = max(feasible, key=lambda a: (trained[a], -space.cost(a)))
    return list(trained), answer


def run(algo, reward, batch=1000):
    while not algo.done:
        for trial in algo.suggest(batch):
            algo.report(trial.id, reward(trial.arch))
    return algo


@pytest.mark.parametrize("target", [(0, 20), (0, 12), (8, 25), (0, 1000)])
@pytest.mark.parametrize("buckets, per_bucket", [(1, 1), (3, 1), (4, 2), (10, 1)])
def test_matches_the_contract_step_by_step(additive_space, target, buckets, per_bucket):
    expected, answer = reference_layernas(additive_space, toy_reward, *target, buckets, per_bucket)
    algo = run(LayerNAS(additive_space, target, buckets=buckets, per_bucket=per_bucket), toy_reward)
    assert [t.arch for t in algo.trials] == expected
    assert algo.best().arch == answer
    assert len(algo.trials) <= LayerNAS.trial_bound(additive_space, buckets, per_bucket)
    assert not algo.stopped_early


def test_layer_zero_trains_the_default_alone_then_children_come_together(additive_space):
    algo = LayerNAS(additive_space, 20, buckets=2)
    (first,) = algo.suggest(100)
    assert first.arch == additive_space.default() and algo.layer == -1
    assert algo.suggest(100) == []  # layer 1 waits on the default's reward
    algo.report(first.id, 1.0)
    children = algo.suggest(100)
    assert algo.layer == 0
    # the default itself is a child of layer 0 and reuses its reward: 2 new networks, not 3
    assert sorted(str(t.arch) for t in children) == ["0:3:1:2", "1:3:1:2"]
    assert algo.suggest(1) == []


def test_finds_the_reward_optimal_network_on_nats_bench(nats_table_cifar10, nats_table_cifar100):
    for table, oracle in ((nats_table_cifar10, "3:7:7:7:7"), (nats_table_cifar100, "4:6:5:6:7")):
        space = table.space
        algo = run(LayerNAS(space, 0.5 * space.cost(space.dearest())), table.reward)
        assert str(algo.best().arch) == oracle
        assert len(algo.trials) <= 400 < LayerNAS.trial_bound(space)
        assert len(algo.layer_log) == len(space)
        assert all(len(entry["kept"]) <= 10 for entry in algo.layer_log)


def test_max_trials_stops_early_with_the_best_so_far(nats_table_cifar10):
    space = nats_table_cifar10.space
    algo = run(LayerNAS(space, 0.5 * space.cost(space.dearest()), max_trials=30), nats_table_cifar10.reward, batch=7)
    assert algo.done and algo.stopped_early and len(algo.trials) == 30
    assert algo.suggest(5) == []
    full = run(LayerNAS(space, 0.5 * space.cost(space.dearest())), nats_table_cifar10.reward)
    assert [t.arch for t in algo.trials] == [t.arch for t in full.trials][:30]


def test_failed_children_drop_out_of_their_bucket(additive_space):
    algo = LayerNAS(additive_space, 20, buckets=1)
    failed = set()
    while not algo.done:
        for trial in algo.suggest(100):
            if trial.arch[0] == 0 and algo.layer == 0:
                algo.report_failure(trial.id, "NaN loss")
                failed.add(trial.arch)
            else:
                algo.report(trial.id, 100.0 - additive_space.cost(trial.arch))  # cheaper is better
    assert failed
    assert not {str(a) for a in failed} & set(algo.layer_log[0]["kept"])
    assert algo.layer_log[0]["kept"] == ["1:3:1:2"]  # best of the layer-0 children that trained
    assert all(t.status == COMPLETE for t in algo.trials if t.arch not in failed)


def test_cost_range_with_a_lower_bound(additive_space):
    algo = run(LayerNAS(additive_space, (15, 20), buckets=3), toy_reward)
    assert 15 <= algo.best().cost <= 20


def test_bucketize_splits_the_range_evenly():
    assert bucketize([0, 1, 4.9, 5, 9.99, 10], 2, 0, 10) == [0, 0, 0, 1, 1, 1]
    assert bucketize([3, 3], 4, 3, 3) == [0, 0]


def test_settings_are_validated(additive_space):
    with pytest.raises(ValueError, match="buckets"):
        LayerNAS(additive_space, 10, buckets=0)
    with pytest.raises(ValueError, match="max_trials"):
        LayerNAS(additive_space, 10, max_trials=0)
