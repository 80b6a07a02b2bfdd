"""Image-classification input: tfds datasets, image folders, and an embedded default.

Rewards must never come from a test split, so every dataset is loaded as three
splits: `train` (what candidates train on), `validation` (the reward), and `test`
(the final report only). Where a dataset has its own validation split and a separate
test split they are used as they are; otherwise the last 10% of `train` becomes the
validation split, and the dataset's validation split, if any, serves as the test
split (ImageNet has no public test labels).

Images come out as float32 RGB pixels in [0, 255], resized to the search's image
size; the models the spaces build rescale them themselves, so an exported model
takes raw pixels too.

Data that is not images (a keyword-spotting model's (frames, coefficients), a
sensor window, a spectrogram the model takes as (h, w, 1)) is loaded with the
`example_shape` the space's model takes: each example must have that shape, and
goes to the model as float32, as it is (no resizing, no image augmentation).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
from typing import Any, Callable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from sklearn import datasets

DIGITS = "digits"
NOISY_DIGITS = "noisy_digits"
FOLDER_PREFIX = "folder:"
ARRAYS_PREFIX = "arrays:"
FUNCTION_PREFIX = "function:"
# Where tfds downloads most datasets and their metadata from.
DOWNLOAD_PROBE = ("storage.googleapis.com", 443)
# Cache a split's preprocessed images in memory below this many bytes.
CACHE_LIMIT_BYTES = 2 << 30


class DataError(ValueError):
    """The dataset cannot be loaded as asked: an unknown name, a missing folder, no download."""


@dataclasses.dataclass
class Dataset:
    """One dataset's splits, unbatched: (uint8 image of shape (h, w, c), int label).

    Attributes:
      native_size: the side of the dataset's images when they all share it, else None.
      flip: whether a left-right flip is a valid augmentation (not for digits).
      images: False for examples of a given shape that are not images (`load`'s
        `example_shape`): never resized, converted or augmented.
    """

    name: str
    num_classes: int
    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: Optional[tf.data.Dataset]
    sizes: dict[str, int]
    native_size: Optional[int]
    flip: bool = True
    images: bool = True

    def default_image_size(self) -> int:
        """The native size, at least 32 (the MobileNets' total stride), 224 when sizes vary."""
        return max(32, self.native_size) if self.native_size else 224


def load(name: str, data_dir: Optional[str] = None, validation_fraction: float = 0.1, *,
         source: Any = None, num_classes: Optional[int] = None, train_examples: Optional[float] = None,
         example_shape: Optional[Sequence[int]] = None) -> Dataset:
    """Loads `name`: a tfds dataset name, `folder:PATH`, or `digits` (embedded, no download).

    Args:
      example_shape: the shape of one example when the data is not images (the user's
        arrays or dataset function only): every example must have it.
      source: the user's data behind an `arrays:` or `function:` name (`source_name`):
        {split: (images, labels)} numpy arrays, or a function returning {split:
        tf.data.Dataset of (image, label)}.
      num_classes: for a dataset function; default: the largest training label + 1.
      train_examples: keep only a fixed, class-balanced part of the training split
        (`balanced_part`): a count, or a fraction (< 1).
    """
    if not 0 < validation_fraction < 1:
        raise DataError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    if example_shape is not None and not name.startswith((ARRAYS_PREFIX, FUNCTION_PREFIX)):
        raise DataError(f"dataset {name} holds images, and the space takes examples of shape {tuple(example_shape)}: "
                        "give your own data as dataset=(x, y) arrays or a dataset function")
    if name.startswith(ARRAYS_PREFIX):
        dataset = _arrays(name, source, validation_fraction, example_shape)
    elif name.startswith(FUNCTION_PREFIX):
        dataset = _function(name, source, num_classes, validation_fraction, example_shape)
    elif name == DIGITS:
        dataset = _digits(validation_fraction)
    elif name == NOISY_DIGITS:
        dataset = _noisy_digits()
    elif name.startswith(FOLDER_PREFIX):
        dataset = _folder(name[len(FOLDER_PREFIX):], validation_fraction)
    else:
        dataset = _tfds(name, data_dir, validation_fraction)
    return dataset if train_examples is None else balanced_part(dataset, train_examples)


def balanced_part(dataset: Dataset, train_examples: float) -> Dataset:
    """The dataset with its training split cut to a fixed, class-balanced part; validation and test unchanged.

    The part is the first examples of each class in the split's order, as equal in
    number as the classes allow (a class with too few gives all it has, the others
    share the rest): the same examples on every worker and every resume, without a
    seed. Finding them reads the split's labels once.

    Raises:
      DataError: asked for more examples than the split holds, or fewer than one per class.
    """
    size = dataset.sizes["train"]
    wanted = int(round(train_examples * size)) if train_examples < 1 else int(train_examples)
    if wanted > size:
        raise DataError(f"train_examples={train_examples:g} is more than the {size} training examples of {dataset.name}")
    if wanted < dataset.num_classes:
        raise DataError(f"train_examples={train_examples:g} gives {wanted} examples, fewer than the "
                        f"{dataset.num_classes} classes of {dataset.name}: give at least one per class")
    labels = np.fromiter(dataset.train.map(lambda image, label: label).as_numpy_iterator(), dtype=np.int64)
    counts = np.bincount(labels, minlength=dataset.num_classes)
    quota, left = np.zeros_like(counts), wanted
    while left:
        open_classes = np.flatnonzero(quota < counts)
        share = max(1, left // len(open_classes))
        for c in open_classes:
            add = min(share, counts[c] - quota[c], left)
            quota[c] += add
            left -= add
            if not left:
                break
    rank = np.zeros_like(labels)
    seen = np.zeros_like(counts)
    for i, label in enumerate(labels):
        rank[i], seen[label] = seen[label], seen[label] + 1
    keep = tf.constant(rank < quota[labels])

    def kept(index, example):
        del example
        return keep[index]

    def without_index(index, example):
        del index
        return example

    train = dataset.train.enumerate().filter(kept).map(without_index)
    return dataclasses.replace(dataset, train=train.apply(tf.data.experimental.assert_cardinality(wanted)),
                               sizes={**dataset.sizes, "train": wanted})


def as_splits(dataset: Any,
              example_shape: Optional[Sequence[int]] = None) -> "dict[str, tuple[np.ndarray, np.ndarray]]":
    """The user's arrays as {split: (examples, labels)}: `(x, y)` is the training split alone.

    Images become uint8 (N, H, W, C); with `example_shape`, examples stay numbers of
    that shape (float32; a missing last axis of 1 is added).

    Raises:
      DataError: not arrays of images (N, H, W[, C]), or of `example_shape`, with one integer label each.
    """
    splits = dict(dataset) if isinstance(dataset, dict) else {"train": dataset}
    unknown = sorted(set(splits) - {"train", "validation", "test"})
    if unknown or "train" not in splits:
        raise DataError(f"dataset= arrays go as (x, y) or {{'train': (x, y), 'validation': ..., 'test': ...}}; "
                        f"got splits {', '.join(sorted(splits))}")
    out = {}
    for split, pair in splits.items():
        try:
            images, labels = (np.asarray(v) for v in pair)
        except (TypeError, ValueError):
            raise DataError(f"dataset= {split} split must be a pair (images, labels) of arrays") from None
        if len(images) != len(labels) or labels.ndim != 1:
            raise DataError(f"dataset= {split} split: {len(images)} examples need {len(images)} labels in one "
                            f"dimension, got labels {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer) or (len(labels) and labels.min() < 0):
            raise DataError(f"dataset= {split} labels must be integers >= 0 (class indices), got {labels.dtype}")
        out[split] = (_examples(split, images, example_shape), labels.astype(np.int64))
    return out


def _examples(split: str, examples: np.ndarray, example_shape: Optional[Sequence[int]]) -> np.ndarray:
    """One split's examples as loaded: numbers of `example_shape`, or uint8 images."""
    if example_shape is not None:
        shape = tuple(example_shape)
        if examples.shape[1:] + (1,) == shape:
            examples = examples[..., None]
        if examples.shape[1:] != shape:
            raise DataError(f"dataset= {split} split: the space's model takes examples of shape {shape} (its "
                            f"input_shape), got {examples.shape[1:]} ({examples.shape} for {len(examples)} examples)")
        if not np.issubdtype(examples.dtype, np.number) or not np.isfinite(examples).all():
            raise DataError(f"dataset= {split} split: examples must be finite numbers, got {examples.dtype}"
                            + (" with NaN or infinity" if np.issubdtype(examples.dtype, np.number) else ""))
        return examples.astype(np.float32)
    if examples.ndim == 3:
        examples = examples[..., None]
    if examples.ndim != 4 or examples.shape[-1] not in (1, 3, 4):
        raise DataError(f"dataset= {split} split: images must be (N, H, W) or (N, H, W, 1|3|4), got {examples.shape}; "
                        "data that is not images needs a space declaring its shape: KerasSpace(build, "
                        "input_shape=(...))")
    if examples.dtype != np.uint8:
        if not np.isfinite(examples).all() or examples.min() < 0 or examples.max() > 255:
            raise DataError(f"dataset= {split} images must be pixels in [0, 255] (uint8, or floats in that range)")
        examples = np.round(examples).astype(np.uint8)
    return examples


def source_name(dataset: Any) -> str:
    """The name a study records for the user's data: a digest of the arrays (as `as_splits` returns them, so that
    the same data names the same study however it was given), or the function's import path."""
    if callable(dataset):
        return f"{FUNCTION_PREFIX}{getattr(dataset, '__module__', '?')}.{getattr(dataset, '__qualname__', '?')}"
    digest = hashlib.sha1()
    for split, (images, labels) in sorted(dataset.items()):
        for part in (split.encode(), str(images.shape).encode(), images.tobytes(), labels.tobytes()):
            digest.update(part)
    return f"{ARRAYS_PREFIX}{digest.hexdigest()[:16]}"


def _native(shape) -> Optional[int]:
    return shape[0] if shape[0] is not None and shape[0] == shape[1] else None


def _carved(splits: dict[str, tf.data.Dataset], validation_fraction: float) -> dict[str, tf.data.Dataset]:
    """Every k-th training example as the validation split when there is none: user data is often sorted by class,
    so its last tenth would be one class."""
    if "validation" in splits:
        return splits
    k = max(2, round(1 / validation_fraction))
    return {**splits, "train": _every_kth(splits["train"], k, keep=False),
            "validation": _every_kth(splits["train"], k, keep=True)}


def _counted(splits: dict[str, tf.data.Dataset]) -> tuple[dict[str, int], dict[str, tf.data.Dataset]]:
    """Each split's size, and the split told it: Keras otherwise warns that a filtered split "ran out of data".

    Counting is one pass over each split: cheap for arrays, an epoch's reading for a dataset function's large split.
    """
    sizes = {k: int(ds.reduce(0, lambda n, _: n + 1)) for k, ds in splits.items()}
    return sizes, {k: ds.apply(tf.data.experimental.assert_cardinality(sizes[k])) for k, ds in splits.items()}


# Validation examples per class below which rewards cannot tell networks apart: with one per class, a network's
# reward moves by a whole class's worth with a single example.
MIN_VALIDATION_PER_CLASS = 2


def scoring_warning(dataset: Dataset) -> Optional[str]:
    """What is wrong with a validation split too small to rank networks by (fewer than 2 examples a class), or None.

    A warning, not a refusal: a smoke run on mock data has such a split on purpose; a search on it that cannot
    rank stops by itself once its first networks all score alike (`no_signal_trials`).
    """
    needed = MIN_VALIDATION_PER_CLASS * dataset.num_classes
    if dataset.sizes["validation"] >= needed:
        return None
    return (f"dataset {dataset.name}: its validation split has {dataset.sizes['validation']} example(s) for "
            f"{dataset.num_classes} classes, too few to rank networks by; give it at least {needed} "
            f"({MIN_VALIDATION_PER_CLASS} a class), or more training data to carve it from")


def _check_classes(name: str, num_classes: int) -> None:
    if num_classes < 2:
        raise DataError(f"dataset {name} has {num_classes} class(es): a classifier needs at least 2")


def _user_dataset(name: str, num_classes: int, loaded: dict[str, tf.data.Dataset], sizes: dict[str, int],
                  image_shape: Optional[Sequence[Optional[int]]]) -> Dataset:
    """The user's splits as a `Dataset`: images of `image_shape`, or (None) examples that are not images, which are
    never flipped or resized."""
    if image_shape is None:
        return Dataset(name, num_classes, loaded["train"], loaded["validation"], loaded.get("test"), sizes, None,
                       flip=False, images=False)
    return Dataset(name, num_classes, loaded["train"], loaded["validation"], loaded.get("test"), sizes,
                   _native(image_shape))


def _arrays(name: str, arrays: Any, validation_fraction: float,
            example_shape: Optional[Sequence[int]] = None) -> Dataset:
    """The user's numpy arrays (`as_splits`)."""
    splits = as_splits(arrays, example_shape)
    num_classes = int(splits["train"][1].max()) + 1 if len(splits["train"][1]) else 0
    _check_classes(name, num_classes)
    loaded = _carved({k: tf.data.Dataset.from_tensor_slices(v) for k, v in splits.items()}, validation_fraction)
    sizes, loaded = _counted(loaded)
    return _user_dataset(name, num_classes, loaded, sizes, None if example_shape else splits["train"][0].shape[1:])


def _function(name: str, function: Callable[[], dict], num_classes: Optional[int],
              validation_fraction: float, example_shape: Optional[Sequence[int]] = None) -> Dataset:
    """The user's function returning {"train": ds, optional "validation" and "test"}: (image, label) datasets."""
    splits = function()
    if not isinstance(splits, dict) or "train" not in splits or not all(
            isinstance(v, tf.data.Dataset) for v in splits.values()):
        raise DataError(f"dataset={name[len(FUNCTION_PREFIX):]} must return {{'train': tf.data.Dataset, optional "
                        f"'validation' and 'test'}} of (image, label) pairs; got {type(splits).__name__}")
    if example_shape is not None:
        for split, ds in splits.items():
            got = tuple(ds.element_spec[0].shape)
            if got != tuple(example_shape):
                raise DataError(f"dataset={name[len(FUNCTION_PREFIX):]}: its {split} split's examples have shape "
                                f"{got}, and the space's model takes {tuple(example_shape)} (its input_shape)")
        splits = {k: ds.map(lambda x, y: (tf.cast(x, tf.float32), y)) for k, ds in splits.items()}
    loaded = _carved(dict(splits), validation_fraction)
    if num_classes is None:
        labels = loaded["train"].map(lambda image, label: tf.cast(label, tf.int64))
        num_classes = int(labels.reduce(np.int64(-1), tf.maximum)) + 1
    _check_classes(name, num_classes)
    sizes, loaded = _counted(loaded)
    return _user_dataset(name, num_classes, loaded, sizes,
                         None if example_shape else loaded["train"].element_spec[0].shape)


def _digits(validation_fraction: float) -> Dataset:
    """scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes), as RGB.

    The first 80% train (its last `validation_fraction` is the validation split),
    the last 20% are the test split.
    """
    digits = datasets.load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None].repeat(3, axis=-1)
    labels = digits.target.astype(np.int64)
    n_train = int(len(images) * 0.8)
    n_fit = n_train - int(round(n_train * validation_fraction))
    parts = {"train": slice(0, n_fit), "validation": slice(n_fit, n_train), "test": slice(n_train, None)}
    splits = {k: tf.data.Dataset.from_tensor_slices((images[s], labels[s])) for k, s in parts.items()}
    sizes = {k: len(images[s]) for k, s in parts.items()}
    return Dataset(DIGITS, 10, splits["train"], splits["validation"], splits["test"], sizes, 8, flip=False)


def noisy_digits_arrays(copies: int = 3, seed: int = 0, noise: float = 70.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's digits made harder and larger, deterministically: {split: (uint8 (N, 16, 16, 3), labels)}.

    The 1,797 digits are split first (60% train, 20% validation, 20% test, by position,
    so no digit's copies cross splits), then each becomes `copies` 16x16 images: upscaled
    2x, shifted by up to 2 pixels each way, its contrast scaled by 0.5-1.0 and Gaussian
    noise (sd 70 of 255) added. On the clean 8x8 digits every reasonable network scores
    near 1.0 on a 144-image validation split and nothing can be ranked; here `tiny_cnn`'s
    networks spread over 0.65-0.86 top-1 on a 1,077-image one (`experiments/real_table.py`).
    """
    digits = datasets.load_digits()
    base = np.kron(digits.images, np.ones((2, 2))) * (255.0 / 16.0)
    labels = digits.target.astype(np.int64)
    n = len(base)
    bounds = {"train": (0, int(n * 0.6)), "validation": (int(n * 0.6), int(n * 0.8)), "test": (int(n * 0.8), n)}
    rng = np.random.default_rng(seed)
    out = {}
    for split, (lo, hi) in bounds.items():
        images = []
        for image in base[lo:hi]:
            for _ in range(copies):
                dy, dx = rng.integers(-2, 3, size=2)
                shifted = np.roll(np.roll(image, dy, axis=0), dx, axis=1)
                noisy = shifted * rng.uniform(0.5, 1.0) + rng.normal(0.0, noise, size=shifted.shape)
                images.append(np.clip(np.round(noisy), 0, 255))
        stacked = np.asarray(images, dtype=np.uint8)[..., None].repeat(3, axis=-1)
        out[split] = (stacked, np.repeat(labels[lo:hi], copies))
    return out


def _noisy_digits() -> Dataset:
    """`noisy_digits_arrays()` as a Dataset: its own validation split, so `validation_fraction` has no say."""
    arrays = noisy_digits_arrays()
    splits = {k: tf.data.Dataset.from_tensor_slices(v) for k, v in arrays.items()}
    sizes = {k: len(v[1]) for k, v in arrays.items()}
    return Dataset(NOISY_DIGITS, 10, splits["train"], splits["validation"], splits["test"], sizes, 16, flip=False)


def _split_names(available, validation_fraction: float) -> tuple[str, str, Optional[str]]:
    if "train" not in available:
        raise DataError(f"the dataset has no 'train' split (it has {', '.join(sorted(available))})")
    if "validation" in available and "test" in available:
        return "train", "validation", "test"
    keep = 100 - int(round(validation_fraction * 100))
    test = "test" if "test" in available else ("validation" if "validation" in available else None)
    return f"train[:{keep}%]", f"train[{keep}%:]", test


def _every_kth(ds: tf.data.Dataset, k: int, keep: bool) -> tf.data.Dataset:
    """Examples whose index is (keep) or is not (not keep) a multiple of k."""
    picked = ds.enumerate().filter(lambda i, _: tf.equal(i % k, 0) == keep)
    return picked.map(lambda _, example: example)


def _from_builder(builder, name: str, validation_fraction: float, subsplits: bool = True) -> Dataset:
    """The splits of a tfds builder.

    Args:
      subsplits: whether the builder slices splits (`train[:90%]`). For builders that
        do not (ImageFolder), every k-th training example goes to validation instead;
        the builder's order is fixed, so the split is the same on every run.
    """
    # Split names are unknown only when tfds is mocked (tfds.testing.mock_data): assume train and test.
    available = set(builder.info.splits) or {"train", "test"}
    train, validation, test = _split_names(available, validation_fraction)
    carve = not subsplits and validation.startswith("train[")
    if carve:
        train = validation = "train"
    features = builder.info.features
    supervised = getattr(builder.info, "supervised_keys", None)
    image_key, label_key = supervised if supervised else ("image", "label")
    num_classes = features[label_key].num_classes
    shape = features[image_key].shape
    native = shape[0] if shape[0] is not None and shape[0] == shape[1] else None

    splits = {k: s for k, s in (("train", train), ("validation", validation), ("test", test)) if s}
    loaded = {k: builder.as_dataset(split=s, as_supervised=True, shuffle_files=False) for k, s in splits.items()}
    if carve:
        k = max(2, round(1 / validation_fraction))
        loaded["train"] = _every_kth(loaded["train"], k, keep=False)
        loaded["validation"] = _every_kth(loaded["validation"], k, keep=True)
    sizes = {}
    for key, split in splits.items():
        size = builder.info.splits[split].num_examples if available == set(builder.info.splits) and not carve else None
        sizes[key] = size if isinstance(size, int) else int(loaded[key].reduce(0, lambda n, _: n + 1))
        loaded[key] = loaded[key].apply(tf.data.experimental.assert_cardinality(sizes[key]))
    _check_classes(name, num_classes)
    return Dataset(name, num_classes, loaded["train"], loaded["validation"], loaded.get("test"), sizes, native)


def _folder(path: str, validation_fraction: float) -> Dataset:
    """`PATH/<split>/<class>/<image>` through `tfds.ImageFolder`; `train` is required."""
    if not os.path.isdir(os.path.join(path, "train")):
        raise DataError(
            f"folder:{path} needs images as {path}/train/<class>/<image> (and optionally test/ and validation/)"
        )
    _check_images(path)
    builder = tfds.ImageFolder(path)
    return _from_builder(builder, f"{FOLDER_PREFIX}{path}", validation_fraction, subsplits=False)


# What tfds.ImageFolder reads, and how each kind of file begins.
IMAGE_SIGNATURES = {".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",)}
# How each kind ends: PNG's IEND chunk, JPEG's end-of-image marker (encoders may pad a few bytes after it).
IMAGE_ENDINGS = {".png": b"IEND\xaeB`\x82", ".jpg": b"\xff\xd9", ".jpeg": b"\xff\xd9"}
_TAIL_BYTES = 64


def _check_images(path: str) -> None:
    """Refuses a folder whose images TensorFlow would fail on mid-search, naming the files.

    Reads the first and last bytes of every image: a zero-byte file, one that is not
    the image its name says, or one cut short (an interrupted copy: its header is
    right, its end marker missing) fails TensorFlow's decoder minutes into the first
    trial, without the file's name. Decoding every image of a large folder before a
    search would take as long as an epoch, so a file damaged in its middle still fails
    later.
    """
    classes: dict[str, dict[str, int]] = {}  # split -> class folder -> images in it
    for split in sorted(os.listdir(path)):
        root = os.path.join(path, split)
        if not os.path.isdir(root):
            continue
        bad, cut, count = [], [], 0
        classes[split] = {c: 0 for c in sorted(os.listdir(root)) if os.path.isdir(os.path.join(root, c))}
        for folder, _, files in os.walk(root):
            for name in sorted(files):
                signatures = IMAGE_SIGNATURES.get(os.path.splitext(name)[1].lower())
                if signatures is None:
                    continue
                count += 1
                label = os.path.relpath(folder, root).split(os.sep)[0]
                if label in classes[split]:
                    classes[split][label] += 1
                extension = os.path.splitext(name)[1].lower()
                with open(os.path.join(folder, name), "rb") as f:
                    head = f.read(8)
                    f.seek(max(0, os.fstat(f.fileno()).st_size - _TAIL_BYTES))
                    tail = f.read()
                if not head.startswith(signatures):
                    bad.append(os.path.join(folder, name))
                elif IMAGE_ENDINGS[extension] not in tail:
                    cut.append(os.path.join(folder, name))
        if bad:
            raise DataError(f"folder:{path} has {len(bad)} file(s) that are not the images their names say (empty or "
                            f"damaged), e.g. {', '.join(bad[:3])}: remove or replace them")
        if cut:
            raise DataError(f"folder:{path} has {len(cut)} image(s) cut short (no end marker: an interrupted copy?), "
                            f"e.g. {', '.join(cut[:3])}: copy them again or remove them")
        if split == "train" and not count:
            raise DataError(f"folder:{path}/train holds no images: put them as train/<class>/<image>.png|.jpg")
    # A class without images cannot be learned or scored, and one the training split lacks cannot be predicted:
    # every network would score the same on it, and the search would rank nothing.
    empty = [f"{split}/{c}" for split, counts in classes.items() for c, n in counts.items() if n == 0]
    if empty:
        raise DataError(f"folder:{path} has {len(empty)} class folder(s) without images, e.g. {', '.join(empty[:3])}: "
                        "fill or remove them")
    unknown = [f"{split}/{c}" for split, counts in classes.items() if split != "train"
               for c in counts if c not in classes.get("train", {})]
    if unknown:
        raise DataError(f"folder:{path} has class folder(s) the training split lacks, e.g. {', '.join(unknown[:3])}: "
                        f"the training classes are {', '.join(classes.get('train', {})) or 'none'}")


def _tfds(name: str, data_dir: Optional[str], validation_fraction: float) -> Dataset:
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise DataError(
            f"unknown dataset {name!r}: valid are tfds names (e.g. cifar10, cifar100, imagenet2012, "
            f"imagenet_resized/32x32), folder:PATH, or {DIGITS} (embedded)"
        ) from None
    if not builder.is_prepared():
        where = data_dir or "~/tensorflow_datasets"
        advice = f"prepare it where the network is reachable (tfds build {name} --data_dir=DIR) and pass data_dir=DIR"
        if not _reachable(DOWNLOAD_PROBE):
            # tfds would retry for minutes before giving up; say so at once.
            raise DataError(f"dataset {name!r} is not prepared in {where} and the network is unreachable; {advice}")
        try:
            builder.download_and_prepare()
        except Exception as e:  # pylint: disable=broad-except
            reason = " ".join(str(e).split())[:160]
            raise DataError(
                f"dataset {name!r} is not prepared in {where} and could not be downloaded "
                f"({type(e).__name__}: {reason}); {advice}"
            ) from None
    return _from_builder(builder, name, validation_fraction)


def _reachable(host: tuple[str, int], timeout: float = 3.0) -> bool:
    try:
        socket.create_connection(host, timeout=timeout).close()
        return True
    except OSError:
        return False


def _to_rgb(image: tf.Tensor) -> tf.Tensor:
    channels = image.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(image)
    if channels == 4:
        return image[..., :3]
    return image


def steps_per_epoch(examples: int, batch_size: int) -> int:
    """Training steps per epoch: whole batches only (see `input_pipeline`), at least one."""
    return max(1, examples // batch_size)


def resized(split: tf.data.Dataset, *, image_size: Optional[int], size_hint: Optional[int] = None) -> tf.data.Dataset:
    """(float32 RGB pixels in [0, 255] at `image_size`, label), cached in memory when
    `size_hint` examples fit in `CACHE_LIMIT_BYTES`. `image_size` None: examples that
    are not images (`Dataset.images`), as float32, as they are.

    Build it once and derive each trial's `batches` from it: the cache is shared.
    """

    def resize(image, label):
        if image_size is None:
            return tf.cast(image, tf.float32), label
        image = tf.image.resize(tf.cast(_to_rgb(image), tf.float32), (image_size, image_size))
        return image, label

    ds = split.map(resize, num_parallel_calls=tf.data.AUTOTUNE)
    example_bytes = 4 * int(np.prod(ds.element_spec[0].shape))
    if size_hint is not None and size_hint * example_bytes <= CACHE_LIMIT_BYTES:
        ds = ds.cache()
    return ds


def batches(
    images: tf.data.Dataset,
    *,
    batch_size: int,
    num_classes: int,
    training: bool,
    flip: bool = True,
    size_hint: Optional[int] = None,
    seed: Optional[int] = None,
    randaugment: bool = False,
    augment: bool = True,
) -> tf.data.Dataset:
    """Batches of (float32 RGB pixels in [0, 255], one-hot label) from `resized` images.

    Training adds (unless not `augment`: data that is not images, `Dataset.images`)
    random crops (pad by 1/8 of the side, crop back) and, where `flip`,
    left-right flips (with `randaugment`, Keras' `RandAugment` after them: two random
    operations of magnitude 0.5 per image), reshuffles every epoch, and drops a last partial batch when
    there is at least one whole one (a batch of another shape would make Keras trace
    the training step a second time). Evaluation keeps every example, in order.
    """
    autotune = tf.data.AUTOTUNE
    image_size = images.element_spec[0].shape[0]

    def crop_and_flip(image, label):
        pad = max(1, image_size // 8)
        image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        image = tf.image.random_crop(image, (image_size, image_size, 3), seed=seed)
        if flip:
            image = tf.image.random_flip_left_right(image, seed=seed)
        return image, label

    def one_hot(image, label):
        return image, tf.one_hot(label, num_classes)

    ds = images
    drop_remainder = False
    if training:
        ds = ds.shuffle(min(size_hint or 10_000, 10_000), seed=seed, reshuffle_each_iteration=True)
        if augment:
            ds = ds.map(crop_and_flip, num_parallel_calls=autotune)
        if randaugment:
            rand_augment = keras.layers.RandAugment(value_range=(0, 255), seed=seed)
            ds = ds.map(lambda image, label: (rand_augment(image, training=True), label), num_parallel_calls=autotune)
        drop_remainder = size_hint is not None and size_hint >= batch_size
    ds = ds.map(one_hot, num_parallel_calls=autotune)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(autotune)


def input_pipeline(split: tf.data.Dataset, *, image_size: int, size_hint: Optional[int] = None,
                   **options) -> tf.data.Dataset:
    """`batches` (with `options`) of `resized` images in one call."""
    images = resized(split, image_size=image_size, size_hint=size_hint)
    return batches(images, size_hint=size_hint, **options)
