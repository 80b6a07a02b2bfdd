"""The front: the best network the search found for every budget.

A completed feasible trial is on the front when no other one is at most as costly
and strictly better, or strictly cheaper and at least as good. LayerNAS's last
layer keeps the best network of every cost bucket, so one search holds such a
front; `front.json` hands it to the user, sorted by cost.
"""

from __future__ import annotations

from typing import Iterable

from layernas_tf.core.status import COMPLETE


def pareto_front(points: Iterable[tuple[int, float, float]]) -> list[int]:
    """Ids of the non-dominated (id, cost, reward) points, cheapest first (the earlier id on exact ties)."""
    front, best = [], float("-inf")
    for trial_id, _, reward in sorted(points, key=lambda p: (p[1], -p[2], p[0])):
        if reward > best:
            front.append(trial_id)
            best = reward
    return front


def of_search(search) -> list[int]:
    """The front of an ask/tell search's completed feasible trials at full fidelity, cheapest first."""
    return pareto_front((t.id, t.cost, t.reward) for t in search.trials
                        if t.status == COMPLETE and search.feasible(t.arch) and search.full_fidelity(t))
