"""A trial's network, deployed: its weights from its trial directory (or trained again), exported and checked.

What the search does with its answer and `python -m layernas_tf.export` with any
completed trial or the front.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from layernas_tf.core.units import human
from layernas_tf.deploy.tflite import export_model
from layernas_tf.training import data, distribute, trainer
from layernas_tf.trials.artefacts import WEIGHTS, load_weights

def arrays(batches: tf.data.Dataset, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to `limit` examples of a batched dataset as numpy (images, one-hot labels)."""
    images, labels = [], []
    for x, y in batches.unbatch().take(limit):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.stack(images), np.stack(labels)



def export_trial(config, space, dataset, trial_id: int, arch: str, export_dir: str, *, tflite: str,
                 final_epochs: int = 0, recipe: Optional[trainer.TrainConfig] = None,
                 batch_size: Optional[int] = None, randaugment: bool = False, work_dir: Optional[str] = None,
                 log: Callable[[str], None] = print,
                 strategy: Optional[tf.distribute.Strategy] = None) -> dict[str, Any]:
    """Exports one trial's network at the deployment size; returns its "final" and "exports" reports.

    The network keeps the weights its trial saved, trained at the proxies' size, or
    with `final_epochs` is retrained at the deployment size, the network users ship.
    Either way the exported model is a fresh one built at the deployment size with
    those weights: no optimizer state, each weight stored once.

    Args:
      config: the search's `trial.SearchConfig`.
      space: `config.search_space()`.
      dataset: the loaded `data.Dataset` the search trained on.
      recipe: the final training's recipe (`python -m layernas_tf.train`), its epochs
        in place of `final_epochs`; default: the proxies' recipe.
      batch_size, randaugment: the final training's batch (default the search's) and
        whether Keras' RandAugment augments it.
      work_dir: where the final training keeps its `BackupAndRestore` state (a
        preempted training resumes from its last epoch) and TensorBoard events.
      strategy: what the network trains under (default: the config's). In a
        MultiWorkerMirroredStrategy cluster every worker trains and evaluates (both
        are collective), each keeping its own backup; only worker 0 writes
        TensorBoard events and exports: the others return "exports": None.
    """
    architecture = space.parse(arch)
    if recipe is not None:
        final_epochs = recipe.epochs
    final_size = config.deploy_image_size if final_epochs else config.image_size
    pipeline = dict(image_size=final_size, batch_size=batch_size or config.batch_size, num_classes=dataset.num_classes)
    validation_data = data.input_pipeline(dataset.validation, training=False,
                                          size_hint=dataset.sizes["validation"], **pipeline)
    weights = os.path.join(config.trial_dir(trial_id), WEIGHTS)
    keras.backend.clear_session()
    member = None
    if final_epochs or not os.path.exists(weights):
        if not final_epochs:
            log(f"the weights of trial {trial_id} are not in {config.trial_dir(trial_id)}; training it again")
        epochs = final_epochs or config.proxy_epochs
        log(f"training {arch} for {epochs} epochs at {config.size_label(final_size)}")
        train_data = data.input_pipeline(dataset.train, training=True, flip=dataset.flip, seed=config.seed,
                                         size_hint=dataset.sizes["train"], randaugment=randaugment,
                                         augment=dataset.images, **pipeline)
        strategy = strategy or distribute.make_strategy(config.strategy, config.tpu)
        member = distribute.worker_index(strategy)
        model, _ = trainer.train(
            lambda: space.build(architecture, input_shape=config.shape(final_size)), train_data, validation_data,
            recipe or trainer.TrainConfig(epochs=epochs, learning_rate=config.learning_rate, verbose=config.verbose,
                                          mixed_precision=config.mixed_precision,
                                          steps_per_execution=config.steps_per_execution),
            strategy, steps_per_epoch=data.steps_per_epoch(dataset.sizes["train"], pipeline["batch_size"]),
            seed=config.seed, backup_dir=os.path.join(work_dir, distribute.backup_name(member)) if work_dir else None,
            log_dir=os.path.join(work_dir, "tensorboard") if work_dir and not member else None)
    else:
        model = space.build(architecture, input_shape=config.train_shape())
        load_weights(model, weights)
        trainer.compile_model(model, trainer.TrainConfig(epochs=1, learning_rate=config.learning_rate))
    evaluation = {"val_top1": float(model.evaluate(validation_data, return_dict=True, verbose=0)["top1"])}
    if dataset.test is not None:
        test_data = data.input_pipeline(dataset.test, training=False, size_hint=dataset.sizes.get("test"),
                                        **pipeline)
        evaluation["test_top1"] = float(model.evaluate(test_data, return_dict=True, verbose=0)["top1"])
    log(f"network of trial {trial_id}: validation top-1 {evaluation['val_top1']:.4f}"
        + (f", test top-1 {evaluation['test_top1']:.4f}" if "test_top1" in evaluation else "")
        + f" (at {config.size_label(final_size)})")
    final = {"epochs": final_epochs, "image_size": final_size, **evaluation}
    if member:
        return {"final": final, "exports": None}

    # The networks are fully convolutional: the same weights serve at the deployment size.
    deployed = space.build(architecture, input_shape=config.deploy_shape())
    deployed.set_weights(model.get_weights())
    deploy_pipeline = dict(pipeline, image_size=config.deploy_image_size)
    validation = arrays(data.input_pipeline(dataset.validation, training=False, **deploy_pipeline), limit=1000)
    representative = data.input_pipeline(dataset.train, training=False, **deploy_pipeline).unbatch().take(100)
    madds = space.madds(architecture)
    exported = export_model(deployed, export_dir, tflite=tflite, validation=validation,
                      representative=(image.numpy() for image, _ in representative), madds=madds)
    exported["image_size"] = config.deploy_image_size
    lite = exported["tflite"]
    log(f"exported trial {trial_id} at {config.size_label()}: {exported['saved_model']['path']} and {lite['path']} "
        f"({lite['size_bytes']:,} bytes, {human(madds)} MAdds, LiteRT top-1 {lite['val_top1']:.4f}, "
        f"agreement {lite['top1_agreement']:.3f}, max |diff| {lite['max_abs_diff']:.2e}"
        f"{'' if lite['verified'] else ', NOT VERIFIED'})")
    if final_size != config.deploy_image_size and lite["val_top1"] < evaluation["val_top1"] - 0.1:
        log(f"warning: the exported model keeps the proxy's weights, trained at {config.size_label(final_size)}; "
            f"at {config.size_label()} its LiteRT top-1 is {lite['val_top1']:.4f} against "
            f"{evaluation['val_top1']:.4f} at {config.size_label(final_size)}: retrain it at the deployment size "
            "(final_epochs=N)")
    return {"final": final, "exports": exported}

