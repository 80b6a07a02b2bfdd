"""Proxy training of one candidate: Keras compile/fit, reward = validation top-1.

SGD with momentum and weight decay, cosine decay after a linear warm-up, label
smoothing: the recipe MobileNet searches train proxies with. Each candidate starts
from a cleared Keras session, is built and compiled inside the strategy's scope,
and a loss that turns NaN ends it as a failed trial rather than a silently bad one.

The learning rate is a plain variable that a callback sets before every step. A
`LearningRateSchedule` object would do the same arithmetic, but Keras' weight decay
evaluates the schedule once per variable inside the traced step, which doubled the
time Keras takes to trace a MobileNet's training step (measured: 24 s against 12 s
for `mbv3_small` on 2 CPU cores), and tracing is most of what a short proxy costs.
For the same reason the optimizer is built before `fit`: left to its first step, it
creates its slot variables inside the traced function, and TensorFlow then traces
the whole training step a second time without them (measured: the first epoch of
`mbv3_small` took 15 s, and 7.5 s with the optimizer built beforehand).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import time
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from layernas_tf.reports import written_whole
from layernas_tf.training import distribute
from layernas_tf.trials.executors import disk_full


# What reading a damaged backup raises (h5py and Keras' restore): the backup is dropped and the trial trained from
# its first epoch.
DAMAGED_BACKUP = (OSError, RuntimeError, KeyError, ValueError)
# The file Keras' BackupAndRestore writes a backup's weights to, in place (not through a rename).
BACKUP_WEIGHTS = "latest.weights.h5"


def readable_backup(path: str) -> bool:
    """Whether every array of a backup's weights file reads (a file cut short may open and fail on its last
    blocks)."""
    import h5py  # pylint: disable=import-outside-toplevel  (Keras' dependency, needed only here)

    def read(_, item):
        if isinstance(item, h5py.Dataset):
            item[()]  # pylint: disable=pointless-statement

    try:
        with h5py.File(path, "r") as f:
            f.visititems(read)
        return True
    except DAMAGED_BACKUP:
        return False


class TrialFailed(Exception):
    """Training could not produce a reward (diverged); the search records why and goes on."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How a candidate trains.

    Attributes:
      verbose: Keras' progress output: 0 none, 1 a bar (on a terminal; a line per
        epoch when output goes to a file or a pipe), 2 a line per epoch.
      label: with several workers printing at once, Keras' unlabelled lines cannot be
        told apart: given a label ("trial 12"), each epoch prints one line of its own
        starting with it instead (when `verbose` > 0).
      optimizer: "sgd" (with `momentum`) or "rmsprop" (decay 0.9, `momentum`, epsilon
        0.002: the MobileNet papers' final-training optimizer).
      ema: keep an exponential moving average of the weights with this momentum (e.g.
        0.9999) and end with it; 0: none.
      until: stop after this many of the `epochs` (a rung of a multi-fidelity search),
        keeping the backup so that a later call trains on from there; None: all.
      mixed_precision: build the network in mixed precision (`distribute.precision_policy`:
        bfloat16 on TPUs and CPUs, float16 on GPUs); its variables stay float32.
      steps_per_execution: training steps run in one call into the compiled step: on a
        TPU, the host otherwise waits on the device after every step. The learning rate
        is then set once per call (held for its steps).
      dropout: the rate of the network's dropout layers (`set_dropout`); None: the
        space's own.
    """

    epochs: int
    learning_rate: float
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.1
    verbose: int = 1
    label: Optional[str] = None
    optimizer: str = "sgd"
    ema: float = 0.0
    until: Optional[int] = None
    mixed_precision: bool = False
    steps_per_execution: int = 1
    dropout: Optional[float] = None

    @property
    def stop(self) -> int:
        return self.epochs if self.until is None else min(self.until, self.epochs)


def learning_rate_at(step: int, total_steps: int, config: TrainConfig) -> float:
    """Linear warm-up over `warmup_fraction` of the steps, then cosine decay to 0."""
    total = max(1, total_steps)
    warmup = int(total * config.warmup_fraction)
    if step < warmup:
        return config.learning_rate * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


class LearningRateSchedule(keras.callbacks.Callback):
    """Sets the optimizer's learning rate before every training step (see the module docstring)."""

    def __init__(self, config: TrainConfig, steps_per_epoch: int):
        super().__init__()
        self.config, self.steps_per_epoch = config, steps_per_epoch
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        step = self._epoch * self.steps_per_epoch + batch
        total = self.config.epochs * self.steps_per_epoch
        self.model.optimizer.learning_rate = learning_rate_at(step, total, self.config)


OPTIMIZERS = ("sgd", "rmsprop")


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer={config.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    common = dict(weight_decay=config.weight_decay, use_ema=config.ema > 0, ema_momentum=config.ema or 0.99)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(config.learning_rate, rho=0.9, momentum=config.momentum, epsilon=0.002,
                                        **common)
    return keras.optimizers.SGD(config.learning_rate, momentum=config.momentum, **common)


def set_dropout(model: keras.Model, rate: float) -> None:
    """Sets the rate of every dropout layer of `model` (the MobileNetV3 spaces' one before the logits).

    A Keras layer reads its rate when the training step is traced, so a network built
    with the space's rate trains with this one.

    Raises:
      ValueError: the network has no dropout layer.
    """
    found = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]  # pylint: disable=protected-access
    if not found:
        raise ValueError(f"dropout={rate}: the network has no dropout layer to set (the MobileNetV3 spaces have one "
                         "before the logits; the MobileNetV2 spaces none)")
    for layer in found:
        layer.rate = rate


def compile_model(model: keras.Model, config: TrainConfig) -> None:
    model.compile(
        optimizer=make_optimizer(config),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="top1")],
        steps_per_execution=config.steps_per_execution,
    )


def progress_verbosity(verbose: int) -> int:
    """Keras' bar redraws itself with control codes: off a terminal, one line per epoch instead."""
    if verbose == 1 and not sys.stdout.isatty():
        return 2
    return verbose


class LabelledProgress(keras.callbacks.Callback):
    """One line per epoch, starting with the trial's label, for consoles that several workers share."""

    def __init__(self, label: str, epochs: int):
        super().__init__()
        self.label, self.epochs = label, epochs
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        shown = "  ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if k in ("loss", "top1"))
        print(f"  {self.label}  epoch {epoch + 1}/{self.epochs}  {shown}  {time.time() - self._started:.0f}s",
              flush=True)


class ResumedRandomness(keras.callbacks.Callback):
    """What Keras' `BackupAndRestore` leaves out, so that a training resumed at epoch e goes on as if it never stopped.

    The backup holds the weights, the optimizer and the epoch, but not how far the
    pipeline's reshuffling went: a new `fit` starts it again, so epoch e would see the
    first epoch's order, and with it the first epoch's random augmentation position by
    position, that is the first epoch's images exactly. Nor does it hold the state of
    the network's random layers, so dropout would draw the first epoch's masks again.
    Measured on README's digits job, a trial stopped at a 1-epoch rung and trained on
    to 3 epochs scored 0.9306 where the same network trained straight scored 0.8403.
    Each iterator drawn from the pipeline moves its reshuffling on by one order, and
    Keras 3.15's `fit` draws two per epoch from a dataset of known length (one as the
    epoch starts, one as it ends, never used) and one from any other: this callback
    draws and drops as many as the epochs already trained drew, and keeps the random
    layers' state beside the backup.
    """

    FILE = "random_state.npz"

    def __init__(self, data: tf.data.Dataset, backup_dir: str):
        super().__init__()
        self.data, self.path = data, os.path.join(backup_dir, self.FILE)
        self._started = False

    def _states(self) -> list:
        return [generator.state for layer in self.model._flatten_layers()  # pylint: disable=protected-access
                for generator in layer._seed_generators]  # pylint: disable=protected-access

    def on_epoch_begin(self, epoch, logs=None):
        if self._started:
            return
        self._started = True
        known_length = int(self.data.cardinality()) > 0
        for _ in range(epoch * (2 if known_length else 1)):
            iter(self.data)
        if epoch and os.path.exists(self.path):
            with np.load(self.path) as saved:
                if int(saved["epoch"]) == epoch:  # written with the backup of this very epoch
                    for i, state in enumerate(self._states()):
                        state.assign(saved[f"state{i}"])

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        states = {f"state{i}": np.asarray(s.numpy()) for i, s in enumerate(self._states())}
        written_whole(self.path, lambda tmp: np.savez(tmp, epoch=epoch + 1, **states))


class _EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.first: Optional[int] = None
        self.count = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self.first is None:
            self.first = epoch
        self.count += 1


class Curve(keras.callbacks.Callback):
    """Top-1 on each named split after every epoch: a benchmark table's learning curves.

    Evaluating does not touch the training's random state or weights, so the curve's
    validation entry after epoch e is the reward a rung of e epochs would report.
    """

    def __init__(self, splits: dict[str, tf.data.Dataset]):
        super().__init__()
        self.splits = splits
        self.values: dict[str, list[float]] = {name: [] for name in splits}

    def on_epoch_end(self, epoch, logs=None):
        for name, split in self.splits.items():
            self.values[name].append(float(self.model.evaluate(split, return_dict=True, verbose=0)["top1"]))


def train(
    build: Callable[[], keras.Model],
    train_data: tf.data.Dataset,
    validation_data: tf.data.Dataset,
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    *,
    steps_per_epoch: int,
    log_dir: Optional[str] = None,
    backup_dir: Optional[str] = None,
    seed: Optional[int] = None,
    curve: Optional[dict[str, tf.data.Dataset]] = None,
) -> tuple[keras.Model, dict[str, float]]:
    """Trains a fresh model from `build`; returns it and its metrics, `reward` among them.

    Args:
      log_dir: where TensorBoard events go, if anywhere.
      backup_dir: Keras `BackupAndRestore` state (and `ResumedRandomness`'): a trial
        killed mid-way resumes from its last finished epoch and trains on as if it had
        never stopped; the state is deleted once the last epoch is done (kept after
        `config.until` short of it).
      seed: seeds Keras, TensorFlow, NumPy and Python before the model is built, so
        the same seed trains the same way (with op determinism on).
      curve: splits to score after every epoch (`Curve`); the metrics then hold
        `curve`: {split: [top-1 after epoch 1, 2, ...]} for the epochs this call trained.

    Raises:
      TrialFailed: the training loss became NaN or infinite.
    """
    arguments = dict(steps_per_epoch=steps_per_epoch, log_dir=log_dir, backup_dir=backup_dir, seed=seed, curve=curve)
    had_backup = bool(backup_dir and os.path.isdir(backup_dir) and os.listdir(backup_dir))
    try:
        return _train(build, train_data, validation_data, config, strategy, **arguments)
    except DAMAGED_BACKUP as e:
        if not had_backup or disk_full(e):
            raise
        # A worker killed while Keras wrote the backup (Ctrl-C closes busy workers, a full disk cuts the file
        # short) leaves a file h5py cannot read, with an OSError or, for a truncated one, a RuntimeError ("Can't
        # get deprecated info for object"), KeyError or ValueError: lose the epochs it held, not the trial.
        shutil.rmtree(backup_dir, ignore_errors=True)
        return _train(build, train_data, validation_data, config, strategy, **arguments)


def _train(build, train_data, validation_data, config, strategy, *, steps_per_epoch, log_dir, backup_dir, seed,
           curve):
    keras.backend.clear_session()
    if seed is not None:
        keras.utils.set_random_seed(seed)
    start = time.time()
    with strategy.scope():
        with distribute.precision(distribute.precision_policy(config.mixed_precision, strategy)):
            model = build()
        if config.dropout is not None:
            set_dropout(model, config.dropout)
        distribute.synchronize_batch_norm(model, strategy)
        compile_model(model, config)
        model.optimizer.build(model.trainable_variables)
    epochs = _EpochCounter()
    callbacks = [keras.callbacks.TerminateOnNaN(), LearningRateSchedule(config, steps_per_epoch), epochs]
    if backup_dir:
        callbacks += [ResumedRandomness(train_data, backup_dir),
                      keras.callbacks.BackupAndRestore(backup_dir, save_freq="epoch",
                                                       delete_checkpoint=config.stop == config.epochs)]
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir, write_graph=False, profile_batch=0))
    scores = Curve(curve) if curve else None
    if scores:
        callbacks.append(scores)
    verbose = progress_verbosity(config.verbose)
    if config.label and verbose:
        callbacks.append(LabelledProgress(config.label, config.epochs))
        verbose = 0
    history = model.fit(distribute.split_batches(train_data, strategy), epochs=config.stop, callbacks=callbacks,
                        verbose=verbose, shuffle=False)
    losses = history.history.get("loss", [])
    if losses and not all(math.isfinite(v) for v in losses):
        raise TrialFailed(f"diverged: training loss became {losses[-1]}")
    evaluation = model.evaluate(validation_data, return_dict=True, verbose=0)
    extra = {"curve": scores.values} if scores else {}
    return model, {**extra,
        "reward": float(evaluation["top1"]),
        "val_loss": float(evaluation["loss"]),
        "train_loss": float(losses[-1]) if losses else None,
        "train_top1": float(history.history["top1"][-1]) if losses else None,
        "train_seconds": time.time() - start,
        "epochs_trained": epochs.count,
        "first_epoch": epochs.first if epochs.first is not None else config.stop,
    }
