"""REINFORCE with a per-layer categorical policy, as NATS-Bench runs it."""

from __future__ import annotations

import math
from typing import Optional

from layernas_tf.algorithms.base import Algorithm
from layernas_tf.core.status import COMPLETE
from layernas_tf.core.space import Architecture

_BETA1, _BETA2, _EPSILON = 0.9, 0.999, 1e-8


def softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


class PolicySearch(Algorithm):
    """An algorithm that draws from a policy it learns from rewards: REINFORCE and the RNN controller.

    Each trial is the first draw that is feasible and not trained yet; a draw of a
    network trained before teaches the policy its known reward at no trial's cost
    (at every draw, or once per trial asked for with `learn_known_once`). After
    `sample_attempts` draws a uniform feasible draw is the fallback, and the
    search ends when there is none.
    """

    learn_known_once = False

    def __init__(self, space, target, *, sample_attempts: int, max_trials: Optional[int], seed: int):
        super().__init__(space, target, max_trials=max_trials, seed=seed)
        self.sample_attempts = sample_attempts
        self._exhausted = False

    def _draw(self, attempt: int) -> Architecture:
        """One architecture from the policy; `attempt` counts the draws made for this trial."""
        raise NotImplementedError

    def _learn(self, arch: Architecture, reward: float) -> None:
        raise NotImplementedError

    def _finished(self) -> bool:
        return self._exhausted or self._feasible_left() == 0

    def _next(self) -> Optional[Architecture]:
        learned = set()
        for attempt in range(self.sample_attempts):
            arch = self._draw(attempt)
            known = self.tried(arch)
            if known is None:
                if self.feasible(arch):
                    return arch
            elif known.status == COMPLETE and not (self.learn_known_once and known.id in learned):
                learned.add(known.id)
                self._learn(arch, known.reward)
        arch = self.random_feasible()
        self._exhausted = arch is None
        return arch

    def _on_report(self, trial) -> None:
        self._learn(trial.arch, trial.reward)


class Reinforce(PolicySearch):
    """Policy gradient over independent per-layer softmax distributions.

    Each reward updates the logits with Adam on -log p(arch) * (reward - baseline),
    the baseline being an exponential moving average of rewards (bias-corrected,
    momentum 0.9). Samples that are infeasible are redrawn; a sample trained
    before updates the policy with its known reward at no trial's cost, then is
    redrawn, so every trial trains a new feasible network. Pure Python: the policy
    is a few dozen numbers.

    Args:
      learning_rate: Adam's step size (NATS-Bench: 0.01).
      momentum: the baseline's moving-average momentum (NATS-Bench: 0.9).
      sample_attempts: policy draws per trial before falling back to a uniform one.
    """

    name = "reinforce"
    tuned = ("learning_rate", "momentum", "sample_attempts")

    def __init__(
        self,
        space,
        target,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        max_trials: Optional[int] = None,
        seed: int = 0,
        sample_attempts: int = 100,
    ):
        super().__init__(space, target, sample_attempts=sample_attempts, max_trials=max_trials, seed=seed)
        self.learning_rate = learning_rate
        self.momentum = momentum
        sizes = [len(p) for p in space.decision_points]
        self.logits = [[0.0] * n for n in sizes]
        self._m = [[0.0] * n for n in sizes]
        self._v = [[0.0] * n for n in sizes]
        self._steps = 0
        self._baseline = [0.0, 0.0]  # numerator, denominator of the moving average

    def config(self):
        return {
            **super().config(),
            "learning_rate": self.learning_rate,
            "momentum": self.momentum,
            "sample_attempts": self.sample_attempts,
        }

    def _draw(self, attempt: int) -> Architecture:
        indices = []
        for logits in self.logits:
            u, acc = self.rng.random(), 0.0
            probs = softmax(logits)
            choice = len(probs) - 1
            for i, p in enumerate(probs):
                acc += p
                if u < acc:
                    choice = i
                    break
            indices.append(choice)
        return Architecture(indices)

    def _learn(self, arch: Architecture, reward: float) -> None:
        num, den = self._baseline
        num = self.momentum * num + (1 - self.momentum) * reward
        den = self.momentum * den + (1 - self.momentum)
        self._baseline = [num, den]
        advantage = reward - num / den
        self._steps += 1
        correction1 = 1 - _BETA1**self._steps
        correction2 = 1 - _BETA2**self._steps
        for layer, chosen in enumerate(arch):
            probs = softmax(self.logits[layer])
            for i, p in enumerate(probs):
                grad = (p - (1.0 if i == chosen else 0.0)) * advantage
                m = self._m[layer][i] = _BETA1 * self._m[layer][i] + (1 - _BETA1) * grad
                v = self._v[layer][i] = _BETA2 * self._v[layer][i] + (1 - _BETA2) * grad * grad
                step = self.learning_rate * (m / correction1) / (math.sqrt(v / correction2) + _EPSILON)
                self.logits[layer][i] -= step

    def _extra_state(self):
        return {
            "logits": self.logits,
            "adam_m": self._m,
            "adam_v": self._v,
            "steps": self._steps,
            "baseline": self._baseline,
            "exhausted": self._exhausted,
        }

    def _load_extra_state(self, state):
        self.logits = [list(r) for r in state["logits"]]
        self._m = [list(r) for r in state["adam_m"]]
        self._v = [list(r) for r in state["adam_v"]]
        self._steps = state["steps"]
        self._baseline = list(state["baseline"])
        self._exhausted = state["exhausted"]
