r"""Trials per hour by executor, and the fixed cost of a trial before and after the trial runner.

    python -m benchmarks.parallel [--trials=16] [--workers=2] [--executors=serial,local,ray] [--fixed_cost_archs=2]

One fixed small search (LayerNAS on `mbv3_small`, the embedded digits at 32x32, one
proxy epoch, `--trials` trials) runs under each executor, timed from the start of
the runner to its last result (worker start-up included). Targets (issue "Trials in
parallel"): `local` with 2 workers at least 1.5x the trials per hour of `serial` on a
2-core machine, `ray` at least 1.4x.

The fixed cost of a trial is everything but its training and evaluation steps:
a one-epoch trial's time minus a second epoch and a second evaluation of the same,
already traced, model. It is measured for the trial body as it was before the
runner (a `LearningRateSchedule` object, which Keras' weight decay evaluates once
per variable in the traced step, a last partial batch that traces the step a
second time, weights saved as .h5, the optimizer built inside the first traced
step, which makes TensorFlow trace it twice) and as it is now; target: at most half.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time

import keras
from absl import app, flags

import layernas_tf
from layernas_tf.config import SearchConfig
from layernas_tf.core.status import COMPLETE
from layernas_tf.training import data, trainer
from layernas_tf.trials import study
from layernas_tf.trials.artefacts import save_weights

_TRIALS = flags.DEFINE_integer("trials", 16, "Trials per search.")
_WORKERS = flags.DEFINE_integer("workers", 2, "Workers of the local and Ray executors.")
_EXECUTORS = flags.DEFINE_list("executors", ["serial", "local", "ray"], "Executors to time.")
_FIXED_ARCHS = flags.DEFINE_integer("fixed_cost_archs", 2, "Architectures whose fixed cost is measured.")

TARGETS = {"local": 1.5, "ray": 1.4}


def _config(study_dir: str) -> SearchConfig:
    return SearchConfig(space="mbv3_small", cost="madds", target=(0, 40e6), dataset="digits", num_classes=10,
                        image_size=32, deploy_image_size=224, batch_size=64, proxy_epochs=1, learning_rate=0.02,
                        max_trials=_TRIALS.value, verbose=0, study_dir=study_dir)


def _search_seconds(kind: str, root: str) -> tuple[float, float]:
    """Seconds the search took, start-up included, and the median seconds a trial trained."""
    start = time.perf_counter()
    result = layernas_tf.search(space="mbv3_small", madds=40e6, dataset="digits", image_size=32, batch_size=64,
                                proxy_epochs=1, learning_rate=0.02, algorithm="layernas", max_trials=_TRIALS.value,
                                verbose=0, executor=kind, parallel_trials=1 if kind == "serial" else _WORKERS.value,
                                study_dir=os.path.join(root, kind), log=lambda line: None)
    seconds = time.perf_counter() - start
    _, rows = study.read(result.study_dir)
    if any(row["status"] != COMPLETE for row in rows):
        raise RuntimeError(f"{kind}: a trial failed: {[row['error'] for row in rows if row['error']]}")
    return seconds, statistics.median(row["metrics"]["train_seconds"] for row in rows)


def _fixed_costs(recipe: str, archs, root: str) -> list[float]:
    """Seconds of each trial that are not training or evaluation steps, under `recipe` (before / after)."""
    config = _config(root)
    space = config.search_space()
    digits = data.load("digits")
    size = digits.sizes["train"]
    train_config = trainer.TrainConfig(epochs=1, learning_rate=0.02, verbose=0)
    images = data.resized(digits.train, image_size=32, size_hint=size)
    validation = data.input_pipeline(digits.validation, image_size=32, batch_size=64, num_classes=10, training=False)
    costs = []
    for arch in archs:
        keras.backend.clear_session()
        start = time.perf_counter()
        model = space.build(arch, input_shape=(32, 32, 3))
        if recipe == "before":
            train = data.input_pipeline(digits.train, image_size=32, batch_size=64, num_classes=10, training=True,
                                        flip=False, seed=0)
            train = train.unbatch().batch(64)  # keep the last partial batch, as before
            steps = -(-size // 64)
            schedule = keras.optimizers.schedules.CosineDecay(0.0, steps - steps // 10, warmup_target=0.02,
                                                              warmup_steps=steps // 10)
            model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=4e-5),
                          loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                          metrics=[keras.metrics.CategoricalAccuracy(name="top1")])
            callbacks = [keras.callbacks.TerminateOnNaN()]
        else:
            train = data.batches(images, batch_size=64, num_classes=10, training=True, flip=False, size_hint=size,
                                 seed=0)
            steps = data.steps_per_epoch(size, 64)
            trainer.compile_model(model, train_config)
            model.optimizer.build(model.trainable_variables)
            callbacks = [keras.callbacks.TerminateOnNaN(), trainer.LearningRateSchedule(train_config, steps)]
        log_dir = tempfile.mkdtemp(dir=root)
        callbacks.append(keras.callbacks.TensorBoard(log_dir, write_graph=False, profile_batch=0))
        model.fit(train, epochs=1, verbose=0, callbacks=callbacks)
        model.evaluate(validation, verbose=0)
        if recipe == "before":
            model.save_weights(os.path.join(log_dir, "best.weights.h5"))
        else:
            save_weights(model, os.path.join(log_dir, "weights.npz"))
        trial = time.perf_counter() - start
        start = time.perf_counter()
        model.fit(train, epochs=1, verbose=0)
        model.evaluate(validation, verbose=0)
        costs.append(trial - (time.perf_counter() - start))
    return costs


def main(argv):
    del argv
    missed = []
    with tempfile.TemporaryDirectory() as root:
        seconds = {}
        for kind in _EXECUTORS.value:
            seconds[kind], trained = _search_seconds(kind, root)
            per_hour = _TRIALS.value * 3600 / seconds[kind]
            ratio = seconds["serial"] / seconds[kind] if "serial" in seconds else float("nan")
            target = TARGETS.get(kind)
            verdict = "" if target is None else f"  (target >= {target}x: {'met' if ratio >= target else 'MISSED'})"
            if target is not None and ratio < target:
                missed.append(kind)
            print(f"{kind:>6}: {_TRIALS.value} trials in {seconds[kind]:6.1f} s = {per_hour:6.1f} trials/hour, "
                  f"{ratio:.2f}x serial{verdict}; a trial trains in {trained:.1f} s (median)", flush=True)

        space = _config(root).search_space()
        rng = random.Random(0)
        archs = [space.default()] + [space.random(rng) for _ in range(_FIXED_ARCHS.value - 1)]
        fixed = {}
        for recipe in ("before", "after"):
            fixed[recipe] = statistics.median(_fixed_costs(recipe, archs, root))
        ratio = fixed["after"] / fixed["before"]
        print(f"fixed cost per trial (serial, median of {len(archs)} networks): before {fixed['before']:.1f} s, "
              f"after {fixed['after']:.1f} s = {ratio:.2f}x (target <= 0.5x: {'met' if ratio <= 0.5 else 'MISSED'})")
        if ratio > 0.5:
            missed.append("fixed cost")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    app.run(main)
