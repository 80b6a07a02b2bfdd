"""The body of one trial: build, train, evaluate, save; what every executor's workers run.

A worker process (or Ray actor) makes one `TrialWorker` from a `SearchConfig`
and calls it once per trial. The worker loads the dataset, builds the cached input
and picks the tf.distribute strategy once; each trial then trains from a cleared
Keras session in its own directory (`trials.artefacts`). Workers only return
results; the driver alone writes the study database.
"""

from __future__ import annotations

import gc
import os
import shutil
from typing import Any, Optional

import keras
import tensorflow as tf

from layernas_tf.config import SearchConfig
from layernas_tf.reports import write_hparams
from layernas_tf.training import data, distribute, inherit, trainer
from layernas_tf.trials.artefacts import WEIGHTS, Child, drop_partial, save_weights, trial_dir, trial_seed
from layernas_tf.trials.executors import describe_error, disk_full, out_of_memory

def drop_cut_short(directory: str) -> list[str]:
    """Removes what a full disk cut short in a trial's folder: files caught mid-write (`artefacts.drop_partial`)
    and a backup whose weights cannot be read whole (Keras writes them in place). The stop frees the space they
    took, and the resumed trial trains from its last whole backup, or from its first epoch. Returns what went."""
    dropped = drop_partial(directory)
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        weights = os.path.join(directory, name, trainer.BACKUP_WEIGHTS)
        if name.startswith("backup") and os.path.exists(weights) and not trainer.readable_backup(weights):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
            dropped.append(weights)
    return dropped


class TrialWorker:
    """Trains trials of one search; one per worker process, set up on first use.

    Calling it with `(trial_id, arch)` returns the trial's metrics (`reward`, the
    validation top-1, among them); with `(trial_id, arch, epochs)` (a rung) it trains
    the first `epochs` of the proxy, or on to them from the trial's backup. An `arch`
    that is a `Child` (weight inheritance) starts from its parent's trained weights
    and trains `inherit_epochs` (`training.inherit`). It
    raises `trainer.TrialFailed` when training diverged, anything else when it
    could not run.
    """

    def __init__(self, config: SearchConfig):
        self.config = config
        self._ready = False

    def setup(self) -> None:
        """TensorFlow's threads, determinism and strategy, and the data: once per worker."""
        if self._ready:
            return
        config = self.config
        if not os.path.isdir(config.study_dir):
            raise RuntimeError(
                f"the study directory {config.study_dir} is not visible on this worker's host; "
                "put study_dir on storage that the driver and every worker share"
            )
        distribute.set_threads()
        tf.config.experimental.enable_op_determinism()
        # A worker group's member (`workers_per_trial`) has the group's TF_CONFIG from its executor.
        self.strategy = distribute.make_strategy("multi_worker" if config.workers_per_trial > 1 else config.strategy,
                                                 config.tpu)
        self.member = distribute.worker_index(self.strategy)
        dataset = data.load(config.dataset, config.data_dir, source=config.data_source,
                            num_classes=config.num_classes, train_examples=config.train_examples,
                            example_shape=config.input_shape)
        self.dataset = dataset
        self.train_images = data.resized(dataset.train, image_size=config.image_size,
                                         size_hint=dataset.sizes["train"])
        self.validation_images = data.resized(dataset.validation, image_size=config.image_size,
                                              size_hint=dataset.sizes["validation"])
        self.validation = self._validation(config.batch_size)
        self.space = config.search_space()
        self._ready = True

    def _validation(self, batch_size: int):
        return data.batches(self.validation_images, batch_size=batch_size, num_classes=self.dataset.num_classes,
                            training=False)

    def _curve_splits(self, validation, batch_size: int) -> dict:
        """The validation and test splits as `trainer.Curve` scores them (test only when the data has one)."""
        config, dataset = self.config, self.dataset
        splits = {"validation": validation}
        if dataset.test is not None:
            splits["test"] = data.batches(
                data.resized(dataset.test, image_size=config.image_size, size_hint=dataset.sizes.get("test")),
                batch_size=batch_size, num_classes=dataset.num_classes, training=False)
        return splits

    def __call__(self, trial_id: int, arch: "str | Child", epochs: Optional[int] = None, *,
                 curve: bool = False) -> dict[str, Any]:
        """`curve`: also score the validation and test splits after every epoch (`trainer.Curve`), for tables.

        Out of memory with `half_batch_on_oom`, the trial trains again here from scratch (its backup, made at the
        larger batch, is dropped) at half the batch; a second running out is raised as any other."""
        self.setup()
        batch_size = self.config.batch_size
        try:
            return self._train(trial_id, arch, epochs, curve, batch_size)
        except Exception as e:  # pylint: disable=broad-except
            if disk_full(e):
                drop_cut_short(trial_dir(self.config.study_dir, trial_id))
                raise
            if not (self.config.half_batch_on_oom and out_of_memory(e) and batch_size > 1):
                raise
            why = describe_error(e)
        keras.backend.clear_session()  # what the failed attempt held, before the smaller one starts
        gc.collect()
        directory = trial_dir(self.config.study_dir, trial_id)
        shutil.rmtree(os.path.join(directory, distribute.backup_name(self.member)), ignore_errors=True)
        metrics = self._train(trial_id, arch, epochs, curve, batch_size // 2)
        metrics["batch_size"] = batch_size // 2
        metrics["out_of_memory_retry"] = f"out of memory at batch_size {batch_size} ({why[:200]})"
        return metrics

    def _parent(self, child: Child) -> Optional[list[inherit.Layer]]:
        """The trained layers `child` inherits; None when its parent's weights are gone (a search's pruner keeps
        them while children can inherit: only a hand-deleted file, or a study copied without them)."""
        path = os.path.join(trial_dir(self.config.study_dir, child.parent), WEIGHTS)
        if not os.path.exists(path):
            return None
        parent = self.space.parse(child.parent_arch)
        return inherit.trained_parent(lambda: self.space.build(parent, input_shape=self.config.train_shape()), path)

    def _train(self, trial_id: int, arch: "str | Child", epochs: Optional[int], curve: bool,
               batch_size: int) -> dict[str, Any]:
        config, space = self.config, self.space
        child = arch if isinstance(arch, Child) else None
        arch = str(arch)
        architecture = space.parse(arch)
        parent = self._parent(child) if child is not None else None
        copied: list[str] = []
        directory = trial_dir(config.study_dir, trial_id)
        os.makedirs(directory, exist_ok=True)
        seed = trial_seed(config.seed, arch)
        validation = self.validation if batch_size == config.batch_size else self._validation(batch_size)
        # The pipeline's random ops take the global seed in force when they are built: set it first,
        # or a trial would depend on the trial this worker trained before it.
        keras.utils.set_random_seed(seed)
        train_data = data.batches(self.train_images, batch_size=batch_size,
                                  num_classes=self.dataset.num_classes, training=True, flip=self.dataset.flip,
                                  size_hint=self.dataset.sizes["train"], seed=seed, augment=self.dataset.images)
        proxy = trainer.TrainConfig(epochs=config.inherited_epochs() if parent is not None else config.proxy_epochs,
                                    until=epochs, learning_rate=config.learning_rate,
                                    verbose=config.verbose, mixed_precision=config.mixed_precision,
                                    steps_per_execution=config.steps_per_execution,
                                    label=f"trial {trial_id}" if config.labelled_progress else None)
        # In a worker group only the chief writes the trial's files; each member keeps a backup of its own.
        log_dir = os.path.join(directory, "tensorboard") if not self.member else None

        def build():
            model = space.build(architecture, input_shape=config.train_shape())
            if parent is not None:  # before a backup's weights, which replace these when the trial resumes
                copied[:] = inherit.inherit(model, parent)
            return model

        model, metrics = trainer.train(
            build, train_data, validation,
            proxy, self.strategy, steps_per_epoch=data.steps_per_epoch(self.dataset.sizes["train"], batch_size),
            log_dir=log_dir, backup_dir=os.path.join(directory, distribute.backup_name(self.member)), seed=seed,
            curve=self._curve_splits(validation, batch_size) if curve else None)
        metrics["madds"] = space.madds(architecture)
        metrics["params"] = space.params(architecture)
        metrics["deploy_image_size"] = config.deploy_image_size
        metrics["epochs"] = proxy.stop
        metrics["replicas"] = self.strategy.num_replicas_in_sync
        if child is not None:
            metrics["inherited_from"] = child.parent
            metrics["inherited_layers"] = copied
            if parent is None:
                metrics["inherit_missed"] = (f"trial {child.parent}'s weights were gone: trained from scratch for "
                                             f"proxy_epochs={config.proxy_epochs}")
        if not self.member:
            save_weights(model, os.path.join(directory, WEIGHTS))
            write_hparams(log_dir, {"arch": arch, "madds": metrics["madds"], "params": metrics["params"]},
                          {"reward": metrics["reward"]})
        return metrics

