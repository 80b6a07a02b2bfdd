r"""Predicted latency against the whole TFLite model measured with LiteRT on this host.

    python -m benchmarks.latency_prediction [--spaces=mbv3_small,...] [--sizes=224,32] [--networks=30] [--threads=1]

Targets (issue "Cost where users mean it", part 2): for 30 random architectures of
each MobileNet space, the profile's prediction against the latency of the whole
TFLite model measured with LiteRT on the same host and threads: Spearman rank
correlation at least 0.9, mean absolute error at most 10%, and prediction at least
1,000x faster than measuring (building, converting and timing the network). Also
prints how long each profile took to build. Exits 1 when a target is missed.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time

import keras
import numpy as np
from absl import app, flags, logging

import search_spaces
from layernas_tf.cost import latency_model, latency_timing

SPEARMAN, MAE, RATIO = 0.9, 0.10, 1000

_SPACES = flags.DEFINE_list("spaces", list(search_spaces.MOBILENETS), "MobileNet spaces to measure.")
_SIZES = flags.DEFINE_list("sizes", ["224", "32"], "Deployment sizes.")
_NETWORKS = flags.DEFINE_integer("networks", 30, "Random architectures per space and size.")
_THREADS = flags.DEFINE_integer("threads", 1, "LiteRT threads, for the profile and the whole networks alike.")
_CLASSES = flags.DEFINE_integer("num_classes", 1000, "Classes of the deployed networks.")
_SAVE = flags.DEFINE_string("save", None, "Write each profile and the measured networks here (JSON), to study them.")


def spearman(a, b) -> float:
    """Rank correlation (no ties expected among measured latencies)."""
    ranks = [np.argsort(np.argsort(x)) for x in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    timer = latency_timing.Timer(threads=_THREADS.value)
    missed, saved = [], []
    print(f"{'space':>10} {'size':>4}  {'parts':>5}  {'profile':>8}  {'Spearman':>8}  {'MAE':>6}  "
          f"{'predict':>9}  {'measure':>8}  {'ratio':>8}", flush=True)
    for name in _SPACES.value:
        for size in map(int, _SIZES.value):
            space = search_spaces.get(name, input_shape=(size, size, 3), num_classes=_CLASSES.value)
            profile = latency_timing.measure(space, size, _CLASSES.value, timer, progress=False)
            predict = latency_model.Predictor(profile, space, size, _CLASSES.value)
            rng = random.Random(1)
            archs = [space.random(rng) for _ in range(_NETWORKS.value)]
            start = time.perf_counter()
            predicted = [predict(a) for a in archs]
            per_prediction = (time.perf_counter() - start) / len(archs)
            start = time.perf_counter()
            flatbuffers = []
            for arch in archs:
                keras.backend.clear_session()
                flatbuffers.append(latency_timing.network_flatbuffer(space.build(arch)))
            measured = timer.time_networks(flatbuffers)
            per_measure = (time.perf_counter() - start) / len(archs)
            rho = spearman(predicted, measured)
            mae = statistics.mean(abs(p - m) / m for p, m in zip(predicted, measured))
            ratio = per_measure / per_prediction
            print(f"{name:>10} {size:>4}  {len(profile.parts):>5}  {profile.seconds:>7.0f}s  {rho:>8.3f}  "
                  f"{100 * mae:>5.1f}%  {per_prediction * 1e6:>6.0f} us  {per_measure:>7.2f}s  "
                  f"{ratio:>7.0f}x   (measured {min(measured):.3f}-{max(measured):.3f} ms)", flush=True)
            saved.append({"space": name, "size": size, "profile": profile.to_json(),
                          "networks": [{"arch": str(a), "predicted_ms": p, "measured_ms": m}
                                       for a, p, m in zip(archs, predicted, measured)]})
            if _SAVE.value:
                with open(_SAVE.value, "w", encoding="utf-8") as f:
                    json.dump(saved, f)
            if rho < SPEARMAN or mae > MAE or ratio < RATIO:
                missed.append(f"{name}@{size}")
    print(f"\ntargets: Spearman >= {SPEARMAN}, MAE <= {100 * MAE:.0f}%, prediction >= {RATIO}x faster: "
          + ("met" if not missed else f"missed for {', '.join(missed)}"))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    app.run(main)
