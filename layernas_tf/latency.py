r"""On-device latency as a search cost: a per-device profile of a MobileNet space's parts.

    python -m layernas_tf.latency --space=mbv3_small --deploy_image_size=224 --output=host.json
    python -m layernas_tf.latency --space=mbv3_small --deploy_image_size=224 --export_blocks=blocks
    # on a computer with the phone on adb: sh blocks/run_on_phone.sh (TensorFlow Lite's benchmark_model)
    python -m layernas_tf.latency --space=mbv3_small --deploy_image_size=224 --import_benchmarks=blocks \
        --device="Pixel 7" --output=pixel7.json

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
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import platform
import random
import re
import statistics
import tempfile
import time
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np

FORMAT = "layernas_tf latency profile"
VERSION = 1
CALIBRATION_NETWORKS = 16
TIMING = re.compile(r"Inference timings in us:.*?Inference \(avg\):\s*([0-9.eE+-]+)", re.S)


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


def _base_and_full(space) -> tuple[Any, Callable, set[int]]:
    """The MobileNet space under `space` (itself, or the space a `Subspace` restricts), how an
    architecture of `space` becomes one of it, and the decision points searched."""
    base = getattr(space, "base", space)
    if not hasattr(base, "context_points"):
        import search_spaces  # pylint: disable=import-outside-toplevel

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
    base, _, searched = _base_and_full(space)
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


# -- building and timing ---------------------------------------------------------------------


def build_part(base, part: tuple):
    """The Keras model of one part, built by the same code as the whole network."""
    import keras  # pylint: disable=import-outside-toplevel
    from search_spaces import blocks  # pylint: disable=import-outside-toplevel

    kind, h, *context = part
    if kind == "stem":
        inputs = keras.Input((h, h, 3))
        return keras.Model(inputs, base.build_stem(inputs))
    c_in = context[0]
    inputs = keras.Input((h, h, c_in))
    if kind == "expand":
        outputs = blocks.conv_bn(inputs, context[1], 1, 1, context[2], "expand")
    elif kind == "depthwise":
        _, kernel, stride, act = context
        outputs = blocks.depthwise_bn(inputs, kernel, stride, act, "depthwise")
    elif kind == "se":
        outputs = blocks.se_block(inputs, c_in, context[1], "")
    elif kind == "project":
        _, c_out, residual = context
        outputs = blocks.conv_bn(inputs, c_out, 1, 1, None, "project")
        if residual:
            shortcut = keras.Input((h, h, c_out))
            return keras.Model([inputs, shortcut], keras.layers.Add()([shortcut, outputs]))
    elif kind == "head":
        outputs = base.build_head(inputs, context[1])
    else:
        raise ValueError(f"unknown part {part!r}")
    return keras.Model(inputs, outputs)


def part_flatbuffer(model) -> bytes:
    """A part's Keras model as float TFLite, its weights frozen into the graph.

    Through `stateless_call` with the weights as constants: the converter then folds
    BatchNorm and the activation into the convolution, as it does for an exported
    network, in a tenth of the time a SavedModel round trip takes.
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    trainable = [tf.constant(v.numpy()) for v in model.trainable_variables]
    other = [tf.constant(v.numpy()) for v in model.non_trainable_variables]

    def inference(*x):
        return model.stateless_call(trainable, other, list(x) if len(x) > 1 else x[0], training=False)[0]

    specs = [tf.TensorSpec((1, *t.shape[1:]), tf.float32) for t in model.inputs]
    function = tf.function(inference, input_signature=specs).get_concrete_function()
    return tf.lite.TFLiteConverter.from_concrete_functions([function], model).convert()


@dataclasses.dataclass(frozen=True)
class Timer:
    """How latencies are measured: LiteRT with `threads`; per round, warm-up runs (at least
    `warmup` and `warmup_seconds`: a model's first runs are slower), then the median of at least
    `repeats` runs and `min_seconds`; the latency is the fastest of `rounds` such medians, of
    `network_rounds` for whole networks (and, in a profile, for parts as slow as one: `time_profile`).

    The rounds of all the models measured together run in one shuffled order, so each model's fall
    at unrelated moments of the whole measurement: on a shared host whole stretches run slow
    (other tenants; here the same network ran 6.2 ms for ten seconds, then 10.6 ms for the next
    ten, and the eight calibration networks of one profile, timed one after another over half a
    minute, all ran 1.1-1.5x slower than networks timed minutes later), and the fastest round is
    the one a dedicated core would give. A part's slow round is one of some forty summed into a
    network's prediction; a whole network's is the whole measurement, so networks get more rounds,
    and they are cheap: a few dozen against hundreds of parts. So do the few parts as slow as a
    network, whose slow round would be as large an error.
    """

    threads: int = 1
    warmup: int = 10
    warmup_seconds: float = 0.02
    repeats: int = 15
    min_seconds: float = 0.03
    rounds: int = 3
    network_rounds: int = 9

    def time_models(self, flatbuffers: Sequence[bytes], progress: Optional[Callable[[int], None]] = None, *,
                    rounds: "int | Sequence[int] | None" = None) -> list[float]:
        """Each TFLite model's latency in ms: `invoke` alone, its inputs set once to random values.

        Args:
          rounds: per model, or one for all (default `self.rounds`).
        """
        rounds = self.rounds if rounds is None else rounds
        counts = [rounds] * len(flatbuffers) if isinstance(rounds, int) else list(rounds)
        schedule = [i for i, count in enumerate(counts) for _ in range(count)]
        random.Random(0).shuffle(schedule)
        best = [math.inf] * len(flatbuffers)
        for done, i in enumerate(schedule, 1):
            best[i] = min(best[i], self._median(self._ready(flatbuffers[i]).invoke))
            if progress:
                progress(done)
        return best

    def time_networks(self, flatbuffers: Sequence[bytes], progress: Optional[Callable[[int], None]] = None
                      ) -> list[float]:
        """Whole networks' latencies in ms: `time_models` over `network_rounds`."""
        return self.time_models(flatbuffers, progress, rounds=self.network_rounds)

    def time_profile(self, parts: Sequence[bytes], networks: Sequence[bytes],
                     progress: Optional[Callable[[str, int, int], None]] = None) -> tuple[list[float], list[float]]:
        """The latencies of a profile's parts and whole networks, in ms.

        All in one schedule (parts `rounds`, networks `network_rounds`), then every part at least
        as slow as the fastest network again until it too has had `network_rounds`. Measured on
        this host: from 3 rounds, 56 of the 162 such parts of mbv3_large at 224 (7x7 depthwise
        nearly all, 1-60 ms each and most of its networks' latency) came out 1.15-2.3x slower than
        from 9, and the profile missed its networks by 10.6% where with 9 it missed them by 6.2%.

        Args:
          progress: called with (what is being timed, rounds done, rounds in all).
        """
        def bar(what: str, total: int) -> Optional[Callable[[int], None]]:
            return (lambda done: progress(what, done, total)) if progress else None

        rounds = [self.rounds] * len(parts) + [self.network_rounds] * len(networks)
        latencies = self.time_models([*parts, *networks], bar("timing", sum(rounds)), rounds=rounds)
        part_ms, network_ms = latencies[:len(parts)], latencies[len(parts):]
        fastest_network = min(network_ms, default=math.inf)
        slow = [i for i, ms in enumerate(part_ms) if ms >= fastest_network]
        more = self.network_rounds - self.rounds
        if slow and more > 0:
            again = self.time_models([parts[i] for i in slow], bar("timing the slowest parts again",
                                                                   more * len(slow)), rounds=more)
            for i, ms in zip(slow, again):
                part_ms[i] = min(part_ms[i], ms)
        return part_ms, network_ms

    def time_model(self, flatbuffer: bytes) -> float:
        """A whole network's latency in ms."""
        return self.time_networks([flatbuffer])[0]

    def _median(self, invoke: Callable[[], None]) -> float:
        for enough, count in ((self.warmup_seconds, self.warmup), (self.min_seconds, self.repeats)):
            times: list[float] = []
            started = time.perf_counter()
            while len(times) < count or (time.perf_counter() - started < enough and len(times) < 1000):
                t0 = time.perf_counter()
                invoke()
                times.append(time.perf_counter() - t0)
        return 1000 * statistics.median(times)

    def _ready(self, flatbuffer: bytes):
        """An interpreter of `flatbuffer` with its inputs set."""
        from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel

        interpreter = Interpreter(model_content=flatbuffer, num_threads=self.threads)
        interpreter.allocate_tensors()
        rng = np.random.default_rng(0)
        for source in interpreter.get_input_details():
            if source["dtype"] == np.float32:
                x = rng.uniform(-1, 1, source["shape"])
            else:
                info = np.iinfo(source["dtype"])
                x = rng.integers(info.min, info.max, source["shape"], endpoint=True)
            interpreter.set_tensor(source["index"], x.astype(source["dtype"]))
        return interpreter


def network_flatbuffer(model) -> bytes:
    """A whole Keras network as float TFLite, converted as the export converts it."""
    from layernas_tf import export  # pylint: disable=import-outside-toplevel

    with tempfile.TemporaryDirectory(prefix="layernas-latency-") as folder:
        export.export_saved_model(model, os.path.join(folder, "saved_model"))
        return export.convert_tflite(os.path.join(folder, "saved_model"), "float")


# -- profiles ------------------------------------------------------------------------------------


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
            raise ValueError(f"--latency_profile={path} cannot be read as a profile: {e}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"--latency_profile={path} is not a latency profile (one written by python -m "
                             "layernas_tf.latency --output=...)")
        if data.get("version") != VERSION:
            raise ValueError(f"--latency_profile={path} is version {data.get('version')}; this layernas_tf reads "
                             f"version {VERSION}: build it again")
        fields = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(f for f in fields - {"seconds"} if f not in data)
        values = data.get("parts")
        if missing or not isinstance(values, dict) or not all(
                isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values.values()):
            raise ValueError(f"--latency_profile={path} is malformed: "
                             + (f"it lacks {', '.join(missing)}" if missing else "its parts are not latencies in ms"))
        return cls(**{k: v for k, v in data.items() if k in fields})

    def check(self, space_name: str, size: int, classes: int) -> None:
        """ValueError unless the profile was measured for this space, size and number of classes."""
        wanted = (space_name, size, classes)
        have = (self.space, self.deploy_image_size, self.num_classes)
        if wanted != have:
            raise ValueError(
                f"the latency profile was measured for --space={self.space} at {self.deploy_image_size}x"
                f"{self.deploy_image_size} with {self.num_classes} classes, not {space_name} at {size}x{size} "
                f"with {classes}: build one for these with python -m layernas_tf.latency")


class Predictor:
    """The latency of a network of `space`, in ms, from a profile: its parts' plus the constant.

    Raises:
      ValueError: the profile is for another space, size or number of classes, or
        lacks parts this space's networks have.
    """

    def __init__(self, profile: Profile, space, size: int, classes: int):
        profile.check(space.name, size, classes)
        self.profile = profile
        self._base, self._full, _ = _base_and_full(space)
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
                f"can build (e.g. {missing[0]!r}); it was measured for --decisions="
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


def _line(calibration: list[dict[str, Any]]) -> dict[str, float]:
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


def _progress(what: str, done: int, total: int, started: float) -> None:
    """A progress bar on stderr: redrawn on a terminal, a line per tenth elsewhere."""
    import sys  # pylint: disable=import-outside-toplevel

    elapsed = time.time() - started
    left = elapsed / done * (total - done) if done else 0
    bar = "#" * (30 * done // total) + "." * (30 - 30 * done // total)
    line = f"{what} [{bar}] {done}/{total}  {elapsed:.0f}s elapsed, ~{left:.0f}s left"
    if sys.stderr.isatty():
        sys.stderr.write("\r" + line + ("\n" if done == total else ""))
    elif done == total or (10 * done // total) != (10 * (done - 1) // total):
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _host() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"this host ({platform.node()}: {cpu}, {os.cpu_count()} CPUs)"


def _runtime() -> str:
    import ai_edge_litert  # pylint: disable=import-outside-toplevel

    return f"LiteRT (ai_edge_litert {getattr(ai_edge_litert, '__version__', '?')}) with XNNPACK"


def _decisions(space) -> list[str]:
    return list(getattr(space, "kinds", ()))


def _flatbuffers(space, parts, networks, size: int, classes: int, done: Callable[[int], Any]) -> Iterable[bytes]:
    """The float TFLite model of each part, then of each whole network, in order."""
    import keras  # pylint: disable=import-outside-toplevel

    base, full, _ = _base_and_full(space)
    for i, item in enumerate([*parts, *networks]):
        keras.backend.clear_session()
        if i < len(parts):
            yield part_flatbuffer(build_part(base, item))
        else:
            yield network_flatbuffer(base.build(full(item), input_shape=(size, size, 3), num_classes=classes))
        done(i + 1)


def measure(space, size: int, classes: int, timer: Timer = Timer(), *, calibration: int = CALIBRATION_NETWORKS,
            seed: int = 0, progress: bool = True) -> Profile:
    """Builds a profile of this host: every part of `space` timed with LiteRT, and the line
    fitted on `calibration` whole networks."""
    started = time.time()
    base, full, _ = _base_and_full(space)
    parts = space_parts(space, size, classes)
    networks = calibration_networks(space, calibration, seed)
    flatbuffers = list(_flatbuffers(space, parts, networks, size, classes,
                                    lambda done: progress and _progress("converting", done,
                                                                        len(parts) + len(networks), started)))
    stage: dict[str, float] = {}
    part_ms, network_ms = timer.time_profile(
        flatbuffers[:len(parts)], flatbuffers[len(parts):],
        (lambda what, done, total: _progress(what, done, total, stage.setdefault(what, time.time())))
        if progress else None)
    ms = {part_key(part): latency for part, latency in zip(parts, part_ms)}
    measured = [{"arch": str(arch), "measured_ms": latency,
                 "parts_ms": sum(ms[part_key(p)] for p in network_parts(base, full(arch), size, classes))}
                for arch, latency in zip(networks, network_ms)]
    return Profile(space=space.name, deploy_image_size=size, num_classes=classes, decisions=_decisions(space),
                   device=_host(), runtime=_runtime(), threads=timer.threads, tflite="float", parts=ms,
                   **_line(measured), calibration=measured, seconds=time.time() - started)


# -- a phone's profile: blocks out, benchmark_model's timings in ----------------------------------------

BLOCKS_INDEX = "index.json"
PHONE_SCRIPT = """#!/bin/sh
# Times every model here with TensorFlow Lite's benchmark_model on the phone adb sees;
# each model's output lands beside it as NAME.txt, which
#   python -m layernas_tf.latency ... --import_benchmarks=THIS_FOLDER
# reads into the phone's profile. Get benchmark_model for the phone's ABI from
# https://www.tensorflow.org/lite/performance/measurement and push it first:
#   adb push benchmark_model /data/local/tmp && adb shell chmod +x /data/local/tmp/benchmark_model
set -e
cd "$(dirname "$0")"
BENCHMARK=${BENCHMARK:-/data/local/tmp/benchmark_model}
THREADS=${THREADS:-%(threads)d}
for model in parts/*.tflite networks/*.tflite; do
  adb push "$model" /data/local/tmp/layernas_block.tflite > /dev/null
  adb shell "$BENCHMARK --graph=/data/local/tmp/layernas_block.tflite --num_threads=$THREADS --warmup_runs=3 --num_runs=50" \\
    > "${model%%.tflite}.txt"
done
"""


def _space_record(space, size: int, classes: int) -> dict[str, Any]:
    return {"space": space.name, "deploy_image_size": size, "num_classes": classes, "decisions": _decisions(space)}


def export_blocks(space, size: int, classes: int, folder: str, *, threads: int = 1,
                  calibration: int = CALIBRATION_NETWORKS, seed: int = 0, progress: bool = True) -> int:
    """Writes every part, and the calibration networks, as its own float `.tflite` file into `folder`,
    with `index.json` and `run_on_phone.sh`; written whole or not at all. Returns the file count."""
    from layernas_tf import reports  # pylint: disable=import-outside-toplevel

    started = time.time()
    parts = space_parts(space, size, classes)
    networks = calibration_networks(space, calibration, seed)
    with reports.folder_atomic(folder) as tmp:
        os.makedirs(os.path.join(tmp, "parts"))
        os.makedirs(os.path.join(tmp, "networks"))
        index: dict[str, Any] = {"format": FORMAT + " blocks", "version": VERSION,
                                 **_space_record(space, size, classes), "parts": {}, "networks": {}}
        total = len(parts) + len(networks)
        names = [(f"parts/part_{i:05d}.tflite", "parts", part_key(part)) for i, part in enumerate(parts)]
        names += [(f"networks/network_{i:02d}.tflite", "networks", str(arch)) for i, arch in enumerate(networks)]
        converted = _flatbuffers(space, parts, networks, size, classes,
                                 lambda done: progress and _progress("writing", done, total, started))
        for (name, kind, what), flatbuffer in zip(names, converted):
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(flatbuffer)
            index[kind][name] = what
        with open(os.path.join(tmp, BLOCKS_INDEX), "w", encoding="utf-8") as f:
            json.dump(index, f, indent=1)
        with open(os.path.join(tmp, "run_on_phone.sh"), "w", encoding="utf-8") as f:
            f.write(PHONE_SCRIPT % {"threads": threads})
        os.chmod(os.path.join(tmp, "run_on_phone.sh"), 0o755)
    return total


def read_benchmark(path: str) -> float:
    """The average inference latency, in ms, that benchmark_model printed into `path`."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise ValueError(f"no benchmark_model output for {path[:-4]}.tflite ({e.strerror}): run run_on_phone.sh")
    matches = TIMING.findall(text)
    if not matches:
        raise ValueError(f"{path} holds no 'Inference timings in us: ... Inference (avg): ...' line "
                         "from benchmark_model")
    return float(matches[-1]) / 1000


def import_benchmarks(space, size: int, classes: int, folder: str, *, device: str, threads: int) -> Profile:
    """The profile of the phone that ran `run_on_phone.sh` over `export_blocks`' folder."""
    try:
        with open(os.path.join(folder, BLOCKS_INDEX), encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"--import_benchmarks={folder} has no readable {BLOCKS_INDEX} (write the folder with "
                         f"--export_blocks): {e}") from None
    record = _space_record(space, size, classes)
    have = {k: index.get(k) for k in record}
    if have != record:
        raise ValueError(f"--import_benchmarks={folder} holds blocks of {have}, not of {record}")
    ms = {key: read_benchmark(os.path.join(folder, name[:-len(".tflite")] + ".txt"))
          for name, key in index["parts"].items()}
    base, full, _ = _base_and_full(space)
    measured = []
    for name, text in index["networks"].items():
        arch = full(space.parse(text))
        measured.append({"arch": text, "measured_ms": read_benchmark(os.path.join(folder, name[:-len(".tflite")] + ".txt")),
                         "parts_ms": sum(ms[part_key(p)] for p in network_parts(base, arch, size, classes))})
    return Profile(space=space.name, deploy_image_size=size, num_classes=classes, decisions=_decisions(space),
                   device=device, runtime="TensorFlow Lite benchmark_model", threads=threads, tflite="float",
                   parts=ms, **_line(measured), calibration=measured)


# -- the command -------------------------------------------------------------------------------------


def _main(argv) -> None:
    del argv
    from absl import flags, logging  # pylint: disable=import-outside-toplevel

    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines for every conversion would bury the progress

    from layernas_tf import cli, reports  # pylint: disable=import-outside-toplevel

    values = flags.FLAGS
    with cli.bad_input():
        import search_spaces  # pylint: disable=import-outside-toplevel
        from layernas_tf.space import Subspace  # pylint: disable=import-outside-toplevel

        if values.space not in search_spaces.MOBILENETS:
            raise ValueError(f"--space={values.space}: latency profiles cover the MobileNet spaces; valid: "
                             f"{', '.join(search_spaces.MOBILENETS)}")
        modes = [m for m in ("output", "export_blocks") if getattr(values, m)]
        if modes == ["output", "export_blocks"] or not modes:
            raise ValueError("give --output=PROFILE.json (measure this host, or with --import_benchmarks=DIR read a "
                             "phone's timings) or --export_blocks=DIR (write the models a phone times)")
        if values.import_benchmarks and not values.output:
            raise ValueError("--import_benchmarks=DIR writes a profile: give --output=PROFILE.json")
        for flag in ("deploy_image_size", "num_classes", "threads", "calibration_networks"):
            if getattr(values, flag) < 1:
                raise ValueError(f"--{flag} must be a positive integer, got {getattr(values, flag)}")
        space = search_spaces.get(values.space, input_shape=(values.deploy_image_size,) * 2 + (3,),
                                  num_classes=values.num_classes)
        if values.decisions:
            space = Subspace(space, values.decisions)
        size, classes = values.deploy_image_size, values.num_classes
        if values.import_benchmarks:
            profile = import_benchmarks(space, size, classes, values.import_benchmarks,
                                        device=values.device or "a phone", threads=values.threads)
    if values.export_blocks:
        count = export_blocks(space, size, classes, values.export_blocks, threads=values.threads,
                              calibration=values.calibration_networks, seed=values.seed)
        print(f"wrote {count} models, index.json and run_on_phone.sh to {values.export_blocks}; run "
              f"run_on_phone.sh with the phone on adb, then --import_benchmarks={values.export_blocks}", flush=True)
        return
    if not values.import_benchmarks:
        print(f"measuring {len(space_parts(space, size, classes))} parts of {space.name} at {size}x{size} and "
              f"{values.calibration_networks} whole networks with LiteRT, {values.threads} thread(s)", flush=True)
        profile = measure(space, size, classes, Timer(threads=values.threads),
                          calibration=values.calibration_networks, seed=values.seed)
        if values.device:
            profile.device = values.device
    reports.write_json(values.output, profile.to_json())
    errors = [abs(profile.scale * c["parts_ms"] + profile.constant_ms - c["measured_ms"]) / c["measured_ms"]
              for c in profile.calibration]
    print(f"wrote {values.output}: {len(profile.parts)} parts, a network is {profile.scale:.3f} x its parts "
          f"{profile.constant_ms:+.3f} ms, "
          f"{len(errors)} whole networks predicted within {100 * statistics.mean(errors):.1f}% on average"
          + (f", built in {profile.seconds:.0f}s" if profile.seconds else ""), flush=True)


def _define_flags() -> None:
    from absl import flags  # pylint: disable=import-outside-toplevel

    flags.DEFINE_string("space", "mbv3_small", "A MobileNet space: mbv2, mbv2_140, mbv3_large, mbv3_small.")
    flags.DEFINE_integer("deploy_image_size", 224, "The side of the deployed network's input.")
    flags.DEFINE_integer("num_classes", 1000, "Classes of the deployed network (the head's width).")
    flags.DEFINE_list("decisions", None, "Only the parts of a search of these kinds of decision points "
                                         "(as main's --decisions); default: every part of the space.")
    flags.DEFINE_integer("threads", 1, "LiteRT threads (for --export_blocks: the phone script's default).")
    flags.DEFINE_string("output", None, "Where the profile goes (JSON).")
    flags.DEFINE_string("export_blocks", None, "Write every part and calibration network as .tflite here, for a phone.")
    flags.DEFINE_string("import_benchmarks", None, "Read benchmark_model's outputs from this --export_blocks folder.")
    flags.DEFINE_string("device", None, "The device's name, recorded in the profile (default: this host, or "
                                        "'a phone' with --import_benchmarks).")
    flags.DEFINE_integer("calibration_networks", CALIBRATION_NETWORKS, "Whole networks the line is fitted on.")
    flags.DEFINE_integer("seed", 0, "Seed of the random calibration networks.")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from layernas_tf import cli as _cli  # pylint: disable=ungrouped-imports

    _define_flags()
    _cli.run(_main)
