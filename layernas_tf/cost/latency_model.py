"""On-device latency as a search cost: a device profile of a MobileNet space's parts, and the predictor.

A MobileNet network is a chain: the stem, the bottlenecks, the head. A bottleneck
is four parts, each run as its own TFLite model and timed alone: the 1x1
expansion, the depthwise convolution, squeeze-and-excite, and the 1x1 projection
with its residual add. A part's context is everything that changes its latency
(input size, channels in and out, kernel, stride, activation, SE width), so the
parts of a space are few where whole bottlenecks in context are many: the
depthwise does not care about the output width, nor the projection about the
kernel (mbv3_small: 4,332 bottleneck contexts, 839 parts). A network's
latency is the sum of its parts, scaled and offset by a line fitted on whole
networks measured the same way (TuNAS, FBNet and ProxylessNAS predict from
per-operator tables too). The offset is what running one model costs beyond its
parts; the scale, what parts pay in a network that they do not alone: on this
project's host whole networks ran 6-22% slower than their parts summed (inputs
that are not already in cache), and a constant alone left 8% mean error where the
line leaves 5%.

A profile is JSON (see `Profile`): the device, the runtime and its version, the
threads, the space, deployment size and classes it was measured for, the TFLite
kind, each part's latency in ms, the line and the whole networks it was fitted on.

This module is the search's side of latency: numpy only, no TensorFlow, so a
search predicts a network's latency in microseconds. Measuring a profile (TFLite,
LiteRT) is `latency_timing`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import random
from typing import Any, Callable, Iterable, Sequence

import numpy as np

import search_spaces

FORMAT = "layernas_tf latency profile"


VERSION = 1


CALIBRATION_NETWORKS = 16


def part_key(part: tuple) -> str:
    """`("expand", 16, 24, 96, "relu")` -> "expand 16 24 96 relu": the profile's key of a part."""
    return " ".join(str(int(v) if isinstance(v, bool) else v) for v in part)


def network_parts(base, arch, size: int, classes: int) -> list[tuple]:
    """The parts of the MobileNet `base`'s network `arch` at `size` x `size`, in order.

    A part is (kind, input side, *context): ("stem", h), ("expand", h, c_in, c_out, act),
    ("depthwise", h, c, kernel, stride, act), ("se", h, c, se), ("project", h, c_in, c_out,
    residual), ("head", h, c_in, classes).
    """
    return [part for _, parts in _parts_by_block(base, arch, size, classes) for part in parts]


def _parts_by_block(base, arch, size: int, classes: int) -> list[tuple[Any, list[tuple]]]:
    """(block id, its parts) for every kept bottleneck, between ("stem", ...) and ("head", ...)."""
    out: list[tuple[Any, list[tuple]]] = [("stem", [("stem", size)])]
    h, channels = math.ceil(size / 2), base.family.stem_filters
    for block_id, b in base.bottlenecks(arch):
        parts = [("expand", h, b.in_channels, b.expanded_channels, b.activation)] if b.expand else []
        parts.append(("depthwise", h, b.expanded_channels, b.kernel, b.stride, b.activation))
        h = math.ceil(h / b.stride)
        if b.se_channels:
            parts.append(("se", h, b.expanded_channels, b.se_channels))
        parts.append(("project", h, b.expanded_channels, b.out_channels, b.residual))
        out.append((block_id, parts))
        channels = b.out_channels
    out.append(("head", [("head", h, channels, classes)]))
    return out


def base_and_full(space) -> tuple[Any, Callable, set[int]]:
    """The MobileNet space under `space` (itself, or the space a `Subspace` restricts), how an
    architecture of `space` becomes one of it, and the decision points searched."""
    base = getattr(space, "base", space)
    if not hasattr(base, "context_points"):
        raise ValueError(f"latency profiles cover the MobileNet spaces ({', '.join(search_spaces.MOBILENETS)}), "
                         f"not {space.name}")
    if base is space:
        return base, lambda arch: arch, set(range(len(base)))
    return base, space.full, set(space.positions)


def space_parts(space, size: int, classes: int) -> list[tuple]:
    """Every part any network of `space` contains at `size`: the stem, then in network order.

    A bottleneck's parts depend only on its context points (`context_points`), so
    those are varied with everything else at the defaults.
    """
    base, _, searched = base_and_full(space)
    default = base.default()

    def variants(points: Sequence[int]) -> Iterable[Any]:
        choices = [range(len(base.decision_points[i])) if i in searched else (default[i],) for i in points]
        for combo in itertools.product(*choices):
            arch = default
            for i, option in zip(points, combo):
                arch = arch.replace(i, option)
            yield arch

    found: dict[tuple, None] = {("stem", size): None}
    for stage in base.stages:
        for block_id in stage:
            for arch in variants(base.context_points(block_id)):
                found.update(dict.fromkeys(dict(_parts_by_block(base, arch, size, classes))[block_id]))
    for arch in variants(base.context_points(None)):
        found[network_parts(base, arch, size, classes)[-1]] = None
    return list(found)



@dataclasses.dataclass
class Profile:
    """What one device's latency looks like to a space at one deployment size.

    Attributes:
      space, deploy_image_size, num_classes, decisions: what it was measured for
        (`decisions`: the kinds searched, empty for all; other points at their defaults).
      device, runtime, threads, tflite: where and how (`tflite`: the model kind timed).
      parts: part key (`part_key`) -> latency in ms.
      scale, constant_ms: a network's latency is `scale` x the sum of its parts + `constant_ms`,
        the line fitted on `calibration`.
      calibration: the whole networks measured, each {"arch", "measured_ms", "parts_ms"}.
      seconds: how long the profile took to build.
    """

    space: str
    deploy_image_size: int
    num_classes: int
    decisions: list[str]
    device: str
    runtime: str
    threads: int
    tflite: str
    parts: dict[str, float]
    scale: float
    constant_ms: float
    calibration: list[dict[str, Any]]
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **dataclasses.asdict(self)}

    @classmethod
    def load(cls, path: str) -> "Profile":
        """Reads a profile; ValueError, saying what is wrong, for anything else."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"latency_profile={path} cannot be read as a profile: {e}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"latency_profile={path} is not a latency profile (one written by python -m "
                             "layernas_tf.latency --output=...)")
        if data.get("version") != VERSION:
            raise ValueError(f"latency_profile={path} is version {data.get('version')}; this layernas_tf reads "
                             f"version {VERSION}: build it again")
        fields = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(f for f in fields - {"seconds"} if f not in data)
        values = data.get("parts")
        if missing or not isinstance(values, dict) or not all(
                isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values.values()):
            raise ValueError(f"latency_profile={path} is malformed: "
                             + (f"it lacks {', '.join(missing)}" if missing else "its parts are not latencies in ms"))
        wrong = [f"{name} {data[name]!r} is not {what}" for name, what, valid in _FIELD_CHECKS
                 if name in data and not valid(data[name])]
        if wrong:
            raise ValueError(f"latency_profile={path} is malformed: {'; '.join(wrong)}")
        return cls(**{k: v for k, v in data.items() if k in fields})

    def check(self, space_name: str, size: int, classes: int, decisions: Sequence[str] = ()) -> None:
        """ValueError unless the profile was measured for this space, size and number of classes."""
        wanted = (space_name, size, classes)
        have = (self.space, self.deploy_image_size, self.num_classes)
        if wanted != have:
            raise ValueError(
                f"the latency profile was measured for space={self.space} at {self.deploy_image_size}x"
                f"{self.deploy_image_size} with {self.num_classes} classes, not {space_name} at {size}x{size} "
                f"with {classes}: build one for these with python -m layernas_tf.latency --space={space_name} "
                f"--deploy_image_size={size} --num_classes={classes}"
                + (f" --decisions={','.join(decisions)}" if decisions else "") + " --output=PROFILE.json")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# What each field of a profile must hold: a profile with "scale": NaN or "deploy_image_size": "32" is
# refused on load, not found out by the search later.
_FIELD_CHECKS: tuple[tuple[str, str, Callable[[Any], bool]], ...] = (
    ("space", "a space's name", lambda v: isinstance(v, str)),
    ("deploy_image_size", "a positive integer", _count),
    ("num_classes", "a positive integer", _count),
    ("threads", "a positive integer", _count),
    ("decisions", "a list of kinds", lambda v: isinstance(v, list) and all(isinstance(k, str) for k in v)),
    ("device", "text", lambda v: isinstance(v, str)),
    ("runtime", "text", lambda v: isinstance(v, str)),
    ("tflite", "a TFLite kind", lambda v: isinstance(v, str)),
    ("scale", "a positive finite number", lambda v: _number(v) and v > 0),
    ("constant_ms", "a finite number of ms", _number),
    ("calibration", "a list of networks", lambda v: isinstance(v, list)),
    ("seconds", "a number of seconds", lambda v: _number(v) and v >= 0),
)


class Predictor:
    """The latency of a network of `space`, in ms, from a profile: its parts' plus the constant.

    Raises:
      ValueError: the profile is for another space, size or number of classes, or
        lacks parts this space's networks have.
    """

    def __init__(self, profile: Profile, space, size: int, classes: int):
        profile.check(space.name, size, classes, getattr(space, 'kinds', ()))
        self.profile = profile
        self._base, self._full, _ = base_and_full(space)
        self._size, self._classes = size, classes
        self._ms: dict[tuple, float] = {}
        missing = []
        for part in space_parts(space, size, classes):
            key = part_key(part)
            if key in profile.parts:
                self._ms[part] = profile.parts[key]
            else:
                missing.append(key)
        if missing:
            raise ValueError(
                f"the latency profile lacks {len(missing)} of the {len(self._ms) + len(missing)} parts this search "
                f"can build (e.g. {missing[0]!r}); it was measured for decisions="
                f"{','.join(profile.decisions) or '(all)'}: build one for these decisions")

    def __call__(self, arch) -> float:
        parts = network_parts(self._base, self._full(arch), self._size, self._classes)
        return self.profile.scale * sum(self._ms[p] for p in parts) + self.profile.constant_ms


def fit_line(calibration: list[dict[str, Any]]) -> tuple[float, float]:
    """(scale, constant_ms): measured ~ scale x parts + constant, by least squares on the relative
    error (what a budget in ms cares about; plain least squares lets the dearest network, ten times
    the others' latency, place the line alone); with fewer than two different networks, or a line
    that is not increasing, scale 1 and the median difference."""
    x = np.array([c["parts_ms"] for c in calibration])
    y = np.array([c["measured_ms"] for c in calibration])
    if len(set(x.tolist())) >= 2:
        (scale, constant), *_ = np.linalg.lstsq(np.vstack([x / y, 1 / y]).T, np.ones_like(y), rcond=None)
        if scale > 0:
            return float(scale), float(constant)
    return 1.0, float(np.median(y - x))


def fitted_line(calibration: list[dict[str, Any]]) -> dict[str, float]:
    scale, constant = fit_line(calibration)
    return {"scale": scale, "constant_ms": constant}


def calibration_networks(space, count: int, seed: int = 0) -> list[Any]:
    """The default, cheapest and dearest networks and random ones: `count` different networks."""
    rng = random.Random(seed)
    chosen = [space.canonical(a) for a in (space.default(), space.cheapest(), space.dearest())]
    tries = 0
    while len(set(chosen)) < count and tries < 100 * count:
        chosen.append(space.canonical(space.random(rng)))
        tries += 1
    return list(dict.fromkeys(chosen))[:count]

