"""Where a search's trials are kept: the storage contract of `Runner`, and the in-memory store.

The runner writes each step (a trial handed out, a trial finished) with `record`,
and reads back with `trials`. Two stores keep the contract: the SQLite `Study`
(`trials.study`: durable, locked, resumable, what every command uses) and
`MemoryStore` (nothing on disk: the tabular comparisons, the rung replays and tests,
which run thousands of searches a minute through the same loop). As Optuna's
`BaseStorage` with its RDB and in-memory storages: one loop, whatever keeps its
trials.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from layernas_tf.algorithms import Trial
from layernas_tf.core.status import COMPLETE, Status


class Store:
    """What the runner needs of a store.

    Attributes:
      path: where the trials are, for messages ("resuming PATH", "kept in PATH").
      keeps_state: whether `record` keeps the algorithm's state (so a search resumes from
        the store). The runner builds the state only for a store that keeps it.
    """

    path = ""
    keeps_state = True

    def algorithm_state(self) -> Optional[dict]:
        """The state saved with the latest step, or None in a new search."""
        raise NotImplementedError

    def record(self, trial: Trial, state: Optional[dict], *, status: Status, metrics: Optional[dict] = None,
               started: Optional[float] = None, ended: Optional[float] = None, error: Optional[str] = None) -> None:
        """Writes one trial (and a multi-fidelity trial's rung) and the algorithm's state, all or nothing."""
        raise NotImplementedError

    def trials(self) -> list[dict[str, Any]]:
        """Every trial recorded, in id order, as `row` builds them."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def row(trial_id: int, arch: str, cost: float, status: str, reward: Optional[float], metrics: Optional[dict],
        started: Optional[float], ended: Optional[float], error: Optional[str]) -> dict[str, Any]:
    """One trial as a store returns it (`TrialRecord.from_row` reads it): a plain dict with a plain-string status
    and the metrics as JSON gives them back ({} when none)."""
    return {"id": trial_id, "arch": arch, "cost": cost, "status": str(status), "reward": reward,
            "metrics": metrics or {}, "started": started, "ended": ended, "error": error}


def rung(epochs: int, reward: float, metrics: Optional[dict]) -> dict[str, Any]:
    """One rung a trial reached: its epochs, its reward there, the epochs its worker trained to reach it."""
    return {"epochs": epochs, "reward": reward, "epochs_trained": (metrics or {}).get("epochs_trained")}


def with_rungs(rows: list[dict[str, Any]], rungs: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows of a multi-fidelity search each with `rungs`, their rungs in epoch order; other searches' as they are."""
    if rungs:
        for r in rows:
            r["rungs"] = sorted(rungs.get(r["id"], []), key=lambda x: x["epochs"])
    return rows


class MemoryStore(Store):
    """The trials of one search in this process's memory: the SQLite study's contract without a disk.

    Args:
      keep_state: keep the algorithm's state with each step, as the study does (a test
        of resuming); off by default, since nothing resumes from memory and a state is
        costly to build after every trial of a tabular search.
    """

    path = "memory"

    def __init__(self, keep_state: bool = False):
        self.keeps_state = keep_state
        self._rows: dict[int, dict[str, Any]] = {}
        self._rungs: dict[int, dict[int, dict[str, Any]]] = {}
        self._state: Optional[dict] = None

    def algorithm_state(self) -> Optional[dict]:
        return None if self._state is None else json.loads(json.dumps(self._state))

    def record(self, trial: Trial, state: Optional[dict], *, status: Status, metrics: Optional[dict] = None,
               started: Optional[float] = None, ended: Optional[float] = None, error: Optional[str] = None) -> None:
        metrics = json.loads(json.dumps(metrics)) if metrics else None  # what the study's JSON would give back
        self._rows[trial.id] = row(trial.id, str(trial.arch), trial.cost, status, trial.reward, metrics, started,
                                   ended, error)
        if trial.epochs is not None and status == COMPLETE:
            self._rungs.setdefault(trial.id, {})[trial.epochs] = rung(trial.epochs, trial.reward, metrics)
        if self.keeps_state:
            self._state = json.loads(json.dumps(state))

    def trials(self) -> list[dict[str, Any]]:
        rows = [dict(self._rows[i]) for i in sorted(self._rows)]
        return with_rungs(rows, {i: list(r.values()) for i, r in self._rungs.items()})
