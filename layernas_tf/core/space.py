"""The search-space contract every space and every algorithm shares.

A search space is an ordered list of decision points ("layers" in the LayerNAS
paper). An architecture picks one option index per decision point and prints in
the TuNAS convention, colon-separated indices (`0:3:3:6:1`), which parse back to
the same architecture. The space knows the cost of an architecture (MAdds,
parameters, ...) and, from it, the cost of the cheapest and dearest completion
of a partly searched architecture: LayerNAS uses those to drop children that can
no longer reach the target, before anything trains.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import re
import time
from typing import Any, Callable, Iterator, Optional, Sequence


@dataclasses.dataclass(frozen=True)
class DecisionPoint:
    """One searchable layer: its named options and the option the network starts from.

    Attributes:
      name: a stable name, shown in readable tables and error messages.
      options: the values this layer can take (channels, kernel sizes, ...).
      default: index of the option every candidate holds before the search reaches
        this layer.
    """

    name: str
    options: tuple[Any, ...]
    default: int = 0

    def __post_init__(self):
        object.__setattr__(self, "options", tuple(self.options))
        if len(self.options) < 2:
            raise ValueError(f"decision point {self.name!r} needs at least 2 options, got {self.options}")
        if not 0 <= self.default < len(self.options):
            raise ValueError(
                f"decision point {self.name!r}: default {self.default} is not an index of its "
                f"{len(self.options)} options"
            )

    def __len__(self) -> int:
        return len(self.options)


class Architecture(tuple):
    """One option index per decision point; immutable, hashable, prints as `0:3:3:6:1`."""

    def __new__(cls, indices: Sequence[int]):
        return super().__new__(cls, (int(i) for i in indices))

    def __str__(self) -> str:
        return ":".join(str(i) for i in self)

    def __repr__(self) -> str:
        return f"Architecture('{self}')"

    def replace(self, layer: int, option: int) -> "Architecture":
        """Returns a copy with `layer` set to `option`."""
        return Architecture(self[:layer] + (option,) + self[layer + 1 :])


# Spaces of at most this many networks can be listed whole (NATS-Bench size: 32,768;
# NAS-Bench-Macro: 6,561); MobileNet spaces hold about 1e30.
ENUMERABLE = 100_000
# Seconds a space whose costs are slow to count (`SearchSpace.costs_are_slow`: a user's Keras model, built to be
# counted, tenths of a second each) may spend listing its feasible networks: past it, searches sample instead of
# listing (a space of 10^4 such networks would otherwise take an hour before its first trial).
LISTING_SECONDS = 10.0


class SearchSpace:
    """Base class of every search space.

    Subclasses pass their decision points and implement `cost`. The cheapest and
    dearest option of each layer are found by varying that layer alone from the
    default architecture, which is exact whenever cost is monotone in each layer's
    option independently of the others (true of MAdds and parameter counts, where
    a wider or larger layer never makes the network cheaper). A space where that
    does not hold overrides `cheapest_option` and `dearest_option`.
    """

    name = "space"
    # Whether counting a network's cost takes long (a user's model built to be counted): listing is then bounded.
    costs_are_slow = False
    # Budgets besides the searched cost that every answer must also meet, as
    # (view, t_min, t_max): `view` is this space with the budgeted cost (`WithCost`).
    budgets: tuple[tuple["SearchSpace", float, float], ...] = ()

    def __init__(self, decision_points: Sequence[DecisionPoint]):
        if not decision_points:
            raise ValueError("a search space needs at least one decision point")
        self.decision_points = tuple(decision_points)

    # -- structure ----------------------------------------------------------

    def __len__(self) -> int:
        return len(self.decision_points)

    @property
    def size(self) -> int:
        """Number of architectures the space holds."""
        return math.prod(len(p) for p in self.decision_points)

    def default(self) -> Architecture:
        return Architecture(p.default for p in self.decision_points)

    def all_architectures(self) -> Iterator[Architecture]:
        """Every architecture, last layer fastest (what exhaustive baselines enumerate)."""
        sizes = [len(p) for p in self.decision_points]
        for flat in range(self.size):
            indices = []
            for n in reversed(sizes):
                flat, i = divmod(flat, n)
                indices.append(i)
            yield Architecture(reversed(indices))

    def random(self, rng: random.Random) -> Architecture:
        """An architecture drawn uniformly from the space."""
        return Architecture(rng.randrange(len(p)) for p in self.decision_points)

    def values(self, arch: Architecture) -> tuple[Any, ...]:
        """The option values `arch` selects, layer by layer."""
        self.validate(arch)
        return tuple(p.options[i] for p, i in zip(self.decision_points, arch))

    def layer_values(self, arch: Architecture) -> dict[str, str]:
        """Decision point name -> the chosen value as text (floats shortened), for reports."""
        return {
            p.name: f"{v:.4g}" if isinstance(v, float) else str(v)
            for p, v in zip(self.decision_points, self.values(arch))
        }

    def describe(self, arch: Architecture, every_point: bool = False) -> str:
        """A readable per-layer table of `arch` (changed layers starred), for logs and reports.

        `every_point` matters for a `Subspace` only: here every point is searched.
        """
        del every_point
        values = self.layer_values(arch)
        width = max(len(p.name) for p in self.decision_points)
        rows = [f"{'layer'.ljust(width)}  index  value"]
        for p, i in zip(self.decision_points, arch):
            mark = "" if i == p.default else "  *"
            rows.append(f"{p.name.ljust(width)}  {i:>5}  {values[p.name]}{mark}")
        return "\n".join(rows)

    # -- parsing and validation ----------------------------------------------

    def _allowed(self, layer: int) -> str:
        p = self.decision_points[layer]
        return f"0..{len(p) - 1} ({', '.join(str(o) for o in p.options)})"

    def validate(self, arch: Sequence[int]) -> Architecture:
        """Returns `arch` as an Architecture, or raises ValueError saying what is wrong."""
        if len(arch) != len(self):
            raise ValueError(
                f"architecture {':'.join(str(i) for i in arch)!r} has {len(arch)} layers; "
                f"space {self.name!r} has {len(self)} (e.g. {str(self.default())!r})"
            )
        for layer, (p, i) in enumerate(zip(self.decision_points, arch)):
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(p):
                raise ValueError(
                    f"layer {layer} ({p.name}): index {i!r} is out of range; allowed {self._allowed(layer)}"
                )
        return Architecture(arch)

    def parse(self, text: str) -> Architecture:
        """Parses the colon-separated form that `str(arch)` prints."""
        if not isinstance(text, str):
            raise ValueError(f"expected an architecture string like {str(self.default())!r}, got {text!r}")
        parts = text.strip().split(":")
        indices = []
        for layer, part in enumerate(parts):
            try:
                indices.append(int(part.strip()))
            except ValueError:
                where = (
                    f"layer {layer} ({self.decision_points[layer].name})" if layer < len(self) else f"layer {layer}"
                )
                allowed = f"; allowed {self._allowed(layer)}" if layer < len(self) else ""
                raise ValueError(
                    f"architecture {text!r}: {where} is {part!r}, not an integer index{allowed}"
                ) from None
        return self.validate(indices)

    # -- cost ------------------------------------------------------------------

    def cost(self, arch: Architecture) -> float:
        """The cost the search budgets (MAdds, parameters, ...); cheap and exact."""
        raise NotImplementedError(f"{type(self).__name__} does not define a cost")

    @functools.cached_property
    def _option_costs(self) -> tuple[tuple[float, ...], ...]:
        base = self.default()
        return tuple(
            tuple(self.cost(base.replace(layer, o)) for o in range(len(p)))
            for layer, p in enumerate(self.decision_points)
        )

    def cheapest_option(self, layer: int) -> int:
        costs = self._option_costs[layer]
        return min(range(len(costs)), key=costs.__getitem__)

    def dearest_option(self, layer: int) -> int:
        costs = self._option_costs[layer]
        return max(range(len(costs)), key=costs.__getitem__)

    def completion(self, arch: Architecture, layer: int, dearest: bool = False) -> Architecture:
        """`arch` with every layer after `layer` set to its cheapest (or dearest) option.

        `layer` is the index of the last layer the search has chosen; -1 completes all.
        """
        pick = self.dearest_option if dearest else self.cheapest_option
        return Architecture(
            tuple(arch[: layer + 1]) + tuple(pick(j) for j in range(layer + 1, len(self)))
        )

    def cheapest_completion_cost(self, arch: Architecture, layer: int) -> float:
        return self.cost(self.completion(arch, layer))

    def dearest_completion_cost(self, arch: Architecture, layer: int) -> float:
        return self.cost(self.completion(arch, layer, dearest=True))

    def canonical(self, arch: Architecture) -> Architecture:
        """One string for every set of strings that build the same network.

        Algorithms train a network once, whichever of its strings comes up. The
        default says every string is its own network; a space where choices can
        stop mattering (a skipped block's kernel, widths that round alike)
        overrides it.
        """
        return arch

    def within_budgets(self, arch: Architecture) -> bool:
        """Whether `arch` meets every budget besides the searched cost."""
        return all(t_min <= view.cost(arch) <= t_max for view, t_min, t_max in self.budgets)

    def feasible_architectures(self, t_min: float, t_max: float) -> Optional[tuple[Architecture, ...]]:
        """Every network costing [t_min, t_max] that meets the space's budgets, in space order (canonical strings).

        None for spaces of more than ENUMERABLE networks, and for spaces whose costs are
        slow to count when listing takes more than LISTING_SECONDS (the costs counted
        so far stay cached). Listed (or given up) once per range and kept: baselines
        fall back on it when rejection sampling stops finding untried networks, and it
        tells them when none is left.
        """
        if self.size > ENUMERABLE:
            return None
        listed = self.__dict__.setdefault("_feasible_listings", {})
        if (t_min, t_max) not in listed:
            deadline = time.monotonic() + LISTING_SECONDS if self.costs_are_slow else math.inf
            found: Optional[list[Architecture]] = []
            for a in self.all_architectures():
                if time.monotonic() > deadline:
                    found = None
                    break
                if a == self.canonical(a) and t_min <= self.cost(a) <= t_max and self.within_budgets(a):
                    found.append(a)
            listed[(t_min, t_max)] = None if found is None else tuple(found)
        return listed[(t_min, t_max)]

    def budgets_reachable(self, arch: Architecture, layer: int) -> bool:
        """Whether some completion of `arch` after `layer` can meet each budget besides the searched cost.

        Each budget is checked on its own cheapest and dearest completion, which is
        exact for costs monotone in each layer's option (see the class docstring).
        """
        return all(view.cost(view.completion(arch, layer)) <= t_max
                   and view.cost(view.completion(arch, layer, dearest=True)) >= t_min
                   for view, t_min, t_max in self.budgets)

    def cheapest(self) -> Architecture:
        """The cheapest network of the space."""
        return self.completion(self.default(), -1)

    def dearest(self) -> Architecture:
        """The most expensive network of the space."""
        return self.completion(self.default(), -1, dearest=True)


class WithCost(SearchSpace):
    """`space` searched under another cost, e.g. parameters instead of MAdds, and further budgets.

    Everything but `cost` and `budgets` (building, counting, naming) is the wrapped space's.

        madds = WithCost(space, space.madds, "madds")
        WithCost(space, space.madds, "madds", budgets=[(WithCost(space, space.params, "params"), 0, 2e6)])
    """

    def __init__(self, space: SearchSpace, cost: "Callable[[Architecture], float]", cost_name: str,
                 budgets: Sequence[tuple[SearchSpace, float, float]] = ()):
        super().__init__(space.decision_points)
        self.base, self.name, self.cost_name = space, space.name, cost_name
        self._cost_fn = cost
        self.budgets = tuple(budgets)

    def cost(self, arch: Architecture) -> float:
        return self._cost_fn(arch)

    def canonical(self, arch: Architecture) -> Architecture:
        return self.base.canonical(arch)

    @property
    def costs_are_slow(self) -> bool:  # the class attribute would hide the wrapped space's
        return self.base.costs_are_slow

    def __getattr__(self, attribute):
        return getattr(self.base, attribute)


def decision_kind(name: str) -> str:
    """What a decision point decides, from its name: `stage2_width` -> width, `channels_3` -> channels,
    `layer4_skip_2` -> skip."""
    return re.sub(r"^(stage|block|layer)\d+_|_\d+$", "", name)


class Subspace(SearchSpace):
    """The decision points of `space` whose kind is in `kinds`; the others keep their default.

    A width-only search of a MobileNet (`kinds=("width",)`) is the channel search on
    its own. Architectures are strings over the chosen points; everything that
    builds or counts a network fills the other points in with their defaults.

    Attributes:
      positions: the indices, in the whole space, of the points searched.

    Raises:
      ValueError: a kind the space does not have, naming the valid ones.
    """

    def __init__(self, space: SearchSpace, kinds: Sequence[str]):
        valid = sorted({decision_kind(p.name) for p in space.decision_points})
        unknown = [k for k in kinds if k not in valid]
        if unknown or not kinds:
            raise ValueError(f"decisions={','.join(kinds)}: {space.name} has no decision points of kind "
                             f"{', '.join(unknown) or '(none given)'}; valid: {', '.join(valid)}")
        self.base, self.name, self.kinds = space, space.name, tuple(kinds)
        self.positions = [i for i, p in enumerate(space.decision_points) if decision_kind(p.name) in kinds]
        super().__init__([space.decision_points[i] for i in self.positions])

    @property
    def costs_are_slow(self) -> bool:
        return self.base.costs_are_slow

    def full(self, arch: Architecture) -> Architecture:
        """The whole space's architecture: `arch` at the chosen points, defaults elsewhere."""
        out = list(self.base.default())
        for position, index in zip(self.positions, self.validate(arch)):
            out[position] = index
        return Architecture(out)

    def cost(self, arch: Architecture) -> float:
        return self.base.cost(self.full(arch))

    def madds(self, arch: Architecture, **kwargs) -> int:
        return self.base.madds(self.full(arch), **kwargs)

    def params(self, arch: Architecture, **kwargs) -> int:
        return self.base.params(self.full(arch), **kwargs)

    def build(self, arch: Architecture, **kwargs):
        return self.base.build(self.full(arch), **kwargs)

    def canonical(self, arch: Architecture) -> Architecture:
        whole = self.base.canonical(self.full(arch))
        return Architecture(whole[i] for i in self.positions)

    def describe(self, arch: Architecture, every_point: bool = False) -> str:
        """The searched points only (the others hold the reference's values), or with `every_point` all of them."""
        if every_point:
            return self.base.describe(self.full(arch))
        return SearchSpace.describe(self, arch)

    def layer_values(self, arch: Architecture) -> dict[str, str]:
        whole = self.base.layer_values(self.full(arch))
        return {p.name: whole[p.name] for p in self.decision_points}

    def values(self, arch: Architecture) -> tuple[Any, ...]:
        whole = self.base.values(self.full(arch))
        return tuple(whole[i] for i in self.positions)

    def __getattr__(self, attribute):
        return getattr(self.base, attribute)
