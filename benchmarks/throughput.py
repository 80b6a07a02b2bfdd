r"""Training throughput of each space's default network against keras.applications' network.

    python -m benchmarks.throughput [--image_size=224] [--batch_size=32] [--steps=5] [--rounds=9] [--spaces=mbv2,...]

Targets (issue "End to end from the command line"): with the same input pipeline,
batch and optimizer, measured in the same run, each space's default network trains
at >= 0.95x the images/s of the same network from keras.applications; and the input
pipeline alone delivers at least 3x the training step rate. Rounds alternate between
the two models so that the machine's drift hits both alike, and each model's figure
is the median of its rounds, which a noisy machine moves least.
"""

from __future__ import annotations

import statistics
import sys
import time

import keras
import tensorflow as tf
from absl import app, flags

import search_spaces
from layernas_tf.training import data, trainer

_IMAGE_SIZE = flags.DEFINE_integer("image_size", 224, "Image side.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Batch size.")
_STEPS = flags.DEFINE_integer("steps", 5, "Timed training steps per round.")
_ROUNDS = flags.DEFINE_integer("rounds", 9, "Alternating rounds per model.")
_SPACES = flags.DEFINE_list("spaces", ["mbv2", "mbv2_140", "mbv3_small", "mbv3_large"], "Spaces to measure.")

REFERENCES = {
    "mbv2": lambda shape, classes: keras.applications.MobileNetV2(input_shape=shape, weights=None, classes=classes),
    "mbv2_140": lambda shape, classes: keras.applications.MobileNetV2(
        input_shape=shape, alpha=1.4, weights=None, classes=classes),
    "mbv3_small": lambda shape, classes: keras.applications.MobileNetV3Small(
        input_shape=shape, weights=None, classes=classes),
    "mbv3_large": lambda shape, classes: keras.applications.MobileNetV3Large(
        input_shape=shape, weights=None, classes=classes),
}


def images_per_second(model, batches, steps: int, batch_size: int) -> float:
    start = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    return steps * batch_size / (time.perf_counter() - start)


def main(argv):
    del argv
    size, batch = _IMAGE_SIZE.value, _BATCH_SIZE.value
    digits = data.load("digits")
    batches = data.input_pipeline(digits.train, image_size=size, batch_size=batch, num_classes=10, training=True,
                                  flip=False, size_hint=digits.sizes["train"]).repeat()
    config = trainer.TrainConfig(epochs=1, learning_rate=0.01, verbose=0)
    missed = []
    print(f"{size}x{size}, batch {batch}, {_STEPS.value} steps x {_ROUNDS.value} rounds per model", flush=True)
    for name in _SPACES.value:
        keras.backend.clear_session()
        space = search_spaces.get(name, input_shape=(size, size, 3), num_classes=10)
        models = {"layernas_tf": space.build(space.default()), "keras.applications": REFERENCES[name]((size, size, 3), 10)}
        for model in models.values():
            trainer.compile_model(model, config)
            model.fit(batches, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)  # trace and warm up
        rates = {k: [] for k in models}
        for _ in range(_ROUNDS.value):
            for key, model in models.items():
                rates[key].append(images_per_second(model, batches, _STEPS.value, batch))
        ours, reference = statistics.median(rates["layernas_tf"]), statistics.median(rates["keras.applications"])
        ratio = ours / reference
        print(f"{name:>10}: {ours:7.1f} img/s vs keras.applications {reference:7.1f} img/s, ratio {ratio:.3f} "
              f"[{'ok' if ratio >= 0.95 else 'MISSED'}]", flush=True)
        if ratio < 0.95:
            missed.append(f"{name} throughput ratio {ratio:.3f}")
        step_rate = ours / batch
        iterator = iter(batches)
        next(iterator)
        start = time.perf_counter()
        for _ in range(50):
            next(iterator)
        pipeline_rate = 50 / (time.perf_counter() - start)
        ok = pipeline_rate >= 3 * step_rate
        print(f"{'':>10}  input pipeline {pipeline_rate:7.1f} batches/s = {pipeline_rate / step_rate:.1f}x the "
              f"training step rate [{'ok' if ok else 'MISSED'}]", flush=True)
        if not ok:
            missed.append(f"{name} input pipeline {pipeline_rate / step_rate:.1f}x")
    print("\nall targets met" if not missed else f"\nmissed: {'; '.join(missed)}")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    app.run(main)
