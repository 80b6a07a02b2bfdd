"""Weight inheritance (`--inherit`): which layers a child takes from its parent, which parent the search names,
that the parent's weights are there when the child trains, and that a killed search resumes to the same trials."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import layernas_tf
import search_spaces
from conftest import REPO, toy_reward
from layernas_tf.algorithms import COMPLETE, LayerNAS, LayerNASPlus
from layernas_tf.config import SearchConfig
from layernas_tf.core import front
from layernas_tf.training import inherit
from layernas_tf.trials.artefacts import WEIGHTS, Pruner, trial_dir
from search_spaces.keras_space import KerasSpace, choose

TINY = search_spaces.get("tiny_cnn")
LAYERS = ["conv1", "conv1_bn", "conv2", "conv2_bn", "conv3", "conv3_bn", "conv4", "conv4_bn", "conv5", "conv5_bn",
          "predictions"]


def _build(arch):
    return TINY.build(TINY.parse(arch), input_shape=(16, 16, 3))


def _values(model):
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers if layer.weights}


@pytest.mark.parametrize("parent_arch, child_arch, fresh", [
    ("2:2:1:2:2", "2:2:2:2:2", {"conv3", "conv3_bn", "conv4"}),  # conv3 widened: it, its BN and conv4's input
    ("2:2:2:2:2", "0:2:2:2:2", {"conv1", "conv1_bn", "conv2"}),
    # conv2 narrowed to 4 gives conv3 the kernel shape of the parent's conv2 (3x3x4x16): it is still not conv2's.
    ("1:2:2:2:2", "1:0:2:2:2", {"conv2", "conv2_bn", "conv3"}),
    ("2:2:2:2:2", "2:2:2:2:2", set()),
])
def test_a_child_takes_exactly_the_parent_layers_whose_shapes_its_change_leaves_equal(parent_arch, child_arch, fresh):
    parent = _build(parent_arch)
    rng = np.random.default_rng(0)
    parent.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in parent.get_weights()])
    trained = inherit.weighted_layers(parent)
    child = _build(child_arch)
    before = _values(child)

    copied = inherit.inherit(child, trained)

    assert copied == [name for name in LAYERS if name not in fresh]
    after, parents = _values(child), _values(parent)
    for name in LAYERS:
        expected = before[name] if name in fresh else parents[name]
        assert all(np.array_equal(a, b) for a, b in zip(after[name], expected)), name


def _mlp(*names, widths):
    inputs = keras.Input((6,))
    x = inputs
    for name, width in zip(names, widths):
        x = keras.layers.Dense(width, name=name)(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def test_a_layer_the_change_adds_shifts_nothing_after_it_and_keras_numbering_is_ignored():
    parent = _mlp("a", "b", widths=(8, 8))
    child = _mlp("a", "extra", "b", widths=(8, 8, 8))
    assert inherit.inherit(child, inherit.weighted_layers(parent)) == ["a", "b", "head"]
    assert np.array_equal(child.get_layer("head").get_weights()[0], parent.get_layer("head").get_weights()[0])
    # A user's build function, unnamed: Keras numbers its layers anew on every build (dense_4, dense_5, ...).
    first, second = _mlp(None, None, widths=(8, 5)), _mlp(None, None, widths=(8, 5))
    assert [layer.name for layer in first.layers[1:]] != [layer.name for layer in second.layers[1:]]
    assert len(inherit.inherit(second, inherit.weighted_layers(first))) == 3


def _drive(algorithm, pruner_dir=None, stop_after=None):
    """Ask/tell to the end with the toy reward, one trial at a time; checks at each suggestion that the parent
    named is a complete trial whose weights (with a pruner) are on disk. Returns the candidates each trial saw."""
    pruner = Pruner(pruner_dir, algorithm) if pruner_dir else None
    seen = {}
    while not algorithm.done and (stop_after is None or len(algorithm.trials) < stop_after):
        candidates = [str(c) for c in algorithm.candidates]
        (trial,) = algorithm.suggest(1)
        seen[trial.id] = (candidates, algorithm.layer)
        if trial.parent is not None:
            assert algorithm.trials[trial.parent].status == COMPLETE
            if pruner:
                assert os.path.exists(os.path.join(trial_dir(pruner_dir, trial.parent), WEIGHTS))
        algorithm.report(trial.id, toy_reward(trial.arch))
        if pruner:
            os.makedirs(trial_dir(pruner_dir, trial.id), exist_ok=True)
            np.savez(os.path.join(trial_dir(pruner_dir, trial.id), WEIGHTS), np.zeros(1))
            pruner(trial, {})
    return seen


def test_each_child_names_the_candidate_it_was_made_from_as_its_parent():
    search = LayerNAS(TINY, 200_000, buckets=3, inherit=True)
    seen = _drive(search)
    assert search.trials[0].parent is None  # the default trains from scratch
    assert len(search.trials) > 10
    for trial in search.trials[1:]:
        candidates, layer = seen[trial.id]
        parent = search.trials[trial.parent]
        assert str(parent.arch) in candidates
        assert [i for i, (a, b) in enumerate(zip(parent.arch, trial.arch)) if a != b] == [layer]
    assert search.inheritable() == set()  # finished: nothing will inherit any more
    plain = LayerNAS(TINY, 200_000, buckets=3)
    _drive(plain)
    assert all(t.parent is None for t in plain.trials) and plain.inheritable() == set()
    assert [str(t.arch) for t in plain.trials] == [str(t.arch) for t in search.trials]  # inheriting changes no choice


def test_a_restored_search_names_the_same_parents_as_the_uninterrupted_one():
    whole = LayerNAS(TINY, 200_000, buckets=3, inherit=True)
    _drive(whole)
    first = LayerNAS(TINY, 200_000, buckets=3, inherit=True)
    _drive(first, stop_after=9)
    state = json.loads(json.dumps(first.state_dict()))
    resumed = LayerNAS(TINY, 200_000, buckets=3, inherit=True)
    resumed.load_state_dict(state)
    assert resumed.inheritable() == first.inheritable() and resumed.inheritable()
    _drive(resumed)
    assert [(str(t.arch), t.parent) for t in resumed.trials] == [(str(t.arch), t.parent) for t in whole.trials]
    with pytest.raises(ValueError, match="inherit: saved True, now None"):
        LayerNAS(TINY, 200_000, buckets=3).load_state_dict(state)


def test_the_pruner_keeps_a_parent_s_weights_while_its_children_can_still_train(tmp_path):
    for search in (LayerNAS(TINY, 200_000, buckets=3, inherit=True),
                   LayerNASPlus(TINY, 200_000, buckets=3, inherit=True)):
        directory = str(tmp_path / search.name)
        _drive(search, pruner_dir=directory)  # asserts each parent's weights exist when its child is suggested
        assert sum(t.parent is not None for t in search.trials) == len(search.trials) - 1
        kept = {int(name) for name in os.listdir(os.path.join(directory, "trials"))
                if os.path.exists(os.path.join(directory, "trials", name, WEIGHTS))}
        assert kept == set(front.of_search(search))  # once the search ends, only the front's


@pytest.mark.parametrize("settings, fragment", [
    (dict(inherit=True, algorithm="random", max_trials=3), "needs a layerwise search"),
    (dict(inherit=True, algorithm="layernas", rung_epochs=1), "do not combine"),
    (dict(inherit_epochs=2), "goes with inherit=True"),
    (dict(inherit=True, inherit_epochs=5), "give fewer than proxy_epochs=5"),
    (dict(inherit=True, proxy_epochs=1), "inherit_epochs=1"),
])
def test_inheritance_that_cannot_work_is_refused_before_anything_trains(settings, fragment):
    with pytest.raises(ValueError, match=fragment):
        SearchConfig.from_arguments(**{"space": "tiny_cnn", "madds": "300K", "proxy_epochs": 5, **settings})


SEARCH = dict(space="tiny_cnn", madds="300K", dataset="digits", image_size=16, deploy_image_size=16, proxy_epochs=4,
              batch_size=64, learning_rate=0.05, verbose=0, algorithm="layernas", inherit=True, no_signal_trials=0)


def _trials(study_dir):
    with sqlite3.connect(f"file:{os.path.join(study_dir, 'study.db')}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT id, arch, status, reward, metrics FROM trials ORDER BY id").fetchall()
    return [(i, arch, status, reward, json.loads(metrics or "{}")) for i, arch, status, reward, metrics in rows]


def test_a_search_with_inherit_trains_children_from_their_parent_for_fewer_epochs(tmp_path):
    lines = []
    result = layernas_tf.search(**SEARCH, max_trials=3, executor="serial", study_dir=str(tmp_path / "s"),
                                log=lines.append)
    assert "a network with a parent candidate starts from its weights and trains 2 of the 4 epochs" in lines[0]
    with open(tmp_path / "s" / "results.json", encoding="utf-8") as f:
        summary = json.load(f)
    assert summary["inherit"] == {"epochs": 2, "answer_inherited_from": 0, "trials_inherited": 2}
    assert summary["epochs_trained"] == 4 + 2 + 2 and result.best["trial"] in (1, 2)
    for other in (dict(inherit_epochs=1), dict(inherit=False)):  # the study is not resumed as another search
        with pytest.raises(ValueError, match="other settings|another search"):
            layernas_tf.search(**{**SEARCH, **other}, max_trials=3, executor="serial", study_dir=str(tmp_path / "s"),
                               log=lines.append)
    rows = _trials(tmp_path / "s")
    assert [arch for _, arch, _, _, _ in rows] == ["2:2:2:2:2", "0:2:2:2:2", "1:2:2:2:2"]
    first = rows[0][4]
    assert first["epochs"] == 4 and "inherited_from" not in first
    for _, _, status, _, metrics in rows[1:]:  # conv1 narrowed: it, its BN and conv2 start fresh
        assert status == "COMPLETE" and metrics["epochs"] == 2 and metrics["inherited_from"] == 0
        assert metrics["inherited_layers"] == [n for n in LAYERS if n not in ("conv1", "conv1_bn", "conv2")]


@pytest.mark.slow
def test_a_search_with_inherit_killed_on_local_workers_resumes_to_the_uninterrupted_trials(tmp_path):
    # One CPU thread per trial, as a local worker has (TensorFlow's sums over more threads round differently), in a
    # process of its own (its thread pools are sized before they start).
    args = [f"--{k}={v}" for k, v in SEARCH.items()] + ["--max_trials=6", "--cpus_per_trial=1"]
    uninterrupted = subprocess.run([sys.executable, "-m", "layernas_tf.main", *args, "--executor=serial",
                                    f"--study_dir={tmp_path / 'whole'}"], cwd=REPO, capture_output=True, text=True,
                                   timeout=900)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    whole = _trials(tmp_path / "whole")
    study_dir = tmp_path / "killed"
    args += ["--executor=local", "--parallel_trials=2", f"--study_dir={study_dir}"]
    process = subprocess.Popen([sys.executable, "-m", "layernas_tf.main", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 600
        while time.time() < deadline:  # killed while children of the first layer train, whose parent is trial 0
            try:
                statuses = [status for _, _, status, _, _ in _trials(study_dir)]
            except sqlite3.OperationalError:
                statuses = []
            if statuses.count("COMPLETE") >= 2 and "RUNNING" in statuses:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no child trained")
        os.killpg(process.pid, signal.SIGKILL)  # the driver and its workers, mid-trial
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done = {i for i, _, status, _, _ in _trials(study_dir) if status == "COMPLETE"}
    result = subprocess.run([sys.executable, "-m", "layernas_tf.main", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = {int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("trial ")}
    assert not trained & done  # nothing trained twice
    resumed = _trials(study_dir)
    assert [(i, arch, status) for i, arch, status, _, _ in resumed] == [(i, a, s) for i, a, s, _, _ in whole]
    assert [m.get("inherited_from") for *_, m in resumed] == [m.get("inherited_from") for *_, m in whole]
    assert [r for _, _, _, r, _ in resumed] == pytest.approx([r for _, _, _, r, _ in whole], abs=1e-6)


def user_cnn(input_shape, num_classes):
    """A user's build function with inline choices and Keras' own layer names (module level: workers import it)."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(choose("stem", [4, 8], default=1), 3, strides=2, activation="relu")(inputs)
    x = keras.layers.SeparableConv2D(choose("mid", [4, 8], default=1), 3, activation="relu")(x)
    x = keras.layers.SeparableConv2D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def test_a_user_build_function_inherits_by_layer_kind_whatever_keras_numbers_it(tmp_path):
    space = KerasSpace(user_cnn, input_shape=(16, 16, 3), num_classes=2)
    rng = np.random.default_rng(0)
    labels = np.arange(128) % 2
    images = (rng.integers(0, 80, (128, 16, 16, 3)) + 150 * labels[:, None, None, None]).astype(np.uint8)
    layernas_tf.search(space=space, madds=space.cost(space.dearest()), dataset=(images, labels), proxy_epochs=2,
                       batch_size=32, max_trials=2, verbose=0, algorithm="layernas", inherit=True,
                       no_signal_trials=0, study_dir=str(tmp_path / "s"), log=lambda line: None)
    (_, arch, _, _, first), (_, child, status, _, metrics) = _trials(tmp_path / "s")
    assert (arch, child, status) == ("1:1", "0:1", "COMPLETE") and metrics["inherited_from"] == 0
    # The stem narrowed: it and the first separable convolution (its input) start fresh; the rest is the parent's.
    assert [re.sub(r"_\d+$", "", name) for name in metrics["inherited_layers"]] == ["separable_conv2d", "dense"]
