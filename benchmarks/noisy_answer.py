r"""An answer told the reward's noise, measured and not taken: the default search's runs re-answered by an estimate.

    python -m benchmarks.noisy_answer [--runs=100] [--draws=0,1,2/0,1,2,3/0,1,3/0,2,3/1,2,3] [--macro] \
        [--told=all|best_tenth|by_level]

The default answers with the best reward it saw. Where one training's reward is noisy, the best reward seen
is partly luck (the winner's curse), and our real table's 50% case is lost to it at 30 trials
(`docs/benchmarks.md`). The cure a statistician reaches for: pull each trained network's reward toward what the
rest of the search predicts for it, as far as the reward's noise allows, and answer with the best estimate.
Here the noise is *told*, as a user would after the proxy check's reward-variance check: its estimator, the
mean over networks of each network's sd over the table's trainings (`--told=all`), or that over the best tenth
of networks (`best_tenth`), or each reward level's own (`by_level`, `told_noise`).

Each rule fits the default's own reward model (`algorithms.surrogate.AdditiveModel`, the ridge LayerNAS+
uses) to the run's trained networks. Its prediction p for a network is the fit's (`fit`) or, not counting
the network's own reward, its leave-one-out one (`loo`: y - (y - fitted) / (1 - h), h the leverage). A
network's true reward is taken to be spread around p by what the model cannot express, the fit's residual
variance less the noise (`misfit`), plus, in the `+spread` rules, the prediction's own uncertainty (s^2 h, or
s^2 h / (1 - h) left out). The estimate is p + w (y - p), w = that variance over itself plus the noise's: the
posterior mean of a normal prior and a normal training. With the noise 0 every rule is the best reward seen.

For each table, budget and trial count (30, and the search's natural end without `--max_trials`; the same
100 runs, run r sees training r mod N) it prints the paper's LayerNAS, the default as it answers, and the
default re-answered by each rule: mean test score of the answer over the trainings. Each draw of our table's
seeds is a table of its own (the 4th seed was trained to see how far a verdict rests on the draw). No target:
it prints, for each rule, the cases where it is below the default's own answer or below LayerNAS's, which is
why none is the default (docs/algorithm.md, "Measured and not taken").
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable, Optional

import numpy as np
from absl import app, flags

from experiments import comparison, tables
from layernas_tf import algorithms, reports
from layernas_tf.algorithms.surrogate import AdditiveModel
from layernas_tf.core import front
from layernas_tf.core.noise import reward_variance
from layernas_tf.core.status import COMPLETE

_DATA = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data"))
FLAGS = flags.FLAGS


def define_flags() -> None:
    """The command's flags, defined only when it runs: its functions import without them (tests), beside other
    benchmarks' flags of the same names."""
    flags.DEFINE_integer("runs", 100, "Runs per table, budget and trial count.")
    flags.DEFINE_string("draws", "0,1,2/0,1,2,3/0,1,3/0,2,3/1,2,3",
                        "Draws of our table's seeds, each a table of its own, separated by '/'.")
    flags.DEFINE_bool("macro", True, "Also NAS-Bench-Macro (three trainings per network, noise sd 0.18).")
    flags.DEFINE_enum("told", "all", ["all", "best_tenth", "by_level"],
                      "The noise told: the estimator over all networks (the proxy check's), over the best tenth by "
                      "mean reward (the ones a search answers with), or by the tenth of mean rewards a network is in.")
    flags.DEFINE_string("macro_table", os.path.join(_DATA, "nas_bench_macro", "nas-bench-macro_cifar10.json"),
                        "NAS-Bench-Macro JSON.")


RULES = {"fit": (False, False), "fit+spread": (False, True), "loo": (True, False), "loo+spread": (True, True)}


def _trainings(benchmark, trainings: int) -> np.ndarray:
    """Every network's reward under each of its `trainings` (networks x trainings)."""
    return np.array([[benchmark.reward(a, run) for run in range(trainings)]
                     for a in benchmark.space.all_architectures()])


def constant(sd: float) -> Callable[[np.ndarray], np.ndarray]:
    """A noise told as one number: every network's reward moves by `sd`."""
    return lambda rewards: np.full(np.shape(rewards), sd, dtype=float)


def told_noise(benchmark, trainings: int, told: str = "all") -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The noise told, as a function of a network's reward level, and how it prints.

    `all`: the proxy check's reward-variance estimator, the mean over networks of each one's sd (ddof 1) over its
    trainings; `best_tenth`: the same over the best tenth of networks by mean reward (the ones a search answers
    with); `by_level`: the mean sd of the networks in the same tenth of mean rewards as the reward asked about (more
    than a variance check over a few networks can tell: the table's every network, an upper bound on what knowing
    the noise buys).
    """
    rewards = _trainings(benchmark, trainings)
    mean = rewards.mean(axis=1)
    if told == "by_level":
        edges = np.percentile(mean, np.linspace(0, 100, 11))
        level = np.array([reward_variance(rewards[(mean >= low) & (mean <= high)])[0]
                          for low, high in zip(edges[:-1], edges[1:])])
        return (lambda r: level[np.clip(np.searchsorted(edges[1:-1], r), 0, len(level) - 1)],
                f"{level[0]:.2f}..{level[-1]:.2f}")
    if told == "best_tenth":
        rewards = rewards[np.argsort(-mean)[:max(1, round(0.1 * len(rewards)))]]
    noise = reward_variance(rewards)[0]
    return constant(noise), f"{noise:.2f}"


def estimates(algorithm, noise: Callable[[np.ndarray], np.ndarray], left_out: bool,
              with_spread: bool) -> dict[int, float]:
    """Each feasible trained network's estimated reward under one rule (the module docstring), told `noise` (a
    reward level's sd); the reward seen when told no noise, or while the fit has fewer networks than effects (its
    residual is unknown)."""
    done = [t for t in algorithm.trials if t.status == COMPLETE and algorithm.full_fidelity(t)]
    feasible = [t for t in done if algorithm.feasible(t.arch)]
    pooled = float(np.mean(noise(np.array([t.reward for t in done])) ** 2)) if done else 0.0
    if pooled <= 0 or not feasible:
        return {t.id: t.reward for t in feasible}
    seen = np.array([t.reward for t in feasible])
    model = AdditiveModel([len(p) for p in algorithm.space.decision_points], algorithm.ridge)
    for t in done:
        model.add(algorithm.space.canonical(t.arch), t.reward)
    s = model.noise()
    if not np.isfinite(s):
        return {t.id: t.reward for t in feasible}
    columns = model.columns([algorithm.space.canonical(t.arch) for t in feasible])
    fitted, h = model.predict(columns), np.minimum(model.leverage(columns), 1 - 1e-6)
    predicted = seen - (seen - fitted) / (1 - h) if left_out else fitted
    # What the model cannot express: the fit's residual variance less the trainings' (pooled over the networks fitted).
    prior = max(s * s - pooled, 0.0) + (s * s * (h / (1 - h) if left_out else h) if with_spread else 0.0)
    variance = noise(predicted) ** 2  # each network's training noise at the level the model puts it
    weight = np.where(variance > 0, prior / np.maximum(prior + variance, 1e-300), 1.0)
    return {t.id: float(e) for t, e in zip(feasible, predicted + weight * (seen - predicted))}


def answer_score(benchmark, algorithm, scores: dict[int, float]) -> float:
    """The test score of the network of the best estimate, picked by `core.front.answer` (cheaper, then earlier, on
    ties) from the trials' records with their estimates as rewards."""
    chosen = front.answer([dataclasses.replace(r, reward=scores[r.id]) for r in algorithm.records() if r.id in scores],
                          lambda r: True)
    return float("nan") if chosen is None else benchmark.test_accuracy(algorithm.space.parse(chosen.arch))


def case(benchmark, trainings: int, fraction: float, trials: Optional[int], runs: int,
         noise: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    """Mean test score of LayerNAS's answer, the default's and the default's re-answered by each rule, told `noise`."""
    space = benchmark.space
    limit = fraction * space.cost(space.dearest())
    layerwise = {name: {"buckets": 10, "per_bucket": 1} for name in (algorithms.DEFAULT, "layernas")}
    out: dict[str, list[float]] = {name: [] for name in ("layernas", "default", *RULES)}
    for r in range(runs):
        paper = comparison.make("layernas", space, limit, r, trials, layerwise)
        out["layernas"].append(comparison.search_once(paper, benchmark, run=r)["test"])
        default = comparison.make(algorithms.DEFAULT, space, limit, r, trials, layerwise)
        out["default"].append(comparison.search_once(default, benchmark, run=r)["test"])
        for name, (left_out, with_spread) in RULES.items():
            out[name].append(answer_score(benchmark, default, estimates(default, noise, left_out, with_spread)))
    return {name: float(np.mean(v)) for name, v in out.items()}


def _shown(score: float) -> str:
    return "none" if np.isnan(score) else f"{score:.2f}"  # none: some run had no answer within the trials


def main(argv) -> None:
    del argv
    start = time.perf_counter()
    tables_ = []
    try:  # every table opened before anything runs: a bad draw or path is one line, not a traceback minutes in
        for draw in FLAGS.draws.split("/"):
            seeds = [int(s) for s in draw.split(",")]
            tables_.append((f"our table, seeds {draw}", tables.RealTable(seeds=seeds), len(seeds),
                            ((0.5, 30), (0.5, None), (0.25, 30), (0.25, None))))
        if FLAGS.macro:
            tables_.append(("NAS-Bench-Macro", tables.NASBenchMacro(FLAGS.macro_table), 3,
                            ((0.5, 40), (0.5, None), (0.25, 25), (0.25, None))))
    except ValueError as e:
        raise app.UsageError(f"--draws={FLAGS.draws} (seed numbers, a draw's separated by ',', draws by '/'), "
                             f"--macro_table={FLAGS.macro_table}: {e}", exitcode=2) from None
    rows, behind = [], {name: [] for name in RULES}
    for title, benchmark, trainings, settings in tables_:
        overall, best_tenth = told_noise(benchmark, trainings)[1], told_noise(benchmark, trainings, "best_tenth")[1]
        print(f"{title}: a network's reward moves by {overall} (mean sd over its trainings), the best tenth's by "
              f"{best_tenth}", flush=True)
        noise, shown = told_noise(benchmark, trainings, FLAGS.told)
        for fraction, trials in settings:
            result = case(benchmark, trainings, fraction, trials, FLAGS.runs, noise)
            label = f"{title} {fraction:.0%}, {trials or 'natural end'}"
            rows.append([label, shown]
                        + [_shown(result[name]) for name in ("layernas", "default", *RULES)])
            print(" | ".join(rows[-1]), flush=True)
            for name in RULES:
                if result[name] < np.nanmax([result["default"], result["layernas"]]) - 1e-9:  # nan: no answer
                    behind[name].append(label)
    print()
    print(reports.markdown_table(["table, budget, trials", "noise told", "layernas (paper)", "default", *RULES], rows))
    print(f"\n{FLAGS.runs} runs each, {time.perf_counter() - start:.0f} s")
    for name, labels in behind.items():
        print(f"{name}: below LayerNAS or the default's own answer in {len(labels)} of {len(rows)} cases"
              + (f" ({'; '.join(labels)})" if labels else ""))


if __name__ == "__main__":
    define_flags()
    app.run(main)
