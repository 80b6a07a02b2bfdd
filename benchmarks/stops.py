r"""How promptly SIGTERM stops a search in the middle of a trial, on each executor.

    python -m benchmarks.stops [--executors=serial,local,ray] [--root=runs/benchmark_stops]

For each executor the command (`python -m layernas_tf.main`, README's digits job cut to
3 trials of 4 proxy epochs) starts in its own session; once a trial has finished an
epoch (its checkpoint's metadata is written) the driver alone gets SIGTERM, as a batch
system or a cloud VM sends it (30 s before SIGKILL). The benchmark prints the seconds
from the signal to the driver's exit, the exit status (143), whether any process of the
search outlived it, and the trials left RUNNING (they resume from their last epoch).
Target: within 10 s on every executor. Exits 1 when one misses it or leaves a process.
`ray` starts its own local Ray (the executor's default without --ray_address).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from absl import app, flags

_EXECUTORS = flags.DEFINE_list("executors", ["serial", "local", "ray"], "Executors to stop.")
_ROOT = flags.DEFINE_string("root", "runs/benchmark_stops", "Where the studies go (each starts afresh).")

JOB = ["--space=mbv3_small", "--madds=2.1M", "--decisions=skip", "--dataset=digits", "--image_size=32",
       "--deploy_image_size=32", "--batch_size=64", "--learning_rate=0.02", "--proxy_epochs=4", "--max_trials=3",
       "--cpus_per_trial=1", "--verbose=0"]
TARGET_SECONDS = 10.0


def _session(sid: int) -> list[int]:
    """Every process of session `sid` (the search and whatever it started), this benchmark's own excepted."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
                pids.append(int(entry))
    return pids


def _epoch_done(study_dir: str) -> bool:
    trials = os.path.join(study_dir, "trials")
    return os.path.isdir(trials) and any(
        os.path.exists(os.path.join(trials, t, "backup", "training_metadata.json")) for t in os.listdir(trials))


def stop(executor: str, root: str) -> tuple[float, int, int, int]:
    """(seconds from SIGTERM to exit, exit status, processes left, trials left RUNNING)."""
    study_dir = os.path.join(root, executor)
    shutil.rmtree(study_dir, ignore_errors=True)
    parallel = ["--executor=serial"] if executor == "serial" else [f"--executor={executor}", "--parallel_trials=2"]
    process = subprocess.Popen([sys.executable, "-m", "layernas_tf.main", *JOB, *parallel, f"--study_dir={study_dir}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not _epoch_done(study_dir):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{executor}: no trial finished an epoch before the search ended")
            time.sleep(0.1)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=120)
        seconds = time.monotonic() - signalled
        time.sleep(2)  # what would outlive the driver has had time to notice
        left = _session(process.pid)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        for pid in _session(process.pid):
            os.kill(pid, signal.SIGKILL)
    with sqlite3.connect(f"file:{study_dir}/study.db?mode=ro", uri=True) as db:
        running = db.execute("SELECT COUNT(*) FROM trials WHERE status = 'RUNNING'").fetchone()[0]
    return seconds, status, len(left), running


def main(argv) -> int:
    del argv
    print(f"SIGTERM mid-trial, this machine; target {TARGET_SECONDS:.0f} s, nothing left running")
    print("| executor | signal to exit | exit status | processes left | trials left RUNNING |")
    print("| --- | --- | --- | --- | --- |")
    missed = 0
    for executor in _EXECUTORS.value:
        seconds, status, left, running = stop(executor, _ROOT.value)
        missed += seconds > TARGET_SECONDS or left > 0
        print(f"| {executor} | {seconds:.1f} s | {status} | {left} | {running} |", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(app.run(main))
