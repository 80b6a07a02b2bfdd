"""One search's settings: what `layernas_tf.search()` and `python -m layernas_tf.main` take, checked once.

`check_arguments` is the one validation of everything that needs no data: budgets
parsed ("220M", "12ms" or numbers), ranges, combinations, names. It raises
`ValueError` naming the argument as `name=value`; the command line shows the same
message with its flags (`--name=value`). What needs the data (the number of
classes, the default image size, whether a budget is below the cheapest network)
is checked by `layernas_tf.api.prepare`, which builds the `SearchConfig`.

`SearchConfig` is what a worker gets: picklable, frozen, and the study records its
`study_settings()`, so `SearchConfig.from_study` rebuilds it for an export.

Pure Python: no TensorFlow (the space's Keras builders load only when a network
is built).
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
from typing import Any, Callable, Optional

import search_spaces
from layernas_tf.algorithms import DEFAULT as DEFAULT_ALGORITHM
from layernas_tf.algorithms import layerwise
from layernas_tf.algorithms import names as algorithm_names
from layernas_tf.core.records import TrialRecord
from layernas_tf.core.records import from_rows as records_from_rows
from layernas_tf.core.space import SearchSpace, Subspace, WithCost
from layernas_tf.core.units import parse_count, parse_latency, show
from layernas_tf.cost import latency_model
from layernas_tf.reports import check_writable
from layernas_tf.trials.artefacts import STUDY_DB, trial_dir

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
EXECUTORS = ("serial", "local", "ray")
TFLITE_KINDS = ("float", "dynamic", "int8")
COSTS = ("madds", "params", "latency")
DEFAULT_SPACE = "mbv3_small"
DEFAULT_DATASET = "digits"

# Every argument of a search with its default, named as the command line's flags.
DEFAULTS: dict[str, Any] = dict(
    space=DEFAULT_SPACE, madds=None, params=None, latency=None, latency_profile=None, bucket_by=None,
    madds_min=None, decisions=None, nasnet_cells=None, nasnet_filters=None,
    dataset=DEFAULT_DATASET, data_dir=None, num_classes=None, image_size=None, deploy_image_size=None,
    batch_size=128, proxy_epochs=5, learning_rate=0.05, train_examples=None, rung_epochs=0, rung_factor=3,
    algorithm=DEFAULT_ALGORITHM, buckets=10, per_bucket=1, controller_batch=1, max_trials=None, seed=0,
    strategy="auto", tpu=None, mixed_precision=False, steps_per_execution=1, study_dir=None,
    executor=None, parallel_trials=None, workers_per_trial=1, gpus_per_trial=None, cpus_per_trial=None, ray_address=None,
    trial_retries=1, verbose=1, final_epochs=0, export_dir=None, tflite="float",
)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search, its training and where it runs.

    Attributes:
      space: a registered space's name, or the user's `SearchSpace` (used as it is:
        its `cost` is what is budgeted).
      cost: what LayerNAS buckets by (`bucket_by`): "madds", "params" or "latency",
        counted at the deployment size.
      target: the budget of `cost` as a (min, max) range.
      budgets: further budgets every answer must meet, as (cost, min, max).
      dataset: the data's name as the study records it: a tfds name, `folder:PATH`,
        `digits`, `arrays:<digest>` or `function:<module>.<name>`.
      data_source: the user's arrays or dataset function behind an `arrays:` or
        `function:` name (not recorded: the name stands for it).
      decisions: the kinds of decision points searched; empty: all.
      space_options: arguments of the space besides its input and classes, as
        (name, value) pairs (NASNet's `cells` and `penultimate_filters`).
      image_size: the side the proxies train at.
      deploy_image_size: the side the exported network takes and its cost is counted at.
      latency_profile: the device profile latency budgets are predicted from.
      labelled_progress: each epoch prints one line starting with its trial (several
        workers share the console).
      train_examples: proxies train on a fixed, class-balanced part of the training
        split: this many examples, or this fraction of them (< 1); None: all.
      rung_epochs: multi-fidelity LayerNAS: each child first trains this many of the
        proxy's epochs, and only its bucket's best go on (`rungs()`); 0: every child
        trains the whole proxy, as in the paper.
      rung_factor: eta of successive halving: each rung keeps 1/eta of a bucket's
        children and the next one trains eta times as long.
      workers_per_trial: each trial trains on a group of this many worker processes
        (local ones, or Ray actors on any nodes) under MultiWorkerMirroredStrategy
        (the global batch split among them); 1: one process per trial.
      mixed_precision, steps_per_execution: how each trial computes
        (`trainer.TrainConfig`): bfloat16 on TPUs and CPUs, float16 on GPUs; steps per
        call into the compiled step (a TPU's 32 or more).
    """

    space: Any
    cost: str
    target: tuple[float, float]
    dataset: str
    num_classes: int
    image_size: int
    deploy_image_size: int
    batch_size: int
    proxy_epochs: int
    learning_rate: float
    budgets: tuple[tuple[str, float, float], ...] = ()
    decisions: tuple[str, ...] = ()
    space_options: tuple[tuple[str, Any], ...] = ()
    buckets: int = 10
    per_bucket: int = 1
    max_trials: Optional[int] = None
    seed: int = 0
    data_dir: Optional[str] = None
    data_source: Any = None
    strategy: str = "auto"
    tpu: Optional[str] = None
    mixed_precision: bool = False
    steps_per_execution: int = 1
    verbose: int = 1
    study_dir: str = "runs/study"
    latency_profile: Optional[str] = None
    algorithm: str = DEFAULT_ALGORITHM
    controller_batch: int = 1
    executor: Optional[str] = None
    parallel_trials: Optional[int] = None
    workers_per_trial: int = 1
    gpus_per_trial: Optional[float] = None
    cpus_per_trial: Optional[float] = None
    ray_address: Optional[str] = None
    trial_retries: int = 1
    labelled_progress: bool = False
    train_examples: Optional[float] = None
    rung_epochs: int = 0
    rung_factor: int = 3

    def rungs(self) -> tuple[int, ...]:
        """The epoch counts children are ranked at, the proxy's last: (1, 3, 5) for 1, eta 3 and 5 epochs."""
        return rung_schedule(self.rung_epochs, self.rung_factor, self.proxy_epochs)

    @property
    def space_name(self) -> str:
        return self.space if isinstance(self.space, str) else self.space.name

    def study_settings(self) -> dict[str, Any]:
        """What a study directory must match to be resumed: the search, not where it runs."""
        settings = {
            "space": self.space_name,
            "cost": self.cost,
            "target": list(self.target),
            "dataset": self.dataset,
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "deploy_image_size": self.deploy_image_size,
            "batch_size": self.batch_size,
            "proxy_epochs": self.proxy_epochs,
            "learning_rate": self.learning_rate,
            "seed": self.seed,
        }
        # Absent unless used, so that studies made before these settings existed still resume.
        if self.budgets:
            settings["budgets"] = [list(b) for b in self.budgets]
        if self.decisions:
            settings["decisions"] = list(self.decisions)
        if self.space_options:
            settings["space_options"] = [list(o) for o in self.space_options]
        if self.latency_profile:
            settings["latency_profile"] = self.latency_profile
        if self.train_examples is not None:
            settings["train_examples"] = self.train_examples
        return settings

    @classmethod
    def from_study(cls, settings: dict[str, Any], **overrides) -> "SearchConfig":
        """The config a study's recorded settings (`study_settings()`) stand for, with `overrides`.

        Raises:
          ValueError: the study searched the user's own space or data, which a study
            does not hold: rebuild it with `layernas_tf.search()` and the same arguments.
        """
        if settings.get("dataset", "").startswith(("arrays:", "function:")) and "data_source" not in overrides:
            raise ValueError(f"the study trained on the user's own data ({settings['dataset']}), which it does not "
                             "hold; export it from Python with the result of layernas_tf.search()")
        if (settings.get("space") not in search_spaces.names() and not is_module_space(settings.get("space", ""))
                and "space" not in overrides):
            raise ValueError(f"the study searched the user's space {settings.get('space')!r}, which it does not hold; "
                             "export it from Python with the result of layernas_tf.search()")
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in settings.items() if k in fields and k != "algorithm"}
        # The study stores the algorithm's own settings (`Algorithm.config()`), not the argument's string.
        searched = settings.get("algorithm")
        if isinstance(searched, dict):
            values["algorithm"] = searched["algorithm"]
            values.update({k: searched[k] for k in ("buckets", "per_bucket", "max_trials", "rung_factor")
                           if k in searched})
            if searched.get("rungs"):
                values["rung_epochs"] = searched["rungs"][0]
            if "batch" in searched:
                values["controller_batch"] = searched["batch"]
        values.update(target=tuple(values["target"]), budgets=tuple(tuple(b) for b in values.get("budgets", ())),
                      decisions=tuple(values.get("decisions", ())),
                      space_options=tuple(tuple(o) for o in values.get("space_options", ())))
        return cls(**{**values, **overrides})

    def records(self, rows: list[dict[str, Any]]) -> list[TrialRecord]:
        """The study's rows as records, each knowing whether its reward is the full proxy's (rung studies)."""
        return records_from_rows(rows, self.proxy_epochs if self.rung_epochs else None)

    def within(self, space: SearchSpace) -> Callable[[TrialRecord], bool]:
        """Whether a record's network is within the searched cost's target and every further budget of `space`."""
        low, high = self.target
        return lambda record: low <= record.cost <= high and space.within_budgets(space.parse(record.arch))

    def deploy_shape(self) -> tuple[int, int, int]:
        return (self.deploy_image_size, self.deploy_image_size, 3)

    def train_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, 3)

    def size_label(self) -> str:
        return f"{self.deploy_image_size}x{self.deploy_image_size}"

    def trial_dir(self, trial_id: int) -> str:
        return trial_dir(self.study_dir, trial_id)

    def _chosen_space(self) -> SearchSpace:
        """The space at the deployment shape with the dataset's classes, restricted to `decisions`."""
        if isinstance(self.space, str) and is_module_space(self.space):
            # The user's build function: Keras is imported with it, and only then.
            from search_spaces import keras_space  # pylint: disable=import-outside-toplevel

            space = keras_space.from_path(self.space, self.deploy_shape(), self.num_classes)
        elif isinstance(self.space, str):
            space = search_spaces.get(self.space, input_shape=self.deploy_shape(), num_classes=self.num_classes,
                                      **dict(self.space_options))
        else:
            space = self.space
        return Subspace(space, self.decisions) if self.decisions else space

    def search_space(self) -> SearchSpace:
        """The space, its cost counted at the deployment shape with the dataset's classes."""
        space = self._chosen_space()
        if self.cost == "madds" and not self.budgets:
            return space
        costs: dict[str, Callable] = {"madds": space.madds, "params": space.params}
        if "latency" in (self.cost, *(name for name, _, _ in self.budgets)):
            costs["latency"] = self.latency_predictor(space)
        budgets = [(WithCost(space, costs[name], name), t_min, t_max) for name, t_min, t_max in self.budgets]
        return WithCost(space, costs[self.cost], self.cost, budgets=budgets)

    def latency_predictor(self, space: Optional[SearchSpace] = None) -> latency_model.Predictor:
        """Predicts a network's latency in ms from `latency_profile`.

        Raises:
          ValueError: the profile cannot be read or was made for another space, size,
            number of classes or set of decisions.
        """
        space = space if space is not None else self._chosen_space()
        return latency_model.Predictor(latency_model.Profile.load(self.latency_profile), space,
                                       self.deploy_image_size, self.num_classes)


def is_module_space(space: str) -> bool:
    """`module:function`: the user's Keras build function (`search_spaces.keras_space`), not a registered name."""
    return ":" in space


def check_positive(name: str, value: Any, kind: type = int, allow_zero: bool = False) -> None:
    """ValueError unless `value` (when given) is a finite number of `kind`, positive (or zero)."""
    if value is None:
        return
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int and not (numeric and float(value).is_integer()):
        raise ValueError(f"{name}={value!r} is not an integer")
    if not numeric or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = "a finite number >= 0" if allow_zero else "a positive finite number"
        raise ValueError(f"{name}={value!r} is not {bound}")


def check_train_examples(value: Any) -> None:
    """ValueError unless `value` is None, a fraction in (0, 1), or a whole number of examples (>= 1)."""
    check_positive("train_examples", value, float)
    if value is not None and value >= 1 and not float(value).is_integer():
        raise ValueError(f"train_examples={value!r} is neither a fraction of the training split (0 < f < 1) nor a "
                         "whole number of examples")


def _one_of(name: str, value: Any, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name}={value!r}; valid: {', '.join(str(v) for v in valid)}")


def check_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """Checks every argument that needs no data; returns them normalized.

    Adds `cost` (what LayerNAS buckets by), `ranges` (cost -> (min, max)) and
    `space_options`.

    Raises:
      ValueError: the first bad argument, named as `name=value`, with what is valid.
    """
    unknown = sorted(set(arguments) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown argument(s) {', '.join(unknown)}; valid: {', '.join(DEFAULTS)}")
    a = {**DEFAULTS, **arguments}
    space = a["space"]
    if isinstance(space, str):
        if not is_module_space(space):
            _one_of("space", space, search_spaces.names())
    elif not isinstance(space, SearchSpace):
        raise ValueError(f"space={space!r} is neither a space's name ({', '.join(search_spaces.names())}), "
                         "module:build_function, nor a layernas_tf.SearchSpace")
    given = {name: a[name] for name in COSTS if a[name] is not None}
    if not given:
        raise ValueError("give a budget: madds=220M, params=2.5M or latency=12ms (with latency_profile=PROFILE.json), "
                         "or several")
    if (a["latency"] is None) != (a["latency_profile"] is None):
        raise ValueError("latency= and latency_profile= go together: the budget, and the device profile "
                         "(python -m layernas_tf.latency) it is predicted from")
    _one_of("tflite", a["tflite"], TFLITE_KINDS)
    if a["latency"] is not None and a["tflite"] != "float":
        raise ValueError(f"latency=: profiles time float TFLite models, so the answer is exported as one; "
                         f"drop tflite={a['tflite']} or use tflite=float")
    if a["madds_min"] is not None and a["madds"] is None:
        raise ValueError("madds_min= bounds MAdds from below; it goes with madds=")
    if a["bucket_by"] is not None:
        _one_of("bucket_by", a["bucket_by"], COSTS)
        if a["bucket_by"] not in given:
            raise ValueError(f"bucket_by={a['bucket_by']} has no budget; give {a['bucket_by']}= or bucket by "
                             f"one of the budgets given: {', '.join(given)}")
    ranges = {name: (0, parse_latency(value) if name == "latency" else parse_count(name, value))
              for name, value in given.items()}
    if a["madds_min"] is not None:
        t_min = parse_count("madds_min", a["madds_min"])
        if t_min > ranges["madds"][1]:
            raise ValueError(f"madds_min={a['madds_min']} is above madds={a['madds']}")
        ranges["madds"] = (t_min, ranges["madds"][1])
    for name in ("batch_size", "proxy_epochs", "buckets", "per_bucket", "controller_batch", "max_trials",
                 "steps_per_execution",
                 "parallel_trials", "image_size", "deploy_image_size", "nasnet_cells", "nasnet_filters",
                 "num_classes"):
        check_positive(name, a[name])
    for name in ("final_epochs", "trial_retries", "seed"):
        check_positive(name, a[name], allow_zero=True)
    check_positive("learning_rate", a["learning_rate"], float)
    check_train_examples(a["train_examples"])
    for name in ("gpus_per_trial", "cpus_per_trial"):
        check_positive(name, a[name], float, allow_zero=True)
    _one_of("verbose", a["verbose"], (0, 1, 2))
    _one_of("algorithm", a["algorithm"], algorithm_names())
    check_rungs(a)
    if not layerwise(a["algorithm"]) and a["max_trials"] is None:
        raise ValueError(f"algorithm={a['algorithm']} has no natural end on a space this large: give max_trials= "
                         "(layernas and layernas_plus end by themselves)")
    _one_of("strategy", a["strategy"], STRATEGIES)
    if a["executor"] is not None:
        _one_of("executor", a["executor"], EXECUTORS)
    if a["executor"] == "serial" and (a["parallel_trials"] or 1) > 1:
        raise ValueError("executor=serial trains one trial at a time; use executor=local or ray "
                         "for parallel_trials > 1")
    check_positive("workers_per_trial", a["workers_per_trial"])
    if a["workers_per_trial"] > 1 or a["strategy"] == "multi_worker":
        check_steps_per_execution(a["steps_per_execution"])
    if a["workers_per_trial"] > 1:
        if a["executor"] == "serial":
            raise ValueError(f"workers_per_trial={a['workers_per_trial']} forms groups of worker processes: "
                             "use executor=local (on this host) or executor=ray (across hosts), not executor=serial")
        if a["strategy"] not in ("auto", "multi_worker"):
            raise ValueError(f"workers_per_trial={a['workers_per_trial']} trains each trial under "
                             f"strategy=multi_worker, not strategy={a['strategy']}")
        if a["tpu"]:
            raise ValueError("workers_per_trial= and tpu= do not go together: a TPU slice is one strategy's")
        if a["batch_size"] % a["workers_per_trial"]:
            raise ValueError(f"batch_size={a['batch_size']} is the global batch: it must split evenly among "
                             f"workers_per_trial={a['workers_per_trial']}")
    if a["ray_address"] and a["executor"] != "ray":
        raise ValueError("ray_address= goes with executor=ray")
    space_options = tuple((name, a[key]) for name, key in (("cells", "nasnet_cells"),
                                                           ("penultimate_filters", "nasnet_filters"))
                          if a[key] is not None)
    if space_options and space != "nasnet":
        raise ValueError(f"nasnet_cells= and nasnet_filters= size space=nasnet, not space={space!r}")
    if not isinstance(space, str) and a["executor"] in ("local", "ray"):
        check_picklable("space", space)
    if a["decisions"] is not None:
        if isinstance(a["decisions"], str):
            a["decisions"] = [d for d in a["decisions"].split(",") if d]
        a["decisions"] = tuple(a["decisions"])
    a["space_options"] = space_options
    a["ranges"] = ranges
    a["cost"] = a["bucket_by"] or next(iter(given))
    return a


def check_steps_per_execution(steps: int) -> None:
    """ValueError unless `steps` (per execution) can run under MultiWorkerMirroredStrategy."""
    if steps > 1:
        raise ValueError(f"steps_per_execution={steps} does not run under MultiWorkerMirroredStrategy (Keras 3.15's "
                         "multi-step loop fails there): use steps_per_execution=1 with multi-worker training")


def rung_schedule(first: int, factor: int, epochs: int) -> tuple[int, ...]:
    """first, first * factor, first * factor**2, ... below `epochs`, then `epochs`; () when `first` is 0."""
    if not first:
        return ()
    rungs = [first]
    while rungs[-1] * factor < epochs:
        rungs.append(rungs[-1] * factor)
    return (*rungs, epochs)


def check_rungs(a: dict[str, Any]) -> None:
    """ValueError unless `rung_epochs` and `rung_factor` make a successive-halving schedule LayerNAS can run."""
    check_positive("rung_epochs", a["rung_epochs"], allow_zero=True)
    check_positive("rung_factor", a["rung_factor"])
    if not a["rung_epochs"]:
        return
    if a["rung_factor"] < 2:
        raise ValueError(f"rung_factor={a['rung_factor']}: each rung keeps 1/rung_factor of a bucket's children; "
                         "give 2 or more")
    if a["rung_epochs"] >= a["proxy_epochs"]:
        raise ValueError(f"rung_epochs={a['rung_epochs']} is the first rung's epochs: give fewer than "
                         f"proxy_epochs={a['proxy_epochs']}")
    if a["algorithm"] != "layernas":
        raise ValueError(f"rung_epochs= is multi-fidelity LayerNAS: give algorithm=layernas, not "
                         f"algorithm={a['algorithm']}")


def check_picklable(name: str, value: Any) -> None:
    """Workers of the local and Ray executors receive `value` pickled: say so now, not in a worker."""
    try:
        pickle.dumps(value)
    except Exception as e:  # pylint: disable=broad-except  (pickle raises many kinds)
        raise ValueError(f"{name}={value!r} cannot be sent to the trial workers ({type(e).__name__}: {e}): define it "
                         "at the top level of a module the workers can import, or use executor=serial") from None


def check_feasible(config: SearchConfig, space: SearchSpace, log: Callable[[str], None]) -> None:
    """ValueError when a budget is below the space's cheapest network; a warning when every network fits."""
    at = f"at {config.size_label()}"
    low, high = config.target
    for name, view, t_min, t_max in [(config.cost, space, low, high)] + [(v.cost_name, v, lo, hi)
                                                                        for v, lo, hi in space.budgets]:
        cheapest = view.cost(view.cheapest())
        if cheapest > t_max:
            shown = f"{cheapest:.4g} ms" if name == "latency" else f"{cheapest:,} ({show(name, cheapest)}) {name}"
            raise ValueError(f"{name}={show(name, t_max)} is below the cheapest network of {config.space_name} {at}: "
                             f"{shown}")
        dearest = view.cost(view.dearest())
        if dearest < t_min:
            raise ValueError(f"madds_min={show(name, t_min)} is above the dearest network {at}: {dearest:,} MAdds")
        if dearest <= t_max:
            log(f"warning: every network of {config.space_name} fits {name}={show(name, t_max)} {at} "
                f"(the dearest costs {show(name, dearest)}); searching anyway")


def check_study_dir(study_dir: str) -> None:
    """ValueError unless `study_dir` can hold a study: a writable directory (or one that can be made) whose
    `study.db`, if any, is a study database.

    """
    check_writable("study_dir", study_dir)
    database = os.path.join(study_dir, STUDY_DB)
    if os.path.lexists(database):
        if not os.path.isfile(database):
            raise ValueError(f"study_dir={study_dir}: {database} is not a file; move it away or use another study_dir")
        problem = _sqlite_header_problem(database)
        if problem:
            raise ValueError(f"study_dir={study_dir}: {database} is not a readable study database ({problem}); it is "
                             "left as it is: move it away or use another study_dir")


def _sqlite_header_problem(path: str) -> Optional[str]:
    """What is wrong with an SQLite file, from its header alone, or None.

    Read, not opened: opening a database that a live search holds (in WAL mode) touches its
    shared-memory file, and a second search on a held study must write nothing.
    """
    try:
        with open(path, "rb") as f:
            header = f.read(100)
        size = os.path.getsize(path)
    except OSError as e:
        return e.strerror or str(e)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return "file is not a database"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] == header[92:96] and size < pages * page_size:  # the page count is valid: is it all there?
        return f"truncated: {size:,} bytes where its header says {pages * page_size:,}"
    return None
