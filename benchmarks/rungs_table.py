r"""Multi-fidelity measured on our own real-training table: rungs replayed on its per-epoch curves.

    python -m benchmarks.rungs_table [--runs=100] [--settings=1:2,1:3,2:2,3:2] [--fractions=0.5,0.25] \
        [--algorithms=layernas_plus,layernas]

The table (`experiments/real_table.py`) holds every `tiny_cnn` network's validation
reward after each of its 12 epochs under 3 seeds; a rung of r epochs trains the first r
epochs of the same schedule, so the reward a rung reports is the table's after r epochs.
Each run replays the search's own algorithm (asked and told as the runner does) with
and without rungs: run `r` sees seed `r % 3` and seeds the algorithm with `r`, as
NAS-Bench-Macro's protocol. Epochs are counted as a search trains them: a promoted trial
trains on from its rung's checkpoint, so it costs only the epochs it adds. The answer is
scored by the mean over the seeds of its final test reward. For each algorithm, budget
(a fraction of the dearest network's MAdds) and rung setting (`FIRST:FACTOR`, rungs
FIRST, FIRST*FACTOR, ... up to 12) it prints the mean epochs and trials per search and
the answer's mean score, against the same algorithm at full fidelity. Target (issue
"Evidence on real training", item 3): at most half the epochs for an answer within one
standard deviation (of the full-fidelity answers' scores) of the full-fidelity
search's. Exits 1 when no setting meets it for the default algorithm at every budget.
"""

from __future__ import annotations

import statistics
import sys

from absl import app, flags

from experiments.comparison import TableSearch
from experiments.tables import RealTable
from layernas_tf import algorithms
from layernas_tf.config import rung_schedule

_RUNS = flags.DEFINE_integer("runs", 100, "Runs per algorithm, budget and setting.")
_SETTINGS = flags.DEFINE_list("settings", ["1:2", "1:3", "2:2", "3:2", "3:4"], "Rung settings FIRST:FACTOR.")
_FRACTIONS = flags.DEFINE_list("fractions", ["0.5", "0.25"], "Budgets, as fractions of the dearest MAdds.")
_ALGORITHMS = flags.DEFINE_list("algorithms", [algorithms.DEFAULT, "layernas"], "Algorithms (layerwise ones).")
_TABLE = flags.DEFINE_string("table", None, "The table's CSV; default: the one in the repository.")


def replay(table: RealTable, name: str, limit: float, run: int, rungs: tuple[int, ...], factor: int) -> dict:
    """One search over the table as run `run`: its epochs, trials, answer's score, and the algorithm itself."""
    algorithm = algorithms.create(name, table.space, limit, seed=run, rungs=rungs, rung_factor=factor)
    search = TableSearch(algorithm, lambda arch, epochs: table.reward(arch, run, epochs or table.epochs),
                         table.epochs)
    search.run()
    best = algorithm.best()
    return {"epochs": search.epochs, "trials": len(algorithm.trials), "algorithm": algorithm,
            "score": table.test_accuracy(best.arch) if best is not None else float("nan")}


def _summary(results: list[dict]) -> dict:
    scores = [r["score"] for r in results]
    return {"epochs": statistics.mean(r["epochs"] for r in results),
            "trials": statistics.mean(r["trials"] for r in results),
            "score": statistics.mean(scores), "sd": statistics.stdev(scores) if len(scores) > 1 else 0.0}


def main(argv) -> int:
    del argv
    table = RealTable(_TABLE.value)
    dearest = table.space.cost(table.space.dearest())
    settings = [tuple(int(v) for v in s.split(":")) for s in _SETTINGS.value]
    print(f"rungs replayed on {table.path}: {table.space.size} networks, {table.epochs} epochs, {table.seeds} seeds; "
          f"{_RUNS.value} runs each; scores: the answer's mean final test reward (%)")
    print("| algorithm | budget | rungs | epochs | trials | answer | epochs vs full | answer vs full (sd) | target |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    default_met = {}
    for name in _ALGORITHMS.value:
        for fraction in (float(f) for f in _FRACTIONS.value):
            limit = fraction * dearest
            full = _summary([replay(table, name, limit, r, (), 3) for r in range(_RUNS.value)])
            print(f"| {name} | {fraction:.0%} | none | {full['epochs']:.1f} | {full['trials']:.1f} | "
                  f"{full['score']:.2f} | 1.00x | - | - |", flush=True)
            for first, factor in settings:
                rungs = rung_schedule(first, factor, table.epochs)
                ours = _summary([replay(table, name, limit, r, rungs, factor) for r in range(_RUNS.value)])
                ratio, gap = ours["epochs"] / full["epochs"], full["score"] - ours["score"]
                met = ratio <= 0.5 and gap <= full["sd"]
                if name == algorithms.DEFAULT:
                    default_met.setdefault(fraction, []).append(((first, factor), met))
                print(f"| {name} | {fraction:.0%} | {first}:{factor} ({','.join(map(str, rungs))}) | "
                      f"{ours['epochs']:.1f} | {ours['trials']:.1f} | {ours['score']:.2f} | {ratio:.2f}x | "
                      f"{-gap:+.2f} ({full['sd']:.2f}) | {'met' if met else 'missed'} |", flush=True)
    everywhere = [s for s in settings if all(dict(v)[s] for v in default_met.values())]
    print(f"\nsettings meeting the target for {algorithms.DEFAULT} at every budget: "
          f"{', '.join(f'{a}:{b}' for a, b in everywhere) or 'none'}")
    return 0 if everywhere else 1


if __name__ == "__main__":
    sys.exit(app.run(main))
