r"""Multi-fidelity LayerNAS (`--rung_epochs`) against the paper's LayerNAS, on real training.

    python -m benchmarks.rungs [--runs=readme:3,nats:2,readme:10] [--seeds=5] [--rung_epochs=1] \
        [--rung_factor=3] [--root=DIR]

Each run `JOB:H` searches a job with LayerNAS at H buckets, with and without rungs,
for each seed (the seed changes every network's training):

- `readme`: README's main job (MobileNetV3-Small's 6 block skips, 64 networks, under
  2.1M MAdds on the embedded digits at 32x32, 3 proxy epochs: rungs of 1 and 3
  epochs; two local workers of one CPU thread each). Every feasible network is also
  trained once with the full proxy (seed 0, random search over all of them), so the
  best network by full proxy is known and each answer is scored by its full-proxy
  reward in that table. Its layers have two options each: a bucket holds one or two
  children, and successive halving can stop at most one child of two (README's
  H=10 leaves most buckets with one child, which trains straight to the end).
- `nats`: the larger subspace, NATS-Bench's size space (5 layers of 8 channel
  counts, 32,768 networks) under half its dearest MAdds at 16x16 on the same
  digits, 5 proxy epochs (the default; rungs of 1, 3 and 5 epochs). Too large to
  train whole: each answer is scored by its own full-proxy reward.

Printed for each setting: the epochs a whole search trained (from its study, every
rung counted), its wall time, the answer's full-proxy reward against the table's
best, means and standard deviations over the seeds. Target (issue "The headline
search at the paper's cost or less", item 2): at most half the epochs for an answer
within one standard deviation of the full-fidelity search's. Each search's figures
are appended to DIR/results.jsonl as it ends, and a rerun skips what is there
(each search is a study and resumes). Exits 1 when a setting misses the target.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

from absl import app, flags

import layernas_tf
from layernas_tf.api import epochs_trained
from layernas_tf.core.status import COMPLETE
from layernas_tf.trials import study

_SEEDS = flags.DEFINE_integer("seeds", 5, "Seeds per setting.")
_RUNS = flags.DEFINE_list("runs", ["readme:3", "nats:2", "readme:10"], "JOB:H pairs, in the order they run.")
_RUNG_EPOCHS = flags.DEFINE_integer("rung_epochs", 1, "The first rung's epochs.")
_RUNG_FACTOR = flags.DEFINE_integer("rung_factor", 3, "Successive halving's eta.")
_ROOT = flags.DEFINE_string("root", "runs/benchmark_rungs", "Where the studies and results.jsonl go.")

# README's main job, as search() arguments.
JOB = dict(space="mbv3_small", madds="2.1M", decisions="skip", dataset="digits", image_size=32, deploy_image_size=32,
           batch_size=64, learning_rate=0.02, proxy_epochs=3, executor="local", parallel_trials=2, cpus_per_trial=1,
           verbose=0)
NATS = dict(JOB, space="nats_sss", madds="34.3M", decisions=None, image_size=16, deploy_image_size=16, proxy_epochs=5)
JOBS = {"readme": JOB, "nats": NATS}


def _table(root: str) -> dict[str, float]:
    """Every feasible network's full-proxy reward (seed 0): random search until none is left untried."""
    directory = os.path.join(root, "table")
    layernas_tf.search(**JOB, algorithm="random", max_trials=64, seed=0, study_dir=directory,
                       log=lambda line: None)
    return {r["arch"]: r["reward"] for r in study.read(directory)[1] if r["status"] == COMPLETE}


def _search(root: str, job: str, buckets: int, seed: int, rungs: bool) -> dict:
    name = f"{'' if job == 'readme' else job + '_'}h{buckets}_seed{seed}_{'rungs' if rungs else 'full'}"
    extra = dict(rung_epochs=_RUNG_EPOCHS.value, rung_factor=_RUNG_FACTOR.value) if rungs else {}
    start = time.time()
    result = layernas_tf.search(**JOBS[job], algorithm="layernas", buckets=buckets, seed=seed,
                                study_dir=os.path.join(root, name), log=lambda line: None, **extra)
    rows = study.read(os.path.join(root, name))[1]
    return {"name": name, "job": job, "buckets": buckets, "seed": seed, "rungs": rungs, "trials": result.trials,
            "epochs": epochs_trained(rows), "seconds": time.time() - start, "answer": result.best["arch"],
            "answer_reward": result.best["reward"]}


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} (sd {sd:.4f})"


def report(results: list[dict], table: dict[str, float]) -> bool:
    """Prints the figures; whether every setting with both sides met the target."""
    everything_met = True
    best = max(table.values())
    print(f"readme table: {len(table)} feasible networks trained to the full proxy; best full-proxy reward {best:.4f}")
    for job, buckets in sorted({(r.get("job", "readme"), r["buckets"]) for r in results}):
        scored = table if job == "readme" else None

        def score(r, scored=scored):
            return scored[r["answer"]] if scored else r["answer_reward"]

        sides = {}
        for rungs in (False, True):
            runs = sorted((r for r in results if r.get("job", "readme") == job and r["buckets"] == buckets
                           and r["rungs"] == rungs), key=lambda r: r["seed"])
            if not runs:
                continue
            sides[rungs] = runs
            label = f"{job} H={buckets:<2} {'rungs' if rungs else 'full '}"
            for r in runs:
                print(f"{label} seed {r['seed']}: {r['trials']:>3} trials, {r['epochs']:>3} epochs, "
                      f"{r['seconds']:6.0f} s, answer {r['answer']} (its reward {r['answer_reward']:.4f}"
                      + (f"; full proxy in the table {scored[r['answer']]:.4f})" if scored else ")"))
            print(f"{label} mean over {len(runs)} seeds: epochs {_mean_sd([r['epochs'] for r in runs])}, "
                  f"seconds {_mean_sd([r['seconds'] for r in runs])}, answer's "
                  f"{'table ' if scored else ''}reward {_mean_sd([score(r) for r in runs])}"
                  + (f" against the best {best:.4f}" if scored else ""))
        if len(sides) == 2:
            full, rung = sides[False], sides[True]
            ratio = statistics.mean(r["epochs"] for r in rung) / statistics.mean(r["epochs"] for r in full)
            full_rewards = [score(r) for r in full]
            gap = statistics.mean(full_rewards) - statistics.mean(score(r) for r in rung)
            sd = statistics.stdev(full_rewards) if len(full_rewards) > 1 else 0.0
            met = ratio <= 0.5 and gap <= sd
            everything_met &= met
            print(f"{job} H={buckets}: rungs train {ratio:.2f}x the epochs in {len(rung)} seeds; answer {gap:+.4f} "
                  f"below the full-fidelity search's (its sd {sd:.4f}); target (<= 0.5x, within 1 sd): "
                  f"{'met' if met else 'NOT met'}")
    return everything_met


def main(argv):
    del argv
    root = _ROOT.value
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "results.jsonl")
    done = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            done = [json.loads(line) for line in f if line.strip()]
    table = _table(root)
    for run in _RUNS.value:
        job, buckets = run.split(":")[0], int(run.split(":")[1])
        if job not in JOBS:
            raise app.UsageError(f"--runs: unknown job {job!r}; valid: {', '.join(JOBS)}")
        for seed in range(_SEEDS.value):
            for rungs in (False, True):
                if any(r.get("job", "readme") == job and r["buckets"] == buckets and r["seed"] == seed
                       and r["rungs"] == rungs for r in done):
                    continue
                figures = _search(root, job, buckets, seed, rungs)
                print(json.dumps(figures), flush=True)
                done.append(figures)
                with open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(figures) + "\n")
    if not report(done, table):
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
