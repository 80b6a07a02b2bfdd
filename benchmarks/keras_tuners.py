r"""LayerNAS through `layernas_tf.keras_tuner` against KerasTuner's own tuners, under a MAdds budget.

    python -m benchmarks.keras_tuners [--seeds=3] [--epochs=3] [--buckets=3] [--max_trials=0]

One hypermodel (three convolutions, each with a width and a kernel choice: 216
networks) on the embedded digits, a MAdds budget that about half of its networks
meet. Each seed runs LayerNAS (`LayerNASTuner`, the paper's LayerNAS, H=3 buckets) first; its
trial count (or `--max_trials`) is what `kt.RandomSearch`, `kt.BayesianOptimization`
and `kt.Hyperband` then get. They know parameters only: `max_model_size` is the
budget's parameter equivalent (the parameter count the same number of networks
meet), and an oversized model is a failed trial there (`max_consecutive_failed_trials`
raised so they can go on at all). For every tuner: its trials within the MAdds
budget, the best within-budget validation accuracy, the epochs it trained and its
wall time, per seed and on average. Every network's MAdds come from the same
layer counter the tuner budgets with.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import time

import layernas_tf.quiet  # pylint: disable=unused-import,ungrouped-imports  (first: TensorFlow starts quietly)

import keras  # pylint: disable=wrong-import-order
import keras_tuner as kt  # pylint: disable=wrong-import-order
from absl import app, flags  # pylint: disable=wrong-import-order
from sklearn.datasets import load_digits  # pylint: disable=wrong-import-order

from layernas_tf.core.units import show
from layernas_tf.keras_tuner import LayerNASTuner, architecture_of, hypermodel_space

_SEEDS = flags.DEFINE_integer("seeds", 3, "Seeds per tuner.")
_EPOCHS = flags.DEFINE_integer("epochs", 3, "Epochs per trial (Hyperband's max_epochs).")
_MAX_TRIALS = flags.DEFINE_integer("max_trials", 0, "Trials per tuner; 0: as many as LayerNAS takes.")
_BUCKETS = flags.DEFINE_integer("buckets", 3, "LayerNAS's H (cost buckets per layer).")


def build_model(hp):
    """The benchmark's hypermodel: widths and kernels of three convolutions on 8x8 digits."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 16)(inputs)
    for i in range(3):
        x = keras.layers.Conv2D(hp.Choice(f"conv{i}_filters", [8, 16, 32]), hp.Choice(f"conv{i}_kernel", [1, 3]),
                                padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data():
    digits = load_digits()
    x, y = digits.images[..., None].astype("float32"), digits.target
    return (x[:1200], y[:1200]), (x[1200:], y[1200:])


def budgets(space) -> tuple[int, int, int]:
    """The median MAdds (about half of the networks meet it), its parameter equivalent, and how many meet it."""
    archs = list(space.all_architectures())
    madds = sorted(space.madds(a) for a in archs)
    budget = madds[len(madds) // 2]
    meeting = sum(m <= budget for m in madds)
    params = sorted(space.params(a) for a in archs)
    return budget, params[meeting - 1], meeting


def _tuner(name: str, seed: int, trials: int, madds: int, params: int, directory: str):
    common = dict(objective="val_accuracy", directory=directory, project_name=f"{name}-{seed}", overwrite=True)
    if name == "LayerNAS":
        return LayerNASTuner(build_model, max_madds=madds, seed=seed, max_trials=trials or None,
                             buckets=_BUCKETS.value, **common)
    limits = dict(seed=seed, max_model_size=params, max_consecutive_failed_trials=10**6)
    if name == "Hyperband":
        tuner = kt.Hyperband(build_model, max_epochs=_EPOCHS.value, **limits, **common)
        tuner.oracle.max_trials = trials  # Hyperband has no trial budget of its own: the same count for all
        return tuner
    cls = {"RandomSearch": kt.RandomSearch, "BayesianOptimization": kt.BayesianOptimization}[name]
    return cls(build_model, max_trials=trials, **limits, **common)


def _run(name, seed, trials, madds, params, space, directory):
    (x, y), validation = _data()
    keras.utils.set_random_seed(seed)
    tuner = _tuner(name, seed, trials, madds, params, directory)
    tuner.oracle.verbose = 0
    start = time.time()
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):  # a traceback per oversized model
        tuner.search(x, y, epochs=_EPOCHS.value, batch_size=64, validation_data=validation, verbose=0)
    seconds = time.time() - start
    within, best, epochs = 0, float("nan"), 0
    done = list(tuner.oracle.trials.values())
    for trial in done:
        values = {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}
        fits = space.madds(architecture_of(space, values)) <= madds
        within += fits
        if trial.status == "COMPLETED":
            epochs += values_epochs(trial)
            if fits and not trial.score <= best:
                best = trial.score
    return {"trials": len(done), "within": within, "best": best, "epochs": epochs, "seconds": seconds}


def values_epochs(trial) -> int:
    values = trial.hyperparameters.values
    return values.get("tuner/epochs", _EPOCHS.value) - values.get("tuner/initial_epoch", 0)


def main(argv):
    del argv
    space = hypermodel_space(build_model)
    madds, params, meeting = budgets(space)
    print(f"{space.size} networks; MAdds budget {show('madds', madds)} ({meeting} networks meet it), "
          f"max_model_size {params:,} parameters for KerasTuner's tuners; {_EPOCHS.value} epochs per trial", flush=True)
    names = ("LayerNAS", "RandomSearch", "BayesianOptimization", "Hyperband")
    results: dict[str, list[dict]] = {n: [] for n in names}
    print(f"{'tuner':<21} {'seed':>4} {'trials':>6} {'within':>6} {'best val acc':>12} {'epochs':>6} {'time':>7}")
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(_SEEDS.value):
            trials = _MAX_TRIALS.value
            for name in names:
                r = _run(name, seed, trials, madds, params, space, os.path.join(directory, str(seed)))
                trials = trials or r["trials"]
                results[name].append(r)
                print(f"{name:<21} {seed:>4} {r['trials']:>6} {r['within']:>6} {r['best']:>12.4f} {r['epochs']:>6} "
                      f"{r['seconds']:>6.0f}s", flush=True)
    print("\nmean over seeds (std of the best)")
    for name in names:
        rs = results[name]
        bests = [r["best"] for r in rs]
        print(f"{name:<21} trials {statistics.mean(r['trials'] for r in rs):5.1f}  within budget "
              f"{statistics.mean(r['within'] / r['trials'] for r in rs):6.1%}  best val acc {statistics.mean(bests):.4f}"
              f" ({statistics.pstdev(bests):.4f})  epochs {statistics.mean(r['epochs'] for r in rs):5.1f}  "
              f"time {statistics.mean(r['seconds'] for r in rs):5.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    app.run(main)
