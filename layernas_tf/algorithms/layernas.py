"""LayerNAS: layer-by-layer search that keeps the best candidates per cost bucket.

Follows `shared/design/LAYERNAS.md` (Fan et al., 2023). Layer 0 trains the
all-default network. For each layer i the children of the kept candidates take
every option of layer i; children that can no longer reach the target (their
cheapest completion costs more than t_max, or their dearest completion less than
t_min) are dropped before anything trains; the rest train (an architecture
trained before, or another string of the same network, reuses its reward for free),
are split into H equal-width cost buckets, and the k best of each bucket become
the layer-i candidates. Trials stay within 1 + sum_i k * H * |S_i|, polynomial in
the number of layers.

With `rungs` (multi-fidelity LayerNAS, successive halving inside a layer) a child
first trains the first rung's epochs; once every child of the layer has, each
bucket's best `max(k, ceil(n / rung_factor))` of its n children (and any tied with
the last of them: they can still be among the best) train on to the next rung
from their checkpoints and the others stop there, their rung reward recorded as
such; the k best of each bucket at the last rung (the full proxy)
become the candidates. Only full-fidelity rewards compete for the answer and
the front. A bucket of at most k networks has nothing to choose between: its
children train to the last rung at once. When `max_trials` ends the search, the
layer's rungs still close over the children that trained (promotions are not new
trials), so the answer is a full-fidelity one.

With `inherit` (weight inheritance) each trial after the default names a parent:
the kept candidate of the last closed layer nearest to it (fewest decisions apart;
for a child, the candidate it was made from). Its worker starts it from the
parent's trained weights wherever their shapes agree (`training.inherit`) and trains
it fewer epochs. A layer's children may be kept as candidates, and candidates are
parents for the whole of the next layer, so `inheritable` names both until that
layer closes: their weights are kept until then.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from layernas_tf.algorithms.base import Algorithm, Target
from layernas_tf.core.status import COMPLETE, PENDING
from layernas_tf.core.space import Architecture, SearchSpace


def bucketize(costs: Sequence[float], buckets: int, lowest: float, highest: float) -> list[int]:
    """Bucket index of each cost among `buckets` equal-width buckets over [lowest, highest]."""
    if highest <= lowest:
        return [0] * len(costs)
    width = (highest - lowest) / buckets
    return [min(buckets - 1, max(0, int((c - lowest) / width))) for c in costs]


class LayerNAS(Algorithm):
    """The LayerNAS search behind the ask/tell contract.

    Args:
      space: the search space.
      target: the cost range, as a max cost, a (min, max) pair, or a `Target`.
      buckets: H, the number of equal-width cost buckets per layer.
      per_bucket: k, candidates kept per bucket (more than 1 when rewards are noisy).
      max_trials: stop after this many trials; the answer is then the best feasible
        network trained so far and `stopped_early` is True.
      seed: kept for the shared contract; LayerNAS itself draws nothing at random.
      rungs: increasing epoch counts, the last one the full proxy (e.g. (1, 3, 5)):
        successive halving within each layer (module docstring). Empty: every child
        trains the full proxy, the paper's LayerNAS. Trials then carry no `epochs`.
      rung_factor: eta: each rung keeps 1/eta of a bucket's children (at least k).
      inherit: weight inheritance: each trial after the default names the candidate it
        inherits from (`parent`, module docstring). Not with `rungs`.
    """

    name = "layernas"

    def __init__(
        self,
        space: SearchSpace,
        target: "Target | float | Sequence[float]",
        buckets: int = 10,
        per_bucket: int = 1,
        max_trials: Optional[int] = None,
        seed: int = 0,
        rungs: Sequence[int] = (),
        rung_factor: int = 3,
        inherit: bool = False,
    ):
        if buckets < 1 or per_bucket < 1:
            raise ValueError(f"buckets and per_bucket must be >= 1, got {buckets} and {per_bucket}")
        rungs = tuple(int(r) for r in rungs)
        if rungs and (len(rungs) < 2 or rungs[0] < 1 or any(a >= b for a, b in zip(rungs, rungs[1:]))):
            raise ValueError(f"rungs must be at least two increasing positive epoch counts, got {rungs}")
        if rungs and rung_factor < 2:
            raise ValueError(f"rung_factor must be >= 2, got {rung_factor}")
        if rungs and inherit:
            raise ValueError("inherit and rungs do not combine: a rung's promotion trains on from the trial's own "
                             "checkpoint, an inherited trial from its parent's weights; give one of them")
        super().__init__(space, target, max_trials=max_trials, seed=seed)
        self.buckets = buckets
        self.per_bucket = per_bucket
        self.rungs, self.rung_factor = rungs, int(rung_factor)
        self.inherit = bool(inherit)
        self._rung = 0  # the rung this layer's children are training at
        self._promoting: list[int] = []  # trials to hand out again at `rungs[_rung]`
        self._straight: set[Architecture] = set()  # children of this layer that skip the rungs
        self._layer: Optional[int] = None  # None: not started; -1: training the default
        self._candidates: list[Architecture] = []
        self._children: list[Architecture] = []
        self._canonical_children: tuple[Optional[list], set] = (None, set())  # `settled`'s view of `_children`
        self._queue: list[Architecture] = []
        self._is_finished = False
        # Children whose network was trained under another string: each a trial the search did not spend.
        self.trials_saved = 0
        self._settle()

    @staticmethod
    def trial_bound(space: SearchSpace, buckets: int = 10, per_bucket: int = 1) -> int:
        """The most trials a full search can take: 1 + sum_i k * H * |S_i|."""
        return 1 + sum(per_bucket * buckets * len(p) for p in space.decision_points)

    @property
    def natural_bound(self) -> int:
        """`trial_bound` of this search's space and settings."""
        return self.trial_bound(self.space, self.buckets, self.per_bucket)

    def config(self) -> dict[str, Any]:
        rungs = {"rungs": list(self.rungs), "rung_factor": self.rung_factor} if self.rungs else {}
        inherit = {"inherit": True} if self.inherit else {}  # absent without: older studies resume as they were
        return {**super().config(), "buckets": self.buckets, "per_bucket": self.per_bucket, **rungs, **inherit}

    def full_fidelity(self, trial) -> bool:
        return not self.rungs or trial.epochs == self.rungs[-1]

    def settled(self, trial) -> bool:
        """A trial stopped at a rung is settled once that rung of its layer closed without promoting it, or its
        layer closed: a later layer's children keep every layer after theirs at its default, so a network comes
        back only as a kept candidate, and those trained to the full proxy."""
        if trial.status != COMPLETE or self.full_fidelity(trial) or self._is_finished or self._layer is None:
            return trial.status == COMPLETE
        if self._canonical_children[0] is not self._children:  # once per layer
            self._canonical_children = (self._children, {self.space.canonical(c) for c in self._children})
        if self.space.canonical(trial.arch) not in self._canonical_children[1]:
            return True
        return trial.id not in self._promoting and trial.epochs < self.rungs[self._rung]

    def parent(self, arch: Architecture) -> Optional[int]:
        """With `inherit`, the trial of the kept candidate nearest to `arch` (fewest decisions apart, the first
        on ties: a child's own candidate is one decision away, any other at least two); None for the default
        network, and without `inherit`."""
        if not self.inherit:
            return None
        trials = [self.tried(c) for c in self._candidates]
        trials = [t for t in trials if t is not None and t.status == COMPLETE]
        if not trials:
            return None
        return min(trials, key=lambda t: sum(a != b for a, b in zip(t.arch, arch))).id

    def inheritable(self) -> set[int]:
        """The parents of trials out and, while the search goes on, this layer's candidates (the parents of its
        children) and its trained children (any of them may be kept as the next layer's parents)."""
        kept = super().inheritable()
        if self.inherit and not self._is_finished:
            kept |= {t.id for t in map(self.tried, self._candidates + self._children) if t is not None}
        return kept

    @property
    def layer(self) -> Optional[int]:
        """Index of the layer whose children are being trained (-1: the default network)."""
        return self._layer

    @property
    def candidates(self) -> list[Architecture]:
        """The kept candidates of the last closed layer."""
        return list(self._candidates)

    # -- the search --------------------------------------------------------------

    def _finished(self) -> bool:
        return self._is_finished

    def _next(self) -> Optional[Architecture]:
        self._settle()
        return self._queue.pop(0) if self._queue else None

    def _first_epochs(self, arch: Architecture) -> Optional[int]:
        if not self.rungs:
            return None
        return self.rungs[-1] if arch in self._straight else self.rungs[0]

    def _promotions_left(self) -> bool:
        self._settle()
        return bool(self._promoting)

    def _promotion(self):
        self._settle()
        while self._promoting:
            trial = self.trials[self._promoting.pop(0)]
            if trial.status == COMPLETE and trial.epochs < self.rungs[self._rung]:
                trial.epochs = self.rungs[self._rung]
                return trial
        return None

    def _on_report(self, trial) -> None:
        self._settle()

    _on_failure = _on_report

    def _settle(self) -> None:
        """Moves on to the next layer whenever the current one has nothing left to train."""
        while not self._is_finished:
            # Another string of a queued child's network may have gone out since it was queued.
            queued = len(self._queue)
            self._queue = [c for c in self._queue if self.tried(c) is None]
            self.trials_saved += queued - len(self._queue)
            stopped = self.rungs and not self.budget_left
            if stopped:  # max_trials: no new child trains, and the rungs close over those that did
                self._queue = []
            if self._queue or self._promoting or self._children_out():
                return
            if self.rungs and self._layer is not None and self._rung < len(self.rungs) - 1 and self._children:
                self._promote()
            elif stopped:
                return
            else:
                self._advance()

    def _children_out(self) -> bool:
        """Whether a child of this layer is still training (under any string, by any source of trials)."""
        return any(self.tried(c) is not None and self.tried(c).status == PENDING for c in self._children)

    def _advance(self) -> None:
        if self._layer is None:
            self._layer = -1
            self._children = [self.space.default()]
        else:
            self._candidates = self._keep() if self._layer >= 0 else self._children
            layer = self._layer + 1
            if layer == len(self.space) or not self._candidates:
                self._is_finished = True
                return
            children = {}
            for parent in self._candidates:
                for option in range(len(self.space.decision_points[layer])):
                    children.setdefault(parent.replace(layer, option), None)
            self._children = [c for c in children if self.reachable(c, layer)]
            self._layer = layer
            self.trials_saved += sum(1 for c in self._children
                                     if self.tried(c) is not None and self.tried(c).arch != c)
        self._queue = [c for c in self._children if self.tried(c) is None]
        self._rung = 0
        self._straight = self._alone() if self.rungs else set()

    def _buckets(self) -> dict[int, list[Architecture]]:
        """This layer's searchable children by cost bucket, one string per network (its first)."""
        costs = [self.cost(c) for c in self._children]
        if not costs:
            return {}
        out: dict[int, list[Architecture]] = {}
        seen = set()
        for child, b in zip(self._children, bucketize(costs, self.buckets, min(costs), max(costs))):
            if self.space.canonical(child) not in seen:
                seen.add(self.space.canonical(child))
                out.setdefault(b, []).append(child)
        return out

    def _alone(self) -> set[Architecture]:
        """Children in buckets of at most k networks: all of them are kept whatever they score."""
        return {c for group in self._buckets().values() if len(group) <= self.per_bucket for c in group}

    def _promote(self) -> None:
        """Closes rung `_rung` of this layer: each bucket's best go on to the next rung."""
        epochs, following = self.rungs[self._rung], self.rungs[self._rung + 1]
        ranked, tied, promoted, rewards = 0, 0, [], set()
        for group in self._buckets().values():
            scored = sorted((-t.rewards[epochs], t.cost, t.id) for t in map(self.tried, group)
                            if t is not None and t.status == COMPLETE and epochs in t.rewards)
            if not scored:
                continue
            ranked += len(scored)
            rewards.update(-r for r, _, _ in scored)
            quota = min(len(scored), max(self.per_bucket, math.ceil(len(scored) / self.rung_factor)))
            # A child tied with the quota's last can still be among the bucket's best: it goes on too.
            going = [i for r, _, i in scored if r <= scored[quota - 1][0]]
            tied += len(going) - quota
            promoted += [i for i in going if self.trials[i].epochs < following]
        self._rung += 1
        self._promoting = sorted(promoted)
        if ranked:  # nothing to rank when every child went straight to the last rung
            self.rung_log.append({"layer": self._layer, "epochs": epochs, "ranked": ranked, "next": following,
                                  "promoted": list(self._promoting), "tied": tied,
                                  "one_reward": ranked > 1 and len(rewards) == 1})

    def _keep(self) -> list[Architecture]:
        """Bucketizes this layer's searchable children by cost; keeps the k best of each bucket."""
        costs = [self.cost(c) for c in self._children]
        if not costs:  # no child of this layer can reach the target: the search ends with what it has
            self.layer_log.append({"layer": self._layer, "searchable": 0, "edges": [], "kept": []})
            return []
        lowest, highest = min(costs), max(costs)
        index = bucketize(costs, self.buckets, lowest, highest)
        ranked: dict[int, list[tuple[float, float, int]]] = {}
        networks = set()
        for order, (child, b) in enumerate(zip(self._children, index)):
            trial = self.tried(child)
            if (trial is not None and trial.status == COMPLETE and self.full_fidelity(trial)
                    and trial.id not in networks):
                networks.add(trial.id)  # a network is kept once, under the first of its strings
                ranked.setdefault(b, []).append((-trial.reward, costs[order], order))
        kept = []
        for b in sorted(ranked):
            kept += [self._children[order] for _, _, order in sorted(ranked[b])[: self.per_bucket]]
        self.layer_log.append(
            {
                "layer": self._layer,
                "searchable": len(self._children),
                "edges": [lowest + (highest - lowest) * j / self.buckets for j in range(self.buckets + 1)],
                "kept": [str(c) for c in kept],
            }
        )
        return kept

    # -- persistence -----------------------------------------------------------------

    def _extra_state(self) -> dict[str, Any]:
        return {
            "layer": self._layer,
            "candidates": [str(c) for c in self._candidates],
            "children": [str(c) for c in self._children],
            "queue": [str(c) for c in self._queue],
            "finished": self._is_finished,
            "layer_log": self.layer_log,
            "trials_saved": self.trials_saved,
            **({"rung": self._rung, "promoting": self._promoting, "straight": sorted(str(c) for c in self._straight),
                "rung_log": self.rung_log} if self.rungs else {}),
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        parse = self.space.parse
        self._layer = state["layer"]
        self._candidates = [parse(c) for c in state["candidates"]]
        self._children = [parse(c) for c in state["children"]]
        self._queue = [parse(c) for c in state["queue"]]
        self._is_finished = state["finished"]
        self.layer_log = list(state["layer_log"])
        self.trials_saved = state.get("trials_saved", 0)  # absent from states saved before it was counted
        if self.rungs:
            self._rung, self._promoting = state["rung"], list(state["promoting"])
            self._straight = {parse(c) for c in state["straight"]}
            self.rung_log = list(state["rung_log"])
