r"""Worker memory over a long search: each local worker's RSS as trials complete, without and with recycling.

    python -m benchmarks.worker_memory [--trials=300] [--settings=0,default] [--root=runs/benchmark_memory]

A search of `--trials` tiny trials (NATS-Bench's size space at 8x8 on 200 digits, one
epoch, random search) runs as the command (`python -m layernas_tf.main`) on 2 local
workers, once per `--settings` entry: `0` turns worker replacement off
(`--worker_memory_growth=0`), `default` leaves the command's default, a number sets it.
The benchmark reads each worker's RSS from /proc every second and the completed trials
from the study, then prints for each run the slope in MB per trial (a least-squares line
through the workers' mean RSS against completed trials) and the target: the mean RSS at
the end within 300 MB of the mean RSS after 10 trials. Exits 1 when a run with
replacement on misses it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

from layernas_tf.trials.executors import rss_mb

_TRIALS = flags.DEFINE_integer("trials", 300, "Trials of each search.")
_SETTINGS = flags.DEFINE_list("settings", ["0", "default"], "--worker_memory_growth of each run: 0 (off), default, MB.")
_ROOT = flags.DEFINE_string("root", "runs/benchmark_memory", "Where the studies go (each run starts afresh).")

JOB = ["--space=nats_sss", "--madds=30M", "--dataset=digits", "--image_size=8", "--deploy_image_size=8",
       "--train_examples=200", "--batch_size=64", "--proxy_epochs=1", "--algorithm=random", "--executor=local",
       "--parallel_trials=2", "--cpus_per_trial=1", "--verbose=0", "--tflite=float"]
TARGET_MB = 300


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="utf-8") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _workers(driver: int) -> list[int]:
    """The driver's worker processes (spawned children running `_worker_main`; not its resource tracker)."""
    out = []
    for pid in _children(driver):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read()
        except OSError:
            continue
        if b"spawn_main" in command:
            out.append(pid)
    return out


def _completed(study_db: str) -> int:
    try:
        db = sqlite3.connect(f"file:{study_db}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM trials WHERE status = 'COMPLETE'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def run_one(setting: str, trials: int, root: str) -> dict:
    """One search, sampled every second: [(completed trials, mean worker RSS in MB)] and the figures."""
    study_dir = os.path.join(root, f"growth_{setting}")
    subprocess.run(["rm", "-rf", study_dir], check=True)
    extra = [] if setting == "default" else [f"--worker_memory_growth={setting}"]
    command = [sys.executable, "-m", "layernas_tf.main", *JOB, f"--max_trials={trials}", f"--study_dir={study_dir}",
               *extra]
    start = time.time()
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as search:
        samples = []
        while search.poll() is None:
            workers = _workers(search.pid)
            if workers:
                samples.append((_completed(os.path.join(study_dir, "study.db")),
                                float(np.mean([rss_mb(p) or 0.0 for p in workers]))))
            time.sleep(1.0)
    if search.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {search.returncode}")
    done = np.array([s[0] for s in samples], dtype=float)
    rss = np.array([s[1] for s in samples])
    after_10 = rss[done >= 10][0] if (done >= 10).any() else float("nan")
    tail = rss[done >= done.max() - 2]  # the last trials' samples: the end, whatever a replacement just did
    slope = float(np.polyfit(done[done >= 1], rss[done >= 1], 1)[0]) if (done >= 1).sum() > 2 else float("nan")
    return dict(setting=setting, trials=int(done.max()), seconds=round(time.time() - start), slope_mb=slope,
                after_10_mb=float(after_10), end_mb=float(tail.max()), peak_mb=float(rss.max()))


def main(argv):
    del argv
    missed = []
    print(f"{_TRIALS.value} trials on 2 local workers: {' '.join(JOB)}", flush=True)
    for setting in _SETTINGS.value:
        r = run_one(setting, _TRIALS.value, _ROOT.value)
        grew = r["end_mb"] - r["after_10_mb"]
        ok = grew <= TARGET_MB
        replacing = setting != "0"
        print(f"worker_memory_growth={setting}: {r['trials']} trials in {r['seconds']} s, slope "
              f"{r['slope_mb']:.2f} MB/trial, mean worker RSS {r['after_10_mb']:.0f} MB after 10 trials, "
              f"{r['end_mb']:.0f} MB at the end (+{grew:.0f}), peak {r['peak_mb']:.0f} MB "
              f"[{('ok' if ok else 'MISSED') if replacing else 'reference'}]", flush=True)
        if replacing and not ok:
            missed.append(setting)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    app.run(main)
