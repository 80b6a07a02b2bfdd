r"""Weight inheritance (`--inherit`) measured against our real-training table.

    python -m benchmarks.inherit [--root=runs/inherit] [--epochs=1,3,6]

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
from layernas_tf.trials import study

_ROOT = flags.DEFINE_string("root", os.path.join("runs", "inherit"), "Where the studies go.")
_EPOCHS = flags.DEFINE_list("epochs", ["1", "3", "6"], "Inherited training lengths to measure.")

BUDGET = 0.5  # of the dearest network's MAdds, as README's main job
RUN = dict(real_table.JOB, executor="local", parallel_trials=2, no_signal_trials=0)


def _rows(study_dir: str) -> list[dict]:
    return [r for r in study.read(study_dir)[1] if r["status"] == "COMPLETE"]


def _search(study_dir: str, limit: float, table: RealTable, **settings) -> dict:
    """The default search, whole; its answer scored and ranked on the table, its training counted."""
    result = layernas_tf.search(**RUN, **settings, madds=limit, study_dir=study_dir, log=lambda line: None)
    rows = _rows(study_dir)
    space = table.space
    feasible = sorted((a for a in space.all_architectures() if space.cost(a) <= limit), key=table.test_accuracy,
                      reverse=True)
    answer = space.parse(result.best["arch"])
    return {"trials": result.trials, "epochs_trained": api.epochs_trained(rows),
            "train_seconds": sum(r["metrics"].get("train_seconds") or 0 for r in rows),
            "answer": str(answer), "test": table.test_accuracy(answer), "rank": feasible.index(answer) + 1,
            "feasible": len(feasible), "best_test": table.test_accuracy(feasible[0])}


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


def measure(root: str, epochs: int, table: RealTable, limit: float) -> dict:
    """One inherited training length: the search with it, the same networks from scratch, their rankings."""
    search = _search(os.path.join(root, f"inherit_{epochs}"), limit, table, inherit=True, inherit_epochs=epochs)
    rows = [r for r in _rows(os.path.join(root, f"inherit_{epochs}"))
            if r["metrics"].get("inherited_from") is not None and not r["metrics"].get("inherit_missed")]
    inherited = {r["arch"]: r["reward"] for r in rows}
    by_id = {r["id"]: r["arch"] for r in _rows(os.path.join(root, f"inherit_{epochs}"))}
    layer_of = {}
    for r in rows:
        changed = [i for i, (a, b) in enumerate(zip(r["arch"].split(":"), by_id[r["metrics"]["inherited_from"]]
                                                         .split(":"))) if a != b]
        if len(changed) == 1:
            layer_of[r["arch"]] = changed[0]
    prepared = api.prepare(**RUN, madds=limit, proxy_epochs=epochs,
                           study_dir=os.path.join(root, f"scratch_{epochs}"), log=lambda line: None)
    archs = [table.space.parse(a) for a in inherited]
    scratch_rows = proxy_check.train_networks(prepared, archs, lambda line: None)
    scratch = {a: scratch_rows[a]["reward"] for a in inherited}
    full = {a: table.mean_reward(table.space.parse(a)) for a in inherited}
    curve = {a: table.reward(table.space.parse(a), 0, epochs) for a in inherited}
    scratch_seconds = sum(r["metrics"].get("train_seconds") or 0 for r in scratch_rows.values())
    inherited_seconds = sum(r["metrics"].get("train_seconds") or 0 for r in rows)
    return {
        "epochs": epochs, "networks": len(inherited), "search": search,
        "spearman": {name: proxy_check.spearman(rewards, full)
                     for name, rewards in (("inherited", inherited), ("scratch", scratch), ("table_curve", curve))},
        "spearman_within_layers": {name: _layer_spearman(rewards, layer_of, full)
                                   for name, rewards in (("inherited", inherited), ("scratch", scratch),
                                                         ("table_curve", curve))},
        "seconds": {"inherited": inherited_seconds, "scratch": scratch_seconds},
    }


def main(argv) -> int:
    del argv
    table = RealTable()
    limit = BUDGET * table.space.cost(table.space.dearest())
    root = _ROOT.value
    plain = _search(os.path.join(root, "plain"), limit, table)
    report = {"budget_madds": limit, "plain": plain, "inherit": []}
    for epochs in (int(e) for e in _EPOCHS.value):
        report["inherit"].append(measure(root, epochs, table, limit))
        with open(os.path.join(root, "inherit.json"), "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    print(f"without inheritance ({real_table.EPOCHS} epochs each from scratch): {plain['trials']} trials, "
          f"{plain['epochs_trained']} epochs ({plain['train_seconds']:.0f} s) trained; answer {plain['answer']} "
          f"scores {plain['test']:.2f} on the table, {plain['rank']} of {plain['feasible']} (best "
          f"{plain['best_test']:.2f})")
    for m in report["inherit"]:
        s, rho, within = m["search"], m["spearman"], m["spearman_within_layers"]
        print(f"inherit, {m['epochs']} epoch(s): {s['trials']} trials, {s['epochs_trained']} epochs "
              f"({s['train_seconds']:.0f} s) trained, {s['epochs_trained'] / plain['epochs_trained']:.2f}x the "
              f"epochs; answer {s['answer']} scores {s['test']:.2f}, {s['rank']} of {s['feasible']} "
              f"({s['test'] - plain['test']:+.2f} against the plain search's)")
        print(f"  Spearman with the table's full reward over {m['networks']} networks: inherited {rho['inherited']:.3f}"
              f", from scratch {rho['scratch']:.3f}, the table's {m['epochs']}-epoch curve {rho['table_curve']:.3f}; "
              f"within layers: {within['inherited']:.3f}, {within['scratch']:.3f}, {within['table_curve']:.3f}; "
              f"training {m['seconds']['inherited']:.0f} s inherited, {m['seconds']['scratch']:.0f} s from scratch")
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
