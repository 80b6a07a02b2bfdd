"""REINFORCE: the policy moves towards rewarded options."""

import math

from layernas_tf.algorithms import Reinforce
from layernas_tf.algorithms.reinforce import softmax


def test_policy_learns_the_rewarded_option(additive_space):
    # Reward depends on layer 1 only: option 2 is best. Target admits everything.
    algo = Reinforce(additive_space, 1000, seed=0, learning_rate=0.05)
    reward = lambda arch: 1.0 if arch[1] == 2 else 0.0
    start = softmax(algo.logits[1])
    while not algo.done:
        for trial in algo.suggest(1):
            algo.report(trial.id, reward(trial.arch))
    probs = softmax(algo.logits[1])
    assert math.isclose(start[2], 0.25)
    assert probs[2] == max(probs) and probs[2] > 0.5
    assert len(algo.trials) == additive_space.size  # every network once, then it ends


def test_known_networks_update_the_policy_without_a_trial(additive_space):
    algo = Reinforce(additive_space, 1000, seed=1, max_trials=additive_space.size)
    while not algo.done:
        for trial in algo.suggest(1):
            algo.report(trial.id, 1.0 if trial.arch[0] == 0 else 0.0)
    assert len({t.arch for t in algo.trials}) == len(algo.trials)
    assert algo._steps > len(algo.trials)  # pylint: disable=protected-access


def test_only_feasible_networks_are_drawn(additive_space):
    algo = Reinforce(additive_space, 9, seed=0)
    while not algo.done:
        for trial in algo.suggest(3):
            assert trial.cost <= 9
            algo.report(trial.id, trial.cost)
    assert {t.arch for t in algo.trials} == {a for a in additive_space.all_architectures() if additive_space.cost(a) <= 9}
