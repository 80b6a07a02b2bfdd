r"""A study's disk: bytes per trial of a multi-fidelity search, by kind of file, and the headline search's projection.

    python -m benchmarks.study_disk [--trials=30] [--root=runs/benchmark_study_disk]

Runs the command (`python -m layernas_tf.main`) on a rung search (LayerNAS, NATS-Bench's
size space at 8x8 on digits, rungs of 1 and 3 epochs, `--trials` trials, 2 local
workers), then sizes the study directory by kind: the SQLite store, TensorBoard events,
the front's weights (the others' are deleted as results come in) and trials' checkpoints
(`backup/`, deleted once a trial is settled: a stopped rung whose layer or rung closed, a
completed trial). It prints the bytes per trial of each kind and projects them to the
headline search (`mbv3_large` at 220M: 1,841 trials): the store and events per trial as
measured, the front's weights at mbv3_large's size (4 bytes a parameter, as many front
networks as this search's share of its trials), and the checkpoints of the trials in
flight only (one per worker; a checkpoint holds the weights and SGD's momentum, twice the
weights). Target: no checkpoint left once the search ends (before, a stopped rung kept its
3.8-5.0 MB checkpoint: 21.9 of a 9-trial study's 24.2 MB). Exits 1 when one is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from absl import app, flags

import search_spaces
from layernas_tf.trials.artefacts import STUDY_DB, TRIALS_DIR, WEIGHTS

_TRIALS = flags.DEFINE_integer("trials", 30, "Trials of the search.")
_ROOT = flags.DEFINE_string("root", "runs/benchmark_study_disk", "Where the study goes (it starts afresh).")

JOB = ["--space=nats_sss", "--madds=30M", "--dataset=digits", "--image_size=8", "--deploy_image_size=8",
       "--batch_size=64", "--proxy_epochs=3", "--rung_epochs=1", "--algorithm=layernas", "--executor=local",
       "--parallel_trials=2", "--cpus_per_trial=1", "--verbose=0", "--tflite=float"]
HEADLINE_TRIALS, HEADLINE_WORKERS = 1841, 8


def _kind(path: str) -> str:
    parts = path.split(os.sep)
    if any(p.startswith("backup") for p in parts):
        return "checkpoints"
    if "tensorboard" in parts:
        return "events"
    if parts[-1].startswith(STUDY_DB):  # its WAL and journal too
        return "store"
    if parts[-1] == WEIGHTS:
        return "weights"
    if "export" in parts:
        return "export"
    return "reports"


def sizes(study_dir: str) -> dict[str, int]:
    """Bytes under `study_dir` by kind of file."""
    out: dict[str, int] = {}
    for directory, _, files in os.walk(study_dir):
        for name in files:
            path = os.path.join(directory, name)
            kind = _kind(os.path.relpath(path, study_dir))
            out[kind] = out.get(kind, 0) + os.path.getsize(path)
    return out


def main(argv) -> int:
    del argv
    study_dir = os.path.join(_ROOT.value, "study")
    shutil.rmtree(study_dir, ignore_errors=True)
    command = [sys.executable, "-m", "layernas_tf.main", *JOB, f"--max_trials={_TRIALS.value}",
               f"--study_dir={study_dir}"]
    print(" ".join(command[1:]), flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    measured = sizes(study_dir)
    trials = len(os.listdir(os.path.join(study_dir, TRIALS_DIR)))
    fronts = sum(os.path.exists(os.path.join(study_dir, TRIALS_DIR, t, WEIGHTS))
                 for t in os.listdir(os.path.join(study_dir, TRIALS_DIR)))
    print(f"\n{trials} trials; {fronts} keep their weights (the front)")
    print("| kind | bytes | per trial |")
    print("| --- | --- | --- |")
    for kind in ("store", "events", "weights", "checkpoints", "reports", "export"):
        print(f"| {kind} | {measured.get(kind, 0):,} | {measured.get(kind, 0) / trials:,.0f} |")
    total = sum(measured.values())
    print(f"| all | {total:,} | {total / trials:,.0f} |")

    space = search_spaces.get("mbv3_large")
    weights = 4 * space.params(space.default())
    per_trial = (measured.get("store", 0) + measured.get("events", 0)) / trials
    projected = (per_trial * HEADLINE_TRIALS + weights * fronts / trials * HEADLINE_TRIALS
                 + 2 * weights * HEADLINE_WORKERS)
    print(f"\nheadline search projected ({HEADLINE_TRIALS:,} trials of mbv3_large, {weights / 1e6:.1f} MB of weights "
          f"each, {HEADLINE_WORKERS} workers): {projected / 1e9:.2f} GB (store and events {per_trial:,.0f} B a trial, "
          f"{fronts / trials:.0%} of trials on the front, checkpoints of the trials in flight); keeping every "
          f"stopped rung's checkpoint instead would add up to {2 * weights * HEADLINE_TRIALS / 1e9:.0f} GB")
    left = measured.get("checkpoints", 0)
    print(f"checkpoints left at the end: {left:,} bytes (target 0): {'met' if not left else 'MISSED'}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(app.run(main))
