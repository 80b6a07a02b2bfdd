"""LayerNAS inside KerasTuner: a tuner that searches a hypermodel layer by layer under a MAdds or parameter budget.

    import keras_tuner as kt
    from layernas_tf.keras_tuner import LayerNASTuner

    def build_model(hp):
        inputs = keras.Input((8, 8, 1))
        x = keras.layers.Conv2D(hp.Choice("conv1_filters", [8, 16, 32]), 3, activation="relu")(inputs)
        x = keras.layers.Conv2D(hp.Int("conv2_filters", 8, 32, step=8), 3, activation="relu")(x)
        if hp.Boolean("wide_head"):
            x = keras.layers.Conv2D(64, 1, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = LayerNASTuner(build_model, objective="val_accuracy", max_madds=200_000,
                          directory="runs", project_name="digits")
    tuner.search(x_train, y_train, epochs=5, validation_data=(x_val, y_val))
    best_model = tuner.get_best_models()[0]

KerasTuner's `max_model_size` counts parameters only and rejection-samples until
it gives up; here the budget is exact (MAdds and parameters counted from the
model's layers, `layernas_tf.cost.layers`) and the search is LayerNAS: each
`hp.Choice`, `hp.Int` (with a step) and `hp.Boolean` is one layer of the search,
in the order the hypermodel asks for them, so ask in network order.

It is a real `keras_tuner.Tuner`: the hypermodel's own compile and fit, the
callbacks given to `search` (TensorBoard's log directory per trial), KerasTuner's
files under `directory/project_name` (`trial_*/trial.json`, `oracle.json`),
`get_best_models`, `get_best_hyperparameters`, `results_summary` and
`overwrite=False` resuming all behave as they do for `kt.RandomSearch`. The
LayerNAS state (layer, candidates, pending children) is part of the oracle's saved
state, so a killed search resumes where it stopped; a trial that was training
then trains again.

`executor="local"` trains `parallel_trials` trials at once in worker processes
(the fit arguments are sent to them pickled: numpy arrays, not `tf.data`
datasets), the oracle staying in this process; `"serial"` is KerasTuner's own
loop. Why not `hp.Float` or conditional hyperparameters: LayerNAS searches a
fixed list of discrete layers, and buckets a layer's children by cost; a
continuous value has no finite list of children, and a hyperparameter that
appears only for some values of another is not a layer every network has.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
from typing import Any, Optional, Sequence

import layernas_tf.quiet  # pylint: disable=unused-import,ungrouped-imports  (first: TensorFlow starts quietly)

import keras  # pylint: disable=wrong-import-order
import keras_tuner as kt  # pylint: disable=wrong-import-order
import numpy as np  # pylint: disable=wrong-import-order
from keras_tuner.src.engine import hypermodel as kt_hypermodel, tuner_utils  # pylint: disable=wrong-import-order

from layernas_tf.algorithms import DEFAULT as DEFAULT_ALGORITHM
from layernas_tf.algorithms import TITLES, create, layerwise, names
from layernas_tf.config import TFLITE_KINDS, arguments_of
from layernas_tf.core import front
from layernas_tf.core.records import TrialRecord
from layernas_tf.core.space import Architecture, SearchSpace, WithCost
from layernas_tf.core.status import PENDING, Status
from layernas_tf.core.units import UNITS, show
from layernas_tf.deploy.tflite import export_model
from layernas_tf.reports import write_atomic, write_json
from layernas_tf.training import distribute
from layernas_tf.trials import executors
from layernas_tf.trials.artefacts import trial_seed
from layernas_tf.trials.runner import Runner
from layernas_tf.trials.store import MemoryStore
from search_spaces.keras_space import KerasSpace, choose

EXECUTORS = ("serial", "local")
_RUNNING, _IDLE, _STOPPED = kt.engine.trial.TrialStatus.RUNNING, "IDLE", kt.engine.trial.TrialStatus.STOPPED
_COMPLETED, _FAILED = kt.engine.trial.TrialStatus.COMPLETED, kt.engine.trial.TrialStatus.FAILED
_WHY_DISCRETE = "LayerNAS searches a fixed list of discrete layers"


class _Asking(kt.HyperParameters):
    """KerasTuner's hyperparameters, each discrete one asked for as a `choose` decision point.

    Registered as usual too, so `hp.get(name)` works inside the hypermodel.
    """

    def _ask(self, name: str, options: Sequence[Any], default: Any) -> Any:
        options = tuple(options)
        value = choose(name, options, default=options.index(default))
        self.values[self._get_name(name)] = value
        return value

    @staticmethod
    def _refuse_conditions(name: str, parent_name: Optional[str]) -> None:
        if parent_name is not None:
            raise ValueError(f"hyperparameter {name!r} is conditional on {parent_name!r}: {_WHY_DISCRETE}, the same "
                             "for every network; ask for it unconditionally (a value that means 'no layer', such as "
                             "0 filters, can stand for its absence)")

    def Choice(self, name, values, ordered=None, default=None, parent_name=None, parent_values=None):
        self._refuse_conditions(name, parent_name)
        super().Choice(name, values, ordered=ordered, default=default)
        return self._ask(name, values, self._hps[self._get_name(name)][-1].default)

    def Int(self, name, min_value, max_value, step=None, sampling="linear", default=None, parent_name=None,
            parent_values=None):
        self._refuse_conditions(name, parent_name)
        super().Int(name, min_value, max_value, step=step, sampling=sampling, default=default)
        hp = self._hps[self._get_name(name)][-1]
        if hp.step is None:
            raise ValueError(f"hp.Int({name!r}, sampling={sampling!r}) needs a step: {_WHY_DISCRETE}, each with a "
                             "finite list of options")
        options = sorted({int(round(v)) for v in hp.values})
        return self._ask(name, options, min(options, key=lambda v: abs(v - hp.default)))

    def Boolean(self, name, default=False, parent_name=None, parent_values=None):
        self._refuse_conditions(name, parent_name)
        super().Boolean(name, default=default)
        return self._ask(name, (False, True), bool(default))

    def Float(self, name, *args, **kwargs):
        raise ValueError(f"hp.Float({name!r}) is continuous: {_WHY_DISCRETE}; use hp.Choice({name!r}, [...]) with the "
                         "values worth trying")

    def conditional_scope(self, parent_name, parent_values):
        raise ValueError(f"conditional_scope({parent_name!r}): {_WHY_DISCRETE}, the same for every network; ask for "
                         "every hyperparameter whatever the others are")


class _HyperBuild:
    """`build_fn(input_shape, num_classes)` over a hypermodel, for `KerasSpace`; picklable if the hypermodel is."""

    def __init__(self, hypermodel: kt.HyperModel, input_shape: Optional[tuple]):
        self.hypermodel, self.input_shape = hypermodel, input_shape
        self.compiled: Optional[bool] = None  # whether the first model it built came compiled

    def __call__(self, input_shape=None, num_classes=None) -> keras.Model:
        del input_shape, num_classes  # the hypermodel's own
        model = self.hypermodel.build(_Asking())
        if self.compiled is None and isinstance(model, keras.Model):
            self.compiled = bool(getattr(model, "compiled", True))
        if isinstance(model, keras.Model) and not model.built:
            if not self.input_shape:
                raise ValueError("the hypermodel's model has no input shape, so its cost cannot be counted: start it "
                                 "with keras.Input(shape) or give LayerNASTuner(input_shape=...)")
            model.build((None, *self.input_shape))
        return model


def hypermodel_space(hypermodel, input_shape: Optional[Sequence[int]] = None, name: str = "hypermodel") -> KerasSpace:
    """The hypermodel's discrete hyperparameters as a `KerasSpace`, refusing those whose presence changes.

    Each decision point is built at its first and last option (the others at their
    defaults), which finds the common `range(hp.Int("layers", ...))` pattern before
    the search starts, not in the middle of it.
    """
    hypermodel = kt_hypermodel.get_hypermodel(hypermodel)
    shape = tuple(input_shape) if input_shape else None
    space = KerasSpace(_HyperBuild(hypermodel, shape), input_shape=shape or (), num_classes=0, name=name)
    default = space.default()
    for i, point in enumerate(space.decision_points):
        for option in sorted({0, len(point) - 1} - {default[i]}):
            try:
                space.madds(default.replace(i, option))
            except ValueError as e:
                if "must not change with earlier choices" not in str(e):
                    raise
                raise ValueError(f"setting {point.name}={point.options[option]!r} changes which hyperparameters the "
                                 f"hypermodel asks for: {_WHY_DISCRETE}, the same for every network; ask for every "
                                 f"layer's hyperparameters whatever {point.name} is") from None
    return space


def values_of(space: SearchSpace, arch: Architecture) -> dict[str, Any]:
    """The hyperparameter values of `arch`, as KerasTuner stores them."""
    return {p.name: p.options[i] for p, i in zip(space.decision_points, arch)}


def architecture_of(space: SearchSpace, values: dict[str, Any]) -> Architecture:
    return Architecture(tuple(p.options.index(values[p.name]) for p in space.decision_points))


class LayerNASOracle(kt.Oracle):
    """KerasTuner's oracle over a LayerNAS search: `populate_space` asks, `end_trial` tells.

    Args:
      space: the searched space, its `cost` the budgeted one (`WithCost`).
      max_cost: the budget on `space.cost`.
      algorithm: the main search's default (LayerNAS+: feasible networks first under a trial budget),
        "layernas" (the paper's) or any name `layernas_tf.algorithms` knows.
    """

    def __init__(self, space: SearchSpace, max_cost: float, objective="val_accuracy", *,
                 algorithm: str = DEFAULT_ALGORITHM,
                 max_trials: Optional[int] = None, buckets: int = arguments_of()["buckets"],
                 per_bucket: int = arguments_of()["per_bucket"], seed: int = 0, **kwargs):
        # A lost worker's trial trains once more; a trial that raised is a failed network (LayerNAS never retries).
        kwargs.setdefault("max_retries_per_trial", 1)
        super().__init__(objective=objective, max_trials=max_trials, seed=seed or None, **kwargs)
        settings: dict[str, Any] = {"max_trials": max_trials, "seed": seed}
        if layerwise(algorithm):
            settings.update(buckets=buckets, per_bucket=per_bucket)
        self.space, self.max_cost = space, max_cost
        self._create = functools.partial(create, algorithm, space, (0, max_cost), **settings)
        self.search_algorithm = self._create()
        self._ids: dict[str, int] = {}  # KerasTuner trial id -> the algorithm's
        self._handed = None  # the algorithm's trial `begin` is making a KerasTuner trial for

    def trial_bound(self) -> Optional[int]:
        """At most this many trials: LayerNAS's own bound, or `max_trials` if lower."""
        bounds = [b for b in (getattr(self.search_algorithm, "natural_bound", None), self.max_trials) if b]
        return min(bounds) if bounds else None

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if self._handed is not None:  # `begin`: the runner asked the algorithm already
            suggested, self._handed = [self._handed], None
        else:
            suggested = self.search_algorithm.suggest(1)
        if not suggested:
            return {"status": _STOPPED if self.search_algorithm.done else _IDLE}
        self._ids[trial_id] = suggested[0].id
        return {"status": _RUNNING, "values": values_of(self.space, suggested[0].arch)}

    @kt.synchronized
    def begin(self, trial, tuner_id: str) -> kt.engine.trial.Trial:
        """KerasTuner's trial for the algorithm's `trial`, which the runner hands out (`_TunerRunner`): the one it
        had (a retry, or a trial the last session left running: KerasTuner queued it for retry on reload), or a
        new one, running under `tuner_id`."""
        known = next((kt_id for kt_id, own in self._ids.items() if own == trial.id), None)
        if known is None:
            self._handed = trial
            created = self.create_trial(tuner_id)
            if created.status != _RUNNING or self._ids.get(created.trial_id) != trial.id:
                raise RuntimeError(f"KerasTuner made trial {created.trial_id} ({created.status}) for the search's "
                                   f"trial {trial.id}; this is a bug")
            return created
        kt_trial = self.trials[known]
        if known in self._retry_queue:
            self._retry_queue.remove(known)
        if all(t.trial_id != known for t in self.ongoing_trials.values()):
            kt_trial.status = _RUNNING
            self.ongoing_trials[tuner_id] = kt_trial
            self.save()
        return kt_trial

    def reward(self, score: float) -> float:
        return score if self.objective.direction == "max" else -score

    def _settle(self) -> None:
        """Tells the algorithm about every KerasTuner trial that ended and it has not heard of (also after a crash
        between KerasTuner's save and ours)."""
        ended = set(self.end_order)
        for kt_id, own in self._ids.items():
            if kt_id in ended and self.search_algorithm.trials[own].status == PENDING:
                trial = self.trials[kt_id]
                if trial.status == _COMPLETED and trial.score is not None and np.isfinite(trial.score):
                    self.search_algorithm.report(own, self.reward(trial.score))
                else:
                    self.search_algorithm.report_failure(own, (trial.message or trial.status).strip()[-300:])

    @kt.synchronized
    def end_trial(self, trial):
        super().end_trial(trial)
        self._settle()
        self.save()

    def get_state(self):
        state = super().get_state()
        state["layernas"] = {"search": self.search_algorithm.state_dict(), "ids": self._ids}
        return state

    def set_state(self, state):
        super().set_state(state)
        saved = state.get("layernas")
        if saved is None:
            raise ValueError(f"{self._get_oracle_fname()} was not written by LayerNASTuner: use another project_name "
                             "or overwrite=True")
        search = saved["search"]
        before, now = search["config"].get("max_trials"), self.search_algorithm.max_trials
        if before is not None and (now is None or now > before):  # KerasTuner's way to go on: a larger max_trials
            search = {**search, "config": {**search["config"], "max_trials": now}}
        self.search_algorithm = self._create(saved=search["config"])  # begun under other defaults: as it began
        self.search_algorithm.load_state_dict(search)
        self._ids = dict(saved["ids"])

    def reload(self):
        super().reload()
        self._settle()

    def get_best_trials(self, num_trials=1):
        """The best completed trials within every budget, best first (`core.front.ranked`: higher score, then
        cheaper, then earlier): a network over the budget is never offered, by `get_best_models`,
        `get_best_hyperparameters`, `results_summary` or `export`, which all ask here."""
        by_id, records = {}, []
        # Ties go to the cheaper, then the earlier trial by its number: the same best after a resume, whatever
        # order KerasTuner reloads its trials in.
        for number, (kt_id, trial) in enumerate(sorted(self.trials.items(), key=lambda t: (len(t[0]), t[0]))):
            if trial.status != _COMPLETED or trial.score is None or not np.isfinite(trial.score):
                continue
            arch = architecture_of(self.space, trial.hyperparameters.values)
            by_id[number] = (trial, arch)
            records.append(TrialRecord(number, str(arch), Status.COMPLETE, self.reward(trial.score),
                                       self.space.cost(arch)))
        best = front.ranked(records, lambda r: r.cost <= self.max_cost and self.space.within_budgets(by_id[r.id][1]))
        return [by_id[r.id][0] for r in best[:num_trials]]

    def over_budget(self) -> int:
        """Completed trials whose network is over a budget (never offered as an answer)."""
        completed = [t for t in self.trials.values() if t.status == _COMPLETED]
        return len(completed) - len(self.get_best_trials(len(completed)))

    def cost_of(self, values: dict[str, Any]) -> dict[str, int]:
        arch = architecture_of(self.space, values)
        base = getattr(self.space, "base", self.space)
        return {"madds": base.madds(arch), "params": base.params(arch)}


class _SeededTuner(kt.Tuner):
    """Trains a trial the way KerasTuner does, seeded by its values: the same network trains the same way in
    this process or a worker."""

    seed = 0

    def run_trial(self, trial, *args, **kwargs):
        keras.utils.set_random_seed(trial_seed(self.seed, json.dumps(trial.hyperparameters.values, sort_keys=True)))
        return super().run_trial(trial, *args, **kwargs)


class _WorkerTuner(_SeededTuner):
    """A tuner in a worker process: it trains and writes the trial's checkpoint, never the oracle's files."""

    def reload(self):
        pass

    def _populate_initial_space(self):
        pass


class _TrialTrainer:
    """What a worker process runs per trial: KerasTuner's `run_trial` on the driver's fit arguments."""

    def __init__(self, hypermodel, objective, directory, project_name, executions_per_trial, space_config, seed,
                 arguments_path):
        self.hypermodel, self.objective = hypermodel, objective
        self.directory, self.project_name, self.executions_per_trial = directory, project_name, executions_per_trial
        self.space_config, self.seed, self.arguments_path = space_config, seed, arguments_path

    def setup(self):
        distribute.set_threads()
        self.tuner = _WorkerTuner(kt.Oracle(objective=self.objective), self.hypermodel, directory=self.directory,
                                  project_name=self.project_name, executions_per_trial=self.executions_per_trial)
        self.tuner.seed = self.seed
        with open(self.arguments_path, "rb") as f:
            self.fit_args, self.fit_kwargs = pickle.load(f)

    def __call__(self, trial_id: int, payload: str) -> dict[str, Any]:
        del trial_id
        sent = json.loads(payload)
        hp = kt.HyperParameters.from_config(self.space_config)
        hp.values = dict(sent["values"])
        trial = kt.engine.trial.Trial(hyperparameters=hp, trial_id=sent["trial_id"], status=_RUNNING)
        results = self.tuner.run_trial(trial, *self.fit_args, **self.fit_kwargs)
        objective = self.tuner.oracle.objective
        tuner_utils.validate_trial_results(results, objective, "Tuner.run_trial()")
        return {"metrics": tuner_utils.convert_to_metrics_dict(results, objective),
                "step": tuner_utils.get_best_step(results, objective)}


class _TunerRunner(Runner):
    """The tuner's worker processes on the search's one loop (`trials.runner.Runner`).

    The runner asks the oracle's algorithm and hands each trial to a worker; KerasTuner's
    oracle stays the store a user sees and resumes from (its `oracle.json` and trial
    folders, the algorithm's state inside): each trial handed out becomes its trial
    (`LayerNASOracle.begin`), each result is its `update_trial`, and the tuner's own
    `on_trial_begin`/`on_trial_end` hooks run around it, as in KerasTuner's loop. A lost
    worker's trial is trained once more on a fresh one, then FAILED, by the runner.
    """

    def __init__(self, tuner: "LayerNASTuner", executor: executors.Executor):
        super().__init__(MemoryStore(), tuner.oracle.search_algorithm, executor, retries=1, log=None)
        self.tuner, self.oracle = tuner, tuner.oracle
        self._kt_ids: dict[int, str] = {}

    def _kt_trial(self, trial) -> kt.engine.trial.Trial:
        return self.oracle.trials[self._kt_ids[trial.id]]

    def on_trial_begin(self, trial) -> None:
        slots = [f"{self.tuner.tuner_id}-{i}" for i in range(self.executor.slots)]
        kt_trial = self.oracle.begin(trial, next(s for s in slots if s not in self.oracle.ongoing_trials))
        self._kt_ids[trial.id] = kt_trial.trial_id
        self.tuner.on_trial_begin(kt_trial)

    def payload(self, trial) -> str:
        kt_trial = self._kt_trial(trial)
        return json.dumps({"trial_id": kt_trial.trial_id, "values": kt_trial.hyperparameters.values})

    def reward(self, trial, metrics: dict[str, Any]) -> Optional[float]:
        """The objective's score, as KerasTuner scores the trial, turned to a reward (higher is better)."""
        kt_trial = self._kt_trial(trial)
        self.oracle.update_trial(kt_trial.trial_id, metrics["metrics"], step=metrics["step"])
        self.oracle.score_trial(kt_trial)
        return None if kt_trial.score is None else self.oracle.reward(kt_trial.score)

    def on_trial_end(self, trial, metrics: Optional[dict[str, Any]]) -> None:
        kt_trial = self._kt_trial(trial)
        kt_trial.status = _COMPLETED if trial.status == Status.COMPLETE else _FAILED
        if trial.error:
            kt_trial.message = trial.error
        self.tuner.on_trial_end(kt_trial)


class _Factory:
    """The executors' factory: the trainer itself, made once per worker."""

    def __init__(self, trainer: _TrialTrainer):
        self.trainer = trainer

    def __call__(self) -> _TrialTrainer:
        return self.trainer


def _check(name: str, value: Any, valid: Sequence[Any]) -> None:
    if value not in valid:
        raise ValueError(f"{name}={value!r}: valid values are {', '.join(map(str, valid))}")


class LayerNASTuner(_SeededTuner):
    """KerasTuner's `Tuner` with LayerNAS as the oracle and an exact MAdds and/or parameter budget.

    Args:
      hypermodel: a `keras_tuner.HyperModel` or a `build_model(hp)` function returning
        a compiled `keras.Model`; its `hp.Choice` / `hp.Int(step=...)` / `hp.Boolean`
        are the searched layers, in the order it asks for them.
      objective: what the search maximizes (or minimizes), as in KerasTuner.
      max_madds, max_params: the budget, counted at the hypermodel's input size; at
        least one. With both, LayerNAS buckets by MAdds and keeps parameters within
        theirs.
      max_trials: a cap on trials; by default LayerNAS ends by itself (at most
        `oracle.trial_bound()` trials).
      algorithm: "layernas_plus" (the main search's default), "layernas" (the paper's) or any baseline name.
      buckets, per_bucket: LayerNAS's H and k.
      input_shape: only for models built without a `keras.Input`.
      executor: "serial" (KerasTuner's loop) or "local" (worker processes).
      parallel_trials: trials at once with executor="local".
      seed: the search's and the trials' seed.
      **kwargs: KerasTuner's `directory`, `project_name`, `overwrite`,
        `executions_per_trial`, `distribution_strategy`, ...

    Raises:
      ValueError: no budget, a budget below the cheapest network, an `hp.Float`,
        conditional hyperparameters, a layer the cost counter cannot count, an
        unknown executor or algorithm.
    """

    def __init__(self, hypermodel, *, objective="val_accuracy", max_madds: Optional[float] = None,
                 max_params: Optional[float] = None, max_trials: Optional[int] = None, algorithm: str = DEFAULT_ALGORITHM,
                 buckets: int = arguments_of()["buckets"], per_bucket: int = arguments_of()["per_bucket"],
                 input_shape: Optional[Sequence[int]] = None, executor: str = "serial", parallel_trials: int = 2,
                 seed: int = 0, **kwargs):
        executors.check_not_in_worker("LayerNASTuner")
        _check("executor", executor, EXECUTORS)
        _check("algorithm", algorithm, names())
        if max_madds is None and max_params is None:
            raise ValueError("LayerNASTuner needs a budget: max_madds= and/or max_params=")
        for name, value in (("max_madds", max_madds), ("max_params", max_params), ("parallel_trials", parallel_trials)):
            if value is not None and not value > 0:
                raise ValueError(f"{name}={value!r}: give a positive number")
        if "max_model_size" in kwargs:
            raise ValueError("max_model_size: give max_params= (an exact budget the search keeps to) instead")
        if "inherit" in kwargs or "inherit_epochs" in kwargs:
            raise ValueError("inherit: LayerNASTuner trains each trial as KerasTuner does, from scratch; weight "
                             "inheritance runs in layernas_tf.search(space=KerasSpace(...), inherit=True)")
        space = hypermodel_space(hypermodel, input_shape, name=kwargs.get("project_name") or "hypermodel")
        if space.build_fn.compiled is False and kwargs.get("loss") is None:
            raise ValueError("the hypermodel returns an uncompiled model, so no trial could train: call "
                             "model.compile(optimizer, loss, metrics) before returning it, or give LayerNASTuner "
                             "optimizer=, loss= and metrics= to compile it with")
        budgets = [("madds", space.madds, max_madds), ("params", space.params, max_params)]
        budgets = [(n, f, t) for n, f, t in budgets if t is not None]
        views = [WithCost(space, f, n) for n, f, _ in budgets]
        for (name, _, limit), view in zip(budgets, views):
            cheapest = view.cost(view.cheapest())
            if cheapest > limit:
                raise ValueError(f"max_{name}={show(name, limit)} is below the cheapest network of the hypermodel: "
                                 f"{cheapest:,} ({show(name, cheapest)}) {UNITS[name]}")
        searched = WithCost(space, views[0].cost, budgets[0][0],
                            budgets=[(v, 0, t) for v, (_, _, t) in zip(views[1:], budgets[1:])])
        self.budget = {n: t for n, _, t in budgets}
        self.executor, self.parallel_trials = executor, parallel_trials
        oracle = LayerNASOracle(searched, budgets[0][2], objective, algorithm=algorithm, max_trials=max_trials,
                                buckets=buckets, per_bucket=per_bucket, seed=seed)
        super().__init__(oracle, hypermodel, **kwargs)
        self.seed = seed

    # -- the search -----------------------------------------------------------------

    def _header(self) -> str:
        oracle, space = self.oracle, self.oracle.space
        budget = " and ".join(f"{UNITS[name]} <= {show(name, limit)}" for name, limit in self.budget.items())
        where = "serial" if self.executor == "serial" else f"{self.parallel_trials} local workers"
        done = len(oracle.end_order)
        return (f"{TITLES[oracle.search_algorithm.name]} on {space.name} ({len(space)} decision points; "
                f"{float(space.size):.3g} networks), {budget}, at most {oracle.trial_bound()} trials, {where}"
                f"{f'; resuming after {done} trials' if done else ''}; in {self.project_dir}")

    def search(self, *fit_args, **fit_kwargs):
        """Searches until LayerNAS ends (or `max_trials`); arguments as `model.fit`'s, as in KerasTuner."""
        print(self._header(), flush=True)
        if self.executor == "serial":
            super().search(*fit_args, **fit_kwargs)
        else:
            self._search_in_workers(fit_args, fit_kwargs)
        best = self.oracle.get_best_trials(1)
        if best:
            costs = self.oracle.cost_of(best[0].hyperparameters.values)
            print(f"best: trial {best[0].trial_id}, {self.oracle.objective.name} {best[0].score:.4f}, "
                  f"{show('madds', costs['madds'])} MAdds, {costs['params']:,} parameters", flush=True)
        else:
            over = self.oracle.over_budget()
            print(f"no network within the budget ({self._budget_text()}) completed"
                  + (f"; {over} over it did (more trials, max_trials=, reach the budget)" if over else ""), flush=True)

    def _search_in_workers(self, fit_args, fit_kwargs) -> None:
        if "verbose" in fit_kwargs:
            self.oracle.verbose = fit_kwargs["verbose"]
        fit_kwargs.setdefault("verbose", 0)  # Keras' bars of several workers at once cannot be read; trials end in lines
        # The fit arguments (the data, often large) go to the workers in a file, not down their start-up pipe.
        arguments_path = os.path.join(self.project_dir, "layernas_fit_arguments.pkl")
        trainer = _TrialTrainer(self.hypermodel, self.oracle.objective, self.directory, self.project_name,
                                self.executions_per_trial, self.oracle.get_space().get_config(), self.seed,
                                arguments_path)
        try:
            arguments = pickle.dumps((fit_args, fit_kwargs))
            pickle.dumps(trainer)
        except Exception as e:  # pylint: disable=broad-except  (pickle raises many kinds)
            raise ValueError(f"executor='local' sends the hypermodel and the fit arguments to worker processes, and "
                             f"they cannot be pickled ({type(e).__name__}: {e}): define the hypermodel at the top "
                             "level of a module, pass numpy arrays rather than tf.data datasets, or use "
                             "executor='serial'") from None
        write_atomic(arguments_path, arguments)
        self.on_search_begin()
        executor = executors.LocalExecutor(_Factory(trainer), self.parallel_trials)
        try:
            _TunerRunner(self, executor).run()
        finally:
            executor.close()
            os.remove(arguments_path)
        self.on_search_end()

    # -- the answer ---------------------------------------------------------------

    def results_summary(self, num_trials=10):
        """KerasTuner's summary, then each listed trial's costs against the budget."""
        super().results_summary(num_trials)
        print(f"\nCosts (budget: {self._budget_text()}; {self.oracle.over_budget()} completed trial(s) over it are "
              "never listed)")
        for trial in self.oracle.get_best_trials(num_trials):
            costs = self.oracle.cost_of(trial.hyperparameters.values)
            print(f"  trial {trial.trial_id}: {self.oracle.objective.name} {trial.score:.4f}  "
                  f"{show('madds', costs['madds'])} MAdds  {costs['params']:,} parameters")

    def _budget_text(self) -> str:
        return ", ".join(f"{UNITS[n]} <= {show(n, t)}" for n, t in self.budget.items())

    def export(self, export_dir: str, validation_data: tuple[np.ndarray, np.ndarray], *, tflite: str = "float",
               trial_id: Optional[str] = None) -> dict[str, Any]:
        """The best trial's model (or `trial_id`'s) as a SavedModel and a TFLite file, both checked on
        `validation_data` (labels as class ids or one-hot) with LiteRT; returns the checks, written to
        `export_dir/export.json` too."""
        _check("tflite", tflite, TFLITE_KINDS)
        if trial_id is None:
            best = self.oracle.get_best_trials(1)
            if not best:
                raise ValueError("no trial has completed yet: search first")
            trial = best[0]
        elif trial_id not in self.oracle.trials or self.oracle.trials[trial_id].status != _COMPLETED:
            raise ValueError(f"trial_id={trial_id!r} is not a completed trial of {self.project_dir}")
        else:
            trial = self.oracle.trials[trial_id]
        images, labels = (np.asarray(a) for a in validation_data)
        model = self.load_model(trial)
        width = int(np.prod(model.output_shape[1:]))
        one_hot = labels if labels.ndim == 2 else np.eye(width, dtype=np.float32)[labels.astype(int)]
        costs = self.oracle.cost_of(trial.hyperparameters.values)
        os.makedirs(export_dir, exist_ok=True)
        checks = export_model(model, export_dir, tflite=tflite, validation=(images.astype(np.float32), one_hot),
                              representative=[images[i:i + 1].astype(np.float32) for i in range(min(100, len(images)))],
                              madds=costs["madds"])
        checks.update(trial=trial.trial_id, hyperparameters=trial.hyperparameters.values, **costs)
        write_json(os.path.join(export_dir, "export.json"), checks)
        return checks


__all__ = ["EXECUTORS", "LayerNASOracle", "LayerNASTuner", "architecture_of", "hypermodel_space", "values_of"]
