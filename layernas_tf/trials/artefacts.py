"""Where a trial's files live, and the seed it trains with.

    STUDY_DIR/study.db                   every trial and the search's state (`study.py`)
    STUDY_DIR/trials/<id>/weights.npz    the trained weights (numpy, `model.get_weights()` order)
    STUDY_DIR/trials/<id>/tensorboard/   the trial's events and its HParams row
    STUDY_DIR/trials/<id>/backup/        Keras BackupAndRestore state while it trains: a trial
                                         killed mid-way resumes from its last finished epoch, a
                                         rung's promotion from its rung; gone once it is settled

Numpy only: the driver prunes weights and checkpoints (`Pruner`) and the export reads them
without TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import zlib

import numpy as np

from layernas_tf.core import front
from layernas_tf.core.status import COMPLETE
from layernas_tf.reports import written_whole

STUDY_DB = "study.db"  # the study's SQLite database (`study.py`)
TRIALS_DIR = "trials"
WEIGHTS = "weights.npz"
# Set by an executor for each worker it starts: the CPU threads TensorFlow may use.
THREADS_ENV = "LAYERNAS_CPU_THREADS"


def trial_dir(study_dir: str, trial_id: int) -> str:
    return os.path.join(study_dir, TRIALS_DIR, f"{trial_id:04d}")


def remove_backups(directory: str) -> int:
    """Deletes a trial's `BackupAndRestore` folders (`backup`, and a cluster member's `backup_worker<N>`) once
    nothing will train it further; returns the bytes freed. A rung's checkpoint is 4-5 MB on a tiny network, so
    a long multi-fidelity search that kept them would fill tens of GB."""
    freed = 0
    for name in os.listdir(directory) if os.path.isdir(directory) else ():
        path = os.path.join(directory, name)
        if name.startswith("backup") and os.path.isdir(path):
            freed += sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
            shutil.rmtree(path, ignore_errors=True)
    return freed


class Pruner:
    """Called after each result (`Runner`'s `on_result`): keeps a study's disk to what can still be used.

    Only the front's weights can be exported later, only those a trial still to train may
    inherit (`Algorithm.inheritable`) are read again, and only a trial that may train on
    (`Algorithm.settled`) needs its checkpoint: the rest go as results come in. Trials
    still out keep both. What is kept is worked out from the algorithm's state alone, so
    a resumed search keeps the same files.
    """

    def __init__(self, study_dir: str, algorithm):
        self.study_dir, self.algorithm = study_dir, algorithm
        self._settled: set[int] = set()  # trials whose checkpoints are gone: settled for good

    def __call__(self, trial, metrics) -> None:
        del trial, metrics
        kept = set(front.of_search(self.algorithm)) | self.algorithm.inheritable()
        for t in self.algorithm.trials:
            if t.status != COMPLETE:
                continue
            directory = trial_dir(self.study_dir, t.id)
            path = os.path.join(directory, WEIGHTS)
            if t.id not in kept and os.path.exists(path):
                os.remove(path)
            if t.id not in self._settled and self.algorithm.settled(t):
                remove_backups(directory)
                self._settled.add(t.id)


@dataclasses.dataclass(frozen=True)
class Child:
    """What a worker receives for a trial that inherits (`Runner.payload`): its architecture, and its parent's
    trial and architecture (the parent's weights are `trials/<parent>/weights.npz`; its architecture rebuilds the
    layers they belong to). Prints as the architecture, as a plain trial's payload does."""

    arch: str
    parent: int
    parent_arch: str

    def __str__(self) -> str:
        return self.arch


def trial_seed(search_seed: int, arch: str) -> int:
    """The seed a network trains with: the same network trains the same way in any order, on any worker."""
    return zlib.crc32(f"{search_seed}:{arch}".encode()) & 0x7FFFFFFF


# What earlier versions named a file being written; one may still lie in a study they began.
_EARLIER_PARTIAL = ".tmp.npz"


def drop_partial(directory: str) -> list[str]:
    """Removes files under `directory` that a write cut short left (`reports.written_whole`'s `.tmp-` ones, should
    its own clean-up have failed too): what a stop on a full disk leaves of the trial it was writing. Returns their
    paths."""
    dropped = []
    for folder, _, files in os.walk(directory):
        for name in files:
            if name.startswith(".tmp-") or name.endswith(_EARLIER_PARTIAL):
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    dropped.append(path)
    return dropped


def save_weights(model, path: str) -> None:
    """The model's weights as numpy arrays, written whole or not at all."""
    written_whole(path, lambda tmp: np.savez(tmp, *model.get_weights()))


def load_weights(model, path: str) -> None:
    """Loads `save_weights` output into a model of the same architecture, at any input size."""
    with np.load(path) as saved:
        model.set_weights([saved[f"arr_{i}"] for i in range(len(saved.files))])
