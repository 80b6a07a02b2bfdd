"""A reward model of a layerwise space: ridge regression on each layer's option and each adjacent pair's.

LayerNAS rests on the observation that a layer's option changes the reward in much
the same way whatever the other layers hold. This model says so in numbers: the
reward is a sum of one effect per (layer, option) and one per (layer, option,
next layer's option), fitted by ridge regression to the trained networks. A few
dozen trainings pin the effects down well enough to rank the untrained networks,
and averaging over every network that shares a choice cancels much of a single
training's noise. Pure numpy; `LayerNASPlus` is its user.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class AdditiveModel:
    """Ridge regression of reward on one-hot layer options and adjacent option pairs.

    Args:
      sizes: the number of options of each layer.
      ridge: the L2 penalty; 1.0 shrinks an effect seen in one network by half.
    """

    def __init__(self, sizes: Sequence[int], ridge: float = 1.0):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.ridge = ridge
        self._offsets = np.concatenate([[0], np.cumsum(self.sizes)])[:-1]
        pairs = self.sizes[:-1] * self.sizes[1:]
        self._pair_offsets = int(self.sizes.sum()) + np.concatenate([[0], np.cumsum(pairs)])[:-1]
        self.width = int(self.sizes.sum() + pairs.sum())
        # The inverse of (X'X + ridge I), kept by rank-one (Sherman-Morrison) updates: a refit costs
        # a matrix-vector product, not a solve, which is what makes the model cheap enough to ask every trial.
        self._inverse = np.eye(self.width) / ridge
        self._counts = np.zeros(self.width)
        self._moment = np.zeros(self.width)
        self._sum, self._squares, self._count = 0.0, 0.0, 0
        self._weights = None

    def columns(self, archs: Sequence[Sequence[int]]) -> np.ndarray:
        """For each of `archs` (a sequence of option indices), the columns of its one-hot row that are 1.

        One per layer and one per adjacent pair: the model's input, kept sparse.
        """
        a = np.asarray(archs, dtype=np.int64).reshape(-1, len(self.sizes))
        return np.concatenate([self._offsets + a, self._pair_offsets + a[:, :-1] * self.sizes[1:] + a[:, 1:]], axis=1)

    def add(self, arch: Sequence[int], reward: float) -> None:
        """Adds one trained network; the fit is redone lazily at the next prediction."""
        on = self.columns([arch])[0]
        column = self._inverse[:, on].sum(axis=1)
        self._inverse -= np.outer(column, column) / (1.0 + column[on].sum())
        self._counts[on] += 1.0
        self._moment[on] += reward
        self._sum += reward
        self._squares += reward * reward
        self._count += 1
        self._weights = None

    @property
    def count(self) -> int:
        return self._count

    def predict(self, columns: np.ndarray) -> np.ndarray:
        """Predicted rewards of networks given by their `columns()`; 0 while nothing is known."""
        if self._count == 0:
            return np.zeros(len(columns))
        return self._fitted()[columns].sum(axis=1) + self._sum / self._count

    def _fitted(self) -> np.ndarray:
        if self._weights is None:
            # Fitted on rewards centred at their mean: the penalty pulls effects to 0, not the mean to 0.
            mean = self._sum / self._count
            self._weights = self._inverse @ (self._moment - mean * self._counts)
        return self._weights

    def noise(self) -> float:
        """The residual standard deviation of one reward around the fit; inf while the fit has no degrees of
        freedom left (fewer networks than effectively fitted effects).

        Ridge's exact residual sum, y'y - w'X'y - ridge |w|^2 on centred rewards, over
        n - 1 - (width - ridge trace(A^-1)) degrees of freedom (the effects' effective number).
        """
        if self._count < 2:
            return np.inf
        mean = self._sum / self._count
        weights = self._fitted()
        centred = self._squares - self._count * mean * mean
        residual = centred - weights @ (self._moment - mean * self._counts) - self.ridge * weights @ weights
        freedom = self._count - 1 - (self.width - self.ridge * np.trace(self._inverse))
        return float(np.sqrt(max(residual, 0.0) / freedom)) if freedom >= 1 else np.inf

    def leverage(self, columns: np.ndarray) -> np.ndarray:
        """x' A^-1 x for networks given by their `columns()`: how far each prediction rests on few networks (for
        a trained one, how much of its own reward its fitted value holds)."""
        return np.maximum(np.array([self._inverse[np.ix_(c, c)].sum() for c in columns]), 0.0)

    def spread(self, columns: np.ndarray) -> np.ndarray:
        """The standard deviation of each prediction (of the mean reward, not of one training), for networks
        given by their `columns()`: noise() * sqrt(x' A^-1 x)."""
        return self.noise() * np.sqrt(self.leverage(columns))
