"""A full disk at each write a search makes: the stop says so, leaves nothing half-written, and the same search
resumes to the same trials once there is room. (A real small tmpfs: tests/test_main.py.)"""

import errno
import glob
import os
import sqlite3

import keras
import numpy as np
import pytest

import layernas_tf
from layernas_tf import reports
from layernas_tf.training import trainer, worker
from layernas_tf.trials import executors, study
from layernas_tf.trials.study import Study

SEARCH = dict(space="tiny_cnn", madds="300K", dataset="digits", image_size=16, deploy_image_size=16, proxy_epochs=2,
              max_trials=3, batch_size=64, learning_rate=0.05, verbose=0, executor="serial", no_signal_trials=0)


def _full():
    return OSError(errno.ENOSPC, "No space left on device")


def _nth(original, n, fail):
    """`original`, except that its `n`-th call runs `fail(args, kwargs)` instead (which raises)."""
    calls = []

    def patched(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            fail(original, args, kwargs)
        return original(*args, **kwargs)

    return patched


def _cut_short(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    raise _full()


def _savez(name):
    """np.savez of files called `name`: the second such write finds the disk full half-way through its file."""
    def fail(original, args, kwargs):
        original(*args, **kwargs)
        _cut_short(args[0])

    def chosen(original):
        failing = _nth(original, 2, fail)
        return lambda path, *args, **kwargs: (failing if name in str(path) else original)(path, *args, **kwargs)
    return chosen


def _raise(error):
    def fail(original, args, kwargs):
        raise error
    return fail


def _backup_cut_short(original, args, kwargs):
    original(*args, **kwargs)
    _cut_short(args[0]._weights_path)  # pylint: disable=protected-access


# Every write a search makes: what patches it (owner, attribute, the patch of the original).
WRITES = {
    "study": (Study, "record", lambda o: _nth(o, 4, _raise(sqlite3.OperationalError("database or disk is full")))),
    # Keras writes its backup's weights in place: an epoch's is cut short.
    "backup": (keras.callbacks.BackupAndRestore, "_save_model", lambda o: _nth(o, 3, _backup_cut_short)),
    "random_state": (np, "savez", _savez("random_state")),
    "weights": (np, "savez", _savez("weights")),
    "hparams": (worker, "write_hparams", lambda o: _nth(o, 2, _raise(_full()))),
    "reports": (reports, "_readable_as_any_file", lambda o: _nth(o, 1, _raise(_full()))),
}


def _trials(study_dir):
    return [(r["id"], r["arch"], r["status"], r["reward"]) for r in study.read(study_dir)[1]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    study_dir = str(tmp_path_factory.mktemp("reference") / "study")
    result = layernas_tf.search(**SEARCH, study_dir=study_dir, log=lambda line: None)
    return result.best["arch"], _trials(study_dir)


@pytest.mark.slow
@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_full_disk_at_any_write_stops_cleanly_and_the_search_resumes(tmp_path, monkeypatch, reference, write):
    owner, attribute, patch = WRITES[write]
    study_dir = str(tmp_path / "study")
    monkeypatch.setattr(owner, attribute, patch(getattr(owner, attribute)))
    with pytest.raises(executors.DiskFull) as stop:
        layernas_tf.search(**SEARCH, study_dir=study_dir, log=lambda line: None)
    message = str(stop.value)
    assert "is full" in message and "run the same command again" in message and "\n" not in message
    left = [p for p in glob.glob(os.path.join(study_dir, "**", "*"), recursive=True)
            if p.endswith(".tmp.npz") or os.path.basename(p).startswith(".tmp-")]
    assert left == []  # nothing half-written stays to fill the disk or be read
    for weights in glob.glob(os.path.join(study_dir, "trials", "*", "backup*", trainer.BACKUP_WEIGHTS)):
        assert trainer.readable_backup(weights)
    monkeypatch.undo()

    result = layernas_tf.search(**SEARCH, study_dir=study_dir, log=lambda line: None)
    best, trials = reference
    assert result.best["arch"] == best
    resumed = _trials(study_dir)
    assert [t[:3] for t in resumed] == [t[:3] for t in trials] and {t[2] for t in resumed} == {"COMPLETE"}
    assert [t[3] for t in resumed] == pytest.approx([t[3] for t in trials], abs=1e-6)
    assert os.path.exists(os.path.join(study_dir, "results.json"))
