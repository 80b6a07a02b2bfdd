"""Input: the embedded digits, tfds datasets (mocked), image folders, and the pipeline."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from layernas_tf.training import data


def test_digits_is_real_embedded_and_split_without_leaks():
    d = data.load("digits")
    assert d.num_classes == 10 and d.native_size == 8 and not d.flip
    assert d.sizes == {"train": 1293, "validation": 144, "test": 360}
    arrays = {k: np.stack([x.numpy() for x, _ in getattr(d, k)]) for k in ("train", "validation", "test")}
    assert arrays["train"].shape == (1293, 8, 8, 3) and arrays["train"].dtype == np.uint8
    assert arrays["train"].max() == 255
    flat = {k: {a.tobytes() for a in v} for k, v in arrays.items()}
    assert len(flat["validation"] & flat["test"]) < 5  # digits has a few duplicated images, no shared split
    labels = {int(y) for _, y in d.train}
    assert labels == set(range(10))


def test_pipeline_batches_rgb_pixels_and_one_hot_labels():
    d = data.load("digits")
    batches = data.input_pipeline(d.validation, image_size=32, batch_size=50, num_classes=10, training=False,
                                  size_hint=144)
    shapes = [(x.shape, y.shape) for x, y in batches]
    assert shapes[0] == ((50, 32, 32, 3), (50, 10)) and sum(s[0][0] for s in shapes) == 144
    x, y = next(iter(batches))
    assert x.dtype == tf.float32 and 0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 255.0
    np.testing.assert_array_equal(tf.reduce_sum(y, axis=1), np.ones(50))
    again, _ = next(iter(batches))
    np.testing.assert_array_equal(x, again)  # evaluation is deterministic


def test_training_pipeline_augments_and_reshuffles():
    d = data.load("digits")
    batches = data.input_pipeline(d.train, image_size=32, batch_size=64, num_classes=10, training=True, seed=0,
                                  size_hint=1293)
    first, second = next(iter(batches))[0], next(iter(batches))[0]
    assert first.shape == (64, 32, 32, 3)
    assert not np.array_equal(first, second)


def test_tfds_dataset_by_name_with_mock_data(monkeypatch):
    monkeypatch.setattr(data, "_reachable", lambda host, timeout=3.0: True)
    with tfds.testing.mock_data(num_examples=12):
        d = data.load("mnist")
        assert d.num_classes == 10 and d.native_size == 28 and d.test is not None
        x, y = next(iter(data.input_pipeline(d.train, image_size=32, batch_size=4, num_classes=10, training=True)))
        assert x.shape == (4, 32, 32, 3) and y.shape == (4, 10)  # grayscale becomes RGB


def test_split_names_keep_the_test_split_out_of_rewards():
    assert data._split_names({"train", "validation", "test"}, 0.1) == ("train", "validation", "test")
    assert data._split_names({"train", "test"}, 0.1) == ("train[:90%]", "train[90%:]", "test")
    assert data._split_names({"train", "validation"}, 0.2) == ("train[:80%]", "train[80%:]", "validation")
    with pytest.raises(data.DataError, match="no 'train' split"):
        data._split_names({"test"}, 0.1)


def _write_folder(root, splits=("train", "test"), per_class=6):
    rng = np.random.default_rng(0)
    for split in splits:
        for label, colour in (("cat", 0), ("dog", 2)):
            (root / split / label).mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 60, (20, 20, 3), dtype=np.uint8)
                pixels[..., colour] = 200
                Image.fromarray(pixels).save(root / split / label / f"{i}.png")


def test_image_folder_dataset(tmp_path):
    _write_folder(tmp_path)
    d = data.load(f"folder:{tmp_path}")
    assert d.num_classes == 2 and d.test is not None
    assert d.sizes["train"] + d.sizes["validation"] == 12 and d.sizes["test"] == 12
    validation = {x.numpy().tobytes() for x, _ in d.validation}
    assert validation and not validation & {x.numpy().tobytes() for x, _ in d.train}
    again = data.load(f"folder:{tmp_path}")
    assert validation == {x.numpy().tobytes() for x, _ in again.validation}  # the same split every time
    x, y = next(iter(data.input_pipeline(d.test, image_size=32, batch_size=12, num_classes=2, training=False)))
    assert x.shape == (12, 32, 32, 3) and y.shape == (12, 2)


def _labels(split):
    return [int(label) for _, label in split.as_numpy_iterator()]


def test_proxies_can_train_on_a_fixed_class_balanced_part_of_the_training_split():
    full = data.load("digits")
    part = data.load("digits", train_examples=100)
    assert part.sizes == {**full.sizes, "train": 100}
    assert np.bincount(_labels(part.train)).tolist() == [10] * 10
    images = [x.tobytes() for x, _ in part.train.as_numpy_iterator()]
    assert images == [x.tobytes() for x, _ in data.load("digits", train_examples=100).train.as_numpy_iterator()]
    assert set(images) <= {x.tobytes() for x, _ in full.train.as_numpy_iterator()}
    assert _labels(part.validation) == _labels(full.validation)  # the validation split is unchanged
    assert data.load("digits", train_examples=0.25).sizes["train"] == round(0.25 * full.sizes["train"])
    # A class with too few examples gives what it has; the others share the rest.
    images, labels = np.zeros((30, 8, 8, 3), np.uint8), np.array([0] * 25 + [1] * 5)
    uneven = data.load("arrays:uneven", source=(images, labels), train_examples=12)
    assert np.bincount(_labels(uneven.train)).tolist() == [7, 5]
    with pytest.raises(data.DataError, match="train_examples=5 gives 5 examples, fewer than the 10 classes"):
        data.load("digits", train_examples=5)


def test_bad_datasets_get_one_clear_message(tmp_path, monkeypatch):
    with pytest.raises(data.DataError, match="unknown dataset 'no_such_set'.*folder:PATH.*digits"):
        data.load("no_such_set")
    with pytest.raises(data.DataError, match="train/<class>/<image>"):
        data.load(f"folder:{tmp_path}")
    monkeypatch.setattr(data, "_reachable", lambda host, timeout=3.0: False)
    with pytest.raises(data.DataError, match="not prepared in .* network is unreachable.*--data_dir"):
        data.load("mnist", data_dir=str(tmp_path / "tfds"))
