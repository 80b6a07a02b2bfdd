"""The answer rules `benchmarks/noisy_answer.py` measures: told no noise they answer as the search does, told a
noise they see through a lucky training; and the noises it tells them."""

import random

import numpy as np
import pytest

from benchmarks import noisy_answer
from layernas_tf import algorithms
from conftest import AdditiveSpace


def pairwise_reward(arch):
    """What the reward model can express: one effect per option and per adjacent pair."""
    return sum((i + 1) * 0.3 * o - 0.1 * o * o for i, o in enumerate(arch)) + sum(
        0.05 * a * b for a, b in zip(arch, arch[1:]))


def searched(luck):
    """LayerNAS+ over every network of a small space (max_trials = its size), each reward its true one plus a
    training's noise (sd 0.1), and `luck` more for the one network 1:1:1:1."""
    space = AdditiveSpace()
    noise = random.Random(0)
    truth = {a: pairwise_reward(a) for a in space.all_architectures()}
    algorithm = algorithms.create("layernas_plus", space, 1e9, max_trials=space.size, seed=0)
    while not algorithm.done:
        for trial in algorithm.suggest(1):
            lucky = luck if str(trial.arch) == "1:1:1:1" else 0.0
            algorithm.report(trial.id, truth[space.canonical(trial.arch)] + noise.gauss(0, 0.1) + lucky)
    return algorithm, truth


@pytest.mark.parametrize("rule", sorted(noisy_answer.RULES))
def test_told_no_noise_every_rule_answers_with_the_best_reward_seen(rule):
    algorithm, _ = searched(luck=0.0)
    scores = noisy_answer.estimates(algorithm, noisy_answer.constant(0.0), *noisy_answer.RULES[rule])
    assert scores == {t.id: t.reward for t in algorithm.trials}
    assert max(scores, key=scores.get) == algorithm.best().id


@pytest.mark.parametrize("rule", sorted(noisy_answer.RULES))
def test_told_the_noise_a_lucky_training_is_not_the_answer(rule):
    algorithm, truth = searched(luck=3.0)
    lucky = algorithm.best()
    assert str(lucky.arch) == "1:1:1:1"  # the best reward seen: its luck
    scores = noisy_answer.estimates(algorithm, noisy_answer.constant(1.0), *noisy_answer.RULES[rule])
    chosen = next(t for t in algorithm.trials if t.id == max(scores, key=scores.get))
    assert chosen.arch != lucky.arch
    assert truth[chosen.arch] > truth[lucky.arch]
    assert scores[lucky.id] < lucky.reward - 1.0  # discounted by most of its luck


class _Table:
    """A table of 100 networks trained 3 times: network i's mean reward is i, its trainings i - d, i, i + d, where
    d is 5 for the worse half and 1 for the better (sd 5 and 1)."""

    def __init__(self):
        self.space = AdditiveSpace(options=(tuple(range(10)), tuple(range(10))))

    def reward(self, arch, run):
        i = self.space.values(arch)[0] * 10 + self.space.values(arch)[1]
        return i + (run - 1) * (5 if i < 50 else 1)


def test_the_noise_told_is_the_tables_mean_sd_or_the_sd_at_a_rewards_level():
    table = _Table()
    overall, shown = noisy_answer.told_noise(table, 3)
    assert shown == "3.00" and overall(np.array([0.0, 99.0])).tolist() == [3.0, 3.0]
    best, shown = noisy_answer.told_noise(table, 3, "best_tenth")
    assert shown == "1.00"
    by_level, shown = noisy_answer.told_noise(table, 3, "by_level")
    assert by_level(np.array([3.0, 30.0, 70.0, 98.0])).tolist() == [5.0, 5.0, 1.0, 1.0]
    assert shown == "5.00..1.00"
