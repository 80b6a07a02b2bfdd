"""The paper's ImageNet rows as recipes: their settings valid for both commands, and each run end to end on
mock ImageNet at a tiny size (search of a few trials, one epoch of final training, export checked)."""

import json
import os
import shlex

import pytest
import tensorflow_datasets as tfds
from absl import flags

import search_spaces
from experiments.imagenet import recipes
from layernas_tf import main as main_module
from layernas_tf import train
from layernas_tf.core.units import parse_count
from layernas_tf.training import data


def test_every_row_of_the_papers_table_has_a_recipe_whose_budget_admits_the_papers_network():
    assert [r.paper_top1 for r in recipes.RECIPES.values()] == [69.0, 75.6, 77.1, 78.6]
    for recipe in recipes.RECIPES.values():
        space = search_spaces.get(recipe.search["space"], input_shape=(224, 224, 3), num_classes=1000)
        budget = parse_count("madds", recipe.search["madds"])
        assert recipe.search["madds"] in recipe.paper  # the paper's network's MAdds
        # the space's reference network fits, and the budget still excludes most of the space
        assert space.madds(space.cheapest()) < space.madds(space.default()) <= budget < space.madds(space.dearest())


@pytest.mark.parametrize("smoke", [False, True])
def test_the_printed_commands_are_the_commands_own_flags(smoke):
    for recipe in recipes.RECIPES.values():
        search, final = recipes.settings(recipe, smoke=smoke, data_dir="gs://bucket/tfds", tpu="my-tpu")
        for line, define, given in zip(recipes.command_lines(search, final),
                                       (main_module.define_flags, train.define_flags), (search, final)):
            values = flags.FlagValues()
            define(values)
            values(["prog", *shlex.split(line)[3:]])
            assert all(values[name].value == value for name, value in given.items()), line
            assert values["tpu"].value == "my-tpu" and values["data_dir"].value == "gs://bucket/tfds"


def test_an_unknown_recipe_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match="unknown recipe='layernas_1g'; valid: layernas_60m, layernas_220m"):
        recipes.run("layernas_1g")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(recipes.RECIPES))
def test_each_recipe_runs_end_to_end_on_mock_imagenet(name, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_reachable", lambda host, timeout=3.0: True)  # tfds' download is mocked
    lines = []
    with tfds.testing.mock_data(num_examples=24):
        summary = recipes.run(name, smoke=True, study_dir=str(tmp_path / "study"), log=lines.append)
    recipe = recipes.RECIPES[name]
    assert lines[0].startswith(f"recipe {name} (smoke run") and recipe.paper in lines[0]
    assert lines[1].strip() == summary["commands"][0] and lines[2].strip() == summary["commands"][1]
    assert summary["trials"] == 2 and summary["best"]["costs"]["madds"] <= parse_count("madds", recipe.search["madds"])
    final = summary["final"]
    assert final["final"]["epochs"] == 1 and final["final"]["image_size"] == 224  # trained at the deployment size
    assert final["recipe"]["precision"] == "mixed_bfloat16" and final["recipe"]["optimizer"] == "rmsprop"
    assert final["exports"]["tflite"]["verified"] and final["exports"]["image_size"] == 224
    written = json.loads((tmp_path / "study" / "final" / f"trial_{summary['best']['trial']:04d}" /
                          "final.json").read_text())
    assert written["exports"]["saved_model"]["path"] == final["exports"]["saved_model"]["path"]
    assert os.path.isdir(final["exports"]["saved_model"]["path"])
