"""The study: every trial in SQLite, resumable after any interruption, never mixing searches."""

import signal
import socket
import sqlite3
import subprocess
import sys

import pytest

from conftest import REPO
from layernas_tf.algorithms import LayerNAS
from layernas_tf.trials.study import Study, StudyLocked, StudyMismatch, read, read_settings


def _config(**changes):
    config = {"space": "additive", "target": [0, 20], "buckets": 3, "dataset": "toy"}
    config.update(changes)
    return config


def _search(space):
    return LayerNAS(space, 20, buckets=3)


HOLDER = """
import sys, time
from layernas_tf.trials.study import Study
study = Study(sys.argv[1], {"space": "mbv3_small"})
print("holding", flush=True)
time.sleep(600)
"""


def test_a_live_search_locks_its_study_until_it_dies(tmp_path):
    study_dir = tmp_path / "study"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(study_dir)], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(StudyLocked) as e:
            Study(str(study_dir), {"space": "mbv3_small"})
        assert f"PID {holder.pid} on {socket.gethostname()}" in str(e.value)
        before = {p.name: p.stat().st_mtime_ns for p in study_dir.iterdir()}
        result = subprocess.run([sys.executable, "-m", "layernas_tf.main", "--madds=40M", "--max_trials=1",
                                 f"--study_dir={study_dir}"], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2, result.stderr[-2000:]
        errors = [line for line in result.stderr.splitlines() if line.startswith("main.py: error:")]
        assert len(errors) == 1 and f"in use by another search (PID {holder.pid} on" in errors[0]
        assert {p.name: p.stat().st_mtime_ns for p in study_dir.iterdir()} == before  # nothing written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    study = Study(str(study_dir), {"space": "mbv3_small"})  # the kernel released the dead holder's lock
    assert study.trials() == []
    study.close()


def test_a_different_search_in_the_same_directory_is_refused(tmp_path):
    Study(str(tmp_path), _config()).close()
    with pytest.raises(StudyMismatch) as e:
        Study(str(tmp_path), _config(target=[0, 30], buckets=5))
    message = str(e.value)
    assert "buckets: saved 3, now 5" in message and "target: saved [0, 20], now [0, 30]" in message
    assert "\n" not in message


def test_a_study_is_read_while_held_and_its_settings_alone(tmp_path, additive_space):
    with pytest.raises(ValueError, match="holds no study"):
        read_settings(str(tmp_path))
    study = Study(str(tmp_path), _config(buckets=4))
    search = _search(additive_space)
    (trial,) = search.suggest(1)
    study.record(trial, search.state_dict(), status="RUNNING", started=1.0)
    try:  # held by this live study: read without its lock
        assert read_settings(str(tmp_path)) == read(str(tmp_path))[0] == _config(buckets=4)
        assert [r["arch"] for r in read(str(tmp_path))[1]] == [str(trial.arch)]
    finally:
        study.close()


def test_writes_are_transactions(tmp_path, additive_space):
    study = Study(str(tmp_path), _config())
    search = _search(additive_space)
    (trial,) = search.suggest(1)
    study.record(trial, search.state_dict(), status="RUNNING", started=1.0)
    with sqlite3.connect(str(tmp_path / "study.db")) as db:
        state = db.execute("SELECT value FROM meta WHERE key = 'algorithm_state'").fetchone()[0]
        assert '"status": "PENDING"' in state
        assert db.execute("SELECT status FROM trials").fetchall() == [("RUNNING",)]
    # A write that fails after the trial's row went in (here: the algorithm's state cannot be stored) leaves
    # neither: the row and the state stay as the last complete write left them.
    search.report(trial.id, 1.0)

    def fail(key, value):
        raise sqlite3.OperationalError("disk I/O error")

    study._put = fail  # pylint: disable=protected-access
    with pytest.raises(sqlite3.OperationalError):
        study.record(trial, search.state_dict(), status="COMPLETE", ended=2.0)
    study.close()
    with sqlite3.connect(str(tmp_path / "study.db")) as db:
        assert db.execute("SELECT status, reward, ended FROM trials").fetchall() == [("RUNNING", None, None)]
        assert db.execute("SELECT value FROM meta WHERE key = 'algorithm_state'").fetchone()[0] == state
