"""Weight inheritance: a child network starts from its parent's trained weights wherever their shapes agree.

A LayerNAS child differs from its parent in one decision (`algorithms.layernas`),
so most of its layers are the parent's: the same kind, the same weight shapes. Those
start from the parent's trained values and the child trains a few epochs from there
(`SearchConfig.inherit_epochs`), instead of its whole proxy from scratch.

Which layers: both networks' weighted layers, in the order the model lists them, are
aligned by what they are: the layer's kind and its name without Keras' numbering
(`conv2d_7` is `conv2d`: Keras numbers the layers of a user's build function
differently from one build to the next), with `difflib.SequenceMatcher`, the longest
runs of alike layers first. An aligned pair whose weights have the same shapes is
copied. A changed width changes the shapes of that layer, of its normalisation and
of its successor's kernel: exactly those start fresh; a layer the change adds or removes shifts nothing
after it. Shapes do not align layers: a narrowed layer can take the shape of its
neighbour's, and must not be given the neighbour's weights. Leaf layers only (no
sublayers): a layer's own weights beside those of sublayers are not copied.

Numpy arrays cross between the two models, so the parent is built and read before
the child's training clears the Keras session, and the copy works under any
`tf.distribute` strategy's scope.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Callable

import keras
import numpy as np

from layernas_tf.trials.artefacts import load_weights


@dataclasses.dataclass(frozen=True)
class Layer:
    """One weighted leaf layer: its name (for reports), its kind (what aligns), its weight shapes and values."""

    name: str
    kind: tuple[str, str]
    shapes: tuple
    weights: tuple[np.ndarray, ...]


def _leaves(model: keras.Model) -> list[keras.layers.Layer]:
    """The model's leaf layers that hold weights, in the model's order."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)  # pylint: disable=protected-access
            if layer.weights and not list(layer._flatten_layers(include_self=False))]  # pylint: disable=protected-access


def _kind(layer: keras.layers.Layer) -> tuple[str, str]:
    """What aligns a layer with the parent's: its class and its name without Keras' `_<n>` numbering."""
    return type(layer).__name__, re.sub(r"_\d+$", "", layer.name)


def _shapes(layer: keras.layers.Layer) -> tuple:
    return tuple(tuple(w.shape) for w in layer.weights)


def weighted_layers(model: keras.Model) -> list[Layer]:
    """The model's weighted leaf layers with their current values."""
    return [Layer(layer.name, _kind(layer), _shapes(layer), tuple(np.asarray(w) for w in layer.get_weights()))
            for layer in _leaves(model)]


def trained_parent(build: Callable[[], keras.Model], weights_path: str) -> list[Layer]:
    """The parent's weighted layers with its trained values (`artefacts.save_weights`' file)."""
    model = build()
    load_weights(model, weights_path)
    return weighted_layers(model)


def inherit(model: keras.Model, parent: list[Layer]) -> list[str]:
    """Sets each of `model`'s weighted layers that aligns with one of `parent`'s and has its weight shapes (module
    docstring) to the parent's values; returns the names of the layers set, in order."""
    layers = _leaves(model)
    matcher = difflib.SequenceMatcher(None, [p.kind for p in parent], [_kind(m) for m in layers], autojunk=False)
    copied = []
    for block in matcher.get_matching_blocks():
        for offset in range(block.size):
            layer, source = layers[block.b + offset], parent[block.a + offset]
            if _shapes(layer) == source.shapes:
                layer.set_weights(list(source.weights))
                copied.append(layer.name)
    return copied
