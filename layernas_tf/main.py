r"""Search a space with LayerNAS+ (or the paper's LayerNAS, a baseline) under a budget, then export.

    python -m layernas_tf.main --space=mbv3_large --madds=220M --dataset=imagenet2012 --data_dir=gs://...

The command is `layernas_tf.search()` over flags: each flag is the argument of the
same name (`api.py`), checked by the same validation (`config.py`), and its
`ValueError`s exit with status 2 and one line naming the flag. Running the same
command again resumes the study in `--study_dir`. At the end the best feasible
architecture is printed, exported to `--export_dir` as a SavedModel and a TFLite
file at the deployment size and checked with LiteRT, and `results.json`,
`front.json` and `search.png` are written to the study directory. Ctrl-C exits
130 and SIGTERM 143, each with one line saying what is kept.
"""

from __future__ import annotations

import os
import sys

from absl import flags, logging

from layernas_tf import cli, config
from layernas_tf.trials import executors, stopping, study
from layernas_tf.trials.runner import NoSignal
from layernas_tf.trials.study import StudyLocked, StudyMismatch

# Set when the disk filled up: the process then ends without tearing the interpreter down.
_DISK_FULL: list = []


def define_flags(values: flags.FlagValues = flags.FLAGS) -> None:
    """The command's flags, in `values` (a test defines them in a `FlagValues` of its own): one per public field of
    `SearchConfig`, with its name, default and help."""
    config.define_flags(values)


def arguments(values: flags.FlagValues) -> dict:
    """The flags as `layernas_tf.search()`'s keyword arguments: the same names."""
    return {name: values[name].value for name in config.arguments_of() if name in values}


def run(values: flags.FlagValues) -> None:
    """The command over parsed flags."""
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines would bury the per-trial lines
    def log(line: str) -> None:  # the library's `name=value` as this command's `--name=value`
        print(cli.as_flags(line, values), flush=True)

    with cli.bad_input():
        checked = config.SearchConfig.from_arguments(**arguments(values))
    try:  # before TensorFlow and the data load: a second driver on a busy study is told at once
        study.check_free(checked.resolved_study_dir())
    except StudyLocked as e:
        cli.fail(e, values)
    from layernas_tf import api  # pylint: disable=import-outside-toplevel  (TensorFlow loads here, quietly)

    with cli.bad_input():
        prepared = api.prepare(log=log, **arguments(values))
    try:
        result = api.run(prepared, export=True, log=log)
    except KeyboardInterrupt as interrupt:  # the search printed what is kept and how to resume
        sys.exit(stopping.exit_status(interrupt))
    except (StudyLocked, StudyMismatch) as e:
        cli.fail(e, values)
    except executors.WorkerSetupError as e:
        cli.fail(f"the trial workers could not start: {e}", values)
    except NoSignal as e:
        cli.fail(e, values, status=1)
    except executors.DiskFull as e:
        _DISK_FULL.append(e)
        cli.fail(e, values, status=1)
    if result.best is None:
        sys.exit(1)


if __name__ == "__main__":
    try:
        cli.run(run, define_flags)
    except SystemExit as ended:
        if not _DISK_FULL:
            raise
        # Tearing the interpreter down frees h5py and TensorFlow objects whose writes failed, and that crashed
        # it (exit 139 on a 3 MB filesystem); the study is closed and whole already, the line is printed.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(ended.code)  # pylint: disable=protected-access
