r"""The proxy search on our real-training table's space, and a whole search with the proxy it picks.

    python -m benchmarks.proxy_search [--root=runs/proxy_search] [--networks=12] \
        [--proxies=1@16,2@16,3@16,6@16,2@12,3@12,6@12,3@16/600,6@16/600]

The reference is the table's own training (`experiments.real_table.JOB`: 12 epochs at
16x16 on all of noisy_digits' training split); the budget README's main job's (half the
dearest network's MAdds). `proxy_check --proxies` trains the candidates cheapest first
on the same networks until one ranks them as the reference does (Spearman >= 0.8), then
the default search runs whole with that proxy. Its answer is scored on the table (the
mean over 3 seeds of its test reward after the full 12 epochs, as the search-quality
benchmark scores answers) and ranked among the feasible networks, beside the answer of
the same search with the full 12-epoch proxy (README's job) and the table's best, with
the epochs each search trained. Everything lands in `--root` and resumes: a rerun
trains nothing already trained. Prints its figures; exits 1 when no candidate passes.
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

import layernas_tf
from experiments import real_table
from experiments.tables import RealTable
from layernas_tf import proxy_check
from layernas_tf.trials import study

_ROOT = flags.DEFINE_string("root", os.path.join("runs", "proxy_search"), "Where the studies go.")
_NETWORKS = flags.DEFINE_integer("networks", 12, "Correlation candidates (Vertex AI NAS asks for 10-20).")
_PROXIES = flags.DEFINE_string("proxies", "1@16,2@16,3@16,6@16,2@12,3@12,6@12,3@16/600,6@16/600",
                               "Candidate proxies EPOCHS@SIZE[/EXAMPLES].")

BUDGET = 0.5  # of the dearest network's MAdds, as README's main job
RUN = dict(real_table.JOB, executor="local", parallel_trials=2, no_signal_trials=0)


def _search(root: str, name: str, proxy: proxy_check.Proxy, table: RealTable, limit: float) -> dict:
    """The default search, whole, with `proxy`; its answer scored and ranked on the table."""
    study_dir = os.path.join(root, name)
    settings = dict(RUN, proxy_epochs=proxy.epochs, image_size=proxy.image_size)
    if proxy.train_examples:
        settings["train_examples"] = proxy.train_examples
    result = layernas_tf.search(**settings, madds=limit, study_dir=study_dir, log=lambda line: None)
    with open(os.path.join(study_dir, "results.json"), encoding="utf-8") as f:
        epochs = json.load(f)["epochs_trained"]
    seconds = sum(r["metrics"].get("train_seconds") or 0 for r in study.read(study_dir)[1])
    return {"proxy": str(proxy), "trials": result.trials, "epochs_trained": epochs, "train_seconds": seconds,
            **table.scored(result.best["arch"], limit)}


def main(argv) -> int:
    del argv
    table = RealTable()
    limit = BUDGET * table.space.cost(table.space.dearest())
    root = _ROOT.value
    report = proxy_check.proxy_search(**RUN | {"proxy_epochs": 1}, madds=limit, networks=_NETWORKS.value,
                                      reference_epochs=real_table.EPOCHS, proxies=_PROXIES.value,
                                      study_dir=os.path.join(root, "check"))
    if report["chosen"] is None:
        print("no candidate proxy reached the threshold; nothing to search with")
        return 1
    chosen = proxy_check.Proxy(report["chosen"]["epochs"], report["chosen"]["image_size"],
                               report["chosen"]["train_examples"])
    with_proxy = _search(root, "search_proxy", chosen, table, limit)
    full = _search(root, "search_full", proxy_check.Proxy(real_table.EPOCHS, 16), table, limit)
    for name, r in (("chosen proxy", with_proxy), ("full 12 epochs", full)):
        print(f"search with the {name} ({r['proxy']}): {r['trials']} trials, {r['epochs_trained']} epochs trained "
              f"({r['train_seconds']:.0f} s of training); "
              f"answer {r['answer']} scores {r['test']:.2f} on the table (mean test over 3 seeds), "
              f"{r['rank']} of {r['feasible']} feasible networks; the table's best {r['best_test']:.2f}")
    print(f"the proxy search picked {chosen} among {len(report['tried'])} tried; the search with it trained "
          f"{with_proxy['train_seconds'] / full['train_seconds']:.2f}x the training time of the full-proxy search; its "
          f"answer scores {with_proxy['test'] - full['test']:+.2f} points against the full-proxy search's answer and "
          f"{with_proxy['test'] - with_proxy['best_test']:+.2f} against the table's best")
    return 0


if __name__ == "__main__":
    sys.exit(app.run(main))
