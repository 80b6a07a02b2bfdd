r"""LayerNAS against random search, regularized evolution and REINFORCE on NATS-Bench.

Reproduces the paper's NATS-Bench size-space comparison: every algorithm searches
for the most accurate network under a MAdds limit (a fraction of the largest
network's), with rewards looked up in a benchmark table instead of trained, many
times over with different seeds. Every algorithm gets the same number of trials:
`--max_trials`, or by default as many as one LayerNAS search takes.

    python -m experiments.nats_bench --table=../shared/data/nats_sss/nats_sss_cifar.csv \
        --dataset=cifar10 --output_dir=runs/nats_bench_cifar10

Writes `summary.json`, `summary.md` and `curves.png` to `--output_dir`.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Optional

import numpy as np
from absl import flags

from layernas_tf import algorithms, cli, reports
from search_spaces import nats_bench

_TABLE = flags.DEFINE_string("table", None, "CSV table in the nats_sss_cifar.csv format.")
_NATS_DIR = flags.DEFINE_string(
    "nats_dir", None, "Official NATS-Bench size-space release (needs the nats_bench package)."
)
_DATASET = flags.DEFINE_string("dataset", "cifar10", f"One of {', '.join(nats_bench.DATASETS)} (the table's columns).")
_FLOPS_FRACTION = flags.DEFINE_float(
    "flops_fraction", 0.5, "MAdds limit as a fraction of the largest network's MAdds."
)
_RUNS = flags.DEFINE_integer("runs", 100, "Searches per algorithm, with seeds seed..seed+runs-1.")
_MAX_TRIALS = flags.DEFINE_integer(
    "max_trials", None, "Trials per search for every algorithm; default: as many as LayerNAS takes."
)
_TIME_BUDGET = flags.DEFINE_float(
    "time_budget", None, "Simulated training seconds per search (official release only; NATS-Bench's budget)."
)
_ALGORITHMS = flags.DEFINE_list("algorithms", algorithms.names(), f"Any of {', '.join(algorithms.names())}.")
_BUCKETS = flags.DEFINE_integer("buckets", 10, "LayerNAS: H, cost buckets per layer.")
_PER_BUCKET = flags.DEFINE_integer("per_bucket", 1, "LayerNAS: k, candidates kept per bucket.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the first run.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/nats_bench", "Where the summary and plot go.")


def search_once(algorithm, benchmark, time_budget: Optional[float] = None) -> dict[str, Any]:
    """Runs one search to the end against the benchmark.

    Returns:
      The answer's architecture, validation and test accuracy, the number of
      trials, and `curve`: the test accuracy of the answer after each trial.
    """
    used, curve = 0.0, []
    best_test = math.nan
    while not algorithm.done:
        if time_budget is not None and used >= time_budget:
            break
        trials = algorithm.suggest(1)
        if not trials:
            raise RuntimeError(f"{algorithm.name} suggested nothing with no trial out")
        trial = trials[0]
        algorithm.report(trial.id, benchmark.reward(trial.arch))
        if time_budget is not None:
            used += benchmark.train_seconds(trial.arch)
        best = algorithm.best()
        if best is not None and best.id == trial.id:
            best_test = benchmark.test_accuracy(best.arch)
        curve.append(best_test)
    best = algorithm.best()
    return {
        "arch": None if best is None else str(best.arch),
        "valid": math.nan if best is None else best.reward,
        "test": best_test,
        "trials": len(algorithm.trials),
        "curve": curve,
    }


def make(name: str, space, limit: float, seed: int, max_trials: Optional[int], layernas_settings: dict):
    settings: dict[str, Any] = {"max_trials": max_trials, "seed": seed}
    if name == "layernas":
        settings.update(layernas_settings)
    return algorithms.create(name, space, limit, **settings)


def oracle(space, benchmark, limit: float) -> dict[str, Any]:
    """The best-reward feasible network, by exhaustive enumeration."""
    best = None
    for arch in space.all_architectures():
        cost = space.cost(arch)
        if cost <= limit:
            key = (benchmark.reward(arch), -cost)
            if best is None or key > best[0]:
                best = (key, arch)
    arch = best[1]
    return {"arch": str(arch), "channels": space.channel_string(arch), "valid": best[0][0],
            "test": benchmark.test_accuracy(arch)}


def compare(
    benchmark, *, limit, names, runs, max_trials=None, seed=0, time_budget=None, buckets=10, per_bucket=1
) -> tuple[dict[str, Any], dict[str, list[list[float]]]]:
    """Runs every algorithm `runs` times; returns the summary and the per-run curves."""
    space = benchmark.space
    layernas_settings = {"buckets": buckets, "per_bucket": per_bucket}
    if max_trials is None:
        first = make("layernas", space, limit, seed, None, layernas_settings)
        max_trials = search_once(first, benchmark, time_budget)["trials"]
    summary: dict[str, Any] = {
        "dataset": benchmark.dataset,
        "flops_limit": limit,
        "runs": runs,
        "max_trials": max_trials,
        "oracle": oracle(space, benchmark, limit),
        "algorithms": {},
    }
    curves = {}
    for name in names:
        start = time.perf_counter()
        results = [
            search_once(make(name, space, limit, seed + r, max_trials, layernas_settings), benchmark, time_budget)
            for r in range(runs)
        ]
        seconds = time.perf_counter() - start
        length = max(len(r["curve"]) for r in results)
        curves[name] = [r["curve"] + [r["curve"][-1]] * (length - len(r["curve"])) for r in results]
        test = np.array([r["test"] for r in results])
        q25, q75 = np.percentile(test, [25, 75])
        summary["algorithms"][name] = {
            "trials_mean": float(np.mean([r["trials"] for r in results])),
            "valid_mean": float(np.mean([r["valid"] for r in results])),
            "test_mean": float(np.mean(test)),
            "test_std": float(np.std(test)),
            "test_q25": float(q25),
            "test_q75": float(q75),
            "seconds": seconds,
        }
        s = summary["algorithms"][name]
        print(
            f"{name:>10}: {runs} runs, {s['trials_mean']:.0f} trials, test {s['test_mean']:.2f} "
            f"+- {s['test_std']:.2f} (valid {s['valid_mean']:.2f}), {seconds:.1f} s",
            flush=True,
        )
    return summary, curves


def summary_markdown(summary: dict[str, Any]) -> str:
    o = summary["oracle"]
    rows = [
        [name, f"{s['trials_mean']:.0f}", f"{s['valid_mean']:.2f}", f"{s['test_mean']:.2f} ± {s['test_std']:.2f}",
         f"{s['test_q25']:.2f} – {s['test_q75']:.2f}", f"{s['seconds']:.1f}"]
        for name, s in summary["algorithms"].items()
    ]
    return (
        f"# NATS-Bench size space, {summary['dataset']}\n\n"
        f"MAdds limit {summary['flops_limit']:,.0f}; {summary['runs']} runs per algorithm, "
        f"{summary['max_trials']} trials each.\n\n"
        f"Oracle (best validation accuracy among feasible networks, by exhaustive search): "
        f"`{o['arch']}` ({o['channels']}), valid {o['valid']:.2f}, test {o['test']:.2f}.\n\n"
        + reports.markdown_table(
            ["algorithm", "trials", "valid (mean)", "test (mean ± std)", "test 25–75%", "seconds"], rows
        )
    )


def main(argv):
    del argv
    with cli.bad_input():
        for name in _ALGORITHMS.value:
            if name not in algorithms.names():
                raise ValueError(f"unknown algorithm {name!r} in --algorithms; valid: {', '.join(algorithms.names())}")
        for flag, value in (("runs", _RUNS.value), ("max_trials", _MAX_TRIALS.value),
                            ("buckets", _BUCKETS.value), ("per_bucket", _PER_BUCKET.value)):
            if value is not None and value < 1:
                raise ValueError(f"--{flag} must be a positive integer, got {value}")
        if not _FLOPS_FRACTION.value > 0:
            raise ValueError(f"--flops_fraction must be > 0 (0.5 is half the largest network), got {_FLOPS_FRACTION.value}")
        if _TIME_BUDGET.value is not None and _NATS_DIR.value is None:
            raise ValueError("--time_budget needs --nats_dir: the CSV table carries no training times")
        print(f"loading {_TABLE.value or _NATS_DIR.value} ({_DATASET.value})", flush=True)
        benchmark = nats_bench.open_benchmark(_DATASET.value, table=_TABLE.value, nats_dir=_NATS_DIR.value)
        space = benchmark.space
        largest = space.cost(space.dearest())
        limit = _FLOPS_FRACTION.value * largest
        cheapest = space.cost(space.cheapest())
        if cheapest > limit:
            raise ValueError(
                f"--flops_fraction={_FLOPS_FRACTION.value} (limit {limit:,.0f} MAdds) leaves no feasible network: "
                f"the cheapest costs {cheapest:,} MAdds, fraction {cheapest / largest:.4f} of the largest"
            )
        missing = benchmark.missing() if isinstance(benchmark, nats_bench.NATSOfficial) else []
        if missing:
            raise ValueError(
                f"NATS-Bench release {_NATS_DIR.value!r} holds {space.size - len(missing)} of {space.size} networks "
                f"(no record of network {missing[0]}, ...); the exhaustive oracle needs the full release"
            )
        output_dir = _OUTPUT_DIR.value
        try:
            os.makedirs(output_dir, exist_ok=True)
        except OSError as e:
            raise ValueError(f"cannot create --output_dir {output_dir!r}: {e.strerror}") from None
        if not os.access(output_dir, os.W_OK):
            raise ValueError(f"--output_dir {output_dir!r} is not writable")

    print(f"MAdds limit {limit:,.0f} ({_FLOPS_FRACTION.value} of {largest:,}); {_RUNS.value} runs per algorithm",
          flush=True)
    summary, curves = compare(
        benchmark, limit=limit, names=_ALGORITHMS.value, runs=_RUNS.value,
        max_trials=_MAX_TRIALS.value, seed=_SEED.value, time_budget=_TIME_BUDGET.value,
        buckets=_BUCKETS.value, per_bucket=_PER_BUCKET.value,
    )
    reports.write_json(os.path.join(output_dir, "summary.json"), summary)
    reports.write_atomic(os.path.join(output_dir, "summary.md"), summary_markdown(summary))
    reports.plot_curves(
        os.path.join(output_dir, "curves.png"), curves,
        title=f"NATS-Bench size space, {summary['dataset']}, MAdds <= {_FLOPS_FRACTION.value:g} x largest",
        ylabel="test accuracy of the answer (%)", reference=summary["oracle"]["test"],
    )
    print(summary_markdown(summary))
    print(f"wrote {output_dir}/summary.json, summary.md, curves.png")


if __name__ == "__main__":
    cli.run(main)
