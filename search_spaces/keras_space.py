"""A search space from a Keras build function whose choices are asked for inline.

    from search_spaces.keras_space import KerasSpace, choose

    def build(input_shape, num_classes):
        inputs = keras.Input(input_shape)
        x = keras.layers.Conv2D(choose("stem_filters", [8, 16, 32], default=1), 3, strides=2)(inputs)
        for i in range(3):
            x = keras.layers.Conv2D(choose(f"block{i}_filters", [16, 32, 64], default=1),
                                    choose(f"block{i}_kernel", [3, 5]), padding="same", activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))

    space = KerasSpace(build, input_shape=(32, 32, 3), num_classes=10)   # then layernas_tf.search(space=space)

Building once with every default finds the decision points, in the order the
function asks for them: that is LayerNAS's layer order, so ask in network order.
Costs are exact: the model of an architecture is built and counted from its
layers (`layernas_tf.cost.layers`), once per architecture (cached), so LayerNAS's
cheapest and dearest completions come from the same counter.

The function must ask for the same choices in the same order whatever their
values (LayerNAS needs a fixed list of layers): a choice that appears or goes
with an earlier one's value is refused when it happens, naming it. For the
`local` and `ray` executors the function must be importable by the workers:
define it at the top level of a module.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import threading
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import keras

from layernas_tf.core.space import Architecture, DecisionPoint, SearchSpace
from layernas_tf.cost.layers import Counter, count_madds

_ACTIVE = threading.local()


def choose(name: str, options: Sequence[Any], default: int = 0) -> Any:
    """The value of decision point `name` in the network being built: one of `options`.

    Outside a `KerasSpace` build it returns `options[default]`, so the function also
    builds the reference network on its own.
    """
    recorder = getattr(_ACTIVE, "recorder", None)
    if recorder is None:
        return tuple(options)[default]
    return recorder(name, tuple(options), default)


@contextlib.contextmanager
def _answering(recorder: Callable[[str, tuple, int], Any]) -> Iterator[None]:
    previous = getattr(_ACTIVE, "recorder", None)
    _ACTIVE.recorder = recorder
    try:
        yield
    finally:
        _ACTIVE.recorder = previous


class KerasSpace(SearchSpace):
    """The decision points a build function asks for with `choose`, its models, and their exact costs.

    Args:
      build_fn: `build_fn(input_shape, num_classes) -> keras.Model`.
      input_shape, num_classes: what costs are counted at (the deployment size). An
        input_shape other than (height, width, 3) means the data is not images and
        goes to the model as it is (`layernas_tf.config.example_shape`).
      name: the space's name in studies and reports (default: the function's).
      count: counters for layer classes the MAdds counter does not know (a custom
        layer, Conv3D): {LayerClass: fn(layer, input_shapes, output_shapes) -> MAdds},
        shapes batch first; module-level functions for the local and ray executors.

    Raises:
      ValueError: duplicate choice names, a choice with fewer than two options or a
        default out of range, a function that asks for no choice or does not return a model.
    """

    costs_are_slow = True  # each network is built to be counted

    def __init__(self, build_fn: Callable[..., keras.Model], input_shape: Sequence[int],
                 num_classes: int = 10, name: Optional[str] = None, count: Optional[Mapping[type, Counter]] = None):
        self.build_fn, self.input_shape, self.num_classes = build_fn, tuple(input_shape), num_classes
        self.count = dict(count or {})
        self.name = name or getattr(build_fn, "__name__", "keras_space")
        points: list[DecisionPoint] = []

        def record(point_name, options, default):
            if any(p.name == point_name for p in points):
                raise ValueError(f"{self.name}: the choice {point_name!r} is asked for twice; give every choice its "
                                 "own name")
            points.append(DecisionPoint(point_name, options, default))
            return options[default]

        with _answering(record):
            model = build_fn(self.input_shape, num_classes)
        if not isinstance(model, keras.Model):
            raise ValueError(f"{self.name}: the build function returned {type(model).__name__}, not a keras.Model")
        if not points:
            raise ValueError(f"{self.name}: the build function asks for no choice: mark them with choose(name, options)")
        super().__init__(points)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_counts", None)  # a cache: each worker counts what it builds
        return state

    def build(self, arch: Architecture, input_shape=None, num_classes=None) -> keras.Model:
        """The user's model of `arch`; raises ValueError if the function's choices changed with `arch`."""
        arch = self.validate(arch)
        asked: list[str] = []

        def answer(point_name, options, default):
            del default
            position = len(asked)
            asked.append(point_name)
            if position >= len(self) or self.decision_points[position].name != point_name:
                expected = self.decision_points[position].name if position < len(self) else "nothing more"
                raise ValueError(f"{self.name}: architecture {arch} asks for choice {point_name!r} where the "
                                 f"defaults asked for {expected!r}: the choices must not change with earlier "
                                 "choices (LayerNAS searches a fixed list of layers)")
            point = self.decision_points[position]
            if tuple(options) != point.options:
                raise ValueError(f"{self.name}: choice {point_name!r} offers {options} here and {point.options} with "
                                 "the defaults: its options must not change with earlier choices")
            return point.options[arch[position]]

        with _answering(answer):
            model = self.build_fn(tuple(input_shape or self.input_shape), num_classes or self.num_classes)
        if len(asked) != len(self):
            raise ValueError(f"{self.name}: architecture {arch} asked for {len(asked)} choices where the defaults "
                             f"asked for {len(self)}: the choices must not change with earlier choices")
        return model

    def _count(self, arch: Architecture) -> tuple[int, int]:
        counts = self.__dict__.setdefault("_counts", {})
        if arch not in counts:
            # Keras' global state only: its full clean-up (a garbage collection, 0.2 s in a process holding
            # TensorFlow) would take three times as long as building and counting the model.
            keras.backend.clear_session(free_memory=False)
            model = self.build(arch)
            counts[arch] = (count_madds(model, self.count), model.count_params())
        return counts[arch]

    def madds(self, arch: Architecture, input_shape=None, num_classes=None) -> int:
        if input_shape is not None or num_classes is not None:
            model = self.build(arch, input_shape, num_classes)
            return count_madds(model, self.count)
        return self._count(Architecture(arch))[0]

    def params(self, arch: Architecture, input_shape=None, num_classes=None) -> int:
        if input_shape is not None or num_classes is not None:
            return self.build(arch, input_shape, num_classes).count_params()
        return self._count(Architecture(arch))[1]

    def cost(self, arch: Architecture) -> int:
        return self.madds(arch)


@functools.lru_cache(maxsize=None)
def from_path(path: str, input_shape: tuple, num_classes: int) -> KerasSpace:
    """`module:function` (a module on the Python path) as a space: what `--space=my_module:build_fn` names."""
    module_name, _, function_name = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"space={path}: no build function {function_name!r} in module {module_name!r} ({e}); "
                         "give module:function with the module on the Python path") from None
    return KerasSpace(function, input_shape, num_classes, name=path)
