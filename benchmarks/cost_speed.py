r"""Analytic cost against building and profiling the model, side by side; prints the ratio.

    python -m benchmarks.cost_speed

Target (issue "MobileNet search spaces"): computing one architecture's MAdds
analytically is at least 1000x faster than building its Keras model and profiling
its graph. LayerNAS evaluates the cost of every child before anything trains, so
this sits on the search's critical path.
"""

from __future__ import annotations

import random
import sys
import time

import keras
from absl import app

import search_spaces
from layernas_tf.cost import graph

TARGET_RATIO = 1000


def main(argv):
    del argv
    missed = []
    print(f"{'space':>10}  {'analytic':>12}  {'build+profile':>14}  {'ratio':>8}")
    for name in search_spaces.names():
        space = search_spaces.get(name)
        rng = random.Random(0)
        archs = [space.random(rng) for _ in range(300)]
        start = time.perf_counter()
        analytic = [space.madds(a) for a in archs]
        per_analytic = (time.perf_counter() - start) / len(archs)
        start = time.perf_counter()
        for arch, expected in zip(archs[:3], analytic):
            profiled = graph.profile_madds(space.build(arch))
            if name != "nats_sss" and profiled != expected:
                raise AssertionError(f"{name} {arch}: analytic {expected} != profiled {profiled}")
        per_profile = (time.perf_counter() - start) / 3
        keras.backend.clear_session()
        ratio = per_profile / per_analytic
        print(f"{name:>10}  {per_analytic * 1e6:>9.1f} us  {per_profile:>12.3f} s  {ratio:>7.0f}x", flush=True)
        if ratio < TARGET_RATIO:
            missed.append(name)
    print(f"\ntarget: analytic >= {TARGET_RATIO}x faster: " + ("met" if not missed else f"missed for {missed}"))
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    app.run(main)
