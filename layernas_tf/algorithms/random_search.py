"""Random search: feasible architectures drawn uniformly, the baseline every NAS paper reports."""

from __future__ import annotations

from typing import Optional

from layernas_tf.algorithms.base import Algorithm
from layernas_tf.core.space import Architecture


class RandomSearch(Algorithm):
    """Uniform sampling over feasible, not yet tried architectures.

    It ends when `max_trials` is reached or no untried feasible architecture is
    left (known at once in spaces small enough to list; in larger ones, when
    rejection sampling stops finding any).
    """

    name = "random"

    def __init__(self, space, target, max_trials=None, seed=0):
        super().__init__(space, target, max_trials=max_trials, seed=seed)
        self._exhausted = False

    def _finished(self) -> bool:
        return self._exhausted or self._feasible_left() == 0

    def _next(self) -> Optional[Architecture]:
        arch = self.random_feasible()
        self._exhausted = arch is None
        return arch

    def _extra_state(self):
        return {"exhausted": self._exhausted}

    def _load_extra_state(self, state):
        self._exhausted = state["exhausted"]
