"""Optuna's TPE sampler behind the search algorithms' ask/tell contract: an outside peer for the benchmarks.

Each layer is a categorical parameter (its option index). Under the protocol every
baseline here follows, a network outside the budget or one tried before costs no
trial: TPE is told at once (an infeasible draw as a failed trial, which it learns
to avoid; a repeat with the reward it already has) and asked again. Only new
feasible networks become trials.
"""

from __future__ import annotations

from typing import Any, Optional

import optuna

from layernas_tf.algorithms.base import Algorithm
from layernas_tf.core.space import Architecture

NAME = "optuna_tpe"
# TPE draws near what scored well; when every draw it makes is known, a random feasible network goes instead.
# Every draw told makes the study, and so each later ask, longer: once TPE has converged on a table where few
# networks are feasible (NATS-Bench at 25%), 200 draws a trial grew a run of 300 trials to tens of thousands of
# asks and minutes a run (6,817 asks by trial 150); 20 keep it to seconds (4,618 asks in all).
_DRAWS_PER_TRIAL = 20


class OptunaTPE(Algorithm):
    """Optuna 5.0's `TPESampler` (its defaults, seeded) as a search algorithm; needs `max_trials`."""

    name = NAME

    def __init__(self, space, target, *, max_trials: Optional[int] = None, seed: int = 0):
        if max_trials is None:
            raise ValueError("optuna_tpe has no natural end: give max_trials")
        super().__init__(space, target, max_trials=max_trials, seed=seed)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        self._asked: dict[Architecture, Any] = {}
        self._choices = [list(range(len(p))) for p in space.decision_points]

    def _finished(self) -> bool:
        return self._feasible_left() == 0

    def _next(self) -> Optional[Architecture]:
        for _ in range(_DRAWS_PER_TRIAL):
            trial = self._study.ask()
            arch = Architecture(tuple(trial.suggest_categorical(f"layer{i}", c) for i, c in enumerate(self._choices)))
            if not self.feasible(arch):
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            known = self.tried(arch)
            if known is None:
                self._asked[arch] = trial
                return arch
            if known.reward is not None:
                self._study.tell(trial, known.reward)
            else:
                self._study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return self.random_feasible()

    def _on_report(self, trial) -> None:
        asked = self._asked.pop(trial.arch, None)
        if asked is not None:
            self._study.tell(asked, trial.reward)
        else:  # a random fallback: let TPE learn from it too
            self._study.add_trial(optuna.trial.create_trial(
                params={f"layer{i}": v for i, v in enumerate(trial.arch)},
                distributions={f"layer{i}": optuna.distributions.CategoricalDistribution(c)
                               for i, c in enumerate(self._choices)},
                value=trial.reward))

    def _on_failure(self, trial) -> None:
        asked = self._asked.pop(trial.arch, None)
        if asked is not None:
            self._study.tell(asked, state=optuna.trial.TrialState.FAIL)
