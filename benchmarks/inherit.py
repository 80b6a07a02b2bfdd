r"""Weight inheritance (`--inherit`) measured against our real-training table.

    python -m benchmarks.inherit [--root=runs/inherit] [--epochs=1,3,6] [--seeds=0]

For each inherited training length E, the default search runs whole on the table's
space and job (`experiments.real_table.JOB`: tiny_cnn on noisy_digits, 12 epochs from
scratch) at README's budget (half the dearest network's MAdds) with `inherit=True,
inherit_epochs=E`: every network after the first starts from its parent candidate's
trained weights and trains E epochs. The same networks then train E epochs from
scratch (`proxy_check.train_networks`, the same seed). Each side's rewards are ranked
against the table's full reward (the mean over its 3 seeds of the 12-epoch validation
reward) over all the networks, and within each layer (the children LayerNAS compares
there: those one decision away from their parent, grouped by that decision), with
the table's own reward after E epochs of the 12-epoch schedule beside them (what a
rung of E epochs sees, free here). Last, the search's answer is scored on the table
(mean test over the seeds) beside the answer of the same search without inheritance,
with the epochs and seconds each trained.

With several `--seeds`, each search runs under each seed (seed r trains every network
as the table's seed r % 3 did, so the plain search's rewards are the table's) and the
figures are their means, each seed's beside them.

Everything lands in `--root` and resumes: a rerun trains nothing already trained.
Prints its figures and writes them to ROOT/inherit.json.
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

import layernas_tf
from experiments import real_table
from experiments.tables import RealTable
from layernas_tf import api, proxy_check
from layernas_tf.reports import write_atomic
from layernas_tf.trials import study

_ROOT = flags.DEFINE_string("root", os.path.join("runs", "inherit"), "Where the studies go.")
_EPOCHS = flags.DEFINE_list("epochs", ["1", "3", "6"], "Inherited training lengths to measure.")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "Search seeds: each search runs under each.")

BUDGET = 0.5  # of the dearest network's MAdds, as README's main job
RUN = dict(real_table.JOB, executor="local", parallel_trials=2, no_signal_trials=0)


def _rows(study_dir: str) -> list[dict]:
    return [r for r in study.read(study_dir)[1] if r["status"] == "COMPLETE"]


def _dir(root: str, name: str, seed: int) -> str:
    return os.path.join(root, name if seed == 0 else f"{name}_seed{seed}")


def _search(study_dir: str, limit: float, table: RealTable, seed: int, **settings) -> dict:
    """The default search, whole; its answer scored and ranked on the table, its training counted."""
    result = layernas_tf.search(**RUN, **settings, seed=seed, madds=limit, study_dir=study_dir, log=lambda line: None)
    rows = _rows(study_dir)
    return {"seed": seed, "trials": result.trials, "epochs_trained": api.epochs_trained(rows),
            "train_seconds": sum(r["metrics"].get("train_seconds") or 0 for r in rows),
            **table.scored(result.best["arch"], limit)}


def _layer_spearman(rewards: dict[str, float], layer_of: dict[str, int], reference: dict[str, float]) -> float:
    """The mean Spearman within layers of at least 4 networks, weighted by their sizes."""
    total = weight = 0.0
    for layer in set(layer_of.values()):
        members = {a: r for a, r in rewards.items() if layer_of.get(a) == layer}
        if len(members) >= 4:
            rho = proxy_check.spearman(members, {a: reference[a] for a in members})
            if rho == rho:  # NaN when every reward of the layer is alike
                total, weight = total + rho * len(members), weight + len(members)
    return total / weight if weight else float("nan")


def measure(root: str, epochs: int, seed: int, table: RealTable, limit: float) -> dict:
    """One inherited training length under one seed: the search with it, the same networks from scratch, how
    each ranks them against the table."""
    study_dir = _dir(root, f"inherit_{epochs}", seed)
    search = _search(study_dir, limit, table, seed, inherit=True, inherit_epochs=epochs)
    done = _rows(study_dir)
    arch_of = {r["id"]: r["arch"] for r in done}
    rows = [r for r in done if r["metrics"].get("inherited_from") is not None
            and not r["metrics"].get("inherit_missed")]
    inherited = {r["arch"]: r["reward"] for r in rows}
    layer_of = {}  # a child one decision away from its parent, by that decision: the children a layer compares
    for r in rows:
        parent = arch_of[r["metrics"]["inherited_from"]].split(":")
        changed = [i for i, (a, b) in enumerate(zip(r["arch"].split(":"), parent)) if a != b]
        if len(changed) == 1:
            layer_of[r["arch"]] = changed[0]
    prepared = api.prepare(**{**RUN, "proxy_epochs": epochs}, seed=seed, madds=limit,
                           study_dir=_dir(root, f"scratch_{epochs}", seed), log=lambda line: None)
    scratch_rows = proxy_check.train_networks(prepared, [table.space.parse(a) for a in inherited], lambda line: None)
    scratch = {a: scratch_rows[a]["reward"] for a in inherited}
    full = {a: table.mean_reward(table.space.parse(a)) for a in inherited}
    curve = {a: table.reward(table.space.parse(a), seed, epochs) for a in inherited}
    sides = (("inherited", inherited), ("scratch", scratch), ("table_curve", curve))
    return {
        "epochs": epochs, "seed": seed, "networks": len(inherited), "search": search,
        "spearman": {name: proxy_check.spearman(rewards, full) for name, rewards in sides},
        "spearman_within_layers": {name: _layer_spearman(rewards, layer_of, full) for name, rewards in sides},
        "seconds": {"inherited": sum(r["metrics"].get("train_seconds") or 0 for r in rows),
                    "scratch": sum(r["metrics"].get("train_seconds") or 0 for r in scratch_rows.values())},
    }


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def _answers(searches: list[dict]) -> str:
    return ", ".join(f"{s['answer']} {s['test']:.2f} #{s['rank']}" for s in searches)


def main(argv) -> int:
    del argv
    table = RealTable()
    limit = BUDGET * table.space.cost(table.space.dearest())
    root = _ROOT.value
    seeds = [int(s) for s in _SEEDS.value]
    report = {"budget_madds": limit, "plain": [], "inherit": []}
    for seed in seeds:
        report["plain"].append(_search(_dir(root, "plain", seed), limit, table, seed))
        for epochs in (int(e) for e in _EPOCHS.value):
            report["inherit"].append(measure(root, epochs, seed, table, limit))
            write_atomic(os.path.join(root, "inherit.json"), json.dumps(report, indent=1))
    plain = report["plain"]
    plain_epochs, plain_test = _mean(p["epochs_trained"] for p in plain), _mean(p["test"] for p in plain)
    print(f"without inheritance ({real_table.EPOCHS} epochs each from scratch), {len(seeds)} seed(s): "
          f"{_mean(p['trials'] for p in plain):.1f} trials, {plain_epochs:.0f} epochs "
          f"({_mean(p['train_seconds'] for p in plain):.0f} s) trained; answer scores {plain_test:.2f} on the table "
          f"(each seed's: {_answers(plain)}; "
          f"of {plain[0]['feasible']} feasible, best {plain[0]['best_test']:.2f})")
    for epochs in (int(e) for e in _EPOCHS.value):
        runs = [m for m in report["inherit"] if m["epochs"] == epochs]
        searches = [m["search"] for m in runs]
        mean_epochs, mean_test = _mean(s["epochs_trained"] for s in searches), _mean(s["test"] for s in searches)
        seconds = _mean(s["train_seconds"] for s in searches)
        print(f"inherit, {epochs} epoch(s): {_mean(s['trials'] for s in searches):.1f} trials, {mean_epochs:.0f} "
              f"epochs ({seconds:.0f} s) trained, {mean_epochs / plain_epochs:.2f}x the epochs; answer scores "
              f"{mean_test:.2f} ({mean_test - plain_test:+.2f} against the plain search's; "
              f"each seed's: {_answers(searches)})")
        rho = {k: _mean(m["spearman"][k] for m in runs) for k in runs[0]["spearman"]}
        within = {k: _mean(m["spearman_within_layers"][k] for m in runs) for k in runs[0]["spearman"]}
        print(f"  Spearman with the table's full reward over {_mean(m['networks'] for m in runs):.0f} networks: "
              f"inherited {rho['inherited']:.3f}, from scratch {rho['scratch']:.3f}, the table's {epochs}-epoch curve "
              f"{rho['table_curve']:.3f}; within layers: {within['inherited']:.3f}, {within['scratch']:.3f}, "
              f"{within['table_curve']:.3f}; training {_mean(m['seconds']['inherited'] for m in runs):.0f} s "
              f"inherited, {_mean(m['seconds']['scratch'] for m in runs):.0f} s from scratch")
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
