r"""Search a MobileNet space with LayerNAS under a cost budget, then export the best model.

    python -m layernas_tf.main --space=mbv3_large --madds=220M --dataset=imagenet2012 --data_dir=gs://...

Every candidate trains a short proxy (`--proxy_epochs`) and is scored on a
validation split carved out of the training data; every trial is stored in
`--study_dir`, so running the same command again resumes where it stopped. At the
end the best feasible architecture is printed, `results.json` and `search.png`
are written to the study directory, and the model goes to `--export_dir` as a
SavedModel and a TFLite file checked with LiteRT.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the output

from absl import flags, logging  # pylint: disable=wrong-import-position

from layernas_tf import cli  # pylint: disable=wrong-import-position

_SPACE = flags.DEFINE_string("space", "mbv3_small", "Search space: mbv2, mbv2_140, mbv3_large, mbv3_small, nats_sss.")
_MADDS = flags.DEFINE_string("madds", None, "MAdds budget of the final model: 220M, 0.22G or 220000000.")
_PARAMS = flags.DEFINE_string("params", None, "Parameter budget instead of MAdds: 2.5M, 2500000.")
_MADDS_MIN = flags.DEFINE_string("madds_min", None, "Optional lower MAdds bound of the final model.")
_DATASET = flags.DEFINE_string(
    "dataset", "digits",
    "A tfds name (imagenet2012, cifar10, cifar100, imagenet_resized/32x32), folder:PATH "
    "(PATH/train/<class>/<image>), or digits (embedded in scikit-learn, no download).",
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data directory (default ~/tensorflow_datasets).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Training and export image side; default: the dataset's.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Global batch size, split across replicas.")
_PROXY_EPOCHS = flags.DEFINE_integer("proxy_epochs", 5, "Epochs each candidate trains before it is scored.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 0.05, "Peak learning rate (SGD, cosine decay after warm-up).")
_BUCKETS = flags.DEFINE_integer("buckets", 10, "LayerNAS: H, cost buckets per layer.")
_PER_BUCKET = flags.DEFINE_integer("per_bucket", 1, "LayerNAS: k, candidates kept per bucket.")
_MAX_TRIALS = flags.DEFINE_integer("max_trials", None, "Stop after this many trials (default: LayerNAS's own end).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the search and of training.")
_STRATEGY = flags.DEFINE_enum(
    "strategy", "auto", ["auto", "default", "mirrored", "multi_worker", "tpu"],
    "tf.distribute strategy; auto: TPU if --tpu, mirrored over >1 GPU, else default.",
)
_TPU = flags.DEFINE_string("tpu", None, "TPU name or address for TPUClusterResolver.")
_MIXED_PRECISION = flags.DEFINE_bool("mixed_precision", False, "Train in mixed float16 (bfloat16 on TPU).")
_STUDY_DIR = flags.DEFINE_string("study_dir", None, "Where trials persist; default runs/<space>_<budget>.")
_FINAL_EPOCHS = flags.DEFINE_integer("final_epochs", 0, "Retrain the best model this long; 0 keeps proxy weights.")
_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "SavedModel and TFLite output; default STUDY_DIR/export.")
_TFLITE = flags.DEFINE_enum("tflite", "float", ["float", "dynamic", "int8"], "TFLite quantization.")
_VERBOSE = flags.DEFINE_integer("verbose", 1, "Keras progress output inside a trial: 0 none, 1 bar, 2 a line per epoch.")

_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}


def parse_count(flag: str, text: str) -> int:
    """Parses `220M`, `0.22G`, `2.5m`, `220000000` into a positive integer."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([kKmMgG]?)\s*", text or "")
    if not match:
        raise ValueError(f"--{flag}={text!r} is not a count: use e.g. 220M, 0.22G or 220000000")
    value = int(round(float(match.group(1)) * _UNITS[match.group(2).upper()]))
    if value <= 0:
        raise ValueError(f"--{flag} must be positive, got {text!r}")
    return value


def _human(count: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.4g}{unit}"
    return f"{count:.0f}"


def _log(message: str) -> None:
    print(message, flush=True)


def _check_flags():
    """Everything about the input that can be checked before anything is written."""
    import search_spaces  # pylint: disable=import-outside-toplevel
    from layernas_tf.space import WithCost  # pylint: disable=import-outside-toplevel

    if _SPACE.value not in search_spaces.names():
        raise ValueError(f"unknown --space={_SPACE.value!r}; valid: {', '.join(search_spaces.names())}")
    if (_MADDS.value is None) == (_PARAMS.value is None):
        raise ValueError("give exactly one budget: --madds (e.g. 220M) or --params (e.g. 2.5M)")
    if _MADDS_MIN.value is not None and _MADDS.value is None:
        raise ValueError("--madds_min bounds MAdds from below; it goes with --madds, not --params")
    cost_name = "madds" if _MADDS.value is not None else "params"
    t_max = parse_count(cost_name, _MADDS.value or _PARAMS.value)
    t_min = parse_count("madds_min", _MADDS_MIN.value) if _MADDS_MIN.value else 0
    if t_min > t_max:
        raise ValueError(f"--madds_min={_MADDS_MIN.value} is above --madds={_MADDS.value}")
    for flag, value in (("batch_size", _BATCH_SIZE.value), ("proxy_epochs", _PROXY_EPOCHS.value),
                        ("buckets", _BUCKETS.value), ("per_bucket", _PER_BUCKET.value),
                        ("max_trials", _MAX_TRIALS.value)):
        if value is not None and value < 1:
            raise ValueError(f"--{flag} must be a positive integer, got {value}")
    if _FINAL_EPOCHS.value < 0 or not _LEARNING_RATE.value > 0:
        raise ValueError("--final_epochs must be >= 0 and --learning_rate > 0")

    from layernas_tf import data  # pylint: disable=import-outside-toplevel  (imports TensorFlow)

    dataset = data.load(_DATASET.value, _DATA_DIR.value)
    image_size = _IMAGE_SIZE.value or dataset.default_image_size()
    shape = (image_size, image_size, 3)
    space = search_spaces.get(_SPACE.value, input_shape=shape, num_classes=dataset.num_classes)
    measure = space.madds if cost_name == "madds" else space.params
    space = WithCost(space, measure, cost_name)
    cheapest = space.cost(space.cheapest())
    if cheapest > t_max:
        raise ValueError(
            f"--{cost_name}={_human(t_max)} is below the cheapest network of {_SPACE.value} at "
            f"{image_size}x{image_size}: {cheapest:,} ({_human(cheapest)}) {cost_name}"
        )
    dearest = space.cost(space.dearest())
    if dearest < t_min:
        raise ValueError(f"--madds_min={_human(t_min)} is above the dearest network: {dearest:,} MAdds")
    if dearest <= t_max:
        _log(f"warning: every network of {_SPACE.value} fits --{cost_name}={_human(t_max)} "
             f"(the dearest costs {_human(dearest)}); searching anyway")

    budget = _human(t_max)
    study_dir = _STUDY_DIR.value or os.path.join("runs", f"{_SPACE.value}_{cost_name}_{budget}")
    existing = study_dir
    while not os.path.exists(existing):
        existing = os.path.dirname(os.path.abspath(existing))
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK):
        raise ValueError(f"--study_dir={study_dir} cannot be written ({existing} is not a writable directory)")
    return dataset, space, image_size, (t_min, t_max), cost_name, study_dir


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines would bury the per-trial lines
    with cli.bad_input():
        dataset, space, image_size, target, cost_name, study_dir = _check_flags()

    import keras  # pylint: disable=import-outside-toplevel
    import numpy as np  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from layernas_tf import data, distribute, export, reports, trainer  # pylint: disable=import-outside-toplevel
    from layernas_tf.algorithms import LayerNAS  # pylint: disable=import-outside-toplevel
    from layernas_tf.study import Study  # pylint: disable=import-outside-toplevel

    with cli.bad_input():
        strategy = distribute.make_strategy(_STRATEGY.value, _TPU.value)
    if _MIXED_PRECISION.value:
        tpu = isinstance(strategy, tf.distribute.TPUStrategy)
        keras.mixed_precision.set_global_policy("mixed_bfloat16" if tpu else "mixed_float16")
    keras.utils.set_random_seed(_SEED.value)

    search = LayerNAS(space, target, buckets=_BUCKETS.value, per_bucket=_PER_BUCKET.value,
                      max_trials=_MAX_TRIALS.value, seed=_SEED.value)
    config = {
        "space": space.name,
        "cost": cost_name,
        "target": list(target),
        "algorithm": search.config(),
        "dataset": dataset.name,
        "image_size": image_size,
        "num_classes": dataset.num_classes,
        "batch_size": _BATCH_SIZE.value,
        "proxy_epochs": _PROXY_EPOCHS.value,
        "learning_rate": _LEARNING_RATE.value,
    }
    with cli.bad_input():
        study = Study(study_dir, config)

    pipeline = dict(image_size=image_size, batch_size=_BATCH_SIZE.value, num_classes=dataset.num_classes)
    train_data = data.input_pipeline(dataset.train, training=True, flip=dataset.flip, seed=_SEED.value,
                                     size_hint=dataset.sizes["train"], **pipeline)
    validation_data = data.input_pipeline(dataset.validation, training=False,
                                          size_hint=dataset.sizes["validation"], **pipeline)
    steps = math.ceil(dataset.sizes["train"] / _BATCH_SIZE.value)
    proxy = trainer.TrainConfig(epochs=_PROXY_EPOCHS.value, learning_rate=_LEARNING_RATE.value,
                                verbose=_VERBOSE.value)
    bound = min(_MAX_TRIALS.value or math.inf, LayerNAS.trial_bound(space, _BUCKETS.value, _PER_BUCKET.value))
    _log(f"LayerNAS on {space.name} ({len(space)} decision points), {cost_name} in "
         f"[{_human(target[0])}, {_human(target[1])}], {dataset.name} at {image_size}x{image_size} "
         f"({dataset.sizes['train']} train / {dataset.sizes['validation']} validation images), "
         f"{distribute.describe(strategy)}; at most {bound} trials; study in {study_dir}")

    best_record = os.path.join(study_dir, "best.json")
    tensorboard_dir = os.path.join(study_dir, "tensorboard")

    def objective(trial):
        log_dir = os.path.join(tensorboard_dir, f"trial_{trial.id:04d}")
        model, metrics = trainer.train(lambda: space.build(trial.arch), train_data, validation_data, proxy,
                                       strategy, steps_per_epoch=steps, log_dir=log_dir)
        metrics["madds"] = space.madds(trial.arch)
        metrics["params"] = space.params(trial.arch)
        reports.write_hparams(log_dir, {"arch": str(trial.arch), "madds": metrics["madds"],
                                        "params": metrics["params"]}, {"reward": metrics["reward"]})
        if search.would_lead(trial.cost, metrics["reward"]):
            _keep_weights(model, study_dir, trial, best_record)
        return metrics

    study.optimize(search, objective, expected_trials=None if bound == math.inf else int(bound), log=_log)

    best = search.best()
    if best is None:
        _log("no feasible network trained successfully; nothing to export")
        sys.exit(1)
    note = " (stopped early at --max_trials)" if search.stopped_early else ""
    _log(f"\nbest architecture{note}: {best.arch}  reward {best.reward:.4f}  {cost_name} {best.cost:,.0f}\n"
         f"{space.describe(best.arch)}")

    # The final model: proxy weights of the best trial, or a longer retraining.
    keras.backend.clear_session()
    if _FINAL_EPOCHS.value:
        _log(f"retraining {best.arch} for {_FINAL_EPOCHS.value} epochs")
        final = trainer.TrainConfig(epochs=_FINAL_EPOCHS.value, learning_rate=_LEARNING_RATE.value,
                                    verbose=_VERBOSE.value)
        model, _ = trainer.train(lambda: space.build(best.arch), train_data, validation_data, final, strategy,
                                 steps_per_epoch=steps)
    else:
        saved = json.load(open(best_record)) if os.path.exists(best_record) else {}
        if saved.get("trial") == best.id:
            model = space.build(best.arch)
            model.load_weights(os.path.join(study_dir, saved["weights"]))
            trainer.compile_model(model, proxy, steps)
        else:
            _log(f"proxy weights of trial {best.id} are not in {study_dir}; training it again")
            model, _ = trainer.train(lambda: space.build(best.arch), train_data, validation_data, proxy, strategy,
                                     steps_per_epoch=steps)
    val_images, val_labels = _arrays(validation_data, limit=1000)
    evaluation = {"val_top1": float(np.mean(model.predict(val_images, verbose=0).argmax(1) == val_labels.argmax(1)))}
    if dataset.test is not None:
        test_data = data.input_pipeline(dataset.test, training=False, size_hint=dataset.sizes.get("test"), **pipeline)
        evaluation["test_top1"] = float(model.evaluate(test_data, return_dict=True, verbose=0)["top1"])

    export_dir = _EXPORT_DIR.value or os.path.join(study_dir, "export")
    representative = data.input_pipeline(dataset.train, training=False, **pipeline).unbatch().take(100)
    exported = export.export(model, export_dir, tflite=_TFLITE.value, validation=(val_images, val_labels),
                             representative=(image.numpy() for image, _ in representative),
                             madds=space.madds(best.arch))
    results = {
        "space": space.name,
        "dataset": dataset.name,
        "image_size": image_size,
        "cost": cost_name,
        "target": list(target),
        "trials": len(search.trials),
        "stopped_early": search.stopped_early,
        "best": {"trial": best.id, "arch": str(best.arch), "reward": best.reward, "madds": space.madds(best.arch),
                 "params": space.params(best.arch), "layers": space.layer_values(best.arch)},
        "final": {"epochs": _FINAL_EPOCHS.value, **evaluation},
        "exports": exported,
    }
    reports.write_json(os.path.join(study_dir, "results.json"), results)
    edges = search.layer_log[-1]["edges"] if search.layer_log else []
    reports.plot_search(os.path.join(study_dir, "search.png"), study.trials(), t_min=target[0], t_max=target[1],
                        chosen=best.id, bucket_edges=edges, cost_name=cost_name)
    lite = exported["tflite"]
    _log(f"final model: validation top-1 {evaluation['val_top1']:.4f}"
         + (f", test top-1 {evaluation['test_top1']:.4f}" if "test_top1" in evaluation else ""))
    _log(f"exported {exported['saved_model']['path']} and {lite['path']} ({lite['size_bytes']:,} bytes, "
         f"LiteRT top-1 {lite['val_top1']:.4f}, agreement {lite['top1_agreement']:.3f}, "
         f"max |diff| {lite['max_abs_diff']:.2e}{'' if lite['verified'] else ', NOT VERIFIED'})")
    _log(f"wrote {study_dir}/results.json and {study_dir}/search.png; "
         f"tensorboard --logdir={study_dir}")
    study.close()


def _keep_weights(model, study_dir: str, trial, record: str) -> None:
    """Saves the weights of the answer so far; `record` names them only once they are whole."""
    from layernas_tf import reports  # pylint: disable=import-outside-toplevel

    name = f"best_trial_{trial.id:04d}.weights.h5"
    tmp = os.path.join(study_dir, f".tmp-{name}")
    model.save_weights(tmp)
    os.replace(tmp, os.path.join(study_dir, name))
    reports.write_json(record, {"trial": trial.id, "arch": str(trial.arch), "weights": name})
    for stale in os.listdir(study_dir):
        if stale.startswith("best_trial_") and stale != name:
            os.remove(os.path.join(study_dir, stale))


def _arrays(batches, limit: int):
    """Up to `limit` examples of a batched dataset as numpy (images, one-hot labels)."""
    import numpy as np  # pylint: disable=import-outside-toplevel

    images, labels = [], []
    for x, y in batches.unbatch().take(limit):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.stack(images), np.stack(labels)


if __name__ == "__main__":
    cli.run(main)
