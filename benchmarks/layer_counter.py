r"""The layer counter against graph profiling on keras.applications networks: equal, and how much faster.

    python -m benchmarks.layer_counter [--size=224] [--repeats=3]

Target (issue "Your own Keras model"): the counter equals `graph.profile_madds` on every network and is at
least 50x faster. Both are timed on the same built model, best of `--repeats`.
"""

from __future__ import annotations

import sys
import time

import keras
from absl import app, flags

from layernas_tf.cost import graph
from layernas_tf.cost.layers import count_madds

NETWORKS = ("MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large", "EfficientNetB0", "ResNet50",
            "DenseNet121", "NASNetMobile")
TARGET = 50

_SIZE = flags.DEFINE_integer("size", 224, "Input side of every network.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timings per method; the fastest is kept.")


def _best_seconds(function, repeats: int) -> tuple[float, int]:
    times, value = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def main(argv):
    del argv
    missed = []
    print(f"{'network':<18} {'MAdds':>13} {'equal':>6} {'counter':>10} {'profiling':>10} {'ratio':>9}")
    for name in NETWORKS:
        keras.backend.clear_session()
        model = getattr(keras.applications, name)(weights=None, input_shape=(_SIZE.value, _SIZE.value, 3))
        counted_s, counted = _best_seconds(lambda: count_madds(model), _REPEATS.value)  # pylint: disable=cell-var-from-loop
        profiled_s, profiled = _best_seconds(lambda: graph.profile_madds(model), _REPEATS.value)  # pylint: disable=cell-var-from-loop
        ratio = profiled_s / counted_s
        if counted != profiled or ratio < TARGET:
            missed.append(name)
        print(f"{name:<18} {counted:>13,} {str(counted == profiled):>6} {1000 * counted_s:>8.2f}ms "
              f"{profiled_s:>9.2f}s {ratio:>8,.0f}x", flush=True)
    print(f"target: equal and >= {TARGET}x on every network: {'met' if not missed else 'MISSED: ' + ', '.join(missed)}")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    app.run(main)
