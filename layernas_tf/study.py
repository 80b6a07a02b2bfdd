"""A search that survives anything: every trial and the algorithm's state in SQLite.

Each step (a trial handed out, a trial finished) is written in one transaction
together with the algorithm's `state_dict()`, so the database always holds a state
the algorithm can resume from. Killed at any moment, kill -9 included, the same
command resumes: completed trials are never trained again, and a trial that was
running is still pending in the saved state, so it is trained again.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import sys
import time
import traceback
from typing import Any, Callable, Optional

from layernas_tf.algorithms import Algorithm, Trial

DB_NAME = "study.db"
RUNNING, COMPLETE, FAILED = "RUNNING", "COMPLETE", "FAILED"

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
"""


class StudyMismatch(ValueError):
    """The study directory holds a search with other settings."""


def _diff(saved: dict, wanted: dict) -> str:
    keys = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    return "; ".join(f"{k}: saved {saved.get(k)!r}, now {wanted.get(k)!r}" for k in keys)


class Study:
    """The SQLite store of one search in `study_dir`, created or reopened.

    Args:
      study_dir: where `study.db` lives (created if needed).
      config: everything that defines the search (space, cost target, algorithm
        and training settings). Reopening with a different config raises
        StudyMismatch showing both, instead of mixing two searches.
    """

    def __init__(self, study_dir: str, config: dict[str, Any]):
        os.makedirs(study_dir, exist_ok=True)
        self.study_dir = study_dir
        self.path = os.path.join(study_dir, DB_NAME)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        config = json.loads(json.dumps(config))
        saved = self._get("config")
        if saved is None:
            with self._transaction():
                self._put("config", config)
        elif saved != config:
            self._db.close()
            raise StudyMismatch(
                f"--study_dir={study_dir} holds another search ({_diff(saved, config)}); "
                "use a new --study_dir or the same settings"
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

    def record(self, trial: Trial, state: dict, *, status: str, metrics: Optional[dict] = None,
               started: Optional[float] = None, ended: Optional[float] = None, error: Optional[str] = None) -> None:
        """Writes one trial row and the algorithm state in a single transaction."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO trials (id, arch, cost, status, reward, metrics, started, ended, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (trial.id, str(trial.arch), trial.cost, status, trial.reward,
                 json.dumps(metrics) if metrics else None, started, ended, error),
            )
            self._put("algorithm_state", state)

    def trials(self) -> list[dict[str, Any]]:
        """Every trial recorded, in id order."""
        cursor = self._db.execute(
            "SELECT id, arch, cost, status, reward, metrics, started, ended, error FROM trials ORDER BY id"
        )
        columns = [c[0] for c in cursor.description]
        rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
        for row in rows:
            row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else {}
        return rows

    def close(self) -> None:
        self._db.close()

    # -- the loop ------------------------------------------------------------------------

    def optimize(
        self,
        algorithm: Algorithm,
        objective: Callable[[Trial], dict[str, float]],
        *,
        expected_trials: Optional[int] = None,
        log: Callable[[str], None] = print,
    ) -> None:
        """Runs `algorithm` to the end, training each trial with `objective`.

        `objective(trial)` returns metrics with a `reward`, or raises: the trial is then
        recorded as failed with the reason and the search goes on. KeyboardInterrupt
        is not caught: the trial stays RUNNING and is retried on resume.
        """
        state = self.algorithm_state()
        if state is not None:
            algorithm.load_state_dict(state)
            done = sum(t.status != "PENDING" for t in algorithm.trials)
            log(f"resuming {self.path}: {done} trial(s) done, {len(algorithm.pending())} to retry")
        durations: list[float] = []
        for row in self.trials():
            if row["status"] == COMPLETE and row["ended"] and row["started"]:
                durations.append(row["ended"] - row["started"])
        while not algorithm.done:
            trials = algorithm.pending() or algorithm.suggest(1)
            if not trials:
                raise RuntimeError(f"{algorithm.name} suggested nothing while no trial is out")
            trial = trials[0]
            started = time.time()
            self.record(trial, algorithm.state_dict(), status=RUNNING, started=started)
            try:
                metrics = objective(trial)
            except KeyboardInterrupt:
                raise
            except Exception as e:  # pylint: disable=broad-except
                reason = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
                algorithm.report_failure(trial.id, reason)
                self.record(trial, algorithm.state_dict(), status=FAILED, started=started, ended=time.time(),
                            error=reason)
                log(f"trial {trial.id:>4} {trial.arch} FAILED: {reason}")
                traceback.print_exc(file=sys.stderr)
                continue
            ended = time.time()
            algorithm.report(trial.id, metrics["reward"])
            self.record(trial, algorithm.state_dict(), status=COMPLETE, metrics=metrics, started=started, ended=ended)
            durations.append(ended - started)
            log(self._progress_line(algorithm, trial, durations, expected_trials))

    def _progress_line(self, algorithm, trial, durations, expected_trials) -> str:
        best = algorithm.best()
        elapsed = sum(durations)
        line = (
            f"trial {trial.id:>4} {trial.arch}  cost {trial.cost:,.0f}  reward {trial.reward:.4f}  "
            f"best {f'{best.reward:.4f}' if best else '-'}  elapsed {_clock(elapsed)}"
        )
        if expected_trials:
            left = max(0, expected_trials - len(algorithm.trials))
            line += f"  left <= {_clock(left * elapsed / max(1, len(durations)))}"
        return line


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
