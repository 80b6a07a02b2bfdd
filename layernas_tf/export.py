r"""Export any completed trial of a study, or its whole front: SavedModel and TFLite, checked with LiteRT.

    python -m layernas_tf.export --study_dir=DIR [--trial=ID] [--final_epochs=N] [--tflite=int8]
    python -m layernas_tf.export --study_dir=DIR --front

Without --trial it exports the search's answer (`core.front.answer`).

The search exports its answer itself; this command exports a trial from the
weights its trial directory kept (or trains it again), or every network of the
front, each into its own folder named by its cost (`deploy/trial_export.py` does
the work, `deploy/tflite.py` the checks). It reads the study without its lock, so
it works while the search goes on.
"""

from __future__ import annotations

import json
import os

import layernas_tf.quiet  # pylint: disable=unused-import  (first: TensorFlow starts without its C++ start-up lines)

from absl import flags  # pylint: disable=wrong-import-position

from layernas_tf import cli, reports  # pylint: disable=wrong-import-position
from layernas_tf.config import SearchConfig  # pylint: disable=wrong-import-position
from layernas_tf.core import front  # pylint: disable=wrong-import-position
from layernas_tf.core.status import COMPLETE  # pylint: disable=wrong-import-position
from layernas_tf.core.units import show  # pylint: disable=wrong-import-position
from layernas_tf.deploy.trial_export import export_trial  # pylint: disable=wrong-import-position
from layernas_tf.training import data  # pylint: disable=wrong-import-position
from layernas_tf.trials import study  # pylint: disable=wrong-import-position

EXPORTS = "exports.json"


def define_flags(values: flags.FlagValues = flags.FLAGS) -> None:
    """The command's flags, in `values`."""
    flags.DEFINE_string("study_dir", None, "The study directory a search wrote.", flag_values=values)
    flags.DEFINE_integer("trial", None, "Export this completed trial; default: the search's answer.",
                         flag_values=values)
    flags.DEFINE_bool("front", False, "Export every network of the front, each into a folder named by its cost.",
                      flag_values=values)
    cli.define_shared_flags(values, "final_epochs", "export_dir", "tflite", "data_dir")


def _chosen(values, config: SearchConfig, space, rows) -> list[int]:
    """The trials to export; ValueError naming the completed ones when `--trial` is not one."""
    completed = {r["id"]: r for r in rows if r["status"] == COMPLETE}
    if values.front:
        chosen = front.front(config.records(rows), config.within(space))
        if not chosen:
            raise ValueError(f"study_dir={values.study_dir} has no completed network at full fidelity within its "
                             "budget")
        return chosen
    if values.trial is None:  # the search's answer: completed, at full fidelity, within every budget
        chosen = front.answer(config.records(rows), config.within(space))
        if chosen is None:
            raise ValueError(f"study_dir={values.study_dir} has no completed network at full fidelity within its "
                             "budget")
        return [chosen.id]
    if values.trial not in completed:
        ids = ", ".join(str(i) for i in sorted(completed)[:20]) + (", ..." if len(completed) > 20 else "")
        state = next((f" (it is {r['status']})" for r in rows if r["id"] == values.trial), " (no such trial)")
        raise ValueError(f"trial={values.trial}{state}: choose a completed trial of {values.study_dir}: "
                         f"{ids or 'none yet'}")
    return [values.trial]


def run(values: flags.FlagValues) -> None:
    """The command over parsed flags."""
    with cli.bad_input():
        if values.study_dir is None:
            raise ValueError("study_dir= is required: the directory a search wrote (it holds study.db)")
        if values.trial is not None and values.front:
            raise ValueError("give trial=ID (one completed trial) or front= (every network of the front), not both; "
                             "neither exports the search's answer")
        if values.final_epochs < 0:
            raise ValueError(f"final_epochs={values.final_epochs} is not >= 0")
        settings, rows = study.read(values.study_dir)
        config = SearchConfig.from_study(settings, study_dir=values.study_dir, data_dir=values.data_dir, verbose=0)
        space = config.search_space()
        chosen = _chosen(values, config, space, rows)
        root = values.export_dir or os.path.join(values.study_dir, "exports")
        reports.check_writable("export_dir", root)
        dataset = data.load(config.dataset, config.data_dir)
    by_id = {r["id"]: r for r in rows}
    index = os.path.join(root, EXPORTS)
    try:  # earlier exports stay listed: one entry per trial, the latest export of it
        with open(index, encoding="utf-8") as f:
            listed = {entry["trial"]: entry for entry in json.load(f)}
    except (OSError, ValueError, KeyError, TypeError):
        listed = {}
    for trial_id in chosen:
        row = by_id[trial_id]
        name = f"{config.cost}_{show(config.cost, row['cost'])}_trial_{trial_id:04d}" if values.front \
            else f"trial_{trial_id:04d}"
        delivered = export_trial(config, space, dataset, trial_id, row["arch"], os.path.join(root, name),
                                 tflite=values.tflite, final_epochs=values.final_epochs)
        listed[trial_id] = {"trial": trial_id, "arch": row["arch"], "reward": row["reward"],
                            "costs": {config.cost: row["cost"]}, **delivered}
        reports.write_json(index, list(listed.values()))
    print(f"wrote {len(chosen)} export(s) and {index}", flush=True)


if __name__ == "__main__":
    cli.run(run, define_flags)
