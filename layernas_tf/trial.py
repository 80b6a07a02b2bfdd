"""The body of one trial (build, train, evaluate, save) and the settings it needs.

A worker process (or Ray actor) imports this module, makes one `TrialWorker` from
a `SearchConfig`, and calls it once per trial. The worker loads the dataset, builds
the cached input and picks the tf.distribute strategy once; each trial then trains
from a cleared Keras session in its own directory, `STUDY_DIR/trials/<id>/`:

    weights.npz          the trained weights (numpy arrays in `model.get_weights()` order)
    tensorboard/         the trial's events and its HParams row
    backup/              Keras BackupAndRestore state while it trains: a trial killed
                         mid-way resumes from its last finished epoch

Workers only return results; the driver alone writes the study database.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from typing import Any, Optional

TRIALS_DIR = "trials"
WEIGHTS = "weights.npz"
# Set by an executor for each worker it starts: the CPU threads TensorFlow may use.
THREADS_ENV = "LAYERNAS_CPU_THREADS"


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search and its training: what `main` reads from its flags.

    Attributes:
      cost: what LayerNAS buckets by (`--bucket_by`), "madds" or "params", counted
        at the deployment size.
      target: the budget of `cost` as a (min, max) range.
      budgets: further budgets every answer must meet, as (cost, min, max).
      decisions: the kinds of decision points searched (`--decisions`); empty: all.
      space_options: arguments of the space besides its input and classes, as
        (name, value) pairs (NASNet's `cells` and `penultimate_filters`).
      image_size: the side the proxies train at.
      deploy_image_size: the side the exported network takes and its cost is counted at.
      latency_profile: the device profile latency budgets are predicted from (`--latency_profile`).
    """

    space: str
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
    strategy: str = "auto"
    tpu: Optional[str] = None
    mixed_precision: bool = False
    verbose: int = 1
    study_dir: str = "runs/study"
    latency_profile: Optional[str] = None

    def study_settings(self) -> dict[str, Any]:
        """What a study directory must match to be resumed: the search, not where it runs."""
        settings = {
            "space": self.space,
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
        return settings

    def deploy_shape(self) -> tuple[int, int, int]:
        return (self.deploy_image_size, self.deploy_image_size, 3)

    def train_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, 3)

    def size_label(self) -> str:
        return f"{self.deploy_image_size}x{self.deploy_image_size}"

    def _chosen_space(self):
        """The space at the deployment shape with the dataset's classes, restricted to `decisions`."""
        import search_spaces  # pylint: disable=import-outside-toplevel
        from layernas_tf.space import Subspace  # pylint: disable=import-outside-toplevel

        space = search_spaces.get(self.space, input_shape=self.deploy_shape(), num_classes=self.num_classes,
                                  **dict(self.space_options))
        return Subspace(space, self.decisions) if self.decisions else space

    def search_space(self):
        """The space, its cost counted at the deployment shape with the dataset's classes."""
        from layernas_tf.space import WithCost  # pylint: disable=import-outside-toplevel

        space = self._chosen_space()
        if self.cost == "madds" and not self.budgets:
            return space
        costs = {"madds": space.madds, "params": space.params}
        if "latency" in (self.cost, *(name for name, _, _ in self.budgets)):
            costs["latency"] = self.latency_predictor(space)
        budgets = [(WithCost(space, costs[name], name), t_min, t_max) for name, t_min, t_max in self.budgets]
        return WithCost(space, costs[self.cost], self.cost, budgets=budgets)

    def latency_predictor(self, space=None):
        """Predicts a network's latency in ms from `latency_profile`.

        Raises:
          ValueError: the profile cannot be read or was made for another space, size,
            number of classes or set of decisions.
        """
        from layernas_tf import latency  # pylint: disable=import-outside-toplevel

        space = space if space is not None else self._chosen_space()
        return latency.Predictor(latency.Profile.load(self.latency_profile), space, self.deploy_image_size,
                                 self.num_classes)

    def trial_dir(self, trial_id: int) -> str:
        return trial_dir(self.study_dir, trial_id)


def set_threads() -> None:
    """Sizes TensorFlow's thread pools as the executor asked (`THREADS_ENV`), before they start."""
    threads = int(os.environ.get(THREADS_ENV, "0"))
    if threads:
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        if tf.config.threading.get_intra_op_parallelism_threads() != threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)


def trial_dir(study_dir: str, trial_id: int) -> str:
    return os.path.join(study_dir, TRIALS_DIR, f"{trial_id:04d}")


def trial_seed(search_seed: int, arch: str) -> int:
    """The seed a network trains with: the same network trains the same way in any order, on any worker."""
    return zlib.crc32(f"{search_seed}:{arch}".encode()) & 0x7FFFFFFF


def save_weights(model, path: str) -> None:
    """The model's weights as numpy arrays, written whole or not at all."""
    import numpy as np  # pylint: disable=import-outside-toplevel

    tmp = f"{path}.tmp.npz"
    np.savez(tmp, *model.get_weights())
    os.replace(tmp, path)


def load_weights(model, path: str) -> None:
    """Loads `save_weights` output into a model of the same architecture, at any input size."""
    import numpy as np  # pylint: disable=import-outside-toplevel

    with np.load(path) as saved:
        model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])


class TrialWorker:
    """Trains trials of one search; one per worker process, set up on first use.

    Calling it with `(trial_id, arch)` returns the trial's metrics (`reward`, the
    validation top-1, among them), or raises: `trainer.TrialFailed` when training
    diverged, anything else when it could not run.
    """

    def __init__(self, config: SearchConfig):
        self.config = config
        self._ready = False

    def setup(self) -> None:
        """TensorFlow's threads, determinism and strategy, and the data: once per worker."""
        if self._ready:
            return
        import keras  # pylint: disable=import-outside-toplevel
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        from layernas_tf import data, distribute  # pylint: disable=import-outside-toplevel

        config = self.config
        if not os.path.isdir(config.study_dir):
            raise RuntimeError(
                f"the study directory {config.study_dir} is not visible on this worker's host; "
                "put --study_dir on storage that the driver and every worker share"
            )
        set_threads()
        tf.config.experimental.enable_op_determinism()
        self.strategy = distribute.make_strategy(config.strategy, config.tpu)
        if config.mixed_precision:
            tpu = isinstance(self.strategy, tf.distribute.TPUStrategy)
            keras.mixed_precision.set_global_policy("mixed_bfloat16" if tpu else "mixed_float16")
        dataset = data.load(config.dataset, config.data_dir)
        self.dataset = dataset
        self.train_images = data.resized(dataset.train, image_size=config.image_size,
                                         size_hint=dataset.sizes["train"])
        self.validation = data.batches(
            data.resized(dataset.validation, image_size=config.image_size, size_hint=dataset.sizes["validation"]),
            batch_size=config.batch_size, num_classes=dataset.num_classes, training=False)
        self.steps = data.steps_per_epoch(dataset.sizes["train"], config.batch_size)
        self.space = config.search_space()
        self._ready = True

    def __call__(self, trial_id: int, arch: str) -> dict[str, Any]:
        import keras  # pylint: disable=import-outside-toplevel

        from layernas_tf import data, reports, trainer  # pylint: disable=import-outside-toplevel

        self.setup()
        config, space = self.config, self.space
        architecture = space.parse(arch)
        directory = config.trial_dir(trial_id)
        os.makedirs(directory, exist_ok=True)
        seed = trial_seed(config.seed, arch)
        # The pipeline's random ops take the global seed in force when they are built: set it first,
        # or a trial would depend on the trial this worker trained before it.
        keras.utils.set_random_seed(seed)
        train_data = data.batches(self.train_images, batch_size=config.batch_size,
                                  num_classes=self.dataset.num_classes, training=True, flip=self.dataset.flip,
                                  size_hint=self.dataset.sizes["train"], seed=seed)
        proxy = trainer.TrainConfig(epochs=config.proxy_epochs, learning_rate=config.learning_rate,
                                    verbose=config.verbose)
        log_dir = os.path.join(directory, "tensorboard")
        model, metrics = trainer.train(
            lambda: space.build(architecture, input_shape=config.train_shape()), train_data, self.validation,
            proxy, self.strategy, steps_per_epoch=self.steps, log_dir=log_dir,
            backup_dir=os.path.join(directory, "backup"), seed=seed)
        save_weights(model, os.path.join(directory, WEIGHTS))
        metrics["madds"] = space.madds(architecture)
        metrics["params"] = space.params(architecture)
        metrics["deploy_image_size"] = config.deploy_image_size
        reports.write_hparams(log_dir, {"arch": arch, "madds": metrics["madds"], "params": metrics["params"]},
                              {"reward": metrics["reward"]})
        return metrics
