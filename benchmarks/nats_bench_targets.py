r"""Measures the foundation's targets on the NATS-Bench size space and prints them.

    python -m benchmarks.nats_bench_targets [--table=../shared/data/nats_sss/nats_sss_cifar.csv] [--runs=100]
        [--controller_runs=30]

Targets (issue "Foundation"), with 50% of the largest network's MAdds:
- LayerNAS's answer reaches test >= 93.3 (cifar10) and >= 70.3 (cifar100) within 400 trials,
  and its mean beats random search, evolution and REINFORCE given the same trials, over 100 runs;
- the full comparison (100 runs x 4 algorithms, one dataset) takes under 60 s;
- LayerNAS's own overhead stays under 1 ms per suggested trial.
The RNN controller (issue "The original NAS") is compared at the same trials, over fewer runs: its
Keras update makes a run take seconds, not milliseconds, so it stays out of the 60 s figure.
"""

from __future__ import annotations

import os
import sys
import time

from absl import app, flags

from experiments import comparison
from layernas_tf import algorithms
from experiments.tables import NATSTable

_DEFAULT_TABLE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "nats_sss", "nats_sss_cifar.csv"
)
_TABLE = flags.DEFINE_string("table", os.path.normpath(_DEFAULT_TABLE), "NATS-Bench CSV table.")
_RUNS = flags.DEFINE_integer("runs", 100, "Runs per algorithm.")
_CONTROLLER_RUNS = flags.DEFINE_integer("controller_runs", 30, "Runs of the RNN controller (0: none).")
FAST = ("layernas", "random", "evolution", "reinforce")

TARGETS = {"cifar10": 93.3, "cifar100": 70.3}


def layernas_overhead(table: NATSTable, limit: float, repeats: int = 20) -> float:
    """Seconds per suggested trial spent inside LayerNAS (rewards come from a ready dict)."""
    rewards = {}
    probe = algorithms.LayerNAS(table.space, limit)
    while not probe.done:
        for t in probe.suggest(1):
            rewards[t.arch] = table.reward(t.arch)
            probe.report(t.id, rewards[t.arch])
    trials, start = 0, time.perf_counter()
    for _ in range(repeats):
        algo = algorithms.LayerNAS(table.space, limit)
        while not algo.done:
            for t in algo.suggest(1):
                algo.report(t.id, rewards[t.arch])
        trials += len(algo.trials)
    return (time.perf_counter() - start) / trials


def main(argv):
    del argv
    failures = []

    def check(ok: bool, text: str) -> None:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}", flush=True)
        if not ok:
            failures.append(text)

    runs = _RUNS.value
    for dataset, target in TARGETS.items():
        table = NATSTable(_TABLE.value, dataset)
        space = table.space
        limit = 0.5 * space.cost(space.dearest())
        print(f"\n== {dataset}: MAdds <= {limit:,.0f}, {runs} runs per algorithm", flush=True)
        start = time.perf_counter()
        summary, _ = comparison.compare(table, limit=limit, names=FAST, runs=runs)
        wall = time.perf_counter() - start
        results = summary["algorithms"]
        ours = results["layernas"]
        oracle = summary["oracle"]
        print(f"  oracle {oracle['arch']} ({oracle['channels']}): test {oracle['test']:.2f}")
        check(ours["test_mean"] >= target and summary["max_trials"] <= 400,
              f"LayerNAS test {ours['test_mean']:.2f} >= {target} with {summary['max_trials']} <= 400 trials")
        for name in ("random", "evolution", "reinforce"):
            other = results[name]
            check(ours["test_mean"] > other["test_mean"],
                  f"LayerNAS mean {ours['test_mean']:.2f} beats {name} {other['test_mean']:.2f} "
                  f"(+-{other['test_std']:.2f}) at {other['trials_mean']:.0f} trials")
        check(wall < 60, f"full comparison (oracle + {runs} runs x 4 algorithms) took {wall:.1f} s < 60 s")
        if _CONTROLLER_RUNS.value:
            theirs, _ = comparison.compare(table, limit=limit, names=["controller"], runs=_CONTROLLER_RUNS.value,
                                           max_trials=summary["max_trials"])
            c = theirs["algorithms"]["controller"]
            print(f"  RNN controller, {_CONTROLLER_RUNS.value} runs at {summary['max_trials']} trials: test "
                  f"{c['test_mean']:.2f} +- {c['test_std']:.2f}, {c['seconds']:.0f} s", flush=True)
        per_trial = layernas_overhead(table, limit)
        check(per_trial < 1e-3, f"LayerNAS overhead {per_trial * 1e3:.3f} ms per suggested trial < 1 ms")

    print("\nall targets met" if not failures else f"\n{len(failures)} target(s) missed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    app.run(main)
