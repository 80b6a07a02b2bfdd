"""The study: every trial in SQLite, resumable after any interruption, never mixing searches."""

import sqlite3

import pytest

from layernas_tf.algorithms import LayerNAS
from layernas_tf.study import Study, StudyMismatch
from conftest import toy_reward


def _config(**changes):
    config = {"space": "additive", "target": [0, 20], "buckets": 3, "dataset": "toy"}
    config.update(changes)
    return config


def _search(space):
    return LayerNAS(space, 20, buckets=3)


def test_every_trial_is_recorded_with_its_outcome(tmp_path, additive_space):
    study = Study(str(tmp_path), _config())
    failing = additive_space.parse("0:3:1:2")

    def objective(trial):
        if trial.arch == failing:
            raise MemoryError("out of memory on the device")
        return {"reward": toy_reward(trial.arch), "madds": 1}

    search = _search(additive_space)
    lines = []
    study.optimize(search, objective, log=lines.append, expected_trials=30)
    rows = study.trials()
    assert [r["id"] for r in rows] == list(range(len(search.trials)))
    assert {r["status"] for r in rows} == {"COMPLETE", "FAILED"}
    failed = [r for r in rows if r["status"] == "FAILED"]
    assert failed[0]["arch"] == "0:3:1:2" and failed[0]["error"] == "MemoryError: out of memory on the device"
    assert all(r["ended"] >= r["started"] for r in rows)
    complete = [r for r in rows if r["status"] == "COMPLETE"]
    assert all(r["metrics"]["madds"] == 1 and r["reward"] == toy_reward(additive_space.parse(r["arch"]))
               for r in complete)
    assert any("FAILED: MemoryError" in line for line in lines)
    progress = [line for line in lines if "reward" in line]
    assert len(progress) == len(complete) and "elapsed" in progress[0] and "left <=" in progress[0]


class Killed(BaseException):
    """Stands for the process dying: like KeyboardInterrupt or SIGKILL, no Exception handler sees it."""


def test_interrupted_search_resumes_without_retraining_completed_trials(tmp_path, additive_space):
    trained, kill_at = [], [4]

    def objective(trial):
        trained.append(str(trial.arch))
        if len(trained) == kill_at[0]:
            raise Killed  # the process dies in the middle of trial 3
        return {"reward": toy_reward(trial.arch)}

    with pytest.raises(Killed):
        Study(str(tmp_path), _config()).optimize(_search(additive_space), objective, log=lambda _: None)
    rows = Study(str(tmp_path), _config()).trials()
    assert [r["status"] for r in rows] == ["COMPLETE"] * 3 + ["RUNNING"]

    first_run = list(trained)
    trained.clear()
    kill_at[0] = None
    lines = []
    study = Study(str(tmp_path), _config())
    resumed = _search(additive_space)
    study.optimize(resumed, objective, log=lines.append)
    assert lines[0].endswith("3 trial(s) done, 1 to retry")
    assert trained[0] == first_run[3]  # the interrupted trial is retried first
    assert not set(first_run[:3]) & set(trained)  # completed trials are never retrained
    reference = _search(additive_space)
    Study(str(tmp_path / "fresh"), _config()).optimize(reference, lambda t: {"reward": toy_reward(t.arch)},
                                                        log=lambda _: None)
    assert [str(t.arch) for t in resumed.trials] == [str(t.arch) for t in reference.trials]
    assert all(r["status"] == "COMPLETE" for r in study.trials())


def test_a_different_search_in_the_same_directory_is_refused(tmp_path):
    Study(str(tmp_path), _config()).close()
    with pytest.raises(StudyMismatch) as e:
        Study(str(tmp_path), _config(target=[0, 30], buckets=5))
    message = str(e.value)
    assert "buckets: saved 3, now 5" in message and "target: saved [0, 20], now [0, 30]" in message
    assert "\n" not in message


def test_writes_are_transactions(tmp_path, additive_space):
    study = Study(str(tmp_path), _config())
    search = _search(additive_space)
    (trial,) = search.suggest(1)
    study.record(trial, search.state_dict(), status="RUNNING", started=1.0)
    with sqlite3.connect(str(tmp_path / "study.db")) as db:
        state = db.execute("SELECT value FROM meta WHERE key = 'algorithm_state'").fetchone()[0]
        assert '"status": "PENDING"' in state
        assert db.execute("SELECT status FROM trials").fetchall() == [("RUNNING",)]
