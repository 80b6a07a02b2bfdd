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

import layernas_tf.quiet  # pylint: disable=unused-import  (first: TensorFlow starts without its C++ start-up lines)

from absl import flags, logging  # pylint: disable=wrong-import-position

from layernas_tf import algorithms, api, cli, config  # pylint: disable=wrong-import-position
from layernas_tf.trials import executors, stopping  # pylint: disable=wrong-import-position
from layernas_tf.trials.study import StudyLocked, StudyMismatch  # pylint: disable=wrong-import-position

# Set when the disk filled up: the process then ends without tearing the interpreter down.
_DISK_FULL: list = []


def define_flags(values: flags.FlagValues = flags.FLAGS) -> None:
    """The command's flags, in `values` (a test defines them in a `FlagValues` of its own)."""
    cli.define_shared_flags(values, "space", "deploy_image_size", "decisions", "data_dir", "final_epochs", "export_dir",
                            "tflite", "tpu", "mixed_precision", "steps_per_execution")
    flags.DEFINE_integer("nasnet_cells", None, "--space=nasnet: N, normal cells per stage (default 4).", flag_values=values)
    flags.DEFINE_integer("nasnet_filters", None,
                         "--space=nasnet: penultimate filters, a multiple of 96 (default 1056: NASNetMobile).", flag_values=values)
    flags.DEFINE_string("madds", None, "MAdds budget of the final model: 220M, 0.22G or 220000000.", flag_values=values)
    flags.DEFINE_string("params", None, "Parameter budget, alone or with --madds: 2.5M, 2500000.", flag_values=values)
    flags.DEFINE_string("latency", None, "On-device latency budget, predicted from --latency_profile: 12ms, 0.012s or 12 (ms).", flag_values=values)
    flags.DEFINE_string("latency_profile", None,
                        "The device's latency profile (python -m layernas_tf.latency) --latency is counted on.", flag_values=values)
    flags.DEFINE_enum("bucket_by", None, list(config.COSTS),
                      "The cost LayerNAS buckets by when several budgets are given; default: the first of --madds, "
                      "--params, --latency.", flag_values=values)
    flags.DEFINE_string("madds_min", None, "Optional lower MAdds bound of the final model.", flag_values=values)
    flags.DEFINE_string("dataset", config.DEFAULT_DATASET,
                        "A tfds name (imagenet2012, cifar10, cifar100, imagenet_resized/32x32), folder:PATH "
                        "(PATH/train/<class>/<image>), or digits (embedded in scikit-learn, no download).", flag_values=values)
    flags.DEFINE_integer("image_size", None, "Side the proxies train at; default: the dataset's.", flag_values=values)
    flags.DEFINE_integer("batch_size", 128, "Global batch size, split across replicas.", flag_values=values)
    flags.DEFINE_integer("proxy_epochs", 5, "Epochs each candidate trains before it is scored.", flag_values=values)
    flags.DEFINE_float("train_examples", None,
                       "Proxies train on a fixed, class-balanced part of the training split: this many examples, or "
                       "this fraction (< 1); the validation split is unchanged. Default: all.", flag_values=values)
    flags.DEFINE_integer("rung_epochs", 0,
                         "Multi-fidelity LayerNAS (--algorithm=layernas): each child first trains this many epochs; "
                         "only its cost bucket's best train on to the full --proxy_epochs (successive halving). "
                         "0: every child trains the full proxy, as in the paper.", flag_values=values)
    flags.DEFINE_integer("rung_factor", 3,
                         "With --rung_epochs: each rung keeps 1/rung_factor of a bucket's children (at least "
                         "--per_bucket, and any tied with the last kept), and the next trains rung_factor times as "
                         "long.", flag_values=values)
    flags.DEFINE_float("learning_rate", 0.05, "Peak learning rate (SGD, cosine decay after warm-up).", flag_values=values)
    flags.DEFINE_enum("algorithm", algorithms.DEFAULT, algorithms.names(),
                      "The search: layernas_plus (LayerNAS with a reward model, see docs/algorithm.md), layernas (as the "
                      "paper), or a baseline (random, evolution, reinforce, controller), which needs --max_trials.", flag_values=values)
    flags.DEFINE_integer("buckets", 10, "LayerNAS: H, cost buckets per layer.", flag_values=values)
    flags.DEFINE_integer("per_bucket", 1, "LayerNAS: k, candidates kept per bucket.", flag_values=values)
    flags.DEFINE_integer("controller_batch", 1, "--algorithm=controller: networks per policy update (Zoph & Le's m).", flag_values=values)
    flags.DEFINE_integer("max_trials", None, "Stop after this many trials (default: LayerNAS's own end).", flag_values=values)
    flags.DEFINE_integer("seed", 0, "Seed of the search and of training.", flag_values=values)
    flags.DEFINE_enum("strategy", "auto", list(config.STRATEGIES),
                      "tf.distribute strategy; auto: TPU if --tpu, mirrored over >1 GPU, else default.", flag_values=values)
    flags.DEFINE_string("study_dir", None, "Where trials persist; default runs/<space>_<budget>.", flag_values=values)
    flags.DEFINE_enum("executor", None, list(config.EXECUTORS),
                      "Where trials train: serial (in this process), local (--parallel_trials worker processes), ray "
                      "(Ray actors). Default: local when --parallel_trials > 1, else serial.", flag_values=values)
    flags.DEFINE_integer("parallel_trials", None, "Trials trained at once; default: one per visible GPU, else 1.", flag_values=values)
    flags.DEFINE_integer("workers_per_trial", 1,
                         "Each trial trains on a group of this many worker processes under MultiWorkerMirroredStrategy "
                         "(--batch_size is the global batch): local processes, or with --executor=ray actors on any "
                         "nodes (docs/real_data.md 3b).", flag_values=values)
    flags.DEFINE_float("gpus_per_trial", None, "GPUs per trial (Ray: fractions share a GPU).", flag_values=values)
    flags.DEFINE_float("cpus_per_trial", None,
                       "CPUs (TensorFlow threads) per trial, serial and Ray; default: an even share.", flag_values=values)
    flags.DEFINE_string("ray_address", None, "Ray cluster: auto, HOST:PORT or ray://HOST:PORT; none starts a local Ray.", flag_values=values)
    flags.DEFINE_integer("trial_retries", 1, "Times a trial whose worker died is trained again.", flag_values=values)
    flags.DEFINE_integer("verbose", 1, "Keras progress output inside a trial: 0 none, 1 bar, 2 a line per epoch.", flag_values=values)
    

def arguments(values: flags.FlagValues) -> dict:
    """The flags as `layernas_tf.search()`'s keyword arguments: the same names."""
    return {name: values[name].value for name in config.DEFAULTS if name in values}


def run(values: flags.FlagValues) -> None:
    """The command over parsed flags."""
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines would bury the per-trial lines
    def log(line: str) -> None:  # the library's `name=value` as this command's `--name=value`
        print(cli.as_flags(line, values), flush=True)

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
