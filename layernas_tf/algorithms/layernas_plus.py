"""LayerNAS+: LayerNAS with a reward model; the default search.

Two regimes (`docs/algorithm.md` gives the measurements):

- **Without `max_trials`** (the search ends by itself): no trial on top of
  LayerNAS's. At each layer's start the model looks at the children LayerNAS queued;
  a child it is confident cannot be among the `per_bucket` best of its cost bucket
  (`confidence` standard deviations of the fit's spread) is left untrained, and the
  model's best-ranked untried feasible network trains in its place. A layer closes
  only when nothing is out, so what is proposed depends on which trials exist and
  what they scored, never on the order results came back in: one worker or many,
  the same search. No warm-up: the model starts once it has `warmup` trials of
  LayerNAS's to learn from, and while the fit has fewer networks than effects its
  spread is infinite and nothing is left out.
- **With `max_trials`** (a budget to spend), what follows.

- The first `warmup` trials are random feasible networks; after them a `model_share`
  of the trials are not LayerNAS's: each is the untrained feasible network that a
  reward model (`surrogate.AdditiveModel`, fitted to every trained network,
  LayerNAS's included) ranks best. LayerNAS's own trials are single-layer
  variations of its candidates, exactly the data that pins a per-layer model down;
  the model's picks are feasible, so the search has an answer from its first trial
  on, which LayerNAS, starting from the default (often the dearest network) and
  working through unfinished candidates, lacks for its first layers.
- The share holds in the long run, but the source whose trial found the best
  network so far runs up to `lead` trials ahead of it: which source finds better
  networks first depends on the space (the model on NAS-Bench-Macro, LayerNAS on
  NATS-Bench), and a budget of tens of trials is won by giving them to the one
  that is finding them.
- A network the model trained is one LayerNAS reuses for free when it comes up as
  a child, and the reverse; no network trains twice.
- The model also keeps workers busy while LayerNAS waits on results still out,
  and the trials LayerNAS leaves at its natural end go to the model: a budget is
  spent, not returned. (This regime's proposals depend on which results are in
  when a worker asks: with several workers the trials differ run to run.)

Args:
  model_share: the fraction of the trials after the warmup that the model proposes
    in the long run (0.5: half).
  warmup: the random feasible networks drawn first, before LayerNAS's first trial;
    the model ranks once it has seen as many (5). With a budget of at most this
    many trials the search is random search.
  lead: how many trials more than its share the source that found the best
    network may take in a row. Default: three per layer.
  ridge: the model's L2 penalty.
  samples: in spaces too large to list, the random networks added per proposal
    to the neighbours of the best trials.
  confidence: without `max_trials`, how many standard deviations of the fit's
    spread a child must be below `per_bucket` rivals of its bucket to be replaced
    (1.5, measured: the least at which the answer is at least LayerNAS's on every
    table we measure, 25% of the cost included; smaller replaces more children and
    saves more trials, and at 0.5 lost 0.42 points on NATS-Bench cifar100 at 25%).
  layernas: LayerNAS's own settings (`buckets`, `per_bucket`, `max_trials`, `seed`).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np

from layernas_tf.algorithms.base import Target
from layernas_tf.core.status import COMPLETE, PENDING
from layernas_tf.algorithms.layernas import LayerNAS, bucketize
from layernas_tf.algorithms.surrogate import AdditiveModel
from layernas_tf.core.space import Architecture, SearchSpace


RANDOM, MODEL, LAYERNAS = "r", "m", "l"  # who proposed a trial: the warm-up, the model, LayerNAS


def _lead(space: SearchSpace, lead: Optional[int]) -> int:
    """How far the source leading the search may run ahead of its share: `lead`, or three trials a layer."""
    return 3 * len(space) if lead is None else lead


class LayerNASPlus(LayerNAS):
    """LayerNAS interleaved with a reward model's proposals (see the module docstring)."""

    name = "layernas_plus"
    tuned = ("model_share", "warmup", "lead", "ridge", "samples", "confidence")

    def __init__(
        self,
        space: SearchSpace,
        target: "Target | float | Sequence[float]",
        *,
        model_share: float = 0.5,
        warmup: int = 5,
        lead: Optional[int] = None,
        ridge: float = 1.0,
        samples: int = 64,
        confidence: float = 1.5,
        **layernas: Any,
    ):
        if (not 0 < model_share < 1 or warmup < 0 or (lead is not None and lead < 0) or ridge <= 0
                or samples < 0 or not confidence >= 0):
            raise ValueError(f"need 0 < model_share < 1, warmup >= 0, lead >= 0, ridge > 0, samples >= 0, "
                             f"confidence >= 0; got {model_share}, {warmup}, {lead}, {ridge}, {samples}, {confidence}")
        self.model_share = model_share
        self.warmup = warmup
        self.lead = _lead(space, lead)
        self.ridge = ridge
        self.samples = samples
        self.confidence = confidence
        self.replaced = 0  # without max_trials: LayerNAS children left untrained for a model pick
        self._picks: set[Architecture] = set()  # the model's picks queued in LayerNAS's place
        self._from_model = self._from_layernas = 0
        self._model_exhausted = False
        self._model = AdditiveModel([len(p) for p in space.decision_points], ridge)
        self._modelled = 0  # trials, in id order, looked at by the model so far
        self._sources = ""  # who proposed each trial, by id: RANDOM, MODEL or LAYERNAS
        self._leader: Optional[str] = None  # who proposed the best feasible trial the model has looked at
        self._leading_reward = -np.inf
        # The feasible networks of a space small enough to list them, their model columns, which are untried.
        self._listing: Optional[tuple[Architecture, ...]] = None
        self._columns = self._row_of = self._untried = None
        self._masked = 0  # trials, in id order, already struck off `_untried`
        super().__init__(space, target, **layernas)

    def config(self) -> dict[str, Any]:
        settings = {**super().config(), "model_share": self.model_share, "warmup": self.warmup, "lead": self.lead,
                    "ridge": self.ridge, "samples": self.samples}
        if self._in_place():
            settings["confidence"] = self.confidence
        return settings

    def _in_place(self) -> bool:
        """Without max_trials the model's trials take the place of LayerNAS children, never add to them."""
        return self.max_trials is None

    # -- the search --------------------------------------------------------------

    def _finished(self) -> bool:
        if self._feasible_left() == 0:  # every feasible network trained: nothing left to find
            return True
        if not self._is_finished:
            return False
        return self.max_trials is None or self._model_exhausted

    def _model_turn(self) -> bool:
        """Whether the model proposes the next trial: during the warm-up, after LayerNAS's end, when it is
        behind its share, and while it leads, up to `lead` trials ahead of it (LayerNAS likewise).

        Without max_trials, never: its picks are in LayerNAS's queue (`_replace`)."""
        if self._in_place():
            return False
        if self._is_finished or self._from_model < self.warmup:
            return True
        self._learn()
        share = self.model_share
        ahead = (self._from_model - self.warmup) * (1 - share) - self._from_layernas * share
        if self._leader == MODEL:
            return ahead < self.lead * (1 - share)
        if self._leader == LAYERNAS:
            return ahead <= -self.lead * share
        return ahead <= 0

    def _next(self) -> Optional[Architecture]:
        model_turn = self._model_turn()
        arch = self._propose() if model_turn else super()._next()
        if arch is None and not model_turn and self.max_trials is not None:
            # LayerNAS waits on results still out; with a fixed budget the model keeps the worker busy.
            model_turn, arch = True, self._propose()
        if arch is None and model_turn and not self._is_finished:
            model_turn, arch = False, super()._next()
        if arch is not None:
            picked = arch in self._picks
            self._picks.discard(arch)
            if picked or model_turn:
                self._sources += MODEL if picked or self._from_model >= self.warmup else RANDOM
                self._from_model += 1
            else:
                self._sources += LAYERNAS
                self._from_layernas += 1
        return arch

    # `trial_bound` is LayerNAS's: without max_trials each pick takes the place of a child, layer by layer.

    @property
    def natural_bound(self) -> float:
        """LayerNAS's bound without max_trials; with it, none of its own (a budget is spent)."""
        return self.trial_bound(self.space, self.buckets, self.per_bucket) if self._in_place() else math.inf

    # -- without max_trials: the model's picks in place of LayerNAS children ----------------

    def _children_out(self) -> bool:
        # A layer closes when nothing is out, picks included: the next layer's queue then depends on which
        # trials exist and what they scored, never on the order results came back in.
        return bool(self._pending) if self._in_place() else super()._children_out()

    def _advance(self) -> None:
        super()._advance()
        if self._in_place() and not self._is_finished and self._layer is not None and self._layer >= 0:
            self._replace()

    def _replace(self) -> None:
        """Leaves untrained each queued child the model is confident cannot be among the `per_bucket` best of
        its bucket, and queues as many of the model's own picks in their place.

        Confident: at least `per_bucket` other children of the bucket (trained, with their
        reward, or queued, with their prediction less `confidence` standard deviations)
        are above the child's prediction plus `confidence` standard deviations. While
        the fit has fewer networks than effects its spread is infinite: nothing is left out.
        """
        self._learn()
        if self._model.count < self.warmup or not self._queue:
            return
        costs = [self.cost(c) for c in self._children]
        index = dict(zip(self._children, bucketize(costs, self.buckets, min(costs), max(costs))))
        columns = self._model.columns([self.space.canonical(c) for c in self._children])
        predicted = self._model.predict(columns)
        spread = self._model.spread(columns)
        if not np.isfinite(spread).all():
            return
        low, high = {}, {}
        for child, mean, sd in zip(self._children, predicted, spread):
            trial = self.tried(child)
            if trial is not None and trial.status == COMPLETE:
                low[child] = high[child] = trial.reward
            elif trial is None:
                low[child], high[child] = mean - self.confidence * sd, mean + self.confidence * sd
        out = set()
        for child in self._queue:
            rivals = sum(1 for other in low if other != child and index[other] == index[child]
                         and low[other] > high[child])
            if rivals >= self.per_bucket:
                out.add(child)
        if not out:
            return
        picks = self._ranked_picks(len(out), exclude={self.space.canonical(c) for c in self._children})
        self.replaced += len(picks)
        dropped = set(sorted(out, key=lambda c: high[c])[:len(picks)])  # the least promising go first
        kept = [c for c in self._queue if c not in dropped]
        self._picks.update(picks)
        self._queue = [a for pair in zip(kept, picks) for a in pair] + kept[len(picks):] + picks[len(kept):]

    def _ranked_picks(self, n: int, exclude: set) -> list[Architecture]:
        """The `n` untried feasible networks the model ranks best, none of `exclude`."""
        listing = self.space.feasible_architectures(self.target.t_min, self.target.t_max)
        pool = ([a for a in listing if self.tried(a) is None] if listing is not None else self._pool())
        pool = [a for a in pool if a not in exclude]
        if not pool:
            return []
        order = np.argsort(-self._model.predict(self._model.columns(pool)), kind="stable")
        return [pool[i] for i in order[:n]]

    def _propose(self) -> Optional[Architecture]:
        """The untrained feasible network the model ranks best (a random one while it warms up)."""
        if self._model_exhausted or self._feasible_left() == 0:
            return None
        self._learn()
        arch = None
        if self._model.count >= self.warmup:
            listing = self.space.feasible_architectures(self.target.t_min, self.target.t_max)
            arch = self._best_listed(listing) if listing is not None else self._best_sampled()
        if arch is None:
            arch = self.random_feasible()
        self._model_exhausted = arch is None
        return arch

    def _best_listed(self, listing: tuple[Architecture, ...]) -> Optional[Architecture]:
        """The best-ranked untried network of a space small enough to list its feasible networks."""
        if self._listing is not listing:
            self._listing = listing
            self._columns = self._model.columns(listing)
            self._row_of = {a: i for i, a in enumerate(listing)}
            self._untried = np.ones(len(listing), dtype=bool)
            self._masked = 0
        for trial in self.trials[self._masked:]:
            row = self._row_of.get(self.space.canonical(trial.arch))
            if row is not None:
                self._untried[row] = False
        self._masked = len(self.trials)
        if not self._untried.any():
            return None
        scores = np.where(self._untried, self._model.predict(self._columns), -np.inf)
        return listing[int(np.argmax(scores))]

    def _best_sampled(self) -> Optional[Architecture]:
        """The best-ranked of a sample of untried feasible networks, in spaces too large to list."""
        pool = self._pool()
        return pool[int(np.argmax(self._model.predict(self._model.columns(pool))))] if pool else None

    def _learn(self) -> None:
        """Feeds the model the completed trials it has not seen, in id order up to the first one still out,
        and notes who proposed the best feasible one.

        In id order, so that a restored search refits the very same model and leader.
        """
        while self._modelled < len(self.trials) and self.trials[self._modelled].status != PENDING:
            trial = self.trials[self._modelled]
            if trial.status == COMPLETE:
                self._model.add(self.space.canonical(trial.arch), trial.reward)
                if self.feasible(trial.arch) and trial.reward > self._leading_reward:
                    self._leading_reward, self._leader = trial.reward, self._sources[trial.id]
            self._modelled += 1

    def _pool(self) -> list[Architecture]:
        """Untried feasible networks near the best: every single-layer change of the three best
        feasible trials, `samples` two-layer changes of the best, and `samples` random draws."""
        done = sorted((t for t in self.trials if t.status == COMPLETE and self.feasible(t.arch)),
                      key=lambda t: -t.reward)[:3]
        pool: dict[Architecture, None] = {}
        for parent in (t.arch for t in done):
            for layer, point in enumerate(self.space.decision_points):
                for option in range(len(point)):
                    pool.setdefault(parent.replace(layer, option), None)
        if done:
            for _ in range(self.samples):
                child = done[0].arch
                for layer in self.rng.sample(range(len(self.space)), min(2, len(self.space))):
                    child = child.replace(layer, self.rng.randrange(len(self.space.decision_points[layer])))
                pool.setdefault(child, None)
        for _ in range(self.samples):
            pool.setdefault(self.space.random(self.rng), None)
        unique = {self.space.canonical(a): None for a in pool if self.tried(a) is None and self.feasible(a)}
        return list(unique)

    # -- persistence -----------------------------------------------------------------

    def _extra_state(self) -> dict[str, Any]:
        return {**super()._extra_state(), "from_model": self._from_model, "from_layernas": self._from_layernas,
                "model_exhausted": self._model_exhausted, "sources": self._sources,
                "picks": sorted(str(a) for a in self._picks), "replaced": self.replaced}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        self._from_model, self._from_layernas = state["from_model"], state["from_layernas"]
        self._model_exhausted, self._sources = state["model_exhausted"], state["sources"]
        self._picks = {self.space.parse(a) for a in state.get("picks", ())}
        self.replaced = state.get("replaced", 0)
        self._model = AdditiveModel([len(p) for p in self.space.decision_points], self.ridge)
        self._modelled, self._leader, self._leading_reward = 0, None, -np.inf
        self._listing = None
