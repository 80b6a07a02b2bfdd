"""The final training of a searched network, as a library: its recipe checked, its plan, the training and export.

`python -m layernas_tf.train` (the command) and `SearchResult.train` (a notebook's
search) both run a `Plan`: `plan` finds the trial in a study (the command's case),
`plan_of` takes a config and space already at hand (the user's own space and data,
which a study does not hold). What a plan does: train the trial at the deployment
size with the recipe (resuming a preempted training from its last epoch), export it
as SavedModel and TFLite checked with LiteRT, and write `final.json`. Imports
TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Optional

import tensorflow as tf

from layernas_tf.config import STRATEGIES, TFLITE_KINDS, SearchConfig, check_positive, check_steps_per_execution
from layernas_tf.core import front
from layernas_tf.core.status import COMPLETE
from layernas_tf.deploy.trial_export import export_trial
from layernas_tf.reports import check_writable, write_json
from layernas_tf.training import data, distribute
from layernas_tf.training.trainer import OPTIMIZERS, TrainConfig, set_dropout
from layernas_tf.trials import study
from layernas_tf.trials.artefacts import STUDY_DB

AUGMENTS = ("none", "randaugment")
FINAL_DIR = "final"


def answer(config: SearchConfig, space, rows: list[dict]) -> dict:
    """The search's answer (`core.front.answer`: completed, full fidelity, within every budget), as its study row."""
    chosen = front.answer(config.records(rows), config.within(space))
    if chosen is None:
        raise ValueError(f"study_dir={config.study_dir} has no completed network at full fidelity within its budget")
    return next(r for r in rows if r["id"] == chosen.id)


@dataclasses.dataclass
class Plan:
    """A checked final training: the study's settings, the trial, the recipe and where its files go."""

    config: SearchConfig
    space: Any
    row: dict
    recipe: TrainConfig
    batch_size: Optional[int]
    augment: str
    tflite: str
    work_dir: str
    export_dir: str


def final_training(study_dir: str, *, log: Callable[[str], None] = print, **recipe: Any) -> dict[str, Any]:
    """Trains a trial of the study (default: its answer) with the recipe (`plan()`'s arguments), exports it;
    returns what it writes to `final.json`."""
    return run_plan(plan(study_dir, **recipe), log=log)


# The recipe's settings and their defaults: the command's flags and `SearchResult.train`'s keywords.
RECIPE: dict[str, Any] = dict(epochs=30, optimizer="sgd", learning_rate=None, warmup_epochs=None,
                              label_smoothing=0.1, weight_decay=4e-5, ema=0.0, augment="none", batch_size=None,
                              dropout=None, mixed_precision=False, steps_per_execution=1, tflite=None)


def plan(study_dir: str, *, trial: Optional[int] = None, strategy: Optional[str] = None, tpu: Optional[str] = None,
         data_dir: Optional[str] = None, export_dir: Optional[str] = None, verbose: int = 1, **recipe: Any) -> Plan:
    """Checks the recipe (`RECIPE`'s settings) and finds the trial in the study; nothing is trained or written.

    Raises:
      ValueError: a bad argument, no study in `study_dir`, or a trial that did not complete.
    """
    if (strategy or "auto") not in STRATEGIES:
        raise ValueError(f"unknown strategy={strategy!r}; valid: {', '.join(STRATEGIES)}")
    check_recipe(recipe, strategy)  # before the study is read: a bad flag is named first
    if not os.path.isfile(os.path.join(study_dir, STUDY_DB)):
        raise ValueError(f"study_dir={study_dir} holds no study ({STUDY_DB}): give the directory a search wrote")
    settings, rows = study.read(study_dir)
    config = SearchConfig.from_study(settings, study_dir=study_dir, data_dir=data_dir, verbose=verbose, tpu=tpu,
                                     tflite=searched_tflite(study_dir), **({"strategy": strategy} if strategy else {}))
    return plan_of(config, config.search_space(), rows, trial=trial, export_dir=export_dir, verbose=verbose,
                   **recipe)


def searched_tflite(study_dir: str) -> str:
    """The TFLite kind the search exported its answer as (`results.json`), so that the final training's export
    is of the same kind unless told otherwise; float for a search that has not finished."""
    try:
        with open(os.path.join(study_dir, "results.json"), encoding="utf-8") as f:
            kind = json.load(f).get("tflite", "float")
    except (OSError, ValueError, AttributeError):
        return "float"
    return kind if kind in TFLITE_KINDS else "float"


def check_recipe(recipe: dict[str, Any], strategy: Optional[str] = None) -> dict[str, Any]:
    """The recipe with `RECIPE`'s defaults filled in; ValueError naming the first unknown or bad setting,
    or one that `strategy` cannot run."""
    unknown = sorted(set(recipe) - set(RECIPE))
    if unknown:
        raise ValueError(f"unknown recipe argument(s) {', '.join(unknown)}; valid: {', '.join(sorted(RECIPE))}")
    r = {**RECIPE, **recipe}
    check_positive("epochs", r["epochs"])
    check_positive("learning_rate", r["learning_rate"], float)
    check_positive("warmup_epochs", r["warmup_epochs"], float, allow_zero=True)
    check_positive("label_smoothing", r["label_smoothing"], float, allow_zero=True)
    check_positive("weight_decay", r["weight_decay"], float, allow_zero=True)
    check_positive("batch_size", r["batch_size"])
    check_positive("steps_per_execution", r["steps_per_execution"])
    if not isinstance(r["mixed_precision"], bool):
        raise ValueError(f"mixed_precision={r['mixed_precision']!r} is not True or False")
    for name, valid in (("optimizer", OPTIMIZERS), ("augment", AUGMENTS), ("tflite", TFLITE_KINDS)):
        if r[name] not in valid and not (name == "tflite" and r[name] is None):  # tflite None: the search's
            raise ValueError(f"unknown {name}={r[name]!r}; valid: {', '.join(valid)}")
    if r["dropout"] is not None and not (isinstance(r["dropout"], (int, float)) and 0 <= r["dropout"] < 1):
        raise ValueError(f"dropout={r['dropout']} is not in [0, 1): the rate of the network's dropout layers")
    if not 0 <= r["ema"] < 1:
        raise ValueError(f"ema={r['ema']} is not in [0, 1): the moving average's momentum (0: none)")
    if r["warmup_epochs"] is not None and r["warmup_epochs"] >= r["epochs"]:
        raise ValueError(f"warmup_epochs={r['warmup_epochs']} is not below epochs={r['epochs']}")
    if strategy == "multi_worker":
        check_steps_per_execution(r["steps_per_execution"])
    return r


def plan_of(config: SearchConfig, space, rows: list[dict], *, trial: Optional[int] = None,
            export_dir: Optional[str] = None, verbose: int = 1, **recipe: Any) -> Plan:
    """The plan for a search's config, space and trials at hand (`SearchResult.train`: the user's own space and
    data included, which a study does not hold): `trial` (default: the answer) trained with the recipe.
    """
    chosen = check_recipe(recipe, config.strategy)
    study_dir = config.study_dir
    if trial is None:
        row = answer(config, space, rows)
    else:
        row = next((r for r in rows if r["id"] == trial), None)
        if row is None or row["status"] != COMPLETE:
            state = f" (it is {row['status']})" if row else " (no such trial)"
            done = ", ".join(str(r["id"]) for r in rows if r["status"] == COMPLETE)
            raise ValueError(f"trial={trial}{state}: choose a completed trial of {study_dir}: {done or 'none yet'}")
    if config.strategy == "multi_worker":
        workers = len(distribute.cluster()[0])  # TF_CONFIG, checked before the cluster meets
        batch = chosen["batch_size"] or config.batch_size
        if batch % workers:
            raise ValueError(f"batch_size={batch} is the global batch: it must split evenly among TF_CONFIG's "
                             f"{workers} workers")
    if chosen["augment"] != "none" and config.input_shape is not None:
        raise ValueError(f"augment={chosen['augment']} augments images; this search's examples (shape "
                         f"{config.input_shape}) are not images: use augment=none")
    if chosen["dropout"] is not None:  # a network without a dropout layer is refused now, not after the data loads
        set_dropout(space.build(space.parse(row["arch"])), chosen["dropout"])
    work_dir = os.path.join(study_dir, FINAL_DIR, f"trial_{row['id']:04d}")
    check_writable("export_dir", export_dir or work_dir)
    epochs = chosen["epochs"]
    warmup = chosen["warmup_epochs"] if chosen["warmup_epochs"] is not None else 0.1 * epochs
    train_config = TrainConfig(epochs=epochs, learning_rate=chosen["learning_rate"] or config.learning_rate,
                               weight_decay=chosen["weight_decay"], label_smoothing=chosen["label_smoothing"],
                               warmup_fraction=warmup / epochs, verbose=verbose, optimizer=chosen["optimizer"],
                               ema=chosen["ema"], dropout=chosen["dropout"], mixed_precision=chosen["mixed_precision"],
                               steps_per_execution=chosen["steps_per_execution"])
    return Plan(config, space, row, train_config, chosen["batch_size"], chosen["augment"],
                chosen["tflite"] or config.tflite,
                work_dir, export_dir or os.path.join(work_dir, "export"))


def run_plan(checked: Plan, log: Callable[[str], None] = print,
             strategy: Optional[tf.distribute.Strategy] = None) -> dict[str, Any]:
    """Trains (resuming a preempted training from its last epoch), exports and writes `final.json`.

    Args:
      strategy: the config's, made already (the command makes it first, so that a
        cluster that does not meet is bad input); default: made here.
    """
    config, row, recipe, work_dir = checked.config, checked.row, checked.recipe, checked.work_dir
    epochs, optimizer, ema, augment = recipe.epochs, recipe.optimizer, recipe.ema, checked.augment
    strategy = strategy or distribute.make_strategy(config.strategy, config.tpu)
    dataset = data.load(config.dataset, config.data_dir, source=config.data_source, num_classes=config.num_classes,
                        example_shape=config.input_shape)
    policy = distribute.precision_policy(recipe.mixed_precision, strategy)
    log(f"final training of trial {row['id']} ({row['arch']}, proxy reward {row['reward']:.4f}) for {epochs} epochs "
        f"at {config.size_label()}: {optimizer}, learning rate {recipe.learning_rate:g} with "
        f"{recipe.warmup_fraction * epochs:g} warm-up epoch(s) then cosine decay, label smoothing "
        f"{recipe.label_smoothing:g}"
        f"{f', EMA {ema:g}' if ema else ''}{', RandAugment' if augment == 'randaugment' else ''}, "
        f"{distribute.describe(strategy)}{f', {policy}' if recipe.mixed_precision else ''}"
        f"{f', {recipe.steps_per_execution} steps per execution' if recipe.steps_per_execution > 1 else ''}; "
        f"state in {work_dir}")
    delivered = export_trial(config, checked.space, dataset, row["id"], row["arch"], checked.export_dir,
                             tflite=checked.tflite, recipe=recipe, batch_size=checked.batch_size,
                             randaugment=augment == "randaugment", work_dir=work_dir, log=log, strategy=strategy)
    member = distribute.worker_index(strategy)
    if member:  # a worker of a cluster other than its chief: the chief exports and reports
        log(f"worker {member} of the cluster has trained its share; worker 0 exports and writes final.json")
        return delivered
    report = {"trial": row["id"], "arch": row["arch"], "proxy_reward": row["reward"],
              "recipe": {**dataclasses.asdict(recipe), "batch_size": checked.batch_size or config.batch_size,
                         "augment": augment, "strategy": config.strategy, "replicas": strategy.num_replicas_in_sync,
                         "precision": policy}, **delivered}
    write_json(os.path.join(work_dir, "final.json"), report)
    log(f"wrote {os.path.join(work_dir, 'final.json')}")
    return report
