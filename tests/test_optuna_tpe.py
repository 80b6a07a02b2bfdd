"""Optuna's TPE, the benchmarks' outside peer, keeps the baselines' protocol: only new feasible networks are trials."""

import pytest

from benchmarks.optuna_tpe import OptunaTPE
from conftest import toy_reward


def _search(space, seed):
    tpe = OptunaTPE(space, 20, max_trials=15, seed=seed)
    while not tpe.done:
        for trial in tpe.suggest(1):
            tpe.report(trial.id, toy_reward(trial.arch))
    return tpe


def test_only_new_feasible_networks_are_trials_and_a_seed_repeats_the_search(additive_space):
    tpe = _search(additive_space, seed=3)
    archs = [t.arch for t in tpe.trials]
    assert len(archs) == 15 and len(set(archs)) == 15
    assert all(additive_space.cost(a) <= 20 for a in archs)
    assert [t.arch for t in _search(additive_space, seed=3).trials] == archs
    with pytest.raises(ValueError, match="give max_trials"):
        OptunaTPE(additive_space, 20)
