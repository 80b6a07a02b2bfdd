"""The RNN controller: it learns, draws only feasible networks, and its NumPy sampler is its Keras model."""

import json

import numpy as np

from conftest import AdditiveSpace
from layernas_tf import algorithms
from layernas_tf.algorithms import Controller
from layernas_tf.core.space import DecisionPoint, SearchSpace

PREFERRED = (1, 3, 0, 2, 1, 3)


class _Grid(SearchSpace):
    """Six layers of four options, 4,096 networks; cost is the sum of the options."""

    name = "grid"

    def __init__(self):
        super().__init__([DecisionPoint(f"layer_{i}", (0, 1, 2, 3), default=0) for i in range(len(PREFERRED))])

    def cost(self, arch):
        return sum(arch)


def test_the_policy_concentrates_on_the_rewarded_options():
    space = _Grid()
    algo = Controller(space, 100, seed=0, max_trials=300)
    while not algo.done:
        for trial in algo.suggest(1):
            algo.report(trial.id, sum(a == p for a, p in zip(trial.arch, PREFERRED)) / len(PREFERRED))
    start = Controller(space, 100, seed=0).probabilities(PREFERRED)
    learned = algo.probabilities(PREFERRED)
    assert all(abs(p[want] - 0.25) < 0.05 for p, want in zip(start, PREFERRED))  # uniform-ish at first
    assert all(p[want] > 0.5 for p, want in zip(learned, PREFERRED)), learned
    rewards = [t.reward for t in algo.trials]
    assert np.mean(rewards[50:100]) > np.mean(rewards[:25]) + 0.3  # later, the good networks are used up
    assert algo.best().arch == PREFERRED  # random search would find it in 300 of 4,096 with p = 0.07


def test_only_networks_within_the_budget_are_drawn(additive_space):
    algo = Controller(additive_space, 9, seed=0)
    while not algo.done:
        for trial in algo.suggest(3):
            assert trial.cost <= 9
            algo.report(trial.id, trial.cost)
    feasible = {a for a in additive_space.all_architectures() if additive_space.cost(a) <= 9}
    assert {t.arch for t in algo.trials} == feasible  # each once, then it ends
    assert algo.updates >= len(feasible)


def test_the_sampler_follows_the_keras_model():
    space = AdditiveSpace()
    algo = Controller(space, 12, seed=4, batch=2)
    for _ in range(6):  # move the weights off their initial values
        for trial in algo.suggest(2):
            algo.report(trial.id, space.cost(trial.arch) / 20)
    assert algo.updates >= 3
    arch = algo.trials[-1].arch
    tokens, masks = algo._inputs([arch])  # pylint: disable=protected-access
    logits = np.asarray(algo._model([tokens, masks]), "float64")[0]  # pylint: disable=protected-access
    for size, row, mine in zip(algo._sizes, logits, algo.probabilities(arch)):  # pylint: disable=protected-access
        keras_probs = np.exp(row[:size] - row[:size].max())
        np.testing.assert_allclose(mine, keras_probs / keras_probs.sum(), atol=1e-5)


def test_its_state_is_plain_json_with_the_weights_and_adam():
    space = AdditiveSpace()
    algo = Controller(space, 30, seed=0, batch=3, units=8, layers=1)
    for trial in algo.suggest(4):
        algo.report(trial.id, trial.cost / 30)
    state = json.loads(json.dumps(algo.state_dict()))
    extra = state["extra"]
    assert len(extra["weights"]) == 1 + 3 + 2  # embedding, one LSTM (kernel, recurrent, bias), heads
    assert extra["updates"] == 1 and len(extra["buffer"]) == 1  # 4 rewards, a batch of 3 learned
    assert any(np.abs(v).sum() > 0 for v in map(np.asarray, extra["optimizer"][2:]))  # Adam's moments moved
    assert state["config"]["units"] == 8 and state["config"]["batch"] == 3
    restored = algorithms.create("controller", space, 30, seed=0, batch=3, units=8, layers=1)
    restored.load_state_dict(state)
    assert restored.state_dict() == algo.state_dict()
