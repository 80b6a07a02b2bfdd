"""The comparison on a tabular benchmark as a library: one search, the oracle, many runs, the summary.

`experiments/benchmark.py` is its command line (`experiments/nats_bench.py` the
NATS-Bench one); benchmarks and tests call it here. Any reader of
`experiments/tables.py` serves as the benchmark.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional

import numpy as np

from layernas_tf import algorithms, reports
from layernas_tf.core import front
from layernas_tf.core.records import TrialRecord
from layernas_tf.core.space import Architecture
from layernas_tf.trials.executors import SerialExecutor
from layernas_tf.trials.runner import Runner
from layernas_tf.trials.store import MemoryStore


# summary.json gives each algorithm's mean score after every this many trials.
CHECKPOINT_EVERY = 25


class TableSearch(Runner):
    """One search over a table through the search's own loop (`trials.runner.Runner`), one trial at a time.

    A trial "trains" by looking its reward up (`reward(arch, epochs)`: epochs None is the
    full training), in this process, its record kept in memory: the same asking, telling
    and answer as a live search, thousands of times faster. Subclasses add what they
    measure through the runner's hooks.

    Attributes:
      epochs: the epochs the search trained, counted as a live one trains them (`full_epochs`
        a network trained whole; a promoted trial trains on from its rung's checkpoint, so
        it costs only the epochs it adds).
    """

    def __init__(self, algorithm, reward: Callable[[Architecture, Optional[int]], float], full_epochs: int = 1):
        space = algorithm.space

        def objective(trial_id: int, arch: str, epochs: Optional[int] = None) -> dict[str, float]:
            del trial_id
            return {"reward": reward(space.parse(arch), epochs)}

        super().__init__(MemoryStore(), algorithm, SerialExecutor(lambda: objective), log=None)
        self.full_epochs, self.epochs = full_epochs, 0

    def on_trial_begin(self, trial) -> None:
        self.epochs += (trial.epochs or self.full_epochs) - max(trial.rewards, default=0)


class _Curve(TableSearch):
    """Keeps the answer's test accuracy after each trial, and stops once `time_budget` training seconds are spent."""

    def __init__(self, algorithm, benchmark, time_budget: Optional[float], run: int):
        super().__init__(algorithm, lambda arch, epochs: benchmark.reward(arch, run))
        self.benchmark, self.time_budget, self.used = benchmark, time_budget, 0.0
        self.curve: list[float] = []
        self._best: Optional[TrialRecord] = None
        self.best_test = math.nan

    def stop_requested(self) -> bool:
        return self.time_budget is not None and self.used >= self.time_budget

    def on_trial_end(self, trial, metrics) -> None:
        algorithm = self.algorithm
        if self.time_budget is not None:
            self.used += self.benchmark.train_seconds(trial.arch)
        # The answer, as algorithm.best() picks it (`core.front.answer`), without going over every trial again.
        latest = TrialRecord.from_trial(trial, algorithm.full_fidelity(trial))
        chosen = front.answer([r for r in (self._best, latest) if r is not None],
                              lambda r: algorithm.feasible(trial.arch) if r is latest else True)
        if chosen is latest:
            self._best, self.best_test = latest, self.benchmark.test_accuracy(trial.arch)
        self.curve.append(self.best_test)


def search_once(algorithm, benchmark, time_budget: Optional[float] = None, run: int = 0) -> dict[str, Any]:
    """Runs one search to the end against the benchmark, as search run `run` (which training it sees).

    Returns:
      The answer's architecture, validation and test accuracy, its score on the
      trainings this run did not see (`held_out`: None where the table has one
      training per network, or no answer), the number of trials, and `curve`: the
      test accuracy of the answer after each trial.
    """
    search = _Curve(algorithm, benchmark, time_budget, run)
    search.run()
    best = algorithm.best()
    return {
        "arch": None if best is None else str(best.arch),
        "valid": math.nan if best is None else best.reward,
        "test": search.best_test,
        "held_out": None if best is None else benchmark.held_out_score(best.arch, run),
        "trials": len(algorithm.trials),
        "saved": getattr(algorithm, "trials_saved", 0),
        "curve": search.curve,
    }


def make(name: str, space, limit: float, seed: int, max_trials: Optional[int], own_settings: dict):
    """Algorithm `name`, with its entry of `own_settings` (settings only it takes) if any."""
    return algorithms.create(name, space, limit, max_trials=max_trials, seed=seed, **own_settings.get(name, {}))


def oracle(space, benchmark, limit: float) -> dict[str, Any]:
    """The feasible network of the best noiseless reward, by exhaustive enumeration."""
    best = None
    for arch in space.all_architectures():
        cost = space.cost(arch)
        if cost <= limit:
            key = (benchmark.mean_reward(arch), -cost)
            if best is None or key > best[0]:
                best = (key, arch)
    arch = best[1]
    described = (space.channel_string(arch) if hasattr(space, "channel_string")
                 else ", ".join(str(v) for v in space.values(arch)))
    return {"arch": str(arch), "channels": described, "valid": best[0][0], "test": benchmark.test_accuracy(arch)}


def compare(
    benchmark, *, limit, names, runs, max_trials=None, seed=0, time_budget=None, buckets=10, per_bucket=1,
    controller_batch=1,
) -> tuple[dict[str, Any], dict[str, list[list[float]]]]:
    """Runs every algorithm `runs` times; returns the summary and the per-run curves."""
    space = benchmark.space
    layerwise = {"buckets": buckets, "per_bucket": per_bucket}
    own_settings = {name: layerwise for name in algorithms.names() if algorithms.layerwise(name)}
    own_settings["controller"] = {"batch": controller_batch}
    if max_trials is None:
        first = make("layernas", space, limit, seed, None, own_settings)
        max_trials = search_once(first, benchmark, time_budget)["trials"]
    summary: dict[str, Any] = {
        "benchmark": benchmark.name,
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
            search_once(make(name, space, limit, seed + r, max_trials, own_settings), benchmark, time_budget,
                        run=seed + r)
            for r in range(runs)
        ]
        seconds = time.perf_counter() - start
        length = max(len(r["curve"]) for r in results)
        curves[name] = [r["curve"] + [r["curve"][-1]] * (length - len(r["curve"])) for r in results]
        test = np.array([r["test"] for r in results])
        q25, q75 = np.percentile(test, [25, 75])
        summary["algorithms"][name] = {
            "trials_mean": float(np.mean([r["trials"] for r in results])),
            "trials_saved_mean": float(np.mean([r["saved"] for r in results])),
            "valid_mean": float(np.mean([r["valid"] for r in results])),
            "test_mean": float(np.mean(test)),
            # Runs that ended with a network within the budget, and their mean (a budget of trials can end first).
            "answered": int(np.sum(~np.isnan(test))),
            "test_mean_answered": float(np.nanmean(test)) if not np.isnan(test).all() else math.nan,
            "test_std": float(np.std(test)),
            "held_out_mean": held_out_mean(results),
            "test_q25": float(q25),
            "test_q75": float(q75),
            "seconds": seconds,
            "test_mean_at": {str(n): _mean_or_none([c[n - 1] for c in curves[name]])
                             for n in range(CHECKPOINT_EVERY, length + 1, CHECKPOINT_EVERY)},
        }
        s = summary["algorithms"][name]
        print(
            f"{name:>10}: {runs} runs, {s['trials_mean']:.0f} trials, test {s['test_mean']:.2f} "
            f"+- {s['test_std']:.2f} (valid {s['valid_mean']:.2f}), {seconds:.1f} s",
            flush=True,
        )
    return summary, curves


def held_out_mean(results: list[dict[str, Any]]) -> Optional[float]:
    """The mean `held_out` score of `search_once` results, over the runs that answered; None where the table has
    no training a run does not see."""
    scores = [r["held_out"] for r in results if r["held_out"] is not None]
    return float(np.mean(scores)) if scores else None


def _mean_or_none(values: list[float]) -> Optional[float]:
    """The mean over runs that have an answer by then; None while none has."""
    known = [v for v in values if not math.isnan(v)]
    return float(np.mean(known)) if known else None


TITLES = {"nats_sss": "NATS-Bench size space", "nas_bench_macro": "NAS-Bench-Macro", "real_table": "our real table"}


def summary_markdown(summary: dict[str, Any]) -> str:
    o = summary["oracle"]
    rows = [
        [name, f"{s['trials_mean']:.0f}", f"{s['trials_saved_mean']:.1f}", f"{s['valid_mean']:.2f}", f"{s['test_mean']:.2f} ± {s['test_std']:.2f}",
         f"{s['test_q25']:.2f} – {s['test_q75']:.2f}", f"{s['seconds']:.1f}"]
        for name, s in summary["algorithms"].items()
    ]
    return (
        f"# {TITLES.get(summary['benchmark'], summary['benchmark'])}, {summary['dataset']}\n\n"
        f"MAdds limit {summary['flops_limit']:,.0f}; {summary['runs']} runs per algorithm, "
        f"{summary['max_trials']} trials each.\n\n"
        f"Oracle (best noiseless reward among feasible networks, by exhaustive search): "
        f"`{o['arch']}` ({o['channels']}), valid {o['valid']:.2f}, test {o['test']:.2f}.\n\n"
        + reports.markdown_table(
            ["algorithm", "trials", "saved", "valid (mean)", "test (mean ± std)", "test 25–75%", "seconds"], rows
        )
    )
