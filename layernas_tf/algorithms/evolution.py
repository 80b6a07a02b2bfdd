"""Regularized evolution (Real et al., 2019) with the NATS-Bench settings."""

from __future__ import annotations

from typing import Optional

from layernas_tf.algorithms.base import Algorithm
from layernas_tf.core.space import Architecture


class RegularizedEvolution(Algorithm):
    """Aging evolution: tournament selection, one-layer mutation, the oldest member dies.

    The population is seeded with feasible random architectures; after that every
    trial mutates the winner of a tournament (drawn with replacement, as
    NATS-Bench does). Mutants that are infeasible or were tried before are redrawn,
    so every trial trains a new feasible network; failed trials never join the
    population.

    Args:
      population_size: members alive at once (NATS-Bench: 10).
      tournament_size: members drawn per tournament (NATS-Bench: 3).
      mutation_attempts: redraws of an infeasible or known mutant before falling
        back to a fresh random architecture.
    """

    name = "evolution"
    tuned = ("population_size", "tournament_size", "mutation_attempts")

    def __init__(
        self,
        space,
        target,
        population_size: int = 10,
        tournament_size: int = 3,
        max_trials: Optional[int] = None,
        seed: int = 0,
        mutation_attempts: int = 100,
    ):
        if population_size < 1 or tournament_size < 1:
            raise ValueError("population_size and tournament_size must be >= 1")
        super().__init__(space, target, max_trials=max_trials, seed=seed)
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.mutation_attempts = mutation_attempts
        self.population: list[int] = []  # trial ids, oldest first
        self._exhausted = False

    def config(self):
        return {
            **super().config(),
            "population_size": self.population_size,
            "tournament_size": self.tournament_size,
            "mutation_attempts": self.mutation_attempts,
        }

    def _finished(self) -> bool:
        return self._exhausted or self._feasible_left() == 0

    def _mutate(self, parent: Architecture) -> Architecture:
        layer = self.rng.randrange(len(self.space))
        options = len(self.space.decision_points[layer])
        option = self.rng.randrange(options - 1)
        if option >= parent[layer]:
            option += 1
        return parent.replace(layer, option)

    def _next(self) -> Optional[Architecture]:
        if len(self.population) < self.population_size:
            if len(self.population) + len(self._pending) >= self.population_size:
                return None
            arch = self.random_feasible()
        else:
            contenders = [self.trials[self.rng.choice(self.population)] for _ in range(self.tournament_size)]
            parent = max(contenders, key=lambda t: t.reward).arch
            for _ in range(self.mutation_attempts):
                arch = self._mutate(parent)
                if self.tried(arch) is None and self.feasible(arch):
                    break
            else:
                arch = self.random_feasible()
        self._exhausted = arch is None
        return arch

    def _on_report(self, trial) -> None:
        self.population.append(trial.id)
        if len(self.population) > self.population_size:
            self.population.pop(0)

    def _extra_state(self):
        return {"population": list(self.population), "exhausted": self._exhausted}

    def _load_extra_state(self, state):
        self.population = list(state["population"])
        self._exhausted = state["exhausted"]
