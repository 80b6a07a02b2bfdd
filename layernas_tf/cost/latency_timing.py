"""Measuring a device profile: every part of a space as its own float TFLite model, timed with LiteRT.

`measure` times this host; `export_blocks` writes the models for a phone and
`import_benchmarks` reads TensorFlow Lite's `benchmark_model` timings back. Both
produce a `latency_model.Profile`, the only thing a search reads.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Iterable, Optional, Sequence

import ai_edge_litert
import keras
import numpy as np
import tensorflow as tf

from layernas_tf.cost.latency_model import (CALIBRATION_NETWORKS, FORMAT, VERSION, Profile, base_and_full,
                                            calibration_networks, fitted_line, network_parts, part_key,
                                            space_parts)
from layernas_tf.deploy import tflite
from layernas_tf.quiet import quiet_native_output
from layernas_tf.reports import folder_atomic
from search_spaces import blocks

TIMING = re.compile(r"Inference timings in us:.*?Inference \(avg\):\s*([0-9.eE+-]+)", re.S)


def build_part(base, part: tuple):
    """The Keras model of one part, built by the same code as the whole network."""
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
    trainable = [tf.constant(v.numpy()) for v in model.trainable_variables]
    other = [tf.constant(v.numpy()) for v in model.non_trainable_variables]

    def inference(*x):
        return model.stateless_call(trainable, other, list(x) if len(x) > 1 else x[0], training=False)[0]

    specs = [tf.TensorSpec((1, *t.shape[1:]), tf.float32) for t in model.inputs]
    function = tf.function(inference, input_signature=specs).get_concrete_function()
    with quiet_native_output():
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
        interpreter = tflite.interpreter(flatbuffer, self.threads)
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
    with tempfile.TemporaryDirectory(prefix="layernas-latency-") as folder:
        tflite.export_saved_model(model, os.path.join(folder, "saved_model"))
        return tflite.convert_tflite(os.path.join(folder, "saved_model"), "float")


def _progress(what: str, done: int, total: int, started: float) -> None:
    """A progress bar on stderr: redrawn on a terminal, a line per tenth elsewhere."""
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
    return f"LiteRT (ai_edge_litert {getattr(ai_edge_litert, '__version__', '?')}) with XNNPACK"


def _decisions(space) -> list[str]:
    return list(getattr(space, "kinds", ()))


def _flatbuffers(space, parts, networks, size: int, classes: int, done: Callable[[int], Any]) -> Iterable[bytes]:
    """The float TFLite model of each part, then of each whole network, in order."""
    base, full, _ = base_and_full(space)
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
    base, full, _ = base_and_full(space)
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
                   **fitted_line(measured), calibration=measured, seconds=time.time() - started)



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
    started = time.time()
    parts = space_parts(space, size, classes)
    networks = calibration_networks(space, calibration, seed)
    with folder_atomic(folder) as tmp:
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
        raise ValueError(f"import_benchmarks={folder} has no readable {BLOCKS_INDEX} (write the folder with "
                         f"export_blocks=DIR): {e}") from None
    record = _space_record(space, size, classes)
    have = {k: index.get(k) for k in record}
    if have != record:
        raise ValueError(f"import_benchmarks={folder} holds blocks of {have}, not of {record}")
    ms = {key: read_benchmark(os.path.join(folder, name[:-len(".tflite")] + ".txt"))
          for name, key in index["parts"].items()}
    base, full, _ = base_and_full(space)
    measured = []
    for name, text in index["networks"].items():
        arch = full(space.parse(text))
        measured.append({"arch": text, "measured_ms": read_benchmark(os.path.join(folder, name[:-len(".tflite")] + ".txt")),
                         "parts_ms": sum(ms[part_key(p)] for p in network_parts(base, arch, size, classes))})
    return Profile(space=space.name, deploy_image_size=size, num_classes=classes, decisions=_decisions(space),
                   device=device, runtime="TensorFlow Lite benchmark_model", threads=threads, tflite="float",
                   parts=ms, **fitted_line(measured), calibration=measured)

