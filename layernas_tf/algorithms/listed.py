"""A fixed list of networks, trained in order: what the proxy check trains, under every executor and the study."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from layernas_tf.algorithms.base import Algorithm
from layernas_tf.core.space import Architecture


class Listed(Algorithm):
    """Trains exactly `networks`, each once, in their order; the list is part of its settings, so a study of
    another list is not resumed as this one."""

    name = "listed"

    def __init__(self, space, target, networks: Sequence[Architecture], *, max_trials: Optional[int] = None,
                 seed: int = 0):
        super().__init__(space, target, max_trials=max_trials, seed=seed)
        self.networks = [Architecture(tuple(a)) for a in networks]

    def config(self) -> dict[str, Any]:
        return {**super().config(), "networks": [str(a) for a in self.networks]}

    def _finished(self) -> bool:
        return len(self.trials) >= len(self.networks)

    def _next(self) -> Optional[Architecture]:
        return self.networks[len(self.trials)]
