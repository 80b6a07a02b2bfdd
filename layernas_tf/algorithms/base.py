"""The ask/tell contract every search algorithm follows.

The caller asks for trials with `suggest(n)`, trains them however it likes (in
any order, in parallel, on another machine), and tells each result back with
`report` or `report_failure`. All state is plain JSON (`state_dict`), so a study
can persist it after every result and a restored search continues trial for
trial as the uninterrupted one would, given the seed.
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any, Optional, Sequence

from layernas_tf.core import front
from layernas_tf.core.records import TrialRecord
from layernas_tf.core.space import Architecture, SearchSpace
from layernas_tf.core.status import COMPLETE, FAILED, PENDING


@dataclasses.dataclass(frozen=True)
class Target:
    """The cost range a final model must fall in: [t_min, t_max]."""

    t_max: float
    t_min: float = 0.0

    def __post_init__(self):
        if not self.t_max > 0 or self.t_min < 0 or self.t_min > self.t_max:
            raise ValueError(f"invalid cost target [{self.t_min}, {self.t_max}]: need 0 <= t_min <= t_max, t_max > 0")

    @classmethod
    def of(cls, target: "Target | float | Sequence[float]") -> "Target":
        """Accepts a Target, a maximum cost, or a (min, max) pair."""
        if isinstance(target, Target):
            return target
        if isinstance(target, (int, float)):
            return cls(t_max=float(target))
        t_min, t_max = target
        return cls(t_max=float(t_max), t_min=float(t_min))

    def feasible(self, cost: float) -> bool:
        return self.t_min <= cost <= self.t_max

    def to_json(self) -> list[float]:
        return [self.t_min, self.t_max]


@dataclasses.dataclass
class Trial:
    """One architecture handed out for training, and what came of it.

    Attributes:
      epochs: in a multi-fidelity search, the epochs the trial trains to (or reached,
        once reported); a trial handed out again trains on from its checkpoint. None:
        the objective's full training.
      rewards: in a multi-fidelity search, the reward at each epoch count it reached.
      parent: in a search with weight inheritance, the completed trial whose trained
        weights this one starts from (`Algorithm.parent`); None: it trains from scratch.
    """

    id: int
    arch: Architecture
    cost: float
    status: str = PENDING
    reward: Optional[float] = None
    error: Optional[str] = None
    epochs: Optional[int] = None
    rewards: dict[int, float] = dataclasses.field(default_factory=dict)
    parent: Optional[int] = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "arch": str(self.arch),
            "cost": self.cost,
            "status": self.status,
            "reward": self.reward,
            "error": self.error,
        }
        if self.epochs is not None:  # absent otherwise: states of single-fidelity searches stay as they were
            out.update(epochs=self.epochs, rewards={str(e): r for e, r in self.rewards.items()})
        if self.parent is not None:  # likewise: absent without inheritance
            out["parent"] = self.parent
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Trial":
        arch = Architecture(int(i) for i in d["arch"].split(":"))
        return cls(d["id"], arch, d["cost"], d["status"], d["reward"], d["error"], d.get("epochs"),
                   {int(e): r for e, r in d.get("rewards", {}).items()}, d.get("parent"))


def _rng_state_to_json(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _rng_state_from_json(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


class Algorithm:
    """Base of every search algorithm: trial bookkeeping, the answer, persistence.

    Subclasses implement `_next()` (the next architecture to train, or None when
    the next one waits on results still out or the search is over), `_finished()`,
    and optionally `_on_report`, `_on_failure` and `_extra_state` /
    `_load_extra_state`. They must draw all randomness from `self.rng`, so that
    the restored RNG state makes a resumed search repeat the original exactly.
    """

    name = "algorithm"
    # Settings of the algorithm's own that no flag sets, whose defaults may change between versions (measured
    # anew): a saved search keeps the values it began with (`algorithms.create(saved=...)`).
    tuned: tuple[str, ...] = ()

    def __init__(
        self,
        space: SearchSpace,
        target: "Target | float | Sequence[float]",
        *,
        max_trials: Optional[int] = None,
        seed: int = 0,
    ):
        if max_trials is not None and max_trials < 1:
            raise ValueError(f"max_trials must be a positive integer or None, got {max_trials}")
        self.space = space
        self.target = Target.of(target)
        self.max_trials = max_trials
        self.seed = seed
        self.rng = random.Random(seed)
        self.trials: list[Trial] = []
        self._costs: dict[Architecture, float] = {}
        self._tried: dict[Architecture, Trial] = {}
        self._feasible_tried = 0
        self._pending: dict[int, Trial] = {}
        # What a layerwise search logs as it goes, and the runner prints: a layer closed (its buckets and the
        # candidates kept), a rung closed (who trains on). Empty for the others.
        self.layer_log: list[dict[str, Any]] = []
        self.rung_log: list[dict[str, Any]] = []

    # -- what subclasses provide ---------------------------------------------

    def config(self) -> dict[str, Any]:
        """Settings that define the search; a saved state only loads into an equal config."""
        return {
            "algorithm": self.name,
            "space": self.space.name,
            "space_size": self.space.size,
            "target": self.target.to_json(),
            "max_trials": self.max_trials,
            "seed": self.seed,
        }

    def _next(self) -> Optional[Architecture]:
        raise NotImplementedError

    def _finished(self) -> bool:
        raise NotImplementedError

    def _on_report(self, trial: Trial) -> None:
        pass

    def _promotion(self) -> Optional[Trial]:
        """A completed trial to train further, its `epochs` raised (multi-fidelity searches); None: none now.

        Not a new trial: `max_trials` does not stop it, so a search it ends still has full-fidelity answers.
        """
        return None

    def _first_epochs(self, arch: Architecture) -> Optional[int]:
        """The epochs a new trial of `arch` trains to first; None: the full training."""
        del arch
        return None

    def full_fidelity(self, trial: Trial) -> bool:
        """Whether `trial`'s reward is its full training's: only those can be the answer or on the front."""
        del trial
        return True

    def settled(self, trial: Trial) -> bool:
        """Whether nothing will train `trial` further: its reward is final, so its checkpoint can go."""
        return trial.status == COMPLETE

    def _on_failure(self, trial: Trial) -> None:
        pass

    def parent(self, arch: Architecture) -> Optional[int]:
        """The completed trial whose trained weights a new trial of `arch` inherits; None: it trains from
        scratch. None in every search but a layerwise one with inheritance (`LayerNAS(inherit=True)`)."""
        del arch
        return None

    def inheritable(self) -> set[int]:
        """Trials whose trained weights a trial still to train may inherit: the parents of those out, and
        (`LayerNAS`) the open layer's candidates and children. Their weights must be kept."""
        return {t.parent for t in self._pending.values() if t.parent is not None}

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # -- helpers for subclasses ------------------------------------------------

    def cost(self, arch: Architecture) -> float:
        """The space's cost of `arch`, computed once per architecture."""
        c = self._costs.get(arch)
        if c is None:
            c = self._costs[arch] = self.space.cost(arch)
        return c

    def feasible(self, arch: Architecture) -> bool:
        """Within the target, and within every further budget the space carries (`space.budgets`)."""
        return self.target.feasible(self.cost(arch)) and self.space.within_budgets(arch)

    def reachable(self, arch: Architecture, layer: int) -> bool:
        """Whether some completion of `arch` after `layer` can be feasible.

        Its cheapest completion is within t_max, its dearest at least t_min, and
        every further budget of the space can still be met (`space.budgets_reachable`).
        """
        return (self.cost(self.space.completion(arch, layer)) <= self.target.t_max
                and self.cost(self.space.completion(arch, layer, dearest=True)) >= self.target.t_min
                and self.space.budgets_reachable(arch, layer))

    def random_feasible(self, attempts: int = 10_000) -> Optional[Architecture]:
        """A feasible architecture never tried before, drawn uniformly; None when there is none.

        Rejection sampling; where it fails (few feasible networks left) and the space
        is small enough to list, a draw from the untried feasible networks. Larger
        spaces give None after `attempts` rejections.
        """
        if self._feasible_left() == 0:
            return None
        for _ in range(attempts):
            arch = self.space.random(self.rng)
            if self.tried(arch) is None and self.feasible(arch):
                return arch
        listed = self.space.feasible_architectures(self.target.t_min, self.target.t_max)
        left = [a for a in listed or () if self.tried(a) is None]
        return self.rng.choice(left) if left else None

    def _feasible_left(self) -> Optional[int]:
        """Feasible networks not tried yet, where the space is small enough to list; else None."""
        listed = self.space.feasible_architectures(self.target.t_min, self.target.t_max)
        return None if listed is None else len(listed) - self._feasible_tried

    def tried(self, arch: Architecture) -> Optional[Trial]:
        """The trial that trained `arch`'s network, if any (pending, complete or failed).

        Strings that build the same network (`space.canonical`) share one trial.
        """
        return self._tried.get(self.space.canonical(arch))

    # -- the ask/tell contract -------------------------------------------------

    @property
    def budget_left(self) -> bool:
        return self.max_trials is None or len(self.trials) < self.max_trials

    @property
    def stopped_early(self) -> bool:
        """True when max_trials ended the search before the algorithm itself finished."""
        return not self.budget_left and not self._finished()

    @property
    def done(self) -> bool:
        """No trial is out and none will be suggested again (a promotion goes on past `max_trials`)."""
        return not self._pending and (self._finished() or (not self.budget_left and not self._promotions_left()))

    def _promotions_left(self) -> bool:
        """Whether trials are still to be trained further, once `max_trials` allows no new one."""
        return False

    def pending(self) -> list[Trial]:
        """Trials suggested and not yet reported, oldest first."""
        return sorted(self._pending.values(), key=lambda t: t.id)

    def suggest(self, n: int = 1) -> list[Trial]:
        """Up to `n` new trials that can train now; fewer when the rest wait on results."""
        if n < 1:
            raise ValueError(f"suggest(n) needs n >= 1, got {n}")
        out = []
        while len(out) < n and not self._finished():
            trial = self._promotion()
            if trial is not None:
                trial.status = PENDING
            elif not self.budget_left:
                break
            else:
                arch = self._next()
                if arch is None:
                    break
                trial = Trial(len(self.trials), arch, self.cost(arch), epochs=self._first_epochs(arch),
                              parent=self.parent(arch))
                self.trials.append(trial)
                self._tried[self.space.canonical(arch)] = trial
                self._feasible_tried += self.feasible(arch)
            self._pending[trial.id] = trial
            out.append(trial)
        return out

    def _pending_trial(self, trial_id: int) -> Trial:
        if not isinstance(trial_id, int) or not 0 <= trial_id < len(self.trials):
            raise ValueError(f"unknown trial id {trial_id!r}; {len(self.trials)} trials were suggested")
        trial = self.trials[trial_id]
        if trial.status != PENDING:
            raise ValueError(f"trial {trial_id} was already reported ({trial.status})")
        del self._pending[trial_id]
        return trial

    def report(self, trial_id: int, reward: float) -> None:
        """Records the reward (validation accuracy) a trial reached."""
        reward = float(reward)
        if not math.isfinite(reward):
            raise ValueError(f"trial {trial_id}: reward {reward} is not finite; use report_failure")
        trial = self._pending_trial(trial_id)
        trial.status, trial.reward = COMPLETE, reward
        if trial.epochs is not None:
            trial.rewards[trial.epochs] = reward
        self._on_report(trial)

    def report_failure(self, trial_id: int, reason: str) -> None:
        """Records that a trial could not be trained; the algorithm never retries it."""
        trial = self._pending_trial(trial_id)
        trial.status, trial.error = FAILED, str(reason)
        self._on_failure(trial)

    def records(self) -> list[TrialRecord]:
        """Every trial handed out, as the frozen records the answer and the front are picked from."""
        return [TrialRecord.from_trial(t, self.full_fidelity(t)) for t in self.trials]

    def best(self) -> Optional[Trial]:
        """The answer (`core.front.answer`): the best-reward feasible trial at full fidelity (cheaper, then
        earlier, on ties)."""
        by_id = {t.id: t for t in self.trials}
        chosen = front.answer(self.records(), lambda r: self.feasible(by_id[r.id].arch))
        return None if chosen is None else by_id[chosen.id]

    # -- persistence -----------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The whole search state as plain JSON."""
        return {
            "config": self.config(),
            "rng": _rng_state_to_json(self.rng.getstate()),
            "trials": [t.to_json() for t in self.trials],
            "extra": self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a `state_dict()`; refuses one saved by a search with other settings."""
        mine, saved = self.config(), state["config"]
        if saved != mine:
            keys = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
            raise ValueError("the saved search has other settings: " + "; ".join(
                f"{k}: saved {saved.get(k)!r}, now {mine.get(k)!r}" for k in keys))
        self.rng.setstate(_rng_state_from_json(state["rng"]))
        self.trials = [Trial.from_json(t) for t in state["trials"]]
        self._tried = {self.space.canonical(t.arch): t for t in self.trials}
        self._costs = {t.arch: t.cost for t in self.trials}
        self._feasible_tried = sum(self.feasible(t.arch) for t in self.trials)
        self._pending = {t.id: t for t in self.trials if t.status == PENDING}
        self._load_extra_state(state["extra"])
