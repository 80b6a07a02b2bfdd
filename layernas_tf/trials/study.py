"""A search that survives anything: every trial and the algorithm's state in SQLite.

Each step (a trial handed out, a trial finished) is written in one transaction
together with the algorithm's `state_dict()`, so the database always holds a state
the algorithm can resume from. Killed at any moment, kill -9 included, the same
command resumes: completed trials are never trained again, and a trial that was
running is still pending in the saved state, so it is trained again. The loop that
fills the study lives in `runner.py`; this module only stores.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sqlite3
from typing import Any, Callable, Optional

from layernas_tf.algorithms import Trial
from layernas_tf.core.status import COMPLETE, Status
from layernas_tf.trials.artefacts import STUDY_DB
from layernas_tf.trials.store import Store, row, rung, with_rungs

DB_NAME = STUDY_DB
LOCK_NAME = "lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    arch TEXT NOT NULL,
    cost REAL NOT NULL,
    status TEXT NOT NULL,
    reward REAL,
    metrics TEXT,
    started REAL,
    ended REAL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS rungs (
    trial INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    reward REAL NOT NULL,
    metrics TEXT,
    ended REAL,
    PRIMARY KEY (trial, epochs)
);
"""


class StudyMismatch(ValueError):
    """The study directory holds a search with other settings."""


class StudyLocked(ValueError):
    """Another live process holds the study directory."""


def _lock(study_dir: str) -> int:
    """Takes the study's lock, or raises StudyLocked naming its holder.

    An `fcntl` lock on `STUDY_DIR/lock`: the kernel releases it when its holder
    dies, however it dies, so a killed search never leaves a stale lock behind.
    """
    fd = os.open(os.path.join(study_dir, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
        os.close(fd)
        raise StudyLocked(
            f"study_dir={study_dir} is in use by another search ({holder}); "
            "wait for it to end, or use another study_dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"PID {os.getpid()} on {socket.gethostname()}".encode(), 0)
    return fd


def check_free(study_dir: str) -> None:
    """Raises StudyLocked when another live process holds `study_dir`; creates nothing.

    The command asks this first, before TensorFlow and the data load, so that a second
    driver on a busy study is refused in a second rather than after half a minute.
    The Study takes the lock itself when it opens (this check does not keep it).
    """
    path = os.path.join(study_dir, LOCK_NAME)
    if not os.path.isfile(path):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
        raise StudyLocked(f"study_dir={study_dir} is in use by another search ({holder}); "
                          "wait for it to end, or use another study_dir") from None
    finally:
        os.close(fd)


def _diff(saved: dict, wanted: dict) -> str:
    keys = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    return "; ".join(f"{k}: saved {saved.get(k)!r}, now {wanted.get(k)!r}" for k in keys)


def read(study_dir: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The settings and trials of a study, read without its lock (a live search may hold it).

    Raises:
      ValueError: `study_dir` holds no study.
    """
    return _read(study_dir, _trials)


def read_settings(study_dir: str) -> dict[str, Any]:
    """The settings of a study, as `read` gives them, without reading its trials (a resume asks this of a study of
    thousands)."""
    return _read(study_dir, lambda db: None)[0]


def _read(study_dir: str, trials: Callable[[sqlite3.Connection], Any]) -> tuple[dict[str, Any], Any]:
    path = os.path.join(study_dir, DB_NAME)
    if not os.path.isfile(path):
        raise ValueError(f"study_dir={study_dir} holds no study (no {DB_NAME}); give the directory a search wrote")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        settings = json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
        rows = trials(db)
    except (sqlite3.DatabaseError, TypeError) as e:
        raise ValueError(f"study_dir={study_dir}: {DB_NAME} cannot be read ({e})") from None
    finally:
        db.close()
    return settings, rows


def _trials(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Trial rows (`store.row`); in a multi-fidelity search each with `rungs`, its reward at every epoch count it
    reached."""
    rows = [row(i, arch, cost, status, reward, json.loads(metrics) if metrics else None, started, ended, error)
            for i, arch, cost, status, reward, metrics, started, ended, error in db.execute(
                "SELECT id, arch, cost, status, reward, metrics, started, ended, error FROM trials ORDER BY id")]
    rungs: dict[int, list[dict[str, Any]]] = {}
    try:
        for trial, epochs, reward, metrics in db.execute(
                "SELECT trial, epochs, reward, metrics FROM rungs ORDER BY trial, epochs"):
            rungs.setdefault(trial, []).append(rung(epochs, reward, json.loads(metrics) if metrics else None))
    except sqlite3.OperationalError:  # a study written before rungs existed, opened read-only
        pass
    return with_rungs(rows, rungs)


class Study(Store):
    """The SQLite store of one search in `study_dir`, created or reopened (`store.Store`'s durable kind).

    One process at a time: opening a study another live process holds raises
    StudyLocked.

    Args:
      study_dir: where `study.db` lives (created if needed).
      config: everything that defines the search (space, cost target, algorithm
        and training settings). Reopening with a different config raises
        StudyMismatch showing both, instead of mixing two searches.
    """

    def __init__(self, study_dir: str, config: dict[str, Any]):
        os.makedirs(study_dir, exist_ok=True)
        self._lock = _lock(study_dir)
        self.study_dir = study_dir
        self.path = os.path.join(study_dir, DB_NAME)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:  # SQLite folds in what its write-ahead log holds, then the whole file is judged
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            problem = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(problem)
        except sqlite3.DatabaseError as e:
            self.close()
            raise ValueError(f"study_dir={study_dir}: {self.path} is not a readable study database ({e}); it is left "
                             "as it is: move it away or use another study_dir") from None
        config = json.loads(json.dumps(config))
        saved = self._get("config")
        if saved is None:
            with self._transaction():
                self._put("config", config)
        elif saved != config:
            self.close()
            raise StudyMismatch(
                f"study_dir={study_dir} holds another search ({_diff(saved, config)}); "
                "use a new study_dir or the same settings"
            )
        self.config = config

    # -- storage -----------------------------------------------------------------------

    def _transaction(self):
        db = self._db

        class _Tx:
            def __enter__(self):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, value, tb):
                db.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Tx()

    def _get(self, key: str) -> Optional[Any]:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def _put(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def algorithm_state(self) -> Optional[dict]:
        return self._get("algorithm_state")

    def record(self, trial: Trial, state: Optional[dict], *, status: Status, metrics: Optional[dict] = None,
               started: Optional[float] = None, ended: Optional[float] = None, error: Optional[str] = None) -> None:
        """Writes one trial row (and a multi-fidelity trial's rung) and the algorithm state in one transaction."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO trials (id, arch, cost, status, reward, metrics, started, ended, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (trial.id, str(trial.arch), trial.cost, status, trial.reward,
                 json.dumps(metrics) if metrics else None, started, ended, error),
            )
            if trial.epochs is not None and status == COMPLETE:
                self._db.execute("INSERT OR REPLACE INTO rungs (trial, epochs, reward, metrics, ended) "
                                 "VALUES (?, ?, ?, ?, ?)", (trial.id, trial.epochs, trial.reward,
                                                          json.dumps(metrics) if metrics else None, ended))
            self._put("algorithm_state", state)

    def trials(self) -> list[dict[str, Any]]:
        """Every trial recorded, in id order."""
        return _trials(self._db)

    def close(self) -> None:
        """Closes the database and releases the lock."""
        self._db.close()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
