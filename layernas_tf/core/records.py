"""A trial as every reader of a search sees it: one frozen record, whatever stored it.

The study's rows (`trials.study`), an algorithm's in-memory `Trial`s and the
tuner's trials all become `TrialRecord`s before anything picks an answer or a
front from them (`core.front`), so "which trials count" is decided once: completed,
at full fidelity, within every budget.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Iterable, Mapping, Optional

from layernas_tf.core.status import Status


@dataclasses.dataclass(frozen=True)
class TrialRecord:
    """One trial and what came of it.

    Attributes:
      epochs: the epochs its reward was measured after, in a multi-fidelity search
        (its last rung); None: the objective's full training.
      full_fidelity: whether `reward` is the full training's: only such trials can
        be the answer or on the front (a trial stopped at an early rung cannot).
      metrics: what its worker reported (losses, seconds, costs), read-only.
    """

    id: int
    arch: str
    status: Status
    reward: Optional[float]
    cost: float
    epochs: Optional[int] = None
    full_fidelity: bool = True
    metrics: Mapping[str, Any] = dataclasses.field(default_factory=lambda: types.MappingProxyType({}))
    error: Optional[str] = None
    started: Optional[float] = None
    ended: Optional[float] = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any], full_epochs: Optional[int] = None) -> "TrialRecord":
        """A study row (`trials.study.read`). `full_epochs`: the full training's epochs in a multi-fidelity
        search (the study's `proxy_epochs` when it has rungs), None in any other."""
        rungs = row.get("rungs") or []
        epochs = rungs[-1]["epochs"] if rungs else None
        full = full_epochs is None or epochs == full_epochs
        return cls(row["id"], row["arch"], Status(row["status"]), row["reward"], row["cost"], epochs, full,
                   types.MappingProxyType(dict(row.get("metrics") or {})), row.get("error"), row.get("started"),
                   row.get("ended"))

    @classmethod
    def from_trial(cls, trial: Any, full_fidelity: bool = True) -> "TrialRecord":
        """An algorithm's `Trial` (whose algorithm knows whether it is at full fidelity)."""
        return cls(trial.id, str(trial.arch), Status(trial.status), trial.reward, trial.cost, trial.epochs,
                   full_fidelity, error=trial.error)


def from_rows(rows: Iterable[Mapping[str, Any]], full_epochs: Optional[int] = None) -> list[TrialRecord]:
    """Every study row as a record (see `TrialRecord.from_row`)."""
    return [TrialRecord.from_row(row, full_epochs) for row in rows]
