r"""Search a MobileNet space with LayerNAS+ (or the paper's LayerNAS, a baseline) under a budget, then export.

    python -m layernas_tf.main --space=mbv3_large --madds=220M --dataset=imagenet2012 --data_dir=gs://...

Main only reads flags into one `SearchConfig`: the runner (`runner.py`) drives
the search (`algorithms.DEFAULT` unless `--algorithm` says otherwise), an executor (`executors.py`) trains each candidate as a short proxy
(`trial.py`) scored on a validation split carved out of the training data, and
the study (`study.py`) stores every trial in `--study_dir`, so running the same
command again resumes where it stopped. Budgets are counted on the network at its
deployment size (`--deploy_image_size`). At the end the best feasible architecture
is printed, `results.json`, `front.json` and `search.png` are written to the study
directory, and the model goes to `--export_dir` as a SavedModel and a TFLite file
at the deployment size, checked with LiteRT.
"""

from __future__ import annotations

import functools
import math
import os
import re
import subprocess
import sys
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter out of the output

from absl import flags, logging  # pylint: disable=wrong-import-position

from layernas_tf import algorithms, cli, executors  # pylint: disable=wrong-import-position
from layernas_tf.trial import THREADS_ENV, WEIGHTS, SearchConfig, TrialWorker, set_threads  # pylint: disable=wrong-import-position

_SPACE = flags.DEFINE_string(
    "space", "mbv3_small", "Search space: mbv2, mbv2_140, mbv3_large, mbv3_small, nasnet, nats_sss, zoph_le.")
_NASNET_CELLS = flags.DEFINE_integer("nasnet_cells", None, "--space=nasnet: N, normal cells per stage (default 4).")
_NASNET_FILTERS = flags.DEFINE_integer(
    "nasnet_filters", None, "--space=nasnet: penultimate filters, a multiple of 96 (default 1056: NASNetMobile).")
_MADDS = flags.DEFINE_string("madds", None, "MAdds budget of the final model: 220M, 0.22G or 220000000.")
_PARAMS = flags.DEFINE_string("params", None, "Parameter budget, alone or with --madds: 2.5M, 2500000.")
_LATENCY = flags.DEFINE_string(
    "latency", None, "On-device latency budget, predicted from --latency_profile: 12ms, 0.012s or 12 (ms).")
_LATENCY_PROFILE = flags.DEFINE_string(
    "latency_profile", None, "The device's latency profile (python -m layernas_tf.latency) --latency is counted on.")
_BUCKET_BY = flags.DEFINE_enum(
    "bucket_by", None, ["madds", "params", "latency"],
    "The cost LayerNAS buckets by when several budgets are given; default: the first of --madds, --params, --latency.")
_MADDS_MIN = flags.DEFINE_string("madds_min", None, "Optional lower MAdds bound of the final model.")
_DECISIONS = flags.DEFINE_list(
    "decisions", None,
    "Search only these kinds of decision points (MobileNet spaces: width, kernel, expansion, se, skip, "
    "activation); the others keep the reference network's values. Default: all.")
_DATASET = flags.DEFINE_string(
    "dataset", "digits",
    "A tfds name (imagenet2012, cifar10, cifar100, imagenet_resized/32x32), folder:PATH "
    "(PATH/train/<class>/<image>), or digits (embedded in scikit-learn, no download).",
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data directory (default ~/tensorflow_datasets).")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", None, "Side the proxies train at; default: the dataset's.")
_DEPLOY_IMAGE_SIZE = flags.DEFINE_integer(
    "deploy_image_size", None,
    "Side of the deployed network: budgets are counted and the model exported at this size "
    "(default 224 for the MobileNet and NASNet spaces; nats_sss, zoph_le: the training size).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 128, "Global batch size, split across replicas.")
_PROXY_EPOCHS = flags.DEFINE_integer("proxy_epochs", 5, "Epochs each candidate trains before it is scored.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 0.05, "Peak learning rate (SGD, cosine decay after warm-up).")
_ALGORITHM = flags.DEFINE_enum(
    "algorithm", algorithms.DEFAULT, algorithms.names(),
    "The search: layernas_plus (LayerNAS with a reward model, see docs/algorithm.md), layernas (as the paper), "
    "or a baseline (random, evolution, reinforce, controller), which needs --max_trials.")
_BUCKETS = flags.DEFINE_integer("buckets", 10, "LayerNAS: H, cost buckets per layer.")
_PER_BUCKET = flags.DEFINE_integer("per_bucket", 1, "LayerNAS: k, candidates kept per bucket.")
_CONTROLLER_BATCH = flags.DEFINE_integer(
    "controller_batch", 1, "--algorithm=controller: networks per policy update (Zoph & Le's m)."
)
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
_EXECUTOR = flags.DEFINE_enum(
    "executor", None, executors.EXECUTORS,
    "Where trials train: serial (in this process), local (--parallel_trials worker processes), ray "
    "(Ray actors). Default: local when --parallel_trials > 1, else serial.")
_PARALLEL_TRIALS = flags.DEFINE_integer(
    "parallel_trials", None, "Trials trained at once; default: one per visible GPU, else 1.")
_GPUS_PER_TRIAL = flags.DEFINE_float("gpus_per_trial", None, "GPUs per trial (Ray: fractions share a GPU).")
_CPUS_PER_TRIAL = flags.DEFINE_float(
    "cpus_per_trial", None, "CPUs (TensorFlow threads) per trial, serial and Ray; default: an even share.")
_RAY_ADDRESS = flags.DEFINE_string(
    "ray_address", None, "Ray cluster: auto, HOST:PORT or ray://HOST:PORT; none starts a local Ray.")
_TRIAL_RETRIES = flags.DEFINE_integer("trial_retries", 1, "Times a trial whose worker died is trained again.")
_VERBOSE = flags.DEFINE_integer("verbose", 1, "Keras progress output inside a trial: 0 none, 1 bar, 2 a line per epoch.")

_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}
UNITS = {"madds": "MAdds", "params": "parameters", "latency": "latency"}


def parse_count(flag: str, text: str) -> int:
    """Parses `220M`, `0.22G`, `2.5m`, `220000000` into a positive integer."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([kKmMgG]?)\s*", text or "")
    if not match:
        raise ValueError(f"--{flag}={text!r} is not a count: use e.g. 220M, 0.22G or 220000000")
    value = int(round(float(match.group(1)) * _UNITS[match.group(2).upper()]))
    if value <= 0:
        raise ValueError(f"--{flag} must be positive, got {text!r}")
    return value


def parse_latency(text: str) -> float:
    """Parses `12ms`, `0.012s`, `12` (ms) into milliseconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|us)?\s*", text or "")
    value = float(match.group(1)) * {"ms": 1, None: 1, "s": 1000, "us": 1e-3}[match.group(2)] if match else 0
    if not value > 0:
        raise ValueError(f"--latency={text!r} is not a positive latency: use e.g. 12ms, 0.012s or 12")
    return value


def _log(message: str) -> None:
    print(message, flush=True)


def _gpu_ids() -> tuple[int, ...]:
    """GPUs this host shows, without starting TensorFlow (which would claim them in the driver)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return tuple(int(g) for g in visible.split(",") if g.strip().isdigit())
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(range(sum(line.startswith("GPU ") for line in listing.splitlines())))


def _check_flags() -> tuple[SearchConfig, Any]:
    """Everything about the input that can be checked before anything is written."""
    import search_spaces  # pylint: disable=import-outside-toplevel

    if _SPACE.value not in search_spaces.names():
        raise ValueError(f"unknown --space={_SPACE.value!r}; valid: {', '.join(search_spaces.names())}")
    given = {name: flag.value for name, flag in (("madds", _MADDS), ("params", _PARAMS), ("latency", _LATENCY))
             if flag.value is not None}
    if not given:
        raise ValueError("give a budget: --madds (e.g. 220M), --params (e.g. 2.5M), --latency (e.g. 12ms, with "
                         "--latency_profile), or several")
    if (_LATENCY.value is None) != (_LATENCY_PROFILE.value is None):
        raise ValueError("--latency and --latency_profile go together: the budget, and the device profile "
                         "(python -m layernas_tf.latency) it is predicted from")
    if _LATENCY.value is not None and _TFLITE.value != "float":
        raise ValueError(f"--latency: profiles time float TFLite models, so the answer is exported as one; "
                         f"drop --tflite={_TFLITE.value} or use --tflite=float")
    if _MADDS_MIN.value is not None and _MADDS.value is None:
        raise ValueError("--madds_min bounds MAdds from below; it goes with --madds")
    if _BUCKET_BY.value is not None and _BUCKET_BY.value not in given:
        raise ValueError(f"--bucket_by={_BUCKET_BY.value} has no budget; give --{_BUCKET_BY.value} or bucket by "
                         f"one of the budgets given: {', '.join(given)}")
    ranges = {name: (0, parse_latency(text) if name == "latency" else parse_count(name, text))
              for name, text in given.items()}
    if _MADDS_MIN.value:
        t_min = parse_count("madds_min", _MADDS_MIN.value)
        if t_min > ranges["madds"][1]:
            raise ValueError(f"--madds_min={_MADDS_MIN.value} is above --madds={_MADDS.value}")
        ranges["madds"] = (t_min, ranges["madds"][1])
    cost_name = _BUCKET_BY.value or next(iter(given))
    t_min, t_max = ranges[cost_name]
    for flag, value in (("batch_size", _BATCH_SIZE.value), ("proxy_epochs", _PROXY_EPOCHS.value),
                        ("buckets", _BUCKETS.value), ("per_bucket", _PER_BUCKET.value),
                        ("controller_batch", _CONTROLLER_BATCH.value),
                        ("max_trials", _MAX_TRIALS.value), ("parallel_trials", _PARALLEL_TRIALS.value),
                        ("deploy_image_size", _DEPLOY_IMAGE_SIZE.value)):
        if value is not None and value < 1:
            raise ValueError(f"--{flag} must be a positive integer, got {value}")
    if _FINAL_EPOCHS.value < 0 or not _LEARNING_RATE.value > 0:
        raise ValueError("--final_epochs must be >= 0 and --learning_rate > 0")
    if not algorithms.layerwise(_ALGORITHM.value) and _MAX_TRIALS.value is None:
        raise ValueError(f"--algorithm={_ALGORITHM.value} has no natural end on a space this large: give --max_trials "
                         "(layernas and layernas_plus end by themselves)")
    if _TRIAL_RETRIES.value < 0:
        raise ValueError(f"--trial_retries must be >= 0, got {_TRIAL_RETRIES.value}")
    for flag, value in (("gpus_per_trial", _GPUS_PER_TRIAL.value), ("cpus_per_trial", _CPUS_PER_TRIAL.value)):
        if value is not None and value < 0:
            raise ValueError(f"--{flag} must be >= 0, got {value}")
    if (_EXECUTOR.value == "serial" and (_PARALLEL_TRIALS.value or 1) > 1):
        raise ValueError("--executor=serial trains one trial at a time; use --executor=local or ray "
                         "for --parallel_trials > 1")
    if _EXECUTOR.value == "ray":
        executors.import_ray()
    if _RAY_ADDRESS.value and _EXECUTOR.value != "ray":
        raise ValueError("--ray_address goes with --executor=ray")

    space_options = tuple((name, flag.value) for name, flag in (("cells", _NASNET_CELLS),
                                                                 ("penultimate_filters", _NASNET_FILTERS))
                          if flag.value is not None)
    if space_options and _SPACE.value != "nasnet":
        raise ValueError(f"--nasnet_cells and --nasnet_filters size --space=nasnet, not --space={_SPACE.value}")

    if _CPUS_PER_TRIAL.value and _EXECUTOR.value in (None, "serial"):
        # Trials train in this process: its thread pools are set before TensorFlow starts them.
        os.environ[THREADS_ENV] = str(max(1, int(_CPUS_PER_TRIAL.value)))
    from layernas_tf import data  # pylint: disable=import-outside-toplevel  (imports TensorFlow)

    set_threads()
    dataset = data.load(_DATASET.value, _DATA_DIR.value)
    image_size = _IMAGE_SIZE.value or dataset.default_image_size()
    search_spaces.get(_SPACE.value, input_shape=(image_size, image_size, 3), num_classes=dataset.num_classes,
                      **dict(space_options))
    deploy = _DEPLOY_IMAGE_SIZE.value or (image_size if _SPACE.value in ("nats_sss", "zoph_le") else 224)
    budget = cli.show(cost_name, t_max)
    study_dir = _STUDY_DIR.value or os.path.join("runs", f"{_SPACE.value}_{cost_name}_{budget}")
    config = SearchConfig(
        space=_SPACE.value, cost=cost_name, target=(t_min, t_max), dataset=dataset.name,
        num_classes=dataset.num_classes, image_size=image_size, deploy_image_size=deploy,
        budgets=tuple((name, *ranges[name]) for name in ranges if name != cost_name),
        decisions=tuple(_DECISIONS.value or ()), space_options=space_options,
        batch_size=_BATCH_SIZE.value, proxy_epochs=_PROXY_EPOCHS.value, learning_rate=_LEARNING_RATE.value,
        buckets=_BUCKETS.value, per_bucket=_PER_BUCKET.value, max_trials=_MAX_TRIALS.value, seed=_SEED.value,
        data_dir=_DATA_DIR.value, strategy=_STRATEGY.value, tpu=_TPU.value,
        mixed_precision=_MIXED_PRECISION.value, verbose=_VERBOSE.value, study_dir=study_dir,
        latency_profile=_LATENCY_PROFILE.value)
    space = config.search_space()
    at = f"at {config.size_label()}"
    for name, view, low, high in [(cost_name, space, t_min, t_max)] + [(v.cost_name, v, lo, hi)
                                                                         for v, lo, hi in space.budgets]:
        cheapest = view.cost(view.cheapest())
        if cheapest > high:
            raise ValueError(
                f"--{name}={cli.show(name, high)} is below the cheapest network of {_SPACE.value} {at}: "
                + (f"{cheapest:.4g} ms" if name == "latency" else f"{cheapest:,} ({cli.human(cheapest)}) {name}")
            )
        dearest = view.cost(view.dearest())
        if dearest < low:
            raise ValueError(f"--madds_min={cli.human(low)} is above the dearest network {at}: {dearest:,} MAdds")
        if dearest <= high:
            _log(f"warning: every network of {_SPACE.value} fits --{name}={cli.show(name, high)} {at} "
                 f"(the dearest costs {cli.show(name, dearest)}); searching anyway")

    existing = study_dir
    while not os.path.exists(existing):
        existing = os.path.dirname(os.path.abspath(existing))
    if not os.path.isdir(existing) or not os.access(existing, os.W_OK):
        raise ValueError(f"--study_dir={study_dir} cannot be written ({existing} is not a writable directory)")
    return config, space, dataset


def _make_executor(config: SearchConfig):
    gpus = _gpu_ids()
    slots = _PARALLEL_TRIALS.value or max(1, len(gpus))
    kind = _EXECUTOR.value or ("local" if slots > 1 else "serial")
    factory = functools.partial(TrialWorker, config)
    if kind == "serial":
        return executors.SerialExecutor(factory)
    if kind == "local":
        return executors.LocalExecutor(factory, slots, gpus=gpus, gpus_per_trial=_GPUS_PER_TRIAL.value or 1)
    cpus = _CPUS_PER_TRIAL.value or max(1, (os.cpu_count() or 1) // slots)
    return executors.RayExecutor(factory, slots, address=_RAY_ADDRESS.value, cpus_per_trial=cpus,
                                 gpus_per_trial=_GPUS_PER_TRIAL.value or 0)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines would bury the per-trial lines
    with cli.bad_input():
        config, space, dataset = _check_flags()

    from layernas_tf import front  # pylint: disable=import-outside-toplevel
    from layernas_tf.algorithms import LayerNAS  # pylint: disable=import-outside-toplevel
    from layernas_tf.runner import Runner  # pylint: disable=import-outside-toplevel
    from layernas_tf.study import Study  # pylint: disable=import-outside-toplevel

    settings: dict[str, Any] = {"max_trials": config.max_trials, "seed": config.seed}
    if algorithms.layerwise(_ALGORITHM.value):
        settings.update(buckets=config.buckets, per_bucket=config.per_bucket)
    elif _ALGORITHM.value == "controller":
        settings.update(batch=_CONTROLLER_BATCH.value)
    search = algorithms.create(_ALGORITHM.value, space, config.target, **settings)
    with cli.bad_input():
        study = Study(config.study_dir, {**config.study_settings(), "algorithm": search.config()})
        executor = _make_executor(config)
    bound = min(config.max_trials or math.inf, search.natural_bound if isinstance(search, LayerNAS) else math.inf)
    title = algorithms.TITLES[_ALGORITHM.value]
    unit = UNITS[config.cost]
    at = f"at {config.size_label()}"
    also = "".join(f" and {UNITS[name]} in [{cli.show(name, low)}, {cli.show(name, high)}]"
                   for name, low, high in config.budgets)
    chosen = f"{len(space)} decision points" if not config.decisions else (
        f"{len(space)} decision points of kind {', '.join(config.decisions)}, the others at the reference's values")
    _log(f"{title} on {space.name} ({chosen}; {float(space.size):.3g} networks), {unit} {at} in "
         f"[{cli.show(config.cost, config.target[0])}, {cli.show(config.cost, config.target[1])}]{also}"
         f"{f' (buckets by {unit})' if isinstance(search, LayerNAS) else ''}, "
         f"proxies train on {dataset.name} at "
         f"{config.image_size}x{config.image_size} ({dataset.sizes['train']} train / "
         f"{dataset.sizes['validation']} validation images), --strategy={config.strategy}, {executor.describe()}; "
         f"at most {bound} trials; study in {config.study_dir}")

    def keep_front_weights(trial, metrics):
        """Only the front's weights can be exported later: drop the rest as results come in."""
        del trial, metrics
        kept = set(front.of_search(search))
        for t in search.trials:
            path = os.path.join(config.trial_dir(t.id), WEIGHTS)
            if t.status == "COMPLETE" and t.id not in kept and os.path.exists(path):  # trials out keep theirs
                os.remove(path)

    runner = Runner(study, search, executor, retries=_TRIAL_RETRIES.value,
                    expected_trials=None if bound == math.inf else int(bound), log=_log,
                    format_cost=lambda c: f"{unit} {cli.show(config.cost, c)} {at}", on_result=keep_front_weights)
    try:
        runner.run()
    except KeyboardInterrupt:
        executor.close()
        done = sum(row["status"] == "COMPLETE" for row in study.trials())
        study.close()
        _log(f"\ninterrupted: {done} completed trial(s) are kept in {study.path}; "
             "run the same command again to resume")
        sys.exit(130)
    except executors.WorkerSetupError as e:
        executor.close()
        study.close()
        raise cli.UsageError(f"the trial workers could not start: {e}") from None
    executor.close()
    _finish(config, space, dataset, search, study)


def _finish(config: SearchConfig, space, dataset, search, study) -> None:
    """The answer: its weights from its trial directory, evaluation, front, export, reports."""
    from layernas_tf import export, front, reports  # pylint: disable=import-outside-toplevel

    best = search.best()
    if best is None:
        _log("no feasible network trained successfully; nothing to export")
        study.close()
        sys.exit(1)
    at = f"at {config.size_label()}"
    note = " (stopped early at --max_trials)" if search.stopped_early else ""
    _log(f"\nbest architecture{note}: {best.arch}  reward {best.reward:.4f}  "
         f"{UNITS[config.cost]} {cli.show(config.cost, best.cost)} {at}\n{space.describe(best.arch)}")

    export_dir = _EXPORT_DIR.value or os.path.join(config.study_dir, "export")
    delivered = export.export_trial(config, space, dataset, best.id, str(best.arch), export_dir, tflite=_TFLITE.value,
                                    final_epochs=_FINAL_EPOCHS.value, log=_log)

    rows = study.trials()
    ids = front.of_search(search)
    by_id = {r["id"]: r for r in rows}
    latency = config.latency_predictor() if config.latency_profile else None

    def costs(row) -> dict[str, float]:
        found = {"madds": row["metrics"].get("madds"), "params": row["metrics"].get("params")}
        return {**found, "latency_ms": latency(space.parse(row["arch"]))} if latency else found

    reports.write_json(os.path.join(config.study_dir, "front.json"), [
        {"trial": i, "arch": by_id[i]["arch"], "reward": by_id[i]["reward"], "costs": costs(by_id[i]),
         "image_size": config.deploy_image_size} for i in ids])
    results = {
        "algorithm": search.name,
        "space": space.name,
        "dataset": dataset.name,
        "image_size": config.image_size,
        "deploy_image_size": config.deploy_image_size,
        "cost": config.cost,
        "target": list(config.target),
        "budgets": {config.cost: list(config.target), **{name: [low, high] for name, low, high in config.budgets}},
        "trials": len(search.trials),
        "stopped_early": search.stopped_early,
        "best": {"trial": best.id, "arch": str(best.arch), "reward": best.reward, "madds": space.madds(best.arch),
                 "params": space.params(best.arch), "layers": space.layer_values(best.arch)},
        **delivered,
    }
    if latency:
        from layernas_tf.latency import Timer  # pylint: disable=import-outside-toplevel

        with open(delivered["exports"]["tflite"]["path"], "rb") as f:
            results["measured_latency_ms"] = Timer(threads=latency.profile.threads).time_model(f.read())
        results["predicted_latency_ms"] = latency(best.arch)
        _log(f"latency of the exported model on this host: {results['measured_latency_ms']:.3f} ms measured with "
             f"LiteRT, {results['predicted_latency_ms']:.3f} ms predicted by the profile "
             f"({latency.profile.device}, {latency.profile.threads} thread(s))")
    reports.write_json(os.path.join(config.study_dir, "results.json"), results)
    layer_log = getattr(search, "layer_log", [])  # LayerNAS's layers; a baseline has none
    edges = layer_log[-1]["edges"] if layer_log else []
    reports.plot_search(os.path.join(config.study_dir, "search.png"), rows, t_min=config.target[0],
                        t_max=config.target[1], chosen=best.id, bucket_edges=edges, front=ids,
                        cost_name=f"{config.cost} at {config.size_label()}",
                        title=f"{algorithms.TITLES[search.name]} on {space.name}: {config.cost} at {config.size_label()} "
                              f"in [{cli.show(config.cost, config.target[0])}, {cli.show(config.cost, config.target[1])}]")
    _log(f"wrote {config.study_dir}/results.json, front.json ({len(ids)} networks) and search.png; "
         f"tensorboard --logdir={config.study_dir}")
    study.close()


if __name__ == "__main__":
    cli.run(main)
