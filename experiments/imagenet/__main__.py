r"""Runs one row of the paper's ImageNet table: the search, then the answer's final training and export.

    python -m experiments.imagenet --recipe=layernas_220m --data_dir=gs://BUCKET/tfds [--tpu=NAME]
    python -m experiments.imagenet --list             # the rows, their commands and the paper's figures
    python -m experiments.imagenet --recipe=layernas_60m --smoke --dataset=imagenet_resized/32x32

It prints the two commands it stands for (`layernas_tf.main`, `layernas_tf.train`), so
a row can be run step by step or on other hosts as well.
"""

from __future__ import annotations

from absl import flags

from experiments.imagenet import recipes
from layernas_tf import cli

_RECIPE = flags.DEFINE_string("recipe", None, f"The row to run: {', '.join(recipes.RECIPES)}.")
_LIST = flags.DEFINE_bool("list", False, "Print every row, its commands and the paper's figure; run nothing.")
_SMOKE = flags.DEFINE_bool("smoke", False, "Run at a tiny size in minutes on a CPU: checks the wiring, not the figure.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data directory holding imagenet2012 (e.g. gs://BUCKET/tfds).")
_DATASET = flags.DEFINE_string("dataset", None, "Another tfds dataset in place of imagenet2012 (e.g. for --smoke).")
_TPU = flags.DEFINE_string("tpu", None, "TPU name or address: the search's trials and the final training run there.")
_STUDY_DIR = flags.DEFINE_string("study_dir", None, "Where the study goes; default runs/imagenet/RECIPE.")


def main(values: flags.FlagValues) -> None:
    if values.list:
        for recipe in recipes.RECIPES.values():
            print(f"{recipe.name}: {recipe.paper}")
            for line in recipes.command_lines(*recipes.settings(recipe, data_dir=values.data_dir, tpu=values.tpu)):
                print(f"  {line}")
        return
    if values.recipe is None:
        cli.fail(f"recipe= is required: one of {', '.join(recipes.RECIPES)} (list= prints them)", values)
    with cli.bad_input():
        recipes.get(values.recipe)
    recipes.run(values.recipe, smoke=values.smoke, data_dir=values.data_dir, tpu=values.tpu,
                study_dir=values.study_dir, dataset=values.dataset,
                log=lambda line: print(cli.as_flags(line, values), flush=True))


if __name__ == "__main__":
    cli.run(main)
