"""One search's settings: what `layernas_tf.search()` and `python -m layernas_tf.main` take, checked once.

`SearchConfig`'s fields are the settings, each with its default, help, flag kind
and check (`setting`); the command's flags are generated from them (`define_flags`),
so they cannot drift. `SearchConfig.from_arguments` is the one validation of
everything that needs no data: budgets parsed ("220M", "12ms" or numbers), ranges,
combinations, names. It raises `ValueError` naming the argument as `name=value`; the
command line shows the same message with its flags (`--name=value`). What needs the
data (the number of classes, the default image size, whether a budget is below the
cheapest network) is checked and filled in by `layernas_tf.api.prepare`.

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
from typing import Any, Callable, Optional, Sequence

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
from layernas_tf.trials.executors import WORKER_MEMORY_GROWTH_MB

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
EXECUTORS = ("serial", "local", "ray")
TFLITE_KINDS = ("float", "dynamic", "int8")
COSTS = ("madds", "params", "latency")
DEFAULT_SPACE = "mbv3_small"
DEFAULT_DATASET = "digits"

def setting(default: Any, help_text: str, flag: str = "string", *, check: Optional[Callable[[str, Any], None]] = None,
            choices: Optional[Sequence[Any]] = None, public: bool = True) -> Any:
    """One setting of a search: its default, its help (the flag's and the docs'), its flag's kind and its check.

    `flag` is an absl definer's kind ("string", "integer", "float", "bool", "enum", "list"); `check(name, value)`
    raises ValueError naming `name=value`; `choices` makes the value one of them (the enum's values); `public`:
    a flag of `main` and a keyword of `search()` (False: filled in by `from_arguments` or `api.prepare`).
    """
    return dataclasses.field(default=default, metadata={"help": help_text, "flag": flag, "check": check,
                                                        "choices": tuple(choices) if choices else None,
                                                        "public": public})


def _positive(name: str, value: Any) -> None:
    check_positive(name, value)


def _positive_or_zero(name: str, value: Any) -> None:
    check_positive(name, value, allow_zero=True)


def _positive_float(name: str, value: Any) -> None:
    check_positive(name, value, float)


def _float_or_zero(name: str, value: Any) -> None:
    check_positive(name, value, float, allow_zero=True)


def _train_examples(name: str, value: Any) -> None:
    del name
    check_train_examples(value)


def _space(name: str, value: Any) -> None:
    if isinstance(value, str):
        if not is_module_space(value):
            _one_of(name, value, search_spaces.names())
    elif not isinstance(value, SearchSpace):
        raise ValueError(f"{name}={value!r} is neither a space's name ({', '.join(search_spaces.names())}), "
                         "module:build_function, nor a layernas_tf.SearchSpace")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search, its training and where it runs: the one definition of each setting.

    Each public field is an argument of `layernas_tf.search()` and a flag of
    `python -m layernas_tf.main` of the same name, default and help (`define_flags`;
    `docs/flags.md` lists them); `from_arguments` checks them all once. The rest are
    filled in from them: `cost`, `target`, `budgets`, `space_options` from the budgets
    and space options, `input_shape` from the space (`from_arguments`), the data-dependent ones (`dataset`'s name,
    `data_source`, `num_classes`, `image_size`, `deploy_image_size`, `study_dir`,
    `executor`, `parallel_trials`, `labelled_progress`) by `api.prepare`. What a worker
    gets: picklable and frozen; the study records `study_settings()`, and
    `from_study` rebuilds the config from a study.
    """

    # -- what is searched, under which budgets
    space: Any = setting(DEFAULT_SPACE, "Search space: " + ", ".join(search_spaces.names()) + "; or MODULE:FUNCTION, a "
                         "Keras build function asking for its choices with layernas_tf.choose (docs/own_models.md).",
                         check=_space)
    madds: Any = setting(None, "MAdds budget of the final model: 220M, 0.22G or 220000000.")
    params: Any = setting(None, "Parameter budget, alone or with --madds: 2.5M, 2500000.")
    latency: Any = setting(None, "On-device latency budget, predicted from --latency_profile: 12ms, 0.012s or 12 (ms).")
    latency_profile: Optional[str] = setting(
        None, "The device's latency profile (python -m layernas_tf.latency) --latency is counted on.")
    bucket_by: Optional[str] = setting(None, "The cost LayerNAS buckets by when several budgets are given; default: "
                                       "the first of --madds, --params, --latency.", "enum", choices=COSTS)
    madds_min: Any = setting(None, "Optional lower MAdds bound of the final model.")
    decisions: tuple[str, ...] = setting(
        (), "Search only these kinds of decision points (MobileNet spaces: width, kernel, expansion, se, skip, "
        "activation); the others keep the reference network's values. Default: all.", "list")
    nasnet_cells: Optional[int] = setting(None, "--space=nasnet: N, normal cells per stage (default 4).", "integer",
                                          check=_positive)
    nasnet_filters: Optional[int] = setting(
        None, "--space=nasnet: penultimate filters, a multiple of 96 (default 1056: NASNetMobile).", "integer",
        check=_positive)
    # -- the data and each candidate's training (the proxy)
    dataset: Any = setting(DEFAULT_DATASET, "A tfds name (imagenet2012, cifar10, cifar100, imagenet_resized/32x32), "
                           "folder:PATH (PATH/train/<class>/<image>), digits or noisy_digits (embedded, no "
                           "download).")
    data_dir: Optional[str] = setting(None, "tfds data directory (default ~/tensorflow_datasets).")
    num_classes: Optional[int] = setting(None, "Classes of a dataset function's data; default: the largest training "
                                         "label + 1.", "integer", check=_positive)
    image_size: Optional[int] = setting(None, "Side the proxies train at; default: the dataset's.", "integer",
                                        check=_positive)
    deploy_image_size: Optional[int] = setting(
        None, "Side of the deployed network: budgets are counted and the model exported at this size (default 224 "
        "for the MobileNet and NASNet spaces; nats_sss, zoph_le, tiny_cnn: the training size).", "integer",
        check=_positive)
    batch_size: int = setting(128, "Global batch size, split across replicas.", "integer", check=_positive)
    proxy_epochs: int = setting(5, "Epochs each candidate trains before it is scored.", "integer", check=_positive)
    learning_rate: float = setting(0.05, "Peak learning rate (SGD, cosine decay after warm-up).", "float",
                                   check=_positive_float)
    train_examples: Optional[float] = setting(
        None, "Proxies train on a fixed, class-balanced part of the training split: this many examples, or this "
        "fraction (< 1); the validation split is unchanged. Default: all.", "float", check=_train_examples)
    rung_epochs: int = setting(
        0, "Multi-fidelity LayerNAS (--algorithm=layernas): each child first trains this many epochs; only its cost "
        "bucket's best train on to the full --proxy_epochs (successive halving). 0: every child trains the full "
        "proxy, as in the paper.", "integer", check=_positive_or_zero)
    rung_factor: int = setting(
        3, "With --rung_epochs: each rung keeps 1/rung_factor of a bucket's children (at least --per_bucket, and any "
        "tied with the last kept), and the next trains rung_factor times as long.", "integer", check=_positive)
    inherit: bool = setting(
        False, "Weight inheritance (layernas, layernas_plus): each network with a parent candidate (every one after "
        "the first, but LayerNAS+'s warm-up under --max_trials) starts from the parent's trained weights wherever "
        "their shapes agree and trains --inherit_epochs instead of --proxy_epochs from scratch. Off: every network "
        "trains from scratch, as in the paper.", "bool")
    inherit_epochs: Optional[int] = setting(
        None, "With --inherit: the epochs an inheriting network trains. Default: half of --proxy_epochs, at least "
        "1 (on our real table it ranked a layer's children closer to full training than a quarter did: "
        "docs/benchmarks.md).", "integer", check=_positive)
    # -- the search algorithm
    algorithm: str = setting(DEFAULT_ALGORITHM, "The search: layernas_plus (LayerNAS with a reward model, see "
                             "docs/algorithm.md), layernas (as the paper), or a baseline (random, evolution, "
                             "reinforce, controller), which needs --max_trials.", "enum", choices=algorithm_names())
    buckets: int = setting(10, "LayerNAS: H, cost buckets per layer.", "integer", check=_positive)
    per_bucket: int = setting(1, "LayerNAS: k, candidates kept per bucket.", "integer", check=_positive)
    controller_batch: int = setting(1, "--algorithm=controller: networks per policy update (Zoph & Le's m).",
                                    "integer", check=_positive)
    max_trials: Optional[int] = setting(None, "Stop after this many trials (default: LayerNAS's own end).", "integer",
                                        check=_positive)
    seed: int = setting(0, "Seed of the search and of training.", "integer", check=_positive_or_zero)
    # -- where and how trials run
    strategy: str = setting("auto", "tf.distribute strategy; auto: TPU if --tpu, mirrored over >1 GPU, else default.",
                            "enum", choices=STRATEGIES)
    tpu: Optional[str] = setting(None, "TPU name or address for TPUClusterResolver (with --strategy=auto or tpu).")
    mixed_precision: bool = setting(False, "Mixed precision: bfloat16 on TPUs and CPUs, float16 on GPUs.", "bool")
    steps_per_execution: int = setting(
        1, "Training steps per call into the compiled step (on a TPU, 32 or more keeps the host from waiting on the "
        "device after every step); the learning rate is set once per call.", "integer", check=_positive)
    study_dir: Optional[str] = setting(None, "Where trials persist; default runs/<space>_<budget>.")
    executor: Optional[str] = setting(None, "Where trials train: serial (in this process), local (--parallel_trials "
                                      "worker processes), ray (Ray actors). Default: local when --parallel_trials > 1, "
                                      "else serial.", "enum", choices=EXECUTORS)
    parallel_trials: Optional[int] = setting(None, "Trials trained at once; default: one per visible GPU, else 1.",
                                             "integer", check=_positive)
    workers_per_trial: int = setting(
        1, "Each trial trains on a group of this many worker processes under MultiWorkerMirroredStrategy "
        "(--batch_size is the global batch): local processes, or with --executor=ray actors on any nodes "
        "(docs/real_data.md 3b).", "integer", check=_positive)
    gpus_per_trial: Optional[float] = setting(None, "GPUs per trial (fractions share a GPU).", "float",
                                              check=_float_or_zero)
    cpus_per_trial: Optional[float] = setting(
        None, "CPUs (TensorFlow threads) per trial, serial and Ray; default: an even share.", "float",
        check=_float_or_zero)
    ray_address: Optional[str] = setting(None, "Ray cluster: auto, HOST:PORT or ray://HOST:PORT; none starts a local "
                                         "Ray.")
    trial_retries: int = setting(1, "Times a trial whose worker died or ran out of memory is trained again, on a "
                                 "fresh worker.", "integer", check=_positive_or_zero)
    half_batch_on_oom: bool = setting(
        False, "A trial that runs out of memory (ResourceExhaustedError on a GPU, MemoryError) trains again at once "
        "in the same worker, from scratch at half the batch_size, its metrics recording the batch it used and why. "
        "Off: it is retried at the same batch on a fresh worker (trial_retries), then FAILED as out of memory.",
        "bool")
    no_signal_trials: int = setting(
        8, "Stop when the first N networks trained all score the same reward: it ranks nothing (look at the data, "
        "labels and learning rate). What they trained is kept; 0 searches on regardless.", "integer",
        check=_positive_or_zero)
    worker_memory_growth: float = setting(
        WORKER_MEMORY_GROWTH_MB, "A local worker or Ray actor whose memory (RSS) grew by more than this many MB since "
        "its first trial is replaced by a fresh one before its next trial, so a search of thousands of trials keeps "
        "its memory bounded (TensorFlow keeps some of every trial); 0: never replace.", "float",
        check=_float_or_zero)
    verbose: int = setting(1, "Keras progress output inside a trial: 0 none, 1 bar, 2 a line per epoch.", "integer",
                           choices=(0, 1, 2))
    # -- the answer, at the end
    final_epochs: int = setting(0, "Retrain the network this long at the deployment size before export; 0 keeps its "
                                "proxy weights.", "integer", check=_positive_or_zero)
    export_dir: Optional[str] = setting(None, "Where the SavedModel and TFLite file go; default STUDY_DIR/export.")
    tflite: str = setting("float", "TFLite quantization: float, dynamic (int8 weights, float input and output) or "
                          "int8 (full integer, calibrated on training images: uint8 pixels in, uint8 probabilities "
                          "out, read with the output's scale and zero point).", "enum", choices=TFLITE_KINDS)
    # -- filled in from the above (`from_arguments`, `api.prepare`): no flag
    cost: str = setting("madds", "What LayerNAS buckets by: madds, params or latency.", public=False)
    target: tuple[float, float] = setting((0.0, math.inf), "The budget of `cost` as a (min, max) range.",
                                          public=False)
    budgets: tuple[tuple[str, float, float], ...] = setting((), "Further budgets every answer must meet, as (cost, "
                                                            "min, max).", public=False)
    space_options: tuple[tuple[str, Any], ...] = setting((), "Arguments of the space besides its input and classes, "
                                                         "as (name, value) pairs.", public=False)
    data_source: Any = setting(None, "The user's arrays or dataset function behind an arrays: or function: name.",
                               public=False)
    labelled_progress: bool = setting(False, "Each epoch prints one line starting with its trial (several workers "
                                      "share the console).", public=False)
    input_shape: Optional[tuple[int, ...]] = setting(
        None, "One example's shape when the space takes something other than RGB images (`example_shape`): "
        "examples go to the model as they are, never resized. None: RGB images at image_size.", public=False)

    @classmethod
    def from_arguments(cls, **arguments: Any) -> "SearchConfig":
        """`search()`'s arguments checked once: each by its field's check, then together; the budgets parsed.

        Raises:
          ValueError: the first bad argument, named as `name=value`, with what is valid.
        """
        public = arguments_of(cls)
        unknown = sorted(set(arguments) - set(public))
        if unknown:
            raise ValueError(f"unknown argument(s) {', '.join(unknown)}; valid: {', '.join(public)}")
        values = {**public, **arguments}
        if isinstance(values["decisions"], str):
            values["decisions"] = [d for d in values["decisions"].split(",") if d]
        values["decisions"] = tuple(values["decisions"] or ())
        for f in dataclasses.fields(cls):
            if f.name in values:
                if f.metadata["check"] is not None:
                    f.metadata["check"](f.name, values[f.name])
                if f.metadata["choices"] is not None and values[f.name] is not None:
                    _one_of(f.name, values[f.name], f.metadata["choices"])
        config = cls(**values)
        return dataclasses.replace(config, **config._checked_together())

    def _checked_together(self) -> dict[str, Any]:
        """Checks the settings that depend on one another; returns the fields they determine (cost, target,
        budgets, space_options)."""
        given = {name: getattr(self, name) for name in COSTS if getattr(self, name) is not None}
        if not given:
            raise ValueError("give a budget: madds=220M, params=2.5M or latency=12ms (with "
                             "latency_profile=PROFILE.json), or several")
        if (self.latency is None) != (self.latency_profile is None):
            raise ValueError("latency= and latency_profile= go together: the budget, and the device profile "
                             "(python -m layernas_tf.latency) it is predicted from")
        if self.latency is not None and self.tflite != "float":
            raise ValueError(f"latency=: profiles time float TFLite models, so the answer is exported as one; "
                             f"drop tflite={self.tflite} or use tflite=float")
        if self.madds_min is not None and self.madds is None:
            raise ValueError("madds_min= bounds MAdds from below; it goes with madds=")
        if self.bucket_by is not None and self.bucket_by not in given:
            raise ValueError(f"bucket_by={self.bucket_by} has no budget; give {self.bucket_by}= or bucket by "
                             f"one of the budgets given: {', '.join(given)}")
        ranges = {name: (0, parse_latency(value) if name == "latency" else parse_count(name, value))
                  for name, value in given.items()}
        if self.madds_min is not None:
            t_min = parse_count("madds_min", self.madds_min)
            if t_min > ranges["madds"][1]:
                raise ValueError(f"madds_min={self.madds_min} is above madds={self.madds}")
            ranges["madds"] = (t_min, ranges["madds"][1])
        check_rungs(self)
        check_inherit(self)
        if not layerwise(self.algorithm) and self.max_trials is None:
            raise ValueError(f"algorithm={self.algorithm} has no natural end on a space this large: give max_trials= "
                             "(layernas and layernas_plus end by themselves)")
        if self.executor == "serial" and (self.parallel_trials or 1) > 1:
            raise ValueError("executor=serial trains one trial at a time; use executor=local or ray "
                             "for parallel_trials > 1")
        if self.workers_per_trial > 1 or self.strategy == "multi_worker":
            check_steps_per_execution(self.steps_per_execution)
        if self.workers_per_trial > 1:
            if self.executor == "serial":
                raise ValueError(f"workers_per_trial={self.workers_per_trial} forms groups of worker processes: use "
                                 "executor=local (on this host) or executor=ray (across hosts), not executor=serial")
            if self.strategy not in ("auto", "multi_worker"):
                raise ValueError(f"workers_per_trial={self.workers_per_trial} trains each trial under "
                                 f"strategy=multi_worker, not strategy={self.strategy}")
            if self.tpu:
                raise ValueError("workers_per_trial= and tpu= do not go together: a TPU slice is one strategy's")
            if self.batch_size % self.workers_per_trial:
                raise ValueError(f"batch_size={self.batch_size} is the global batch: it must split evenly among "
                                 f"workers_per_trial={self.workers_per_trial}")
        if self.ray_address and self.executor != "ray":
            raise ValueError("ray_address= goes with executor=ray")
        space_options = tuple((name, getattr(self, key)) for name, key in (("cells", "nasnet_cells"),
                                                                           ("penultimate_filters", "nasnet_filters"))
                              if getattr(self, key) is not None)
        if space_options and self.space != "nasnet":
            raise ValueError(f"nasnet_cells= and nasnet_filters= size space=nasnet, not space={self.space!r}")
        if not isinstance(self.space, str) and self.executor in ("local", "ray"):
            check_picklable("space", self.space)
        input_shape = example_shape(self.space)
        if input_shape is not None:
            for name in ("image_size", "deploy_image_size"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}={getattr(self, name)} sizes images; this space takes examples of shape "
                                     f"{input_shape} (its input_shape), which go to the model as they are: drop "
                                     f"{name}=")
        cost = self.bucket_by or next(iter(given))
        return dict(cost=cost, target=tuple(ranges[cost]), space_options=space_options, input_shape=input_shape,
                    budgets=tuple((n, *ranges[n]) for n in ranges if n != cost))

    def inherited_epochs(self) -> int:
        """The epochs a network that inherits its parent's weights trains (`inherit_epochs`, or its default)."""
        return self.inherit_epochs or max(1, self.proxy_epochs // 2)

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
        if self.input_shape is not None:
            settings["input_shape"] = list(self.input_shape)
        if self.inherit:  # whether it inherits is the algorithm's (its config); how long a child trains, here
            settings["inherit_epochs"] = self.inherited_epochs()
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
            values.update({k: searched[k] for k in ("buckets", "per_bucket", "max_trials", "rung_factor", "inherit")
                           if k in searched})
            if searched.get("rungs"):
                values["rung_epochs"] = searched["rungs"][0]
            if "batch" in searched:
                values["controller_batch"] = searched["batch"]
        values.update(target=tuple(values["target"]), budgets=tuple(tuple(b) for b in values.get("budgets", ())),
                      decisions=tuple(values.get("decisions", ())),
                      space_options=tuple(tuple(o) for o in values.get("space_options", ())))
        if values.get("input_shape") is not None:
            values["input_shape"] = tuple(values["input_shape"])
        return cls(**{**values, **overrides})

    def resolved_study_dir(self) -> str:
        """`study_dir`, or the default it stands for: runs/<space>_<cost>_<budget> (e.g. runs/mbv3_small_madds_2.1M)."""
        if self.study_dir:
            return self.study_dir
        space_name = self.space if isinstance(self.space, str) else self.space.name
        return os.path.join("runs", f"{space_name}_{self.cost}_{show(self.cost, self.target[1])}")

    def records(self, rows: list[dict[str, Any]]) -> list[TrialRecord]:
        """The study's rows as records, each knowing whether its reward is the full proxy's (rung studies)."""
        return records_from_rows(rows, self.proxy_epochs if self.rung_epochs else None)

    def within(self, space: SearchSpace) -> Callable[[TrialRecord], bool]:
        """Whether a record's network is within the searched cost's target and every further budget of `space`."""
        low, high = self.target
        return lambda record: low <= record.cost <= high and space.within_budgets(space.parse(record.arch))

    def shape(self, size: Optional[int]) -> tuple[int, ...]:
        """One example's shape at image side `size`: the examples' own shape when they are not images."""
        return self.input_shape or (size, size, 3)

    def deploy_shape(self) -> tuple[int, ...]:
        return self.shape(self.deploy_image_size)

    def train_shape(self) -> tuple[int, ...]:
        return self.shape(self.image_size)

    def size_label(self, size: Optional[int] = None) -> str:
        """`size` (default: the deployment's) as reports print it: 32x32, or the examples' shape (100x13)."""
        shape = self.shape(self.deploy_image_size if size is None else size)
        return "x".join(str(d) for d in (shape if self.input_shape else shape[:2]))

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


def example_shape(space: Any) -> Optional[tuple[int, ...]]:
    """The shape of one example when `space` takes something other than RGB images, else None.

    Registered spaces and build functions named on the command line take RGB images
    (resized to `image_size`). A `KerasSpace` object declares its `input_shape`: a
    shape other than (height, width, 3) (a keyword-spotting model's (frames,
    coefficients), a sensor window, a grayscale (h, w, 1) spectrogram) means its data is
    fed as it is, so that the shape the model is built and counted at is the data's.
    """
    shape = None if isinstance(space, str) else getattr(space, "input_shape", None)
    if not shape:  # a tuner's hypermodel without input_shape=: its own keras.Input decides
        return None
    shape = tuple(int(d) for d in shape)
    return None if len(shape) == 3 and shape[-1] == 3 else shape


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


def arguments_of(config: Any = None) -> dict[str, Any]:
    """The public settings (`search()`'s keywords, `main`'s flags) with their defaults, in definition order."""
    return {f.name: f.default for f in dataclasses.fields(config or SearchConfig) if f.metadata["public"]}


def define_flags(values: Any, names: Optional[Sequence[str]] = None, **defaults: Any) -> None:
    """Defines absl flags for the settings `names` (default: every public one) in `values`, each with its field's
    default (or a command's own, `defaults`), help and kind: the flags cannot drift from the settings."""
    from absl import flags  # pylint: disable=import-outside-toplevel  (the library itself needs no absl)

    fields = {f.name: f for f in dataclasses.fields(SearchConfig) if f.metadata["public"]}
    for name in names if names is not None else fields:
        f = fields[name]
        default = defaults.get(name, f.default)
        kind, help_text = f.metadata["flag"], f.metadata["help"]
        if kind == "list":
            flags.DEFINE_list(name, list(default) or None, help_text, flag_values=values)
        elif kind == "enum" and isinstance(f.metadata["choices"][0], str):
            flags.DEFINE_enum(name, default, list(f.metadata["choices"]), help_text, flag_values=values)
        else:
            define = {"string": flags.DEFINE_string, "integer": flags.DEFINE_integer, "float": flags.DEFINE_float,
                      "bool": flags.DEFINE_bool, "enum": flags.DEFINE_integer}[kind]
            define(name, default, help_text, flag_values=values)


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


def check_rungs(config: Any) -> None:
    """ValueError unless `rung_epochs` and `rung_factor` make a successive-halving schedule LayerNAS can run."""
    if not config.rung_epochs:
        return
    if config.rung_factor < 2:
        raise ValueError(f"rung_factor={config.rung_factor}: each rung keeps 1/rung_factor of a bucket's children; "
                         "give 2 or more")
    if config.rung_epochs >= config.proxy_epochs:
        raise ValueError(f"rung_epochs={config.rung_epochs} is the first rung's epochs: give fewer than "
                         f"proxy_epochs={config.proxy_epochs}")
    if config.algorithm != "layernas":
        raise ValueError(f"rung_epochs= is multi-fidelity LayerNAS: give algorithm=layernas, not "
                         f"algorithm={config.algorithm}")


def check_inherit(config: Any) -> None:
    """ValueError unless weight inheritance (`inherit`, `inherit_epochs`) goes with the rest of the search."""
    if not config.inherit:
        if config.inherit_epochs is not None:
            raise ValueError(f"inherit_epochs={config.inherit_epochs} is how long an inheriting network trains; it "
                             "goes with inherit=True")
        return
    if not layerwise(config.algorithm):
        raise ValueError(f"inherit=True needs a layerwise search, whose networks have parent candidates: give "
                         f"algorithm=layernas or layernas_plus, not algorithm={config.algorithm}")
    if config.rung_epochs:
        raise ValueError(f"inherit=True and rung_epochs={config.rung_epochs} do not combine: a rung trains on from "
                         "the network's own checkpoint, an inheriting network from its parent's weights; give one")
    if config.inherited_epochs() >= config.proxy_epochs:
        raise ValueError(f"inherit_epochs={config.inherited_epochs()}: an inheriting network trains fewer epochs "
                         f"than one from scratch; give fewer than proxy_epochs={config.proxy_epochs}")


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
    try:  # pages a write-ahead log still holds (a search stopped by a full disk before folding it in) are not lost
        logged = os.path.getsize(path + "-wal") > 0
    except OSError:
        logged = False
    if header[24:28] == header[92:96] and size < pages * page_size and not logged:  # is every page there?
        return f"truncated: {size:,} bytes where its header says {pages * page_size:,}"
    return None
