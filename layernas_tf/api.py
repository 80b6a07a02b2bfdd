"""The front door: `layernas_tf.search(...)`, the whole search as one function, and what it returns.

Optuna's split: this is the facade, the loop lives elsewhere. `prepare` checks the
arguments (`SearchConfig.from_arguments`), loads the data and builds the space, and
refuses what cannot work before anything is written; `run` opens the study, starts
the executor, lets the runner (`trials.runner`) drive the algorithm to its end and
writes the reports. `python -m layernas_tf.main` is `prepare` and `run` over its
flags, so the command and a notebook run the same search, resume the same way and
write the same study.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import sqlite3
import sys
from typing import Any, Callable, Optional

import layernas_tf.quiet  # pylint: disable=unused-import,ungrouped-imports  (first: TensorFlow starts quietly)

import keras  # pylint: disable=wrong-import-order

import search_spaces
from layernas_tf.algorithms import TITLES, LayerNAS, create, layerwise
from layernas_tf.config import (TFLITE_KINDS, SearchConfig, check_feasible, check_picklable,
                                check_positive, check_study_dir, is_module_space)
from layernas_tf.reports import plot_search, write_json
from layernas_tf.core import front
from layernas_tf.core.space import SearchSpace
from layernas_tf.core.status import COMPLETE
from layernas_tf.core.units import UNITS, label, show
from layernas_tf.cost.latency_timing import Timer
from layernas_tf.deploy import trial_export
from layernas_tf.deploy.final_training import plan_of as final_training_plan, run_plan as run_final_training
from layernas_tf.training import data, distribute
from layernas_tf.training.worker import TrialWorker
from layernas_tf.trials import executors, stopping
from layernas_tf.trials.artefacts import THREADS_ENV, WEIGHTS, Pruner, load_weights, trial_dir
from layernas_tf.trials.runner import Runner
from layernas_tf.trials.study import Study, read as read_study, read_settings

Log = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


@dataclasses.dataclass
class Prepared:
    """A checked search, ready to run: its config (every setting resolved), its space, its data and the GPUs its
    trials share out."""

    config: SearchConfig
    space: SearchSpace
    dataset: data.Dataset
    gpus: tuple[int, ...]


def _data_source(dataset: Any, executor: Optional[str], example_shape: Optional[tuple]) -> tuple[str, Any]:
    """(the name the study records, the user's data behind it or None)."""
    if isinstance(dataset, str):
        return dataset, None
    if callable(dataset):
        if executor in ("local", "ray"):
            check_picklable("dataset", dataset)
        return data.source_name(dataset), dataset
    splits = data.as_splits(dataset, example_shape)
    return data.source_name(splits), splits


def prepare(log: Log = _print, **arguments) -> Prepared:
    """Checks every argument, loads the data and builds the space: everything but running.

    Takes `search()`'s arguments. Nothing is written.

    Raises:
      ValueError: a bad argument, naming it (`name=value`) and what is valid.
    """
    executors.check_not_in_worker("layernas_tf.search()")
    cfg = SearchConfig.from_arguments(**arguments)
    if cfg.executor == "ray":
        executors.import_ray()
    if cfg.cpus_per_trial and cfg.executor in (None, "serial") and cfg.workers_per_trial == 1:
        # Trials train in this process: its thread pools are sized before TensorFlow starts them.
        os.environ[THREADS_ENV] = str(max(1, int(cfg.cpus_per_trial)))
    distribute.set_threads()
    name, source = _data_source(cfg.dataset, cfg.executor, cfg.input_shape)
    dataset = data.load(name, cfg.data_dir, source=source, num_classes=cfg.num_classes,
                        train_examples=cfg.train_examples, example_shape=cfg.input_shape)
    warning = data.scoring_warning(dataset)
    if warning:
        log(f"warning: {warning}")
    # Examples that are not images keep their own shape: no image side to train or deploy at.
    image_size = None if cfg.input_shape else cfg.image_size or dataset.default_image_size()
    space = cfg.space
    registered = isinstance(space, str) and not is_module_space(space)
    if registered:  # built once at the training size: a space says here when that is too small
        search_spaces.get(space, input_shape=(image_size, image_size, 3), num_classes=dataset.num_classes,
                          **dict(cfg.space_options))
    at_training_size = not registered or space in ("nats_sss", "zoph_le", "tiny_cnn")
    gpus = executors.visible_gpus()
    slots = cfg.parallel_trials or max(1, len(gpus))
    cfg = dataclasses.replace(
        cfg, dataset=dataset.name, data_source=source, num_classes=dataset.num_classes, image_size=image_size,
        deploy_image_size=cfg.deploy_image_size or (image_size if at_training_size or cfg.input_shape else 224),
        study_dir=cfg.resolved_study_dir(),
        executor=cfg.executor or ("local" if slots > 1 or cfg.workers_per_trial > 1 else "serial"),
        parallel_trials=slots, labelled_progress=slots > 1, learning_rate=float(cfg.learning_rate))
    searched = cfg.search_space()
    check_feasible(cfg, searched, log)
    check_study_dir(cfg.study_dir)
    return Prepared(cfg, searched, dataset, gpus)


def make_executor(prepared: Prepared) -> executors.Executor:
    """The executor `prepared` asks for, its workers each making a `TrialWorker` of the config."""
    cfg = prepared.config
    factory = functools.partial(TrialWorker, cfg)
    slots = cfg.parallel_trials
    if cfg.executor == "serial":
        return executors.SerialExecutor(factory)
    if cfg.executor == "local":
        group = cfg.workers_per_trial
        return executors.LocalExecutor(factory, slots, gpus=prepared.gpus,
                                       gpus_per_trial=cfg.gpus_per_trial or 1, workers_per_trial=group,
                                       cpus=int(cfg.cpus_per_trial * slots) if cfg.cpus_per_trial else None,
                                       memory_growth_mb=cfg.worker_memory_growth)
    cpus = cfg.cpus_per_trial or max(1, (os.cpu_count() or 1) // slots)
    return executors.RayExecutor(factory, slots, address=cfg.ray_address, cpus_per_trial=cpus,
                                 gpus_per_trial=cfg.gpus_per_trial or 0, workers_per_trial=cfg.workers_per_trial,
                                 memory_growth_mb=cfg.worker_memory_growth)


@dataclasses.dataclass
class SearchResult:
    """What a search found.

    Attributes:
      best: the answer, or None when no feasible network trained: {"trial", "arch",
        "reward", "costs": {"madds", "params"[, "latency_ms"]} at the deployment
        size, "image_size" (that size), "layers" (each searched point's value)}.
      front: every completed feasible trial no other beats on both cost and reward,
        cheapest first, as `best` without "layers". With `rung_epochs`, only trials
        trained to the full proxy compete, and both carry "epochs" and "full_fidelity".
      study_dir: where the study lives (run the same search again to resume it).
      trials: trials recorded; stopped_early: whether `max_trials` ended the search.
      exports: what `export()` wrote and checked, once it ran.
    """

    best: Optional[dict[str, Any]]
    front: list[dict[str, Any]]
    study_dir: str
    trials: int
    stopped_early: bool
    config: SearchConfig
    exports: Optional[dict[str, Any]] = None
    _space: Any = dataclasses.field(default=None, repr=False)
    _dataset: Any = dataclasses.field(default=None, repr=False)
    _results: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    def _answer(self) -> dict[str, Any]:
        if self.best is None:
            raise ValueError(f"the search in {self.study_dir} found no feasible network: there is nothing to deploy")
        return self.best

    def model(self) -> keras.Model:
        """The answer as a Keras model at the deployment size, with the weights its trial trained."""
        best = self._answer()
        path = os.path.join(trial_dir(self.study_dir, best["trial"]), WEIGHTS)
        if not os.path.exists(path):
            raise ValueError(f"the weights of trial {best['trial']} are not in {os.path.dirname(path)}; "
                             "export() trains the network again")
        model = self._space.build(self._space.parse(best["arch"]), input_shape=self.config.deploy_shape())
        load_weights(model, path)
        return model

    def train(self, *, trial: Optional[int] = None, epochs: int = 30, log: Log = _print,
              **recipe: Any) -> dict[str, Any]:
        """The final training of the answer (or `trial`) with a full recipe, then its export, checked with LiteRT:
        what `python -m layernas_tf.train` does (its flags as keyword arguments: optimizer, learning_rate,
        warmup_epochs, label_smoothing, weight_decay, dropout, ema, augment, batch_size, mixed_precision,
        steps_per_execution, tflite, export_dir, verbose), on the search's strategy (a multi-worker cluster
        needs the command: this process has started TensorFlow already).
        Its state and `final.json` are in STUDY_DIR/final/trial_ID; run again, a preempted training resumes."""
        recipe.setdefault("verbose", self.config.verbose)
        checked = final_training_plan(self.config, self._space, read_study(self.study_dir)[1],
                                      trial=self._answer()["trial"] if trial is None else trial, epochs=epochs,
                                      **recipe)
        return run_final_training(checked, log=log)

    def export(self, export_dir: Optional[str] = None, *, tflite: str = "float", final_epochs: int = 0,
               log: Log = _print) -> dict[str, Any]:
        """Writes the answer as a SavedModel and a TFLite file at the deployment size, checked with LiteRT.

        The same export and checks as the command's: float TFLite must agree with Keras
        within 1e-4, int8 on at least 95% of top-1 answers (`verified`). Updates
        `results.json`.

        Args:
          export_dir: default STUDY_DIR/export.
          tflite: "float", "dynamic" or "int8".
          final_epochs: retrain the answer this long at the deployment size first
            (0 keeps its proxy weights).

        Returns:
          {"final": its evaluation, "exports": {"saved_model": ..., "tflite": ...}}.
        """
        best = self._answer()
        if tflite not in TFLITE_KINDS:
            raise ValueError(f"unknown tflite={tflite!r}; valid: {', '.join(TFLITE_KINDS)}")
        if self.config.latency_profile and tflite != "float":
            raise ValueError("a latency search exports float TFLite: profiles time float models")
        check_positive("final_epochs", final_epochs, allow_zero=True)
        export_dir = export_dir or os.path.join(self.study_dir, "export")
        delivered = trial_export.export_trial(self.config, self._space, self._dataset, best["trial"], best["arch"],
                                              export_dir, tflite=tflite, final_epochs=final_epochs, log=log)
        if self.config.latency_profile:
            predict = self.config.latency_predictor()
            with open(delivered["exports"]["tflite"]["path"], "rb") as f:
                delivered["measured_latency_ms"] = Timer(threads=predict.profile.threads).time_model(f.read())
            delivered["predicted_latency_ms"] = predict(self._space.parse(best["arch"]))
            log(f"latency of the exported model on this host: {delivered['measured_latency_ms']:.3f} ms measured "
                f"with LiteRT, {delivered['predicted_latency_ms']:.3f} ms predicted by the profile "
                f"({predict.profile.device}, {predict.profile.threads} thread(s))")
        self.exports = delivered
        self._results.update(delivered)
        write_json(os.path.join(self.study_dir, "results.json"), self._results)
        return delivered


def search(*, export: bool = False, log: Log = _print, **arguments) -> SearchResult:
    """Searches a space for the most accurate network under a budget, trains each candidate as a proxy.

    Every argument of `python -m layernas_tf.main` is a keyword, named as its flag:
    `space` (a name or a `SearchSpace`), the budgets `madds`, `params`, `latency`
    (numbers, or as written: "220M", "2.5M", "12ms"; `latency_profile` with
    `latency`), `bucket_by`, `madds_min`, `decisions`; the data `dataset` (a tfds
    name, "folder:PATH", "digits", numpy arrays `(x, y)` or `{"train": (x, y),
    "validation": ..., "test": ...}`, or a picklable function returning
    `{"train": tf.data.Dataset, ...}` of (image, label) pairs, which every
    executor's workers call), `data_dir`, `num_classes` (for a function; default:
    its largest label + 1), `image_size`, `deploy_image_size`; training
    `batch_size`, `proxy_epochs`, `learning_rate`, `train_examples`, `strategy`,
    `tpu`, `mixed_precision`, `steps_per_execution`; the search `algorithm`, `buckets`, `per_bucket`,
    `rung_epochs`, `rung_factor`, `controller_batch`, `max_trials`, `seed`; where
    it runs `executor` ("serial", "local", "ray"), `parallel_trials`,
    `workers_per_trial`, `gpus_per_trial`,
    `cpus_per_trial`, `ray_address`, `trial_retries`, `worker_memory_growth`, `verbose`,
    `study_dir`; and `final_epochs`, `export_dir`, `tflite` for `export=True`. Defaults are the
    command's (`SearchConfig`'s public fields, `docs/flags.md`).

    Run again with the same arguments, it resumes the study in `study_dir`:
    completed trials are never trained again. SIGTERM and Ctrl-C stop it cleanly
    (the study resumes), raising `KeyboardInterrupt`.

    Example (three trials of the NATS-Bench size space on the embedded digits):

        import layernas_tf

        result = layernas_tf.search(space="nats_sss", dataset="digits", madds="40M", image_size=16,
                                    proxy_epochs=1, batch_size=64, max_trials=3, verbose=0,
                                    study_dir="runs/example")
        print(result.best["arch"], result.best["reward"], result.best["costs"])
        exported = result.export(tflite="float")   # SavedModel + TFLite, checked with LiteRT
        model = result.model()                     # the Keras model with its trained weights

    Args:
      export: export the answer at the end, as the command does (`final_epochs`,
        `export_dir`, `tflite`); otherwise call `result.export()`.
      log: where the progress lines go (default: printed).

    Raises:
      ValueError: a bad argument, before anything is written.
    """
    return run(prepare(log=log, **arguments), export=export, log=log)


def _header(prepared: Prepared, search_algorithm, executor: executors.Executor, bound: float) -> str:
    cfg, space, dataset = prepared.config, prepared.space, prepared.dataset
    unit = UNITS[cfg.cost]
    at = f"at {cfg.size_label()}"
    also = "".join(f" and {UNITS[name]} in [{show(name, low)}, {show(name, high)}]" for name, low, high in cfg.budgets)
    chosen = f"{len(space)} decision points" if not cfg.decisions else (
        f"{len(space)} decision points of kind {', '.join(cfg.decisions)}, the others at the reference's values")
    return (f"{TITLES[cfg.algorithm]} on {space.name} ({chosen}; {float(space.size):.3g} networks), {unit} "
            f"{at} in [{show(cfg.cost, cfg.target[0])}, {show(cfg.cost, cfg.target[1])}]{also}"
            f"{f' (buckets by {unit})' if isinstance(search_algorithm, LayerNAS) else ''}, "
            f"proxies train on {dataset.name} at {cfg.size_label(cfg.image_size)} ({dataset.sizes['train']} train"
            f"{' (a fixed, class-balanced part)' if cfg.train_examples is not None else ''} / "
            f"{dataset.sizes['validation']} validation {'images' if dataset.images else 'examples'})"
            f"{_training_note(cfg)}"
            f", --strategy={cfg.strategy}, {executor.describe()}; "
            f"at most {bound} trials; study in {cfg.study_dir}")


def _training_note(cfg: SearchConfig) -> str:
    """How a network trains when not simply the whole proxy from scratch: inherited, or ranked at rungs."""
    if cfg.inherit:
        return (f", a network with a parent candidate starts from its weights and trains "
                f"{cfg.inherited_epochs()} of the {cfg.proxy_epochs} epochs")
    if not cfg.rung_epochs:
        return ""
    rungs = cfg.rungs()
    shown = ", ".join(str(e) for e in rungs[:-1]) + f" and {rungs[-1]}"
    return f", children ranked at {shown} epochs (1/{cfg.rung_factor} of a bucket go on)"


def _algorithm(prepared: Prepared):
    cfg = prepared.config
    settings: dict[str, Any] = {"max_trials": cfg.max_trials, "seed": cfg.seed}
    if layerwise(cfg.algorithm):
        settings.update(buckets=cfg.buckets, per_bucket=cfg.per_bucket)
    if cfg.inherit:
        settings.update(inherit=True)
    if cfg.rung_epochs:
        settings.update(rungs=cfg.rungs(), rung_factor=cfg.rung_factor)
    elif cfg.algorithm == "controller":
        settings.update(batch=cfg.controller_batch)
    return create(cfg.algorithm, prepared.space, cfg.target, saved=_saved_algorithm(cfg.study_dir), **settings)


def _saved_algorithm(study_dir: str) -> Optional[dict]:
    """The algorithm settings of the search `study_dir` holds, if any (a resume keeps its tuned settings)."""
    try:
        return read_settings(study_dir).get("algorithm")
    except ValueError:  # no study yet, or none readable: `Study` says which when it opens the directory
        return None


def run(prepared: Prepared, *, export: bool = False, log: Log = _print) -> SearchResult:
    """Runs a prepared search to its end (or resumes it) and writes its reports.

    Raises:
      ValueError: the study directory is held by another search or holds another one.
      executors.WorkerSetupError: the workers could not start training at all.
      executors.DiskFull: the disk filled up; the study resumes once there is room.
      KeyboardInterrupt: Ctrl-C or SIGTERM (`stopping.Stopped`); the study is closed and resumes.
      runner.NoSignal: the first networks all scored the same reward (`no_signal_trials`); the study is kept.
    """
    cfg = prepared.config
    search_algorithm = _algorithm(prepared)
    study = Study(cfg.study_dir, {**cfg.study_settings(), "algorithm": search_algorithm.config()})
    executor = None
    default_hook = sys.unraisablehook

    def quiet_when_disk_full(unraisable):
        """h5py objects whose writes failed complain from their destructors, a traceback each; the full disk is
        said once, by the search."""
        if not executors.disk_full(unraisable.exc_value):
            default_hook(unraisable)

    sys.unraisablehook = quiet_when_disk_full
    finished = False
    try:
        with stopping.sigterm_stops():
            executor = make_executor(prepared)
            natural = search_algorithm.natural_bound if isinstance(search_algorithm, LayerNAS) else math.inf
            bound = min(cfg.max_trials or math.inf, natural)
            log(_header(prepared, search_algorithm, executor, bound))

            at = f"at {cfg.size_label()}"
            Runner(study, search_algorithm, executor, retries=cfg.trial_retries,
                   expected_trials=None if bound == math.inf else int(bound), log=log,
                   format_cost=lambda c: f"{label(cfg.cost, c)} {at}",
                   on_result=Pruner(cfg.study_dir, search_algorithm),
                   no_signal_trials=cfg.no_signal_trials).run()
            finished = True
    except KeyboardInterrupt:
        log(f"\ninterrupted: {_completed(study)} completed trial(s) are kept in {study.path}; "
            "run the same command again to resume")
        raise
    except Exception as e:  # pylint: disable=broad-except  (the disk's words come from many layers)
        if executors.disk_full(e):
            raise executors.DiskFull(f"the disk holding {cfg.study_dir} is full ({e}); {_completed(study)} "
                                     f"completed trial(s) are kept in {study.path}: free some space and run the "
                                     "same command again to resume") from None
        raise
    finally:  # however the loop ended: its workers stop, and a study that will not be reported on is closed
        sys.unraisablehook = default_hook
        if executor is not None:
            executor.close()
        if not finished:
            study.close()
    try:
        return _finish(prepared, search_algorithm, study, export=export, log=log)
    except Exception as e:  # pylint: disable=broad-except  (the reports and the export write through renames)
        if executors.disk_full(e):
            raise executors.DiskFull(f"the disk holding {cfg.study_dir} is full ({e}): the search finished and its "
                                     f"trials are kept in {study.path}; free some space and run the same command "
                                     "again to write its reports") from None
        raise
    finally:
        study.close()


def _completed(study: Study) -> str:
    """How many trials a stopped study keeps, as the stop's last line says it ("the" when even that cannot be read:
    a full disk)."""
    try:
        return str(sum(row["status"] == COMPLETE for row in study.trials()))
    except sqlite3.Error:
        return "the"


def _costs(cfg: SearchConfig, space: SearchSpace, arch: str, latency) -> dict[str, float]:
    architecture = space.parse(arch)
    costs = {"madds": space.madds(architecture), "params": space.params(architecture)}
    return {**costs, "latency_ms": latency(architecture)} if latency else costs


def epochs_trained(rows: list[dict[str, Any]]) -> int:
    """Epochs the study's trials trained, counted from their records (every rung of a multi-fidelity search)."""
    total = 0
    for row in rows:
        if "rungs" in row:
            total += sum(r["epochs_trained"] or 0 for r in row["rungs"])
        elif row["status"] == COMPLETE:
            total += row["metrics"].get("epochs_trained") or 0
    return total


def _rung_summary(cfg: SearchConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Which rewards are full-fidelity: how many trials stopped at each rung, and which ones."""
    stopped: dict[int, list[int]] = {epochs: [] for epochs in cfg.rungs()}
    for row in rows:
        if row["status"] == COMPLETE and row.get("rungs"):
            stopped[row["rungs"][-1]["epochs"]].append(row["id"])
    return {"epochs": list(cfg.rungs()), "factor": cfg.rung_factor, "full_fidelity_epochs": cfg.proxy_epochs,
            "trials_stopped_at": {str(e): ids for e, ids in stopped.items()}}


def _finish(prepared: Prepared, search_algorithm, study: Study, *, export: bool, log: Log) -> SearchResult:
    """The answer, the front, the reports; with `export`, the answer exported first, as the command does."""
    cfg, space = prepared.config, prepared.space
    best = search_algorithm.best()
    rows = study.trials()
    ids = front.of_search(search_algorithm)
    by_id = {r["id"]: r for r in rows}
    latency = cfg.latency_predictor() if cfg.latency_profile else None
    fidelity = {"epochs": cfg.proxy_epochs, "full_fidelity": True} if cfg.rung_epochs else {}
    entries = [{"trial": i, "arch": by_id[i]["arch"], "reward": by_id[i]["reward"],
                "costs": _costs(cfg, space, by_id[i]["arch"], latency), "image_size": cfg.deploy_image_size,
                **fidelity} for i in ids]
    answer = None
    if best is not None:
        answer = {"trial": best.id, "arch": str(best.arch), "reward": best.reward,
                  "costs": _costs(cfg, space, str(best.arch), latency), "image_size": cfg.deploy_image_size,
                  "layers": space.layer_values(best.arch), **fidelity}
    result = SearchResult(answer, entries, cfg.study_dir, len(search_algorithm.trials),
                          search_algorithm.stopped_early, cfg, _space=space, _dataset=prepared.dataset)
    if best is None:
        log("no feasible network trained successfully; nothing to export")
        return result
    at = f"at {cfg.size_label()}"
    note = " (stopped early at max_trials)" if search_algorithm.stopped_early else ""
    log(f"\nbest architecture{note}: {best.arch}  reward {best.reward:.4f}  {label(cfg.cost, best.cost)} {at}\n"
        f"{space.describe(best.arch)}")
    result._results.update({  # pylint: disable=protected-access
        "algorithm": search_algorithm.name, "space": space.name, "dataset": prepared.dataset.name,
        "image_size": cfg.image_size, "deploy_image_size": cfg.deploy_image_size, "cost": cfg.cost,
        "target": list(cfg.target),
        "budgets": {cfg.cost: list(cfg.target), **{name: [low, high] for name, low, high in cfg.budgets}},
        "trials": result.trials, "stopped_early": result.stopped_early,
        "best": {"trial": best.id, "arch": str(best.arch), "reward": best.reward, **answer["costs"],
                 "layers": answer["layers"], **fidelity},
        "epochs_trained": epochs_trained(rows),
        "tflite": cfg.tflite,  # the kind the final training exports too, unless told otherwise
    })
    if cfg.rung_epochs:
        result._results["rungs"] = _rung_summary(cfg, rows)  # pylint: disable=protected-access
    if cfg.inherit:  # the answer's reward is after its inherited training: say from which trial, and how long
        result._results["inherit"] = {  # pylint: disable=protected-access
            "epochs": cfg.inherited_epochs(), "answer_inherited_from": best.parent,
            "trials_inherited": sum(t.parent is not None for t in search_algorithm.trials)}
    write_json(os.path.join(cfg.study_dir, "front.json"), entries)
    layer_log = search_algorithm.layer_log  # LayerNAS's layers; a baseline has none
    plot_search(os.path.join(cfg.study_dir, "search.png"), rows, t_min=cfg.target[0], t_max=cfg.target[1],
                        chosen=best.id, bucket_edges=layer_log[-1]["edges"] if layer_log else [], front=ids,
                        cost_name=f"{UNITS[cfg.cost]} at {cfg.size_label()}",
                        format_cost=lambda value, _: show(cfg.cost, value),
                        title=f"{TITLES[search_algorithm.name]} on {space.name}: {UNITS[cfg.cost]} at "
                              f"{cfg.size_label()} in [{show(cfg.cost, cfg.target[0])}, "
                              f"{show(cfg.cost, cfg.target[1])}]")
    if export:
        result.export(prepared.config.export_dir, tflite=prepared.config.tflite,
                      final_epochs=prepared.config.final_epochs, log=log)
    else:
        write_json(os.path.join(cfg.study_dir, "results.json"), result._results)  # pylint: disable=protected-access
    log(f"wrote {cfg.study_dir}/results.json, front.json ({len(ids)} networks) and search.png; "
        f"tensorboard --logdir={cfg.study_dir}")
    return result
