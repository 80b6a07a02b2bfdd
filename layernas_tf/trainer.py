"""Proxy training of one candidate: Keras compile/fit, reward = validation top-1.

SGD with momentum and weight decay, cosine decay after a linear warm-up, label
smoothing: the recipe MobileNet searches train proxies with. Each candidate starts
from a cleared Keras session, is built and compiled inside the strategy's scope,
and a loss that turns NaN ends it as a failed trial rather than a silently bad one.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Optional

import keras
import tensorflow as tf


class TrialFailed(Exception):
    """Training could not produce a reward (diverged); the search records why and goes on."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int
    learning_rate: float
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.1
    verbose: int = 1


def compile_model(model: keras.Model, config: TrainConfig, steps_per_epoch: int) -> None:
    total = max(1, config.epochs * steps_per_epoch)
    warmup = int(total * config.warmup_fraction)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else config.learning_rate,
        decay_steps=max(1, total - warmup),
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=config.momentum, weight_decay=config.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="top1")],
    )


def train(
    build: Callable[[], keras.Model],
    train_data: tf.data.Dataset,
    validation_data: tf.data.Dataset,
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    *,
    steps_per_epoch: int,
    log_dir: Optional[str] = None,
) -> tuple[keras.Model, dict[str, float]]:
    """Trains a fresh model from `build`; returns it and its metrics, `reward` among them.

    Raises:
      TrialFailed: the training loss became NaN or infinite.
    """
    keras.backend.clear_session()
    start = time.time()
    with strategy.scope():
        model = build()
        compile_model(model, config, steps_per_epoch)
    callbacks = [keras.callbacks.TerminateOnNaN()]
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir, write_graph=False, profile_batch=0))
    history = model.fit(train_data, epochs=config.epochs, callbacks=callbacks, verbose=config.verbose, shuffle=False)
    losses = history.history.get("loss", [])
    if not losses or not all(math.isfinite(v) for v in losses):
        raise TrialFailed(f"diverged: training loss became {losses[-1] if losses else 'undefined'}")
    evaluation = model.evaluate(validation_data, return_dict=True, verbose=0)
    return model, {
        "reward": float(evaluation["top1"]),
        "val_loss": float(evaluation["loss"]),
        "train_loss": float(losses[-1]),
        "train_top1": float(history.history["top1"][-1]),
        "train_seconds": time.time() - start,
    }
