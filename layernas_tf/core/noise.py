"""How much a reward is the training's luck: the one estimator of a reward's noise, in pure Python.

The proxy check's reward-variance check, our real table's report and the benchmarks that measure or tell a
reward's noise (`benchmarks/rungs.py`, `benchmarks/noisy_answer.py`) all state it with `reward_variance`, so a
figure printed in one place is the figure another compares against.
"""

from __future__ import annotations

import statistics
from typing import Iterable


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else float("nan")


def reward_variance(by_seed: Iterable[Iterable[float]]) -> tuple[float, float]:
    """The reward variance of networks trained under several seeds (`by_seed`: networks x seeds): a network's noise,
    the mean over networks of its sd over seeds, and the spread between networks, the sd of their means (both
    ddof 1; nan where there are fewer than two seeds, or networks, to spread)."""
    rows = [[float(v) for v in row] for row in by_seed]
    if not rows:
        return float("nan"), float("nan")
    return statistics.mean(_sd(row) for row in rows), _sd([statistics.mean(row) for row in rows])
