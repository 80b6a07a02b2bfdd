r"""Time to the first trial on a user's `KerasSpace` of 10^2, 10^4 and 10^6 networks, with the default search.

    python -m benchmarks.first_trial [--sizes=2,4,6] [--max_trials=0] [--root=runs/benchmark_first_trial]

A user's Keras build function with `d` decision points of 10 filter widths each
(`stacked`: d convolutions, so 10^d networks) is searched with `layernas_tf.search()`
and the default algorithm (LayerNAS+), budget half-way between the cheapest and the
dearest network's MAdds, on 256 generated 8x8 images, one proxy epoch, serially.
Costs of such a space are counted by building its models (tenths of a second each), so
a search that lists its feasible networks before training spends minutes to hours on it
(`core.space.LISTING_SECONDS` bounds that). For each size the benchmark prints the
seconds from the call to the end of the first trial, against the target (30 s), and
stops the search there (as Ctrl-C does). `--max_trials=N` measures the budgeted regime
(random warm-up first) instead. Exits 1 when a size misses the target.
"""

from __future__ import annotations

import shutil
import sys
import time

import keras
import numpy as np
from absl import app, flags

import layernas_tf
from search_spaces.keras_space import KerasSpace, choose

_SIZES = flags.DEFINE_list("sizes", ["2", "4", "6"], "Decision points of 10 options each: 10^d networks.")
_MAX_TRIALS = flags.DEFINE_integer("max_trials", 0, "0: the default search without a trial budget; N: with it.")
_ROOT = flags.DEFINE_string("root", "runs/benchmark_first_trial", "Where the studies go (each run starts afresh).")

TARGET_SECONDS = 30.0
WIDTHS = [4, 6, 8, 10, 12, 14, 16, 20, 24, 32]


class _FirstTrial(Exception):
    """Raised from the log once the first trial has ended: the measurement is taken."""


def stacked(points: int):
    """A build function with `points` convolutions of 10 widths each (module level: picklable)."""

    def build(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        x = keras.layers.Rescaling(1 / 255)(inputs)
        for i in range(points):
            x = keras.layers.Conv2D(choose(f"conv{i}", WIDTHS, default=4), 3, padding="same", activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))

    build.__name__ = f"stacked_{points}"
    return build


def measure(points: int, max_trials: int, root: str) -> tuple[float, float]:
    """(seconds from the call to the first trial's end, seconds to build the space)."""
    rng = np.random.default_rng(0)
    labels = np.arange(256) % 4
    images = (rng.integers(0, 100, (256, 8, 8, 3)) + 40 * labels[:, None, None, None]).astype(np.uint8)
    start = time.monotonic()
    space = KerasSpace(stacked(points), input_shape=(8, 8, 3), num_classes=4)
    built = time.monotonic() - start
    budget = (space.cost(space.cheapest()) + space.cost(space.dearest())) // 2
    study_dir = f"{root}/stacked_{points}"
    shutil.rmtree(study_dir, ignore_errors=True)

    def log(line: str) -> None:
        if line.startswith("trial "):
            raise _FirstTrial(line)

    try:
        layernas_tf.search(space=space, madds=budget, dataset=(images, labels), image_size=8, proxy_epochs=1,
                           batch_size=64, verbose=0, study_dir=study_dir, log=log,
                           **({"max_trials": max_trials} if max_trials else {}))
    except _FirstTrial:
        return time.monotonic() - start, built
    raise RuntimeError("the search ended without a trial")


def main(argv) -> int:
    del argv
    missed = 0
    regime = f"max_trials={_MAX_TRIALS.value}" if _MAX_TRIALS.value else "no max_trials (LayerNAS+'s own end)"
    print(f"time to the first trial, default search ({regime}), serial, this machine; target {TARGET_SECONDS:.0f} s")
    print("| networks | decision points | to build the space | to the first trial's end | target |")
    print("| --- | --- | --- | --- | --- |")
    for points in (int(s) for s in _SIZES.value):
        seconds, built = measure(points, _MAX_TRIALS.value, _ROOT.value)
        met = seconds <= TARGET_SECONDS
        missed += not met
        print(f"| 10^{points} | {points} | {built:.1f} s | {seconds:.1f} s | {'met' if met else 'MISSED'} |",
              flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(app.run(main))
