r"""Deployable forms of a searched network: a SavedModel and a TFLite file, each verified.

    python -m layernas_tf.export --study_dir=DIR --trial=ID [--final_epochs=N] [--tflite=int8]
    python -m layernas_tf.export --study_dir=DIR --front

The search exports its answer itself; this command exports any completed trial of
a study from the weights its trial directory kept (or retrains it), or every
network of the front, each into its own folder named by its cost.

The SavedModel carries the inference function as its default signature. The TFLite file is
converted from it with TensorFlow's converter, as float, dynamic-range quantized,
or full int8 (uint8 pixels in, uint8 probabilities out, calibrated on images drawn
from the training split), and then run with LiteRT's interpreter against Keras on
validation images: float must agree within 1e-4, int8 on at least 95% of top-1
answers. Every file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Iterable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # run as a command: keep TensorFlow's C++ start-up chatter out

import keras  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import tensorflow as tf  # pylint: disable=wrong-import-position

from layernas_tf import cli, reports  # pylint: disable=wrong-import-position

TFLITE_KINDS = ("float", "dynamic", "int8")
FLOAT_TOLERANCE = 1e-4
INT8_AGREEMENT = 0.95


def export_saved_model(model: keras.Model, path: str) -> None:
    """Writes the model's inference function (`serve`, the default signature) as a SavedModel.

    Not `model.export`: it tracks each weight twice, as the Keras variable and as the
    TensorFlow variable the traced function uses, so the SavedModel stored every
    value twice (3,075,831 for a network of 1,537,914 parameters). An archive with
    only the endpoint tracks what the endpoint uses, once. Written through a
    temporary directory and a rename.
    """
    with reports.folder_atomic(path) as tmp:
        archive = keras.export.ExportArchive()
        archive.add_endpoint("serve", lambda images: model(images, training=False),
                             input_signature=[tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)])
        archive.write_out(tmp, verbose=False)


def convert_tflite(saved_model_dir: str, kind: str, representative: Iterable[np.ndarray] = ()) -> bytes:
    """TFLite flatbuffer of a SavedModel; `representative` images calibrate int8."""
    if kind not in TFLITE_KINDS:
        raise ValueError(f"unknown TFLite kind {kind!r}; valid: {', '.join(TFLITE_KINDS)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    if kind in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "int8":
        images = list(representative)
        if not images:
            raise ValueError("int8 conversion needs representative images")

        def dataset():
            for image in images:
                yield [image[None].astype(np.float32)]

        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return converter.convert()


def tflite_predict(tflite_model: bytes, images: np.ndarray) -> np.ndarray:
    """Class probabilities from LiteRT's interpreter, one image at a time (as on a phone)."""
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel

    interpreter = Interpreter(model_content=tflite_model)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    sink = interpreter.get_output_details()[0]
    outputs = []
    for image in images:
        x = image[None]
        if source["dtype"] != np.float32:
            scale, zero = source["quantization"]
            info = np.iinfo(source["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        interpreter.set_tensor(source["index"], x.astype(source["dtype"]))
        interpreter.invoke()
        y = interpreter.get_tensor(sink["index"])[0].astype(np.float32)
        if sink["dtype"] != np.float32:
            scale, zero = sink["quantization"]
            y = (y - zero) * scale
        outputs.append(y)
    return np.stack(outputs)


def export(
    model: keras.Model,
    export_dir: str,
    *,
    tflite: str,
    validation: tuple[np.ndarray, np.ndarray],
    representative: Iterable[np.ndarray],
    madds: int,
) -> dict[str, Any]:
    """Writes the SavedModel and the TFLite file into `export_dir`; returns what was checked.

    Args:
      validation: (images, one-hot labels) the exported forms are checked and scored on.
      representative: training images that calibrate int8 quantization.
      madds: the model's MAdds, reported beside each form.
    """
    images, labels = validation
    truth = labels.argmax(axis=1)
    keras_probs = model.predict(images, verbose=0, batch_size=64)
    saved_model_dir = os.path.join(export_dir, "saved_model")
    export_saved_model(model, saved_model_dir)
    reloaded = tf.saved_model.load(saved_model_dir)
    served = reloaded.serve(tf.constant(images[:64], tf.float32)).numpy()
    results: dict[str, Any] = {
        "saved_model": {
            "path": saved_model_dir,
            "size_bytes": _tree_size(saved_model_dir),
            "madds": madds,
            "val_top1": float(np.mean(keras_probs.argmax(axis=1) == truth)),
            "max_abs_diff": float(np.abs(served - keras_probs[:64]).max()),
        }
    }
    flatbuffer = convert_tflite(saved_model_dir, tflite, representative)
    path = os.path.join(export_dir, f"model_{tflite}.tflite")
    reports.write_atomic(path, flatbuffer)
    lite_probs = tflite_predict(flatbuffer, images)
    entry = {
        "path": path,
        "kind": tflite,
        "size_bytes": len(flatbuffer),
        "madds": madds,
        "val_top1": float(np.mean(lite_probs.argmax(axis=1) == truth)),
        "top1_agreement": float(np.mean(lite_probs.argmax(axis=1) == keras_probs.argmax(axis=1))),
        "max_abs_diff": float(np.abs(lite_probs - keras_probs).max()),
    }
    if tflite == "float":
        entry["verified"] = entry["max_abs_diff"] < FLOAT_TOLERANCE
    else:
        entry["verified"] = entry["top1_agreement"] >= INT8_AGREEMENT
    results["tflite"] = entry
    return results


def _tree_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _arrays(batches: tf.data.Dataset, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to `limit` examples of a batched dataset as numpy (images, one-hot labels)."""
    images, labels = [], []
    for x, y in batches.unbatch().take(limit):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.stack(images), np.stack(labels)


def export_trial(config, space, dataset, trial_id: int, arch: str, export_dir: str, *, tflite: str,
                 final_epochs: int = 0, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Exports one trial's network at the deployment size; returns its "final" and "exports" reports.

    The network keeps the weights its trial saved, trained at the proxies' size, or
    with `final_epochs` is retrained at the deployment size, the network users ship.
    Either way the exported model is a fresh one built at the deployment size with
    those weights: no optimizer state, each weight stored once.

    Args:
      config: the search's `trial.SearchConfig`.
      space: `config.search_space()`.
      dataset: the loaded `data.Dataset` the search trained on.
    """
    from layernas_tf import data, distribute, trainer  # pylint: disable=import-outside-toplevel
    from layernas_tf.trial import WEIGHTS, load_weights  # pylint: disable=import-outside-toplevel

    architecture = space.parse(arch)
    final_size = config.deploy_image_size if final_epochs else config.image_size
    pipeline = dict(image_size=final_size, batch_size=config.batch_size, num_classes=dataset.num_classes)
    validation_data = data.input_pipeline(dataset.validation, training=False,
                                          size_hint=dataset.sizes["validation"], **pipeline)
    weights = os.path.join(config.trial_dir(trial_id), WEIGHTS)
    keras.backend.clear_session()
    if final_epochs or not os.path.exists(weights):
        if not final_epochs:
            log(f"the weights of trial {trial_id} are not in {config.trial_dir(trial_id)}; training it again")
        epochs = final_epochs or config.proxy_epochs
        log(f"training {arch} for {epochs} epochs at {final_size}x{final_size}")
        train_data = data.input_pipeline(dataset.train, training=True, flip=dataset.flip, seed=config.seed,
                                         size_hint=dataset.sizes["train"], **pipeline)
        model, _ = trainer.train(
            lambda: space.build(architecture, input_shape=(final_size, final_size, 3)), train_data, validation_data,
            trainer.TrainConfig(epochs=epochs, learning_rate=config.learning_rate, verbose=config.verbose),
            distribute.make_strategy(config.strategy, config.tpu),
            steps_per_epoch=data.steps_per_epoch(dataset.sizes["train"], config.batch_size), seed=config.seed)
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
        + f" (at {final_size}x{final_size})")

    # The networks are fully convolutional: the same weights serve at the deployment size.
    deployed = space.build(architecture, input_shape=config.deploy_shape())
    deployed.set_weights(model.get_weights())
    deploy_pipeline = dict(pipeline, image_size=config.deploy_image_size)
    validation = _arrays(data.input_pipeline(dataset.validation, training=False, **deploy_pipeline), limit=1000)
    representative = data.input_pipeline(dataset.train, training=False, **deploy_pipeline).unbatch().take(100)
    madds = space.madds(architecture)
    exported = export(deployed, export_dir, tflite=tflite, validation=validation,
                      representative=(image.numpy() for image, _ in representative), madds=madds)
    exported["image_size"] = config.deploy_image_size
    lite = exported["tflite"]
    log(f"exported trial {trial_id} at {config.size_label()}: {exported['saved_model']['path']} and {lite['path']} "
        f"({lite['size_bytes']:,} bytes, {cli.human(madds)} MAdds, LiteRT top-1 {lite['val_top1']:.4f}, "
        f"agreement {lite['top1_agreement']:.3f}, max |diff| {lite['max_abs_diff']:.2e}"
        f"{'' if lite['verified'] else ', NOT VERIFIED'})")
    if final_size != config.deploy_image_size and lite["val_top1"] < evaluation["val_top1"] - 0.1:
        log(f"warning: the exported model keeps the proxy's weights, trained at {final_size}x{final_size}; at "
            f"{config.size_label()} its LiteRT top-1 is {lite['val_top1']:.4f} against {evaluation['val_top1']:.4f}"
            f" at {final_size}x{final_size}: retrain it at the deployment size with --final_epochs=N")
    return {"final": {"epochs": final_epochs, "image_size": final_size, **evaluation}, "exports": exported}


def _main(argv) -> None:
    """`python -m layernas_tf.export`: a study's trial, or its whole front, exported."""
    del argv
    from absl import flags  # pylint: disable=import-outside-toplevel

    from layernas_tf import data, front, study  # pylint: disable=import-outside-toplevel
    from layernas_tf.trial import SearchConfig  # pylint: disable=import-outside-toplevel

    values = flags.FLAGS
    with cli.bad_input():
        if values.study_dir is None:
            raise ValueError("--study_dir is required: the directory a search wrote (it holds study.db)")
        if (values.trial is None) == (not values.front):
            raise ValueError("give exactly one of --trial=ID (one completed trial) or --front (every network of "
                             "the front)")
        if values.final_epochs < 0:
            raise ValueError(f"--final_epochs must be >= 0, got {values.final_epochs}")
        settings, rows = study.read(values.study_dir)
        fields = {f.name for f in dataclasses.fields(SearchConfig)}
        config = SearchConfig(**{k: v for k, v in settings.items() if k in fields},
                              study_dir=values.study_dir, data_dir=values.data_dir, verbose=0)
        config = dataclasses.replace(config, target=tuple(config.target),
                                     budgets=tuple(tuple(b) for b in config.budgets),
                                     decisions=tuple(config.decisions),
                                     space_options=tuple(tuple(o) for o in config.space_options))
        space = config.search_space()
        completed = {r["id"]: r for r in rows if r["status"] == "COMPLETE"}
        if values.front:
            chosen = front.pareto_front((r["id"], r["cost"], r["reward"]) for r in completed.values()
                                        if config.target[0] <= r["cost"] <= config.target[1]
                                        and space.within_budgets(space.parse(r["arch"])))
            if not chosen:
                raise ValueError(f"--study_dir={values.study_dir} has no completed network within its budget")
        elif values.trial not in completed:
            ids = ", ".join(str(i) for i in sorted(completed)[:20]) + (", ..." if len(completed) > 20 else "")
            state = next((f" (it is {r['status']})" for r in rows if r["id"] == values.trial), " (no such trial)")
            raise ValueError(f"--trial={values.trial}{state}: choose a completed trial of "
                             f"{values.study_dir}: {ids or 'none yet'}")
        else:
            chosen = [values.trial]
        dataset = data.load(config.dataset, config.data_dir)
    root = values.export_dir or os.path.join(values.study_dir, "exports")
    reports_by_trial = []
    for trial_id in chosen:
        row = completed[trial_id]
        name = (f"{config.cost}_{cli.show(config.cost, row['cost'])}_trial_{trial_id:04d}" if values.front
                else f"trial_{trial_id:04d}")
        delivered = export_trial(config, space, dataset, trial_id, row["arch"], os.path.join(root, name),
                                 tflite=values.tflite, final_epochs=values.final_epochs)
        reports_by_trial.append({"trial": trial_id, "arch": row["arch"], "reward": row["reward"],
                                 "costs": {config.cost: row["cost"]}, **delivered})
    reports.write_json(os.path.join(root, "exports.json"), reports_by_trial)
    print(f"wrote {len(chosen)} export(s) and {os.path.join(root, 'exports.json')}", flush=True)


def _define_flags() -> None:
    from absl import flags  # pylint: disable=import-outside-toplevel

    flags.DEFINE_string("study_dir", None, "The study directory a search wrote.")
    flags.DEFINE_integer("trial", None, "Export this completed trial.")
    flags.DEFINE_bool("front", False, "Export every network of the front, each into a folder named by its cost.")
    flags.DEFINE_integer("final_epochs", 0, "Retrain at the deployment size this long; 0 keeps the trial's weights.")
    flags.DEFINE_string("export_dir", None, "Where the exports go; default STUDY_DIR/exports.")
    flags.DEFINE_enum("tflite", "float", list(TFLITE_KINDS), "TFLite quantization.")
    flags.DEFINE_string("data_dir", None, "tfds data directory of the search's dataset.")


if __name__ == "__main__":
    _define_flags()
    cli.run(_main)
