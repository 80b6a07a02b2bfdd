r"""The final training of a searched network: a full recipe at the deployment size, then export, checked.

    python -m layernas_tf.train --study_dir=DIR [--trial=ID] [--epochs=30] [--optimizer=rmsprop] \
        [--learning_rate=...] [--warmup_epochs=N] [--ema=0.9999] [--label_smoothing=0.1] [--dropout=0.2] \
        [--augment=randaugment] [--batch_size=N] [--strategy=...] [--tpu=NAME] [--mixed_precision] \
        [--steps_per_execution=N] [--tflite=int8]

A search scores networks with a short proxy; the network it answers with is then
trained the way the paper's table was: longer, at the deployment size, with the
recipe's optimizer (SGD or the MobileNets' RMSProp), warm-up then cosine decay,
label smoothing, dropout, an exponential moving average of the weights and
RandAugment (Keras' preprocessing layer) if asked. It trains the answer by default (`--trial`
for any completed trial), on the study's data, on any strategy (`--strategy`:
mirrored, multi_worker, tpu with `--tpu`), in mixed precision if asked. Its state
is kept in STUDY_DIR/final/trial_ID: `BackupAndRestore` (a preempted or killed job
run again resumes from its last finished epoch), TensorBoard events, `final.json`,
and the export (SavedModel and TFLite, checked with LiteRT, as the search's own).

On several hosts (`--strategy=multi_worker`) every host runs the same command with
its own `TF_CONFIG` (`docs/real_data.md`, 3d): they meet, train in lockstep over the
global batch, and worker 0 alone writes TensorBoard, the export and `final.json`;
each other worker keeps a backup of its own beside the chief's, so a preempted
cluster resumes together.
"""

from __future__ import annotations

import layernas_tf.quiet  # pylint: disable=unused-import,ungrouped-imports  (first: TensorFlow starts quietly)

from absl import flags, logging  # pylint: disable=wrong-import-order

from layernas_tf.cli import as_flags, bad_input, define_shared_flags, fail
from layernas_tf.cli import run as run_command
from layernas_tf.config import STRATEGIES
from layernas_tf.deploy.final_training import AUGMENTS, RECIPE, check_recipe, plan, run_plan
from layernas_tf.training import distribute
from layernas_tf.training.trainer import OPTIMIZERS


def define_flags(values: flags.FlagValues = flags.FLAGS) -> None:
    """The command's flags, in `values`."""
    flags.DEFINE_string("study_dir", None, "The study directory a search wrote.", flag_values=values)
    flags.DEFINE_integer("trial", None, "Train this completed trial; default: the search's answer.",
                         flag_values=values)
    flags.DEFINE_integer("epochs", 30, "Epochs of the final training.", flag_values=values)
    flags.DEFINE_enum("optimizer", "sgd", list(OPTIMIZERS), "sgd (momentum 0.9) or rmsprop (the MobileNets').",
                      flag_values=values)
    flags.DEFINE_float("learning_rate", None, "Peak learning rate; default: the search's.", flag_values=values)
    flags.DEFINE_float("warmup_epochs", None, "Linear warm-up before cosine decay; default: a tenth of --epochs.",
                       flag_values=values)
    flags.DEFINE_float("label_smoothing", 0.1, "Label smoothing.", flag_values=values)
    flags.DEFINE_float("weight_decay", 4e-5, "Decoupled weight decay.", flag_values=values)
    flags.DEFINE_float("dropout", None, "Rate of the network's dropout layers (MobileNetV3's before the logits); "
                       "default: the space's own (0.2 there).", flag_values=values)
    flags.DEFINE_float("ema", 0.0, "Momentum of an exponential moving average of the weights (e.g. 0.9999); 0: none.",
                       flag_values=values)
    flags.DEFINE_enum("augment", "none", list(AUGMENTS), "Augmentation beyond crops and flips.", flag_values=values)
    flags.DEFINE_integer("batch_size", None, "Global batch; default: the search's.", flag_values=values)
    flags.DEFINE_enum("strategy", None, list(STRATEGIES),
                      "tf.distribute strategy; default: the search's. multi_worker: every host runs this command "
                      "with its TF_CONFIG (docs/real_data.md).", flag_values=values)
    flags.DEFINE_integer("verbose", 1, "Keras progress output: 0 none, 1 bar, 2 a line per epoch.", flag_values=values)
    define_shared_flags(values, "export_dir", "tflite", "data_dir", "tpu", "mixed_precision", "steps_per_execution",
                        tflite=None)
    values["tflite"].help += " Default: the kind the search exported its answer as."


def run(values: flags.FlagValues) -> None:
    """The command over parsed flags."""
    logging.set_verbosity(logging.WARNING)
    distribute.set_threads()
    if values.study_dir is None:
        fail("study_dir= is required: the directory a search wrote (it holds study.db)", values)
    names = (*RECIPE, "trial", "strategy", "tpu", "export_dir", "data_dir", "verbose")
    with bad_input():
        check_recipe({name: values[name].value for name in RECIPE}, values.strategy)
        # First: a multi-worker cluster must form before anything starts TensorFlow (reading the study may
        # build networks). A cluster that does not meet (a worker not started, a wrong TF_CONFIG) is bad input.
        strategy = distribute.make_strategy(values.strategy or "auto", values.tpu)
        checked = plan(values.study_dir, **{name: values[name].value for name in names})
    run_plan(checked, log=lambda line: print(as_flags(line, values), flush=True), strategy=strategy)


if __name__ == "__main__":
    run_command(run, define_flags)
