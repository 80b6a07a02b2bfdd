"""The answer and the front: which trials a search hands to its user, decided in this one place.

Only a trial that completed, at full fidelity (not one stopped at an early rung of a
multi-fidelity search, whose reward is a shorter training's), within every budget
can be either. The answer is the best reward among them, the cheaper and then the
earlier on ties. A trial is on the front when no other one is at most as costly
and strictly better, or strictly cheaper and at least as good. LayerNAS's last
layer keeps the best network of every cost bucket, so one search holds such a
front; `front.json` hands it to the user, sorted by cost.

Every reader picks through these two functions: `search()` and the algorithms'
`best()`, the final training (`train`), `export --front`, the reports, the
KerasTuner tuner and the comparisons.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional, TypeVar

from layernas_tf.core.records import TrialRecord
from layernas_tf.core.status import COMPLETE

R = TypeVar("R", bound=TrialRecord)


def eligible(records: Iterable[R], within: Callable[[R], bool]) -> list[R]:
    """The records that can be the answer or on the front: completed, full fidelity, `within` every budget."""
    return [r for r in records if r.status == COMPLETE and r.full_fidelity and within(r)]


def ranked(records: Iterable[R], within: Callable[[R], bool]) -> list[R]:
    """The eligible records, best first: higher reward, then cheaper, then earlier (the tuner's best trials)."""
    return sorted(eligible(records, within), key=lambda r: (-r.reward, r.cost, r.id))


def answer(records: Iterable[R], within: Callable[[R], bool]) -> Optional[R]:
    """The best-reward eligible record (cheaper, then earlier, on ties); None when none is eligible."""
    return max(eligible(records, within), key=lambda r: (r.reward, -r.cost, -r.id), default=None)


def pareto_front(points: Iterable[tuple[int, float, float]]) -> list[int]:
    """Ids of the non-dominated (id, cost, reward) points, cheapest first (the earlier id on exact ties)."""
    front, best = [], float("-inf")
    for trial_id, _, reward in sorted(points, key=lambda p: (p[1], -p[2], p[0])):
        if reward > best:
            front.append(trial_id)
            best = reward
    return front


def front(records: Iterable[R], within: Callable[[R], bool]) -> list[int]:
    """Ids of the eligible records no other beats on cost and reward, cheapest first."""
    return pareto_front((r.id, r.cost, r.reward) for r in eligible(records, within))


def of_search(search) -> list[int]:
    """The front of an ask/tell search (an `Algorithm`): its own trials, its own feasibility and fidelity."""
    by_id = {t.id: t for t in search.trials}
    return front(search.records(), lambda r: search.feasible(by_id[r.id].arch))
