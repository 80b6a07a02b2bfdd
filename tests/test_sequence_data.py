"""Data that is not images (a keyword-spotting model's 100 frames of 13 MFCCs): fed as it is, checked before training."""

import keras
import numpy as np
import pytest

import layernas_tf
from layernas_tf.training import data
from layernas_tf.trials import study
from search_spaces.keras_space import KerasSpace, choose

FRAMES, COEFFICIENTS = 100, 13


def keyword_spotting(input_shape, num_classes):
    """A small Conv1D keyword spotter ("Hello Edge" style) over (frames, MFCCs); module level: workers import it."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv1D(choose("filters", [8, 16], default=1), choose("kernel", [3, 5]), padding="same",
                            activation="relu")(inputs)
    x = keras.layers.Conv1D(choose("filters2", [8, 16], default=1), 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def _clips(n=240, seed=0):
    """Centred, signed "MFCC" clips: each class a different coefficient pattern over time, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    t = np.linspace(0, 1, FRAMES)[None, :, None]
    pattern = np.sin(2 * np.pi * (labels[:, None, None] + 1) * t + np.arange(COEFFICIENTS)[None, None, :])
    return (pattern + 0.3 * rng.standard_normal((n, FRAMES, COEFFICIENTS))).astype(np.float32), labels


def _space():
    return KerasSpace(keyword_spotting, input_shape=(FRAMES, COEFFICIENTS), num_classes=3)


def test_examples_keep_their_shape_and_values():
    x, y = _clips()
    splits = data.as_splits((x, y), example_shape=(FRAMES, COEFFICIENTS))
    assert splits["train"][0].dtype == np.float32 and np.array_equal(splits["train"][0], x)  # negative values kept
    # A missing last axis of 1 is added (a (49, 10) clip for a model taking (49, 10, 1)).
    assert data.as_splits((x, y), example_shape=(FRAMES, COEFFICIENTS, 1))["train"][0].shape == (240, FRAMES,
                                                                                                  COEFFICIENTS, 1)
    loaded = data.load(data.source_name(splits), source=splits, example_shape=(FRAMES, COEFFICIENTS))
    assert not loaded.images and loaded.sizes["train"] + loaded.sizes["validation"] == 240
    batch, labels = next(iter(data.input_pipeline(loaded.train, image_size=None, batch_size=8, num_classes=3,
                                                  training=True, augment=loaded.images, seed=0)))
    assert batch.shape == (8, FRAMES, COEFFICIENTS) and labels.shape == (8, 3)
    assert any(np.allclose(batch.numpy()[0], example) for example in x)  # not cropped, flipped or resized


@pytest.mark.parametrize("arguments, message", [
    (dict(dataset=(np.zeros((30, FRAMES + 2, COEFFICIENTS), np.float32), np.arange(30) % 3)),
     r"takes examples of shape \(100, 13\) \(its input_shape\), got \(102, 13\)"),
    (dict(dataset=(np.full((30, FRAMES, COEFFICIENTS), np.nan, np.float32), np.arange(30) % 3)),
     "examples must be finite numbers"),
    (dict(dataset="digits"), r"holds images, and the space takes examples of shape \(100, 13\)"),
    (dict(dataset=_clips(), image_size=32), r"image_size=32 sizes images; this space takes examples of shape"),
])
def test_data_the_model_cannot_take_is_refused_before_anything_trains(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        layernas_tf.search(space=_space(), madds="1M", max_trials=1, study_dir=str(tmp_path / "s"),
                           log=lambda line: None, **arguments)
    assert not (tmp_path / "s").exists()


def test_images_still_need_an_image_space():
    x, y = _clips()
    with pytest.raises(ValueError, match=r"KerasSpace\(build, input_shape=\(...\)\)"):
        data.as_splits((x[..., None].repeat(5, -1), y))


@pytest.mark.slow
def test_a_keyword_spotter_is_searched_on_its_clips_exported_and_resumed(tmp_path):
    space = _space()
    budget = (space.cost(space.cheapest()) + space.cost(space.dearest())) // 2
    arguments = dict(space=space, madds=budget, dataset=_clips(), proxy_epochs=6, batch_size=16,
                     learning_rate=0.05, max_trials=3, verbose=0, study_dir=str(tmp_path / "study"))
    lines = []
    result = layernas_tf.search(**arguments, log=lines.append)
    assert any("at 100x13" in line and "validation examples" in line for line in lines)
    assert result.best["costs"]["madds"] <= budget and result.trials == 3
    # The clips reach the model as they are: an easy three-pattern task is learnt (chance is 1/3).
    assert result.best["reward"] >= 0.9
    assert tuple(study.read(result.study_dir)[0]["input_shape"]) == (FRAMES, COEFFICIENTS)
    for kind in ("float", "int8"):
        exported = result.export(tflite=kind, export_dir=str(tmp_path / kind), log=lambda line: None)
        assert exported["exports"]["tflite"]["verified"], exported["exports"]["tflite"]
    with pytest.raises(ValueError, match="augment=randaugment augments images"):
        result.train(epochs=1, augment="randaugment")
    trained = result.train(epochs=2, verbose=0, log=lambda line: None)
    assert trained["exports"]["tflite"]["verified"]
    again = []
    assert layernas_tf.search(**arguments, log=again.append).best == result.best
    assert not [line for line in again if line.startswith("trial ")]


@pytest.mark.slow
def test_the_guides_keyword_spotting_block_runs(tmp_path, monkeypatch):
    """docs/own_models.md's keyword-spotting example, as written, on generated clips of its shape."""
    import pathlib  # pylint: disable=import-outside-toplevel
    import re  # pylint: disable=import-outside-toplevel

    guide = (pathlib.Path(__file__).parent.parent / "docs" / "own_models.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", guide, re.S) if "keyword_spotter" in b)
    rng = np.random.default_rng(1)
    labels = np.arange(1200) % 12
    clips = (np.sin(np.linspace(0, 6, 49)[None, :, None] * (labels[:, None, None] + 1) + np.arange(10))
             + 0.3 * rng.standard_normal((1200, 49, 10))).astype(np.float32)
    monkeypatch.chdir(tmp_path)
    scope = {"clips": clips, "labels": labels}
    exec(compile(block, "docs/own_models.md", "exec"), scope)  # pylint: disable=exec-used
    result = scope["result"]
    assert result.trials == 6 and result.best["costs"]["madds"] <= 200_000
    assert result.exports["exports"]["tflite"]["verified"], (result.best, result.exports)


def test_a_validation_split_too_small_to_rank_by_is_named_before_anything_trains(tmp_path):
    """A warning, not a refusal (a smoke run on mock data has such a split on purpose): said when the search is
    prepared, before anything is written or trained."""
    from layernas_tf import api  # pylint: disable=import-outside-toplevel

    x, y = _clips(60)
    split = {"train": (x, y), "validation": (x[:3], y[:3])}
    lines = []
    api.prepare(space=_space(), madds="1M", max_trials=1, study_dir=str(tmp_path / "s"), log=lines.append,
                dataset=split)
    assert [line for line in lines if line.startswith("warning: dataset")] == [
        f"warning: dataset {data.source_name(data.as_splits(split, (FRAMES, COEFFICIENTS)))}: "
        "its validation split has 3 example(s) for 3 classes, too few to rank networks by; give it at least 6 (2 a "
        "class), or more training data to carve it from"]
    assert not (tmp_path / "s").exists()
    lines.clear()
    api.prepare(space=_space(), madds="1M", max_trials=1, study_dir=str(tmp_path / "s"), log=lines.append,
                dataset=(x, y))
    assert not [line for line in lines if line.startswith("warning: dataset")]


def clip_splits():
    """A dataset function of clips (module level, as the workers import it)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    x, y = _clips(90)
    return {"train": tf.data.Dataset.from_tensor_slices((x, y)),
            "validation": tf.data.Dataset.from_tensor_slices((x[:30], y[:30]))}


def test_a_dataset_function_of_clips_is_fed_as_it_is_and_a_wrong_shape_refused():
    loaded = data.load(data.source_name(clip_splits), source=clip_splits, example_shape=(FRAMES, COEFFICIENTS))
    assert not loaded.images and loaded.num_classes == 3 and loaded.sizes == {"train": 90, "validation": 30}
    example, _ = next(iter(loaded.train))
    assert example.dtype.name == "float32" and np.allclose(example.numpy(), _clips(90)[0][0])
    with pytest.raises(data.DataError, match=r"train split's examples have shape \(100, 13\), and the space's model "
                                             r"takes \(13, 100\)"):
        data.load(data.source_name(clip_splits), source=clip_splits, example_shape=(COEFFICIENTS, FRAMES))
