"""LayerNAS inside KerasTuner: a hypermodel's hyperparameters as layers, exact budgets, KerasTuner's conventions."""

import json
import os
import subprocess
import sys

import keras
import pytest
from sklearn.datasets import load_digits

from layernas_tf.cost import graph
from layernas_tf.keras_tuner import LayerNASTuner, architecture_of, hypermodel_space, values_of


def build_model(hp):
    """A KerasTuner user's hypermodel (module level: local workers import it)."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Rescaling(1 / 16)(inputs)
    x = keras.layers.Conv2D(hp.Choice("conv1_filters", [8, 16, 32], default=16), 3, padding="same",
                            activation="relu")(x)
    x = keras.layers.Conv2D(hp.Int("conv2_filters", 8, 24, step=8), 3, padding="same", activation="relu")(x)
    if hp.Boolean("extra"):
        x = keras.layers.Conv2D(32, 1, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Stop(keras.callbacks.Callback):
    """Ctrl-C as the search's `trial`-th trial starts training (KerasTuner copies callbacks per trial: the count is
    the class's)."""

    started = 0

    def __init__(self, trial):
        super().__init__()
        self.trial = trial

    def on_train_begin(self, logs=None):
        Stop.started += 1
        if Stop.started == self.trial:
            raise KeyboardInterrupt


def _digits():
    digits = load_digits()
    x, y = digits.images[..., None].astype("float32"), digits.target
    return (x[:600], y[:600]), (x[1500:], y[1500:])


def _flat(hp):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(hp.Choice("units", [4, 8]))(x))


def _floating(hp):
    hp.Float("dropout", 0.0, 0.5)
    return _flat(hp)


def _layers_by_count(hp):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    for i in range(hp.Int("layers", 1, 3)):
        x = keras.layers.Dense(hp.Choice(f"units_{i}", [4, 8]))(x)
    return keras.Model(inputs, x)


def _with_parent(hp):
    hp.Choice("kind", ["a", "b"])
    hp.Choice("width", [4, 8], parent_name="kind", parent_values=["a"])
    return _flat(hp)


def _scoped(hp):
    with hp.conditional_scope("units", [4]):
        hp.Choice("width", [4, 8])
    return _flat(hp)


def _log_int(hp):
    hp.Int("units", 4, 64, sampling="log")
    return _flat(hp)


def _volumetric(hp):
    inputs = keras.Input((4, 4, 4, 1))
    x = keras.layers.Conv3D(hp.Choice("filters", [2, 4]), 3)(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x)))


def test_hyperparameters_are_layers_in_the_order_asked_with_exact_costs():
    space = hypermodel_space(build_model)
    assert [(p.name, p.options) for p in space.decision_points] == [
        ("conv1_filters", (8, 16, 32)), ("conv2_filters", (8, 16, 24)), ("extra", (False, True))]
    assert str(space.default()) == "1:0:0"
    for arch in (space.cheapest(), space.default(), space.dearest()):
        model = space.build(arch)
        assert space.madds(arch) == graph.profile_madds(model) and space.params(arch) == model.count_params()
    values = values_of(space, space.dearest())
    assert values == {"conv1_filters": 32, "conv2_filters": 24, "extra": True}
    assert architecture_of(space, values) == space.dearest()


@pytest.mark.parametrize("hypermodel, arguments, message", [
    (_floating, {"max_madds": 1e6}, r"hp.Float\('dropout'\) is continuous: LayerNAS searches a fixed list"),
    (_layers_by_count, {"max_madds": 1e6}, "setting layers=3 changes which hyperparameters the hypermodel asks for"),
    (_with_parent, {"max_madds": 1e6}, "'width' is conditional on 'kind'"),
    (_scoped, {"max_madds": 1e6}, r"conditional_scope\('units'\)"),
    (_log_int, {"max_madds": 1e6}, r"hp.Int\('units', sampling='log'\) needs a step"),
    (_volumetric, {"max_madds": 1e6}, r"\(Conv3D\) cannot be counted"),
    (build_model, {}, "needs a budget: max_madds= and/or max_params="),
    (build_model, {"max_madds": 1000},
     r"max_madds=1K is below the cheapest network of the hypermodel: 41,552 \(41.55K\) MAdds"),
    (build_model, {"max_params": 10}, "max_params=10 is below the cheapest network"),
    (build_model, {"max_madds": 1e6, "executor": "ray"}, "executor='ray': valid values are serial, local"),
    (build_model, {"max_madds": 1e6, "algorithm": "tpe"}, "algorithm='tpe': valid values are layernas, "),
    (build_model, {"max_madds": 1e6, "max_model_size": 5000}, "give max_params="),
    (build_model, {"max_madds": 1e6, "inherit": True}, "inherit: LayerNASTuner trains each trial as KerasTuner"),
])
def test_what_layernas_cannot_search_is_refused_with_one_clear_message(tmp_path, hypermodel, arguments, message):
    with pytest.raises(ValueError, match=message):
        LayerNASTuner(hypermodel, directory=str(tmp_path), project_name="p", **arguments)
    assert not os.path.exists(tmp_path / "p")  # refused before anything is written


def test_with_both_budgets_layernas_buckets_by_madds_and_keeps_parameters_within_theirs(tmp_path, capsys):
    tuner = LayerNASTuner(build_model, max_madds=100_000, max_params=1_415, directory=str(tmp_path),
                          project_name="both")
    space, algorithm = tuner.oracle.space, tuner.oracle.search_algorithm
    assert space.cost_name == "madds" and [(view.cost_name, high) for view, _, high in space.budgets] == [("params", 1415)]
    feasible = [a for a in space.base.all_architectures() if algorithm.feasible(a)]
    assert feasible and all(space.base.madds(a) <= 100_000 and space.base.params(a) <= 1_415 for a in feasible)
    assert len(feasible) < sum(space.base.madds(a) <= 100_000 for a in space.base.all_architectures())
    tuner.search_space_summary()
    assert "conv1_filters (Choice)" in capsys.readouterr().out  # KerasTuner's own view of the space


def _tuner(tmp_path, **arguments):
    return LayerNASTuner(build_model, max_madds=100_000, directory=str(tmp_path), project_name="digits",
                         **arguments)


def _search(tuner, tmp_path, *callbacks):
    (x, y), validation = _digits()
    board = keras.callbacks.TensorBoard(str(tmp_path / "logs"))
    tuner.search(x, y, epochs=1, batch_size=64, validation_data=validation, callbacks=[board, *callbacks],
                 verbose=0)


def _trials(tuner):
    return {t.trial_id: (t.hyperparameters.values, t.score, t.status) for t in tuner.oracle.trials.values()}


@pytest.mark.slow
def test_a_hypermodel_is_searched_in_keras_tuner_conventions_resumed_and_exported(tmp_path, capsys):
    tuner = _tuner(tmp_path / "serial")
    _search(tuner, tmp_path / "serial")
    trials = _trials(tuner)
    assert 4 <= len(trials) <= tuner.oracle.trial_bound() and tuner.oracle.search_algorithm.done
    best_hp = tuner.get_best_hyperparameters()[0]
    best = tuner.oracle.get_best_trials(1)[0]
    assert tuner.oracle.cost_of(best_hp.values)["madds"] <= 100_000
    within = [s for values, s, status in trials.values()
              if status == "COMPLETED" and tuner.oracle.cost_of(values)["madds"] <= 100_000]
    assert best.score == max(within)  # the best within the budget: one over it is never offered
    (_, _), (x_val, y_val) = _digits()
    model = tuner.get_best_models()[0]
    assert model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"] == pytest.approx(best.score)
    project = tmp_path / "serial" / "digits"
    assert (project / "oracle.json").exists() and (project / f"trial_{best.trial_id}" / "trial.json").exists()
    assert os.listdir(tmp_path / "serial" / "logs" / best.trial_id / "execution0")  # TensorBoard, per trial
    tuner.results_summary(2)
    out = capsys.readouterr().out
    assert "LayerNAS+ on digits (3 decision points; 18 networks), MAdds <= 100K" in out
    assert f"trial {best.trial_id}: val_accuracy {best.score:.4f}" in out

    checks = tuner.export(str(tmp_path / "export"), (x_val, y_val))
    assert checks["tflite"]["verified"] and checks["trial"] == best.trial_id
    assert json.loads((tmp_path / "export" / "export.json").read_text())["madds"] <= 100_000

    again = _tuner(tmp_path / "serial")  # overwrite=False: KerasTuner's reload, LayerNAS's state with it
    _search(again, tmp_path / "serial")
    assert _trials(again) == trials and "resuming after" in capsys.readouterr().out

    # A Ctrl-C in the middle of the search, resumed by two local workers: what finished is not trained again,
    # and the search ends with the same trials and scores (each trial is seeded by its values).
    Stop.started = 0
    with pytest.raises(KeyboardInterrupt):
        _search(_tuner(tmp_path / "stopped"), tmp_path / "stopped", Stop(3))
    project = tmp_path / "stopped" / "digits"
    finished = {i: os.path.getmtime(project / f"trial_{i}" / "checkpoint.weights.h5")
                for i, (_, _, status) in _trials(_tuner(tmp_path / "stopped")).items() if status == "COMPLETED"}
    assert len(finished) == 2
    resumed = _tuner(tmp_path / "stopped", executor="local", parallel_trials=2)
    _search(resumed, tmp_path / "stopped")
    assert _trials(resumed) == trials
    assert {i: os.path.getmtime(project / f"trial_{i}" / "checkpoint.weights.h5") for i in finished} == finished


UNGUARDED = """
import sys
sys.path.insert(0, {tests!r})
from layernas_tf.keras_tuner import LayerNASTuner
from test_keras_tuner import _digits, build_model

(x, y), validation = _digits()
tuner = LayerNASTuner(build_model, max_madds=100_000, executor="local", directory={directory!r}, project_name="p")
tuner.search(x, y, epochs=1, validation_data=validation, verbose=0)
"""


@pytest.mark.slow
def test_a_script_without_a_main_guard_is_told_to_add_one(tmp_path):
    """Local workers import the driver's script: unguarded, it would start a search (and overwrite the project) in
    each of them. The workers refuse, and the driver ends at once with what to do."""
    script = tmp_path / "search.py"
    script.write_text(UNGUARDED.format(tests=os.path.dirname(__file__), directory=str(tmp_path)))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert 'start the search under `if __name__ == "__main__":`' in done.stderr
    assert "WorkerSetupError" in done.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_a_trial_budget_below_layernas_need_still_answers_within_the_budget(tmp_path, capsys):
    """A budget just above the cheapest network and 4 trials: LayerNAS would spend them on the default network
    and its children, most over the budget; every best the tuner offers is within it, and those over it are
    counted, never listed."""
    probe = _tuner(tmp_path / "probe")
    space = probe.oracle.space
    budget = space.base.madds(space.base.cheapest()) * 1.3
    assert space.base.madds(space.base.default()) > budget
    tuner = LayerNASTuner(build_model, max_madds=budget, max_trials=4, directory=str(tmp_path), project_name="q")
    _search(tuner, tmp_path)
    out = capsys.readouterr().out
    best = tuner.oracle.get_best_trials(10)
    assert best and all(tuner.oracle.cost_of(t.hyperparameters.values)["madds"] <= budget for t in best)
    assert tuner.oracle.cost_of(tuner.get_best_hyperparameters()[0].values)["madds"] <= budget
    assert f"best: trial {best[0].trial_id}" in out
    tuner.results_summary(10)
    summary = capsys.readouterr().out
    listed = [line for line in summary.splitlines() if line.startswith("  trial ")]
    assert len(listed) == len(best) and "over it are never listed" in summary


@pytest.mark.slow
def test_a_larger_max_trials_goes_on_where_the_search_stopped_and_other_changes_are_named(tmp_path, capsys):
    first = _tuner(tmp_path, max_trials=3)
    _search(first, tmp_path)
    before = _trials(first)
    assert len(before) == 3
    # As if begun under an earlier version, whose LayerNAS+ defaults (no flag sets them) were others: it goes on
    # with the settings it began with, not refused as another search.
    path = tmp_path / "digits" / "oracle.json"
    state = json.loads(path.read_text())
    state["layernas"]["search"]["config"]["model_share"] = 0.25
    path.write_text(json.dumps(state))
    more = _tuner(tmp_path, max_trials=6)  # overwrite=False: KerasTuner's way to go on
    assert more.oracle.search_algorithm.model_share == 0.25
    _search(more, tmp_path)
    after = _trials(more)
    assert 3 < len(after) <= 6 and (len(after) == 6 or more.oracle.search_algorithm.done)
    assert {k: after[k] for k in before} == before  # nothing trained again
    with pytest.raises(ValueError) as e:
        _tuner(tmp_path, max_trials=6, buckets=2)
    assert "buckets: saved 10, now 2" in str(e.value) and "\n" not in str(e.value)


def uncompiled_model(hp):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(hp.Choice("filters", [4, 8]), 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def test_an_uncompiled_hypermodel_is_refused_before_the_first_trial(tmp_path):
    with pytest.raises(ValueError) as e:
        LayerNASTuner(uncompiled_model, max_madds=1e6, directory=str(tmp_path), project_name="u")
    assert "returns an uncompiled model" in str(e.value) and "\n" not in str(e.value)
    assert not os.path.exists(tmp_path / "u")
    # KerasTuner's own way still works: the tuner compiles it with the loss it is given.
    LayerNASTuner(uncompiled_model, max_madds=1e6, directory=str(tmp_path), project_name="c",
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
