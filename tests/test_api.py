"""The front door: `layernas_tf.search()` from Python, its result, its resume and its bad arguments."""

import json
import multiprocessing
import os
import re
import sqlite3
import textwrap

import numpy as np
import pytest

import layernas_tf
from layernas_tf import api
from layernas_tf.trials import study

TINY = dict(space="nats_sss", params="600K", image_size=16, proxy_epochs=1, batch_size=64, verbose=0)


def _images(count, seed):
    """Two classes anyone can tell apart: bright and dark 16x16 images, with noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 2
    images = rng.integers(0, 80, (count, 16, 16, 3)) + 150 * labels[:, None, None, None]
    return images.astype(np.uint8), labels


def make_data():
    """A dataset function as a user writes one: module level, so every executor's workers can import it."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    train, test = _images(256, 0), _images(64, 1)
    return {"train": tf.data.Dataset.from_tensor_slices(train), "test": tf.data.Dataset.from_tensor_slices(test)}


def _lines():
    lines = []
    return lines, lines.append


def _trial_rows(study_dir):
    return [(r["id"], r["arch"], r["status"], r["reward"]) for r in study.read(study_dir)[1]]


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["serial", "local"])
def test_the_docstring_example_runs_exports_for_litert_and_resumes_without_training(tmp_path, monkeypatch, executor):
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel

    example = textwrap.dedent(api.search.__doc__.split("Example")[1].split("Args:")[0].split("\n", 1)[1])
    where = {"serial": "", "local": 'executor="local", parallel_trials=2, '}[executor]
    example = example.replace("verbose=0,", f"verbose=0, {where}")
    assert where in example
    monkeypatch.chdir(tmp_path)  # the example writes runs/example
    scope = {}
    exec(compile(example, "search.__doc__", "exec"), scope)  # pylint: disable=exec-used
    result, exported = scope["result"], scope["exported"]
    assert result.trials == 3 and result.stopped_early and result.study_dir == "runs/example"
    assert result.best["costs"]["madds"] <= 40_000_000 and result.best["image_size"] == 16
    assert result.front and result.front[-1]["trial"] == result.best["trial"]
    assert scope["model"].input_shape == (None, 16, 16, 3)
    lite = exported["exports"]["tflite"]
    assert lite["verified"]
    interpreter = Interpreter(model_path=lite["path"])
    interpreter.allocate_tensors()
    source, sink = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    images, _ = _images(2, 3)
    interpreter.set_tensor(source["index"], images[:1].astype(np.float32))
    interpreter.invoke()
    probabilities = interpreter.get_tensor(sink["index"])[0]
    assert probabilities.shape == (10,) and abs(float(probabilities.sum()) - 1) < 1e-3
    rows = _trial_rows("runs/example")

    lines, log = _lines()
    again = layernas_tf.search(space="nats_sss", dataset="digits", madds="40M", image_size=16, proxy_epochs=1,
                               batch_size=64, max_trials=3, verbose=0, study_dir="runs/example", log=log,
                               **({"executor": "local", "parallel_trials": 2} if executor == "local" else {}))
    assert any(line.startswith("resuming runs/example/study.db: 3 trial(s) done, 0 to retry") for line in lines)
    assert not [line for line in lines if line.startswith("trial ")]  # nothing trained again
    assert again.best == result.best and _trial_rows("runs/example") == rows


@pytest.mark.slow
def test_numpy_arrays_and_a_dataset_function_train_under_the_local_executor(tmp_path):
    arrays = {"train": _images(256, 0), "test": _images(64, 1)}
    by_arrays = layernas_tf.search(**TINY, dataset=arrays, max_trials=2, executor="local", parallel_trials=2,
                                   study_dir=str(tmp_path / "arrays"), log=lambda line: None)
    settings, rows = study.read(str(tmp_path / "arrays"))
    assert re.fullmatch(r"arrays:[0-9a-f]{16}", settings["dataset"]) and settings["num_classes"] == 2
    assert [r["status"] for r in rows] == ["COMPLETE"] * 2
    assert by_arrays.best["reward"] > 0.9  # bright against dark: the data reached the workers intact

    lines, log = _lines()
    by_function = layernas_tf.search(**TINY, dataset=make_data, max_trials=2, executor="local", parallel_trials=2,
                                      train_examples=100, study_dir=str(tmp_path / "function"), log=log)
    settings, rows = study.read(str(tmp_path / "function"))
    assert settings["dataset"] == "function:test_api.make_data" and settings["num_classes"] == 2
    assert settings["train_examples"] == 100  # the proxies' part of the split is part of the search
    assert [r["status"] for r in rows] == ["COMPLETE"] * 2
    assert by_function.best["reward"] > 0.9
    assert "local executor (2 worker processes" in lines[0]
    assert "(100 train (a fixed, class-balanced part) / 26 validation images)" in lines[0]


def test_bad_arguments_raise_value_error_naming_the_argument(tmp_path):
    cases = [
        (dict(madds="40M", max_trial=3), "unknown argument(s) max_trial"),
        (dict(space=42, madds="40M"), "space=42 is neither a space's name"),
        (dict(madds="lots"), "madds='lots' is not a count"),
        (dict(madds=float("inf")), "madds=inf is not a finite count"),
        (dict(madds="40M", learning_rate=float("nan")), "learning_rate=nan is not a positive finite number"),
        (dict(madds="40M", batch_size=2.5), "batch_size=2.5 is not an integer"),
        (dict(madds="40M", dataset=(np.zeros((4, 8, 8, 3)), np.zeros(3, int))), "4 examples need 4 labels"),
        (dict(madds="40M", dataset=(np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4, int))), "1 class(es)"),
        (dict(madds="40M", dataset=lambda: {}, executor="local"), "cannot be sent to the trial workers"),
        (dict(madds="40M", space="mbv3_small", decisions="width,depth"), "kind depth"),
    ]
    for arguments, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            api.prepare(log=lambda line: None, study_dir=str(tmp_path / "study"), **arguments)
    assert not (tmp_path / "study").exists()


def test_a_study_begun_under_earlier_defaults_resumes_as_it_began(tmp_path):
    """LayerNAS+'s own settings (no flag sets them; `docs/algorithm.md` measures them) may change between versions:
    a study keeps those it began with and resumes, instead of being refused as another search."""
    where = str(tmp_path / "study")
    arguments = dict(TINY, dataset="digits", max_trials=1, study_dir=where, log=lambda line: None)
    first = layernas_tf.search(**arguments)
    with sqlite3.connect(os.path.join(where, study.DB_NAME)) as db:  # as an earlier version would have saved it
        for key, settings in (("config", lambda v: v["algorithm"]), ("algorithm_state", lambda v: v["config"])):
            value = json.loads(db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])
            settings(value)["model_share"] = 0.25
            db.execute("UPDATE meta SET value = ? WHERE key = ?", (json.dumps(value), key))
    lines, log = _lines()
    again = layernas_tf.search(**{**arguments, "log": log})
    assert any(line.startswith(f"resuming {where}/study.db: 1 trial(s) done") for line in lines), lines
    assert not [line for line in lines if line.startswith("trial ")]  # nothing trained again
    assert again.best == first.best and study.read(where)[0]["algorithm"]["model_share"] == 0.25


def test_the_package_loads_no_tensorflow_until_search_is_used():
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    code = ("import sys, layernas_tf, layernas_tf.algorithms, layernas_tf.config, layernas_tf.trials.runner, "
            "layernas_tf.trials.executors, layernas_tf.cost.latency_model\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'\n"
            "layernas_tf.search\n"
            "assert 'tensorflow' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)


def test_a_search_started_while_a_worker_imports_the_script_is_refused(monkeypatch):
    """Workers start with spawn, which imports the driver's script: one without a main guard would otherwise start
    a search in every worker."""
    monkeypatch.setattr(multiprocessing.current_process(), "name", "layernas-worker-0")
    with pytest.raises(ValueError, match=r'under `if __name__ == "__main__":`'):
        layernas_tf.search(space="mbv2", madds="300M")


@pytest.mark.slow
def test_one_and_two_local_workers_run_the_same_search(tmp_path):
    """Without max_trials the default proposes from which trials are complete at a layer's end, and each network
    trains from its own seed: one worker or two, the same trials, the same rewards, the same answer."""
    from test_keras_space import small_cnn  # pylint: disable=import-outside-toplevel

    space = layernas_tf.KerasSpace(small_cnn, input_shape=(16, 16, 3), num_classes=10)
    results = {}
    for workers in (1, 2):
        results[workers] = layernas_tf.search(
            space=space, madds=(space.cost(space.cheapest()) + space.cost(space.dearest())) // 2, image_size=16,
            proxy_epochs=1, batch_size=64, buckets=2, verbose=0, executor="local", parallel_trials=workers,
            cpus_per_trial=1, study_dir=str(tmp_path / str(workers)), log=lambda line: None)
    one, two = (_trial_rows(str(tmp_path / str(w))) for w in (1, 2))
    assert len(one) >= 8 and one == two
    assert results[1].best == results[2].best and not results[1].stopped_early

