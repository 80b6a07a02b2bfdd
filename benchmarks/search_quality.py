r"""Measures the default search (`algorithms.DEFAULT`) against every baseline on the tabular benchmarks.

    python -m benchmarks.search_quality [--runs=100] [--controller_runs=N] [--small_budget_runs=100] [--tpe_runs=N] \
        [--cases=nas_bench_macro,nats_sss,real_table] [--real_table_seeds=0,1,2]

Targets (issue "A search that wins on every layerwise benchmark", and "Evidence on real training"), the
same trials for every algorithm, the mean score of each run's answer:
- everywhere: the default search at or above every baseline and the paper's LayerNAS at equal trials;
- NAS-Bench-Macro, its noisy protocol, at 50% and 25% of the largest FLOPs: the default search at least
  0.05 above every baseline and within 0.10 of the oracle, in at most 250 trials;
- NATS-Bench size space, cifar10 and cifar100 at 50%, in 300 trials (the paper's LayerNAS takes 242 and
  245): still its 93.34 and 70.32, and at or above every baseline after every 25 trials; the same tables
  at 25%, and our own real-training table (`experiments/real_table.py`, NAS-Bench-Macro's protocol: run
  `r` sees seed `r % 3`) at 50% and 25%;
- any `--max_trials` a user may give (1 to 40 here, on every table): at least random search's score;
- without `--max_trials`, in every run no more trials than the paper's LayerNAS with the same seed, and
  a mean answer at least LayerNAS's.
"Every baseline" includes an outside peer, Optuna 5.0's TPE sampler (`benchmarks/optuna_tpe.py`), under the
same protocol: infeasible and repeated networks cost no trial. Prints a table against the targets and exits
with status 1 when one is missed. Where a table trained each network more than once (NAS-Bench-Macro, our own), it
also prints the answers' score on the trainings their runs did not see (`held_out_score`; not a target): a network
picked for the luck of the one training its run saw keeps none of it there. The RNN controller and TPE run fewer times (`--controller_runs`,
`--tpe_runs`) on the tables where a run is long: the controller's Keras update and TPE's asks make a run take
seconds, not milliseconds. Where runs are short (25-40 trials) they run 100 times as the others: TPE on
NAS-Bench-Macro and our own table, the controller on our own table.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Optional

import numpy as np
from absl import app, flags

from benchmarks.optuna_tpe import OptunaTPE
from experiments import comparison, tables
from layernas_tf import algorithms, reports

_DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"))
_NATS_TABLE = flags.DEFINE_string("nats_table", os.path.join(_DATA, "nats_sss", "nats_sss_cifar.csv"),
                                  "NATS-Bench size-space CSV table.")
_MACRO_TABLE = flags.DEFINE_string(
    "macro_table", os.path.join(_DATA, "nas_bench_macro", "nas-bench-macro_cifar10.json"), "NAS-Bench-Macro JSON.")
_RUNS = flags.DEFINE_integer("runs", 100, "Runs per algorithm and table.")
_CONTROLLER_RUNS = flags.DEFINE_integer(
    "controller_runs", None, "Runs of the RNN controller per table (0: none; default: each table's own, 20 on "
    "NAS-Bench-Macro, 5 on NATS-Bench, where a run of 300 trials takes a minute).")
_SMALL_BUDGET_RUNS = flags.DEFINE_integer("small_budget_runs", 100, "Runs per small --max_trials checked.")
_TPE_RUNS = flags.DEFINE_integer(
    "tpe_runs", None, "Runs of Optuna's TPE sampler per table, an outside peer (0: none; default: each table's own, "
    "100 on NAS-Bench-Macro and our own table, where a run of 25-40 trials is quick, 10 on NATS-Bench).")

_REAL_TABLE_SEEDS = flags.DEFINE_list(
    "real_table_seeds", ["0", "1", "2"], "Which of our table's seeds the benchmark uses (run r sees the (r mod N)th of "
    "the N given, the score is the mean over them): 0,1,2 is the issue's protocol; the table holds a 4th (3), to see "
    "how far a verdict rests on the seeds drawn.")
_CASES = flags.DEFINE_list("cases", ["nas_bench_macro", "nats_sss", "real_table"], "The tables to measure on.")

BASELINES = ("random", "evolution", "reinforce", "controller", "optuna_tpe")
SMALL_BUDGETS = (1, 2, 3, 5, 10, 20, 40)


@dataclasses.dataclass(frozen=True)
class Case:
    benchmark: str
    dataset: str
    fraction: float
    trials: int
    unchanged: Optional[float] = None  # the score the paper's LayerNAS reaches here, to keep
    controller_runs: int = 20
    tpe_runs: int = 10
    margin: bool = False  # the default must beat every baseline by 0.05 here

    @property
    def label(self) -> str:
        return f"{comparison.TITLES[self.benchmark]} {self.dataset} {self.fraction:.0%}"


CASES = (
    # A few dozen trials, where a better search shows; by 50 the RNN controller has caught up on these tables
    # (docs/algorithm.md gives the curves). At 25% only 79 networks are feasible.
    # TPE runs 100 times here (a run of 25-40 trials takes a fraction of a second), as every other algorithm but
    # the controller: the margin is over its mean, which 10 runs put within a standard error of about 0.04.
    Case("nas_bench_macro", "cifar10", 0.5, trials=40, margin=True, tpe_runs=100),
    Case("nas_bench_macro", "cifar10", 0.25, trials=25, margin=True, tpe_runs=100),
    # The paper's LayerNAS takes 242 and 245 trials here; LayerNAS+ gives half of its trials to the model, and
    # at 245 a few cifar100 runs have not reached 70.32 yet (mean 70.31); by 300 every one has.
    Case("nats_sss", "cifar10", 0.5, trials=300, unchanged=93.34, controller_runs=5),
    Case("nats_sss", "cifar100", 0.5, trials=300, unchanged=70.32, controller_runs=5),
    Case("nats_sss", "cifar10", 0.25, trials=300, controller_runs=5),
    Case("nats_sss", "cifar100", 0.25, trials=300, controller_runs=5),
    # 243 networks, 30 trials: an eighth of the space, as a user's search trains a small part of theirs. Every
    # algorithm runs 100 times: at 30 trials a run of the controller or TPE takes about a second, and with 20 runs
    # their means move by a standard error of 0.25, more than the differences measured.
    Case("real_table", "noisy_digits", 0.5, trials=30, controller_runs=100, tpe_runs=100),
    Case("real_table", "noisy_digits", 0.25, trials=30, controller_runs=100, tpe_runs=100),
)


def open_case(case: Case):
    if case.benchmark == "real_table":
        try:
            seeds = [int(seed) for seed in _REAL_TABLE_SEEDS.value]
        except ValueError:
            raise app.UsageError(f"--real_table_seeds takes seed numbers, not {','.join(_REAL_TABLE_SEEDS.value)}",
                                 exitcode=2) from None
        try:
            benchmark = tables.RealTable(seeds=seeds)
        except ValueError as e:
            raise app.UsageError(f"--real_table_seeds={','.join(_REAL_TABLE_SEEDS.value)}: {e}", exitcode=2) from None
    else:
        table = {"nas_bench_macro": _MACRO_TABLE.value, "nats_sss": _NATS_TABLE.value}[case.benchmark]
        benchmark = tables.open_benchmark(case.benchmark, dataset=case.dataset, table=table)
    return benchmark, case.fraction * benchmark.space.cost(benchmark.space.dearest())


def small_budget_scores(benchmark, limit: float, name: str, runs: int) -> dict[int, float]:
    """Mean score of `name`'s answer for each of SMALL_BUDGETS as `max_trials`; no answer scores -inf."""
    out = {}
    for budget in SMALL_BUDGETS:
        scores = []
        for r in range(runs):
            result = comparison.search_once(comparison.make(name, benchmark.space, limit, r, budget, {}), benchmark,
                                            run=r)
            scores.append(result["test"] if result["arch"] is not None else -np.inf)
        out[budget] = float(np.mean(scores))
    return out


def tpe_results(benchmark, limit: float, trials: int, runs: int) -> dict:
    """Optuna's TPE under the baselines' protocol: the mean test score at the end and after every checkpoint."""
    curves, finals, results = [], [], []
    for r in range(runs):
        result = comparison.search_once(OptunaTPE(benchmark.space, limit, max_trials=trials, seed=r), benchmark, run=r)
        results.append(result)
        finals.append(result["test"])
        curves.append(result["curve"] + [result["curve"][-1]] * (trials - len(result["curve"])))
    return {"test_mean": float(np.mean(finals)), "held_out_mean": comparison.held_out_mean(results),
            "test_mean_at": {str(n): float(np.mean([c[n - 1] for c in curves]))
                             for n in range(comparison.CHECKPOINT_EVERY, trials + 1, comparison.CHECKPOINT_EVERY)}}


def natural_end(benchmark, limit: float, runs: int) -> dict[str, dict[str, float]]:
    """The default and the paper's LayerNAS without max_trials, run by run (the same seeds): trials, the answer's
    test score and its validation reward (the table's mean over trainings: what the search maximizes)."""
    out = {}
    for name in ("layernas", algorithms.DEFAULT):
        results = [comparison.search_once(comparison.make(name, benchmark.space, limit, r, None, {}), benchmark, run=r)
                   for r in range(runs)]
        out[name] = {"trials": [r["trials"] for r in results], "test": [r["test"] for r in results],
                     "valid": [benchmark.mean_reward(benchmark.space.parse(r["arch"])) for r in results]}
    return out


def main(argv):
    del argv
    failures, rows, held_out_rows, controller_runs_by_table, tpe_runs_by_table = [], [], [], {}, {}
    default = algorithms.DEFAULT
    start = time.perf_counter()

    def check(ok: bool, text: str) -> None:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}", flush=True)
        if not ok:
            failures.append(text)

    for case in (c for c in CASES if c.benchmark in _CASES.value):
        benchmark, limit = open_case(case)
        print(f"\n== {case.label}: MAdds <= {limit:,.0f}, {_RUNS.value} runs", flush=True)
        summary, _ = comparison.compare(benchmark, limit=limit,
                                        names=[default, "layernas", "random", "evolution", "reinforce"],
                                        runs=_RUNS.value, max_trials=case.trials)
        results = summary["algorithms"]
        trials = summary["max_trials"]
        controller_runs = case.controller_runs if _CONTROLLER_RUNS.value is None else _CONTROLLER_RUNS.value
        controller_runs_by_table[case.label] = controller_runs
        if controller_runs:
            theirs, _ = comparison.compare(benchmark, limit=limit, names=["controller"], runs=controller_runs,
                                           max_trials=trials)
            results["controller"] = theirs["algorithms"]["controller"]
        tpe_runs = case.tpe_runs if _TPE_RUNS.value is None else _TPE_RUNS.value
        tpe_runs_by_table[case.label] = tpe_runs
        if tpe_runs:
            results["optuna_tpe"] = tpe_results(benchmark, limit, trials, tpe_runs)
            print(f"optuna_tpe: {tpe_runs} runs, test {results['optuna_tpe']['test_mean']:.2f}", flush=True)
        ours, oracle = results[default]["test_mean"], summary["oracle"]["test"]
        baselines = {name: results[name]["test_mean"] for name in BASELINES if name in results}
        best_name = max(baselines, key=baselines.get)
        check(ours >= baselines[best_name], f"{default} {ours:.2f} >= every baseline, Optuna's TPE included "
              f"(best: {best_name} {baselines[best_name]:.2f}) after {trials} trials")
        # The paper's LayerNAS starts from the dearest network: with a budget of trials some runs end before it
        # trained one within the cost budget. Held to its mean over the runs that answered (its best case).
        layernas, answered = results["layernas"]["test_mean_answered"], results["layernas"]["answered"]
        check(not answered or ours >= layernas - 1e-6,
              f"{default} {ours:.4f} >= the paper's LayerNAS at {trials} trials: " + (
                  f"{layernas:.4f}, its mean over the {answered} of {_RUNS.value} runs that found a network within the "
                  "budget" if answered else "it found no network within the budget in any run"))
        if case.margin:
            # The margin holds over every baseline, the outside peer (Optuna's TPE) included, unrounded.
            check(trials <= 250 and ours >= baselines[best_name] + 0.05 and ours >= oracle - 0.10,
                  f"{default} {ours:.4f} >= best baseline ({best_name} {baselines[best_name]:.4f}) + 0.05 and >= "
                  f"oracle {oracle:.4f} - 0.10, in {trials} <= 250 trials")
        elif case.unchanged is not None:
            # Unrounded: a mean of 100 runs that all found the 70.32 network is 70.3199999..., hence the float
            # tolerance (1e-6), far below the table's own resolution (0.01), where rounding allowed 0.005.
            check(ours >= case.unchanged - 1e-6, f"{default} {ours:.4f} >= {case.unchanged} in {trials} trials "
                  "(unrounded)")
            for n, value in results[default]["test_mean_at"].items():
                behind = [f"{name} {results[name]['test_mean_at'][n]:.2f}" for name in baselines
                          if results[name]["test_mean_at"].get(n) is not None
                          and results[name]["test_mean_at"][n] > value]
                check(not behind, f"after {n} trials {default} {value:.2f} >= every baseline"
                      + (f" (behind {', '.join(behind)})" if behind else ""))
        natural = natural_end(benchmark, limit, _RUNS.value)
        paper, plus = natural["layernas"], natural[default]
        more = sum(p > q for p, q in zip(plus["trials"], paper["trials"]))
        check(more == 0 and np.mean(plus["test"]) >= np.mean(paper["test"]),
              f"without --max_trials {default} takes {np.mean(plus['trials']):.1f} trials (more than LayerNAS in "
              f"{more} of {_RUNS.value} runs) against LayerNAS's {np.mean(paper['trials']):.1f}, answer "
              f"{np.mean(plus['test']):.3f} >= LayerNAS's {np.mean(paper['test']):.3f} (validation "
              f"{np.mean(plus['valid']):.3f} and {np.mean(paper['valid']):.3f})")
        small_ours = small_budget_scores(benchmark, limit, default, _SMALL_BUDGET_RUNS.value)
        small_random = small_budget_scores(benchmark, limit, "random", _SMALL_BUDGET_RUNS.value)
        behind = [f"{b}: {small_ours[b]:.2f} < {small_random[b]:.2f}" for b in SMALL_BUDGETS
                  if small_ours[b] < small_random[b]]
        check(not behind, f"--max_trials in {SMALL_BUDGETS}: {default} >= random search"
              + (f" (behind at {'; '.join(behind)})" if behind else ""))
        rows.append([case.label, str(trials), f"{oracle:.2f}", f"{ours:.2f}", f"{layernas:.2f}" if answered else "none"]
                    + [f"{baselines[name]:.2f}" if name in baselines else "-" for name in BASELINES]
                    + [f"{ours - baselines[best_name]:+.2f}"])
        # Not a target: the same answers scored on the trainings their runs did not see, where a table has several
        # per network. A search that picks a network for the luck of the one training it saw gains nothing there.
        held_out = {name: results[name].get("held_out_mean") for name in (default, "layernas", *BASELINES)
                    if name in results}
        if held_out[default] is not None:
            print("  on the trainings each run did not see: "
                  + ", ".join(f"{name} {value:.2f}" for name, value in held_out.items() if value is not None), flush=True)
            held_out_rows.append([case.label, str(trials)] + [f"{held_out[name]:.2f}" if held_out.get(name) is not None
                                                              else "-" for name in (default, "layernas", *BASELINES)])

    print()
    print(reports.markdown_table(["table", "trials", "oracle", f"{default} (default)", "layernas (paper)",
                                  *BASELINES, "margin"], rows))
    if held_out_rows:
        print("\nThe same answers scored on the trainings their runs did not see (not a target):")
        print(reports.markdown_table(["table", "trials", f"{default} (default)", "layernas (paper)", *BASELINES],
                                     held_out_rows))
    controllers = ", ".join(f"{runs} on {label}" for label, runs in controller_runs_by_table.items())
    tpes = ", ".join(f"{runs} on {label}" for label, runs in tpe_runs_by_table.items())
    print(f"\n{_RUNS.value} runs per algorithm (the controller: {controllers}; Optuna's TPE: {tpes}), "
          f"{time.perf_counter() - start:.0f} s")
    print("all targets met" if not failures else f"{len(failures)} target(s) missed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    app.run(main)
