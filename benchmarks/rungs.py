r"""Multi-fidelity LayerNAS (`--rung_epochs`) against the paper's LayerNAS, on real training.

    python -m benchmarks.rungs [--seeds=5] [--replays=3,10] [--runs=nats:2] [--rung_epochs=1] \
        [--rung_factor=3] [--root=DIR]

Two jobs:

- `readme`: README's main job (MobileNetV3-Small's 6 block skips, 64 networks, 63
  of them under 2.1M MAdds, on the embedded digits at 32x32, 3 proxy epochs: rungs
  of 1 and 3 epochs). Small enough to train whole: for each seed (the seed changes
  every network's training), every network trains its first rung and then on to the
  full proxy from the rung's checkpoint, exactly as a promoted trial of a search
  with that seed does (two processes of one CPU thread, the search's own trial
  worker). From this table the benchmark prints whether the rung can rank networks
  at all (the rung reward's rank correlation with the full proxy's, and how many
  distinct values it takes) and whether the full proxy itself does (the rank
  correlation of two seeds' full-proxy rewards, and a network's spread over seeds
  against the spread between networks). Then, for each H of `--replays`, LayerNAS
  with and without rungs runs over each seed's table (the search's own algorithm,
  asked and told as the runner does, every reward a real training's): the epochs a
  whole search trains and its answer. The table's one difference from a live
  search: a network trained straight to the full proxy (a bucket of at most k) is
  scored by its rung-and-resume training, not a straight one.
- `nats`: the larger subspace, NATS-Bench's size space (5 layers of 8 channel
  counts, 32,768 networks) under half its dearest MAdds at 16x16 on the same
  digits, 5 proxy epochs (the default; rungs of 1, 3 and 5 epochs): too large to
  train whole, so each `--runs` entry `JOB:H` runs live searches with and without
  rungs (two local workers of one CPU thread; `readme:H` runs README's job live).

Every answer is scored by its full-proxy reward: README's job by the mean over the
table's seeds, NATS by the answer's own. Printed for each setting: epochs of a
whole search (every rung counted), trials, the answer's reward, means and standard
deviations over the seeds. Target (issue "The headline search at the paper's cost
or less", item 2): at most half the epochs for an answer within one standard
deviation of the full-fidelity search's. A rung of r of the proxy's P epochs trains
every child at least r epochs, so no setting goes below r/P of the epochs the same
children take at full fidelity. Everything is appended to DIR (table.jsonl,
results.jsonl) as it ends, and a rerun skips what is there. Exits 1 when a setting
misses the target.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import multiprocessing
import os
import statistics
import sys
import time

from absl import app, flags
from scipy import stats

import layernas_tf
from experiments.comparison import TableSearch
from layernas_tf import api
from layernas_tf.algorithms import LayerNAS
from layernas_tf.api import epochs_trained
from layernas_tf.config import rung_schedule
from layernas_tf.core.noise import reward_variance
from layernas_tf.trials import study
from layernas_tf.trials.artefacts import THREADS_ENV

_SEEDS = flags.DEFINE_integer("seeds", 5, "Seeds per setting (and of README's job's table).")
_REPLAYS = flags.DEFINE_list("replays", ["3", "10"], "H of the searches run over README's job's table.")
_RUNS = flags.DEFINE_list("runs", ["nats:2"], "JOB:H pairs of live searches, in the order they run.")
_RUNG_EPOCHS = flags.DEFINE_integer("rung_epochs", 1, "The first rung's epochs.")
_RUNG_FACTOR = flags.DEFINE_integer("rung_factor", 3, "Successive halving's eta.")
_ROOT = flags.DEFINE_string("root", "runs/benchmark_rungs", "Where the studies, table.jsonl and results.jsonl go.")

# README's main job, as search() arguments.
JOB = dict(space="mbv3_small", madds="2.1M", decisions="skip", dataset="digits", image_size=32, deploy_image_size=32,
           batch_size=64, learning_rate=0.02, proxy_epochs=3, executor="local", parallel_trials=2, cpus_per_trial=1,
           verbose=0)
NATS = dict(JOB, space="nats_sss", madds="34.3M", decisions=None, image_size=16, deploy_image_size=16, proxy_epochs=5)
JOBS = {"readme": JOB, "nats": NATS}
TABLE_WORKERS = 2

_worker = None  # a table process's trial worker, for one seed at a time


def _rungs() -> tuple[int, ...]:
    return rung_schedule(_RUNG_EPOCHS.value, _RUNG_FACTOR.value, JOB["proxy_epochs"])


def _prepare(directory: str, seed: int, rungs: tuple[int, ...]):
    """README's job as one trial worker sees it: it trains the epochs it is asked for, whatever the factor."""
    return api.prepare(log=lambda line: None, **dict(JOB, executor="serial", parallel_trials=None),
                       algorithm="layernas", rung_epochs=rungs[0], rung_factor=2, seed=seed, study_dir=directory)


def _train_network(directory: str, seed: int, index: int, arch: str, rungs: tuple[int, ...]) -> dict:
    """One network of README's job through every rung, as a promoted trial of a search with `seed` trains."""
    global _worker
    from layernas_tf.training.worker import TrialWorker  # pylint: disable=import-outside-toplevel
    if _worker is None or _worker.config.seed != seed:
        os.makedirs(directory, exist_ok=True)
        _worker = TrialWorker(_prepare(directory, seed, rungs).config)
    metrics = [_worker(index, arch, epochs) for epochs in rungs]
    return {"seed": seed, "arch": arch, "rungs": list(rungs),
            "rewards": {str(e): m["reward"] for e, m in zip(rungs, metrics)},
            "val_loss": {str(e): m["val_loss"] for e, m in zip(rungs, metrics)}}


def _one_thread() -> None:
    os.environ[THREADS_ENV] = "1"


def table(root: str, seeds: int, rungs: tuple[int, ...], space) -> dict[int, dict[str, dict[int, float]]]:
    """Every network of README's job, each seed: {seed: {arch: {epochs: reward}}}, trained where missing."""
    path = os.path.join(root, "table.jsonl")
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    archs = [":".join(map(str, a)) for a in itertools.product(*(range(len(p)) for p in space.decision_points))]
    rows = [r for r in rows if r["rungs"] == list(rungs)]  # a table per schedule
    done = {(r["seed"], r["arch"]) for r in rows}
    missing = [(s, i, a) for s in range(seeds) for i, a in enumerate(archs) if (s, a) not in done]
    if missing:
        print(f"readme table: training {len(missing)} networks through rungs {rungs}", flush=True)
        pool = concurrent.futures.ProcessPoolExecutor(TABLE_WORKERS, mp_context=multiprocessing.get_context("spawn"),
                                                      initializer=_one_thread)
        try:
            jobs = [pool.submit(_train_network, os.path.join(root, f"table_seed{s}"), s, i, a, rungs)
                    for s, i, a in missing]
            with open(path, "a", encoding="utf-8") as f:
                for n, job in enumerate(concurrent.futures.as_completed(jobs), 1):
                    rows.append(job.result())
                    f.write(json.dumps(rows[-1]) + "\n")
                    f.flush()
                    if n % 16 == 0:
                        print(f"readme table: {n}/{len(missing)}", flush=True)
        finally:  # Ctrl-C: the two networks in training end, the queued ones never start
            pool.shutdown(cancel_futures=True)
    out: dict[int, dict[str, dict[int, float]]] = {}
    for r in rows:
        if r["seed"] < seeds:
            out.setdefault(r["seed"], {})[r["arch"]] = {int(e): v for e, v in r["rewards"].items()}
    return out


def signal(tables: dict[int, dict[str, dict[int, float]]], feasible: list[str], rungs: tuple[int, ...]) -> None:
    """Prints whether the first rung ranks networks as the full proxy does, and whether the full proxy repeats."""
    first, full = rungs[0], rungs[-1]
    for seed, t in sorted(tables.items()):
        short, long = [t[a][first] for a in feasible], [t[a][full] for a in feasible]
        print(f"readme seed {seed}: after {first} of {full} epochs {len(set(short))} distinct rewards over "
              f"{len(feasible)} networks (most common {statistics.mode(short):.4f}); rank correlation with the "
              f"full proxy: Spearman {stats.spearmanr(short, long)[0]:+.3f}, Kendall {stats.kendalltau(short, long)[0]:+.3f}")
    if len(tables) > 1:
        pairs = list(itertools.combinations(sorted(tables), 2))
        rho = [stats.spearmanr([tables[a][n][full] for n in feasible], [tables[b][n][full] for n in feasible])[0]
               for a, b in pairs]
        within, between = reward_variance([[t[n][full] for t in tables.values()] for n in feasible])
        print(f"readme full proxy over {len(tables)} seeds: Spearman between two seeds' rewards {statistics.mean(rho):+.3f} "
              f"(mean of {len(pairs)} pairs); a network's sd over seeds {within:.4f}, sd of the networks' means "
              f"{between:.4f}")


def replay(tables, space, target, seed: int, buckets: int, rungs: tuple[int, ...]) -> dict:
    """LayerNAS over one seed's table: every reward a real training's, epochs counted as a search trains them."""
    algorithm = LayerNAS(space, target, buckets=buckets, rungs=rungs, rung_factor=_RUNG_FACTOR.value)
    full = JOB["proxy_epochs"]
    search = TableSearch(algorithm, lambda arch, epochs: tables[seed][str(arch)][epochs or full], full)
    search.run()
    best = algorithm.best()
    return {"name": f"readme_replay_h{buckets}_seed{seed}_{'rungs' if rungs else 'full'}", "job": "readme replay",
            "buckets": buckets, "seed": seed, "rungs": bool(rungs), "trials": len(algorithm.trials),
            "epochs": search.epochs, "seconds": 0.0, "answer": str(best.arch), "answer_reward": best.reward}


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


def report(results: list[dict], scores: dict[str, float]) -> bool:
    """Prints the figures; whether every setting with both sides met the target.

    `scores`: README's job's networks' full-proxy rewards (the table's mean over seeds).
    """
    everything_met = True
    best = max(scores.values())
    print(f"readme: {len(scores)} feasible networks; best mean full-proxy reward {best:.4f}")
    for job, buckets in sorted({(r.get("job", "readme"), r["buckets"]) for r in results}):
        scored = scores if job.startswith("readme") else None

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
                      + (f"; mean full proxy {scored[r['answer']]:.4f})" if scored else ")"))
            print(f"{label} mean over {len(runs)} seeds: epochs {_mean_sd([r['epochs'] for r in runs])}, "
                  f"trials {_mean_sd([r['trials'] for r in runs])}, answer's "
                  f"{'mean full-proxy ' if scored else ''}reward {_mean_sd([score(r) for r in runs])}"
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
    root, seeds, rungs = _ROOT.value, _SEEDS.value, _rungs()
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, "results.jsonl")
    done = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            done = [json.loads(line) for line in f if line.strip()]
    prepared = _prepare(os.path.join(root, "probe"), 0, rungs)
    space, (t_min, t_max) = prepared.space, prepared.config.target
    tables = table(root, seeds, rungs, space)
    feasible = sorted(a for a in tables[0] if t_min <= space.cost(space.parse(a)) <= t_max)
    scores = {a: statistics.mean(t[a][rungs[-1]] for t in tables.values()) for a in feasible}
    signal(tables, feasible, rungs)
    replays = [replay(tables, space, (t_min, t_max), seed, int(h), rungs if with_rungs else ())
               for h in _REPLAYS.value for seed in range(seeds) for with_rungs in (False, True)]
    for run in _RUNS.value:
        job, buckets = run.split(":")[0], int(run.split(":")[1])
        if job not in JOBS:
            raise app.UsageError(f"--runs: unknown job {job!r}; valid: {', '.join(JOBS)}")
        for seed in range(seeds):
            for with_rungs in (False, True):
                if any(r.get("job", "readme") == job and r["buckets"] == buckets and r["seed"] == seed
                       and r["rungs"] == with_rungs for r in done):
                    continue
                figures = _search(root, job, buckets, seed, with_rungs)
                print(json.dumps(figures), flush=True)
                done.append(figures)
                with open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(figures) + "\n")
    if not report(replays + done, scores):
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
