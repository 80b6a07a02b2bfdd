"""The MobileNet search-space family: a reference network as a table, searched TuNAS style.

A family module (`mobilenet_v2.py`, `mobilenet_v3.py`) writes its reference network
as a table of bottleneck rows and a stem and head; this module turns that into
decision points, an exact analytic MAdds and parameter counter, and a Keras builder.

Decision points, in network order. For every stage (a run of rows with the same
output width): its width as a multiple of the reference, then, where the family
searches it, its activation. Then for every bottleneck of the stage: kernel size,
expansion ratio, squeeze-and-excite on or off, and, for every bottleneck that is not
the first of its stage (those are stride 1 with equal widths, so dropping them
keeps shapes), whether to skip it. Skip comes last in a block, so LayerNAS tunes a
block before it decides to drop it. The default of every decision point is the
reference network's value, so the default architecture is the reference network.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import keras
from keras import layers

from layernas_tf.core.space import Architecture, DecisionPoint
from search_spaces import blocks

KERNELS = (3, 5, 7)
EXPANSIONS = (3, 4, 6)
WIDTHS = (0.5, 0.75, 1.0, 1.25, 1.5)
STAGE_ACTIVATIONS = ("relu", "hard_swish")
TOTAL_STRIDE = 32


@dataclasses.dataclass(frozen=True)
class Row:
    """One bottleneck of a reference network."""

    expansion: float
    filters: int
    kernel: int
    stride: int
    se: bool
    activation: str


@dataclasses.dataclass(frozen=True)
class Family:
    """A reference network and how its family builds stem, head and expansions.

    Attributes:
      rows: the bottlenecks, `Row(expansion, filters, kernel, stride, se, activation)`.
      stem_filters: width of the 3x3 stride-2 stem conv.
      activation: stem and head activation.
      head: "v2" (1x1 conv to `head_filters`, pool, dense) or "v3" (1x1 conv to 6x,
        pool, 1x1 conv to `head_filters`, dropout, 1x1 conv logits).
      round_expansion: expanded width is make_divisible(c * e) (V3) rather than int(c * e) (V2).
      search_activation: whether each stage's activation is a decision point.
    """

    name: str
    rows: tuple[Row, ...]
    stem_filters: int
    activation: str
    head: str
    head_filters: int
    round_expansion: bool
    search_activation: bool
    dropout: float = 0.0


def stages_of(rows: Sequence[Row]) -> list[list[int]]:
    """Row indices grouped into stages: runs of equal output width."""
    stages: list[list[int]] = []
    for i, row in enumerate(rows):
        if stages and rows[stages[-1][-1]].filters == row.filters:
            stages[-1].append(i)
        else:
            stages.append([i])
    return stages


class MobileNetSpace(blocks.CountedSpace):
    """A MobileNet family's search space; the cost is MAdds at the space's input size."""

    def __init__(self, family: Family, input_shape=(224, 224, 3), num_classes: int = 1000):
        self.family = family
        self.name = family.name
        self.stages = stages_of(family.rows)
        points: list[DecisionPoint] = []
        self._stage_points: list[dict[str, int]] = []
        self._block_points: dict[int, dict[str, int]] = {}

        def add(name, options, default_value) -> int:
            points.append(DecisionPoint(name, tuple(options), default=tuple(options).index(default_value)))
            return len(points) - 1

        for s, stage in enumerate(self.stages):
            first = family.rows[stage[0]]
            entry = {"width": add(f"stage{s}_width", WIDTHS, 1.0)}
            if family.search_activation:
                entry["activation"] = add(f"stage{s}_activation", STAGE_ACTIVATIONS, first.activation)
            self._stage_points.append(entry)
            for b in stage:
                row = family.rows[b]
                block = {
                    "kernel": add(f"block{b}_kernel", KERNELS, row.kernel),
                    "expansion": add(f"block{b}_expansion", sorted({row.expansion, *EXPANSIONS}), row.expansion),
                    "se": add(f"block{b}_se", (False, True), row.se),
                }
                if b != stage[0]:
                    block["skip"] = add(f"block{b}_skip", (False, True), False)
                self._block_points[b] = block
        super().__init__(points)
        self.input_shape, self.num_classes = self._check(input_shape, num_classes)

    # -- decoding --------------------------------------------------------------------

    def context_points(self, block_id: Optional[int] = None) -> list[int]:
        """The decision points that shape bottleneck `block_id`'s layers (None: the head's).

        Its stage's width and activation, the previous stage's width for a stage's
        first block (its input), and its own kernel, expansion and squeeze-and-excite.
        Whether other blocks are skipped never changes it: only stride-1 blocks of
        unchanged width can be skipped.
        """
        if block_id is None:
            return [self._stage_points[-1]["width"]]
        s = next(i for i, stage in enumerate(self.stages) if block_id in stage)
        points = list(self._stage_points[s].values())
        if s and block_id == self.stages[s][0]:
            points.append(self._stage_points[s - 1]["width"])
        block = self._block_points[block_id]
        return points + [block["kernel"], block["expansion"], block["se"]]

    def _value(self, arch: Architecture, index: int):
        return self.decision_points[index].options[arch[index]]

    def bottlenecks(self, arch: Architecture) -> list[tuple[int, blocks.Bottleneck]]:
        """The network `arch` describes: (block id, resolved bottleneck) for every kept block."""
        self.validate(arch)
        family, out = self.family, []
        channels = family.stem_filters
        for s, stage in enumerate(self.stages):
            points = self._stage_points[s]
            width = blocks.make_divisible(family.rows[stage[0]].filters * self._value(arch, points["width"]))
            act = self._value(arch, points["activation"]) if "activation" in points else family.rows[stage[0]].activation
            for b in stage:
                p = self._block_points[b]
                if "skip" in p and self._value(arch, p["skip"]):
                    continue
                expansion = self._value(arch, p["expansion"])
                if expansion == 1:
                    expanded = channels
                elif family.round_expansion:
                    expanded = blocks.make_divisible(channels * expansion)
                else:
                    expanded = int(channels * expansion)
                se = blocks.make_divisible(expanded * blocks.SE_RATIO) if self._value(arch, p["se"]) else 0
                row = family.rows[b]
                kernel = self._value(arch, p["kernel"])
                out.append((b, blocks.Bottleneck(channels, expanded, width, kernel, row.stride, se, act, expansion != 1)))
                channels = width
        return out

    def canonical(self, arch: Architecture) -> Architecture:
        """A skipped block's kernel, expansion and squeeze-and-excite at their defaults; a stage width
        at the first multiple that rounds to the same channel count."""
        out = list(self.validate(arch))
        for s, stage in enumerate(self.stages):
            point = self.decision_points[self._stage_points[s]["width"]]
            filters = self.family.rows[stage[0]].filters
            width = blocks.make_divisible(filters * point.options[out[self._stage_points[s]["width"]]])
            out[self._stage_points[s]["width"]] = next(
                i for i, m in enumerate(point.options) if blocks.make_divisible(filters * m) == width)
            for b in stage:
                p = self._block_points[b]
                if "skip" in p and self._value(arch, p["skip"]):
                    for name in ("kernel", "expansion", "se"):
                        out[p[name]] = self.decision_points[p[name]].default
        return Architecture(out)

    # -- validation ---------------------------------------------------------------------

    def _check(self, input_shape, num_classes) -> tuple[tuple[int, int, int], int]:
        shape, classes = super()._check(input_shape, num_classes)
        if min(shape[:2]) < TOTAL_STRIDE:
            raise ValueError(
                f"input {shape[0]}x{shape[1]} is too small for {self.name}: its strides need at least "
                f"{TOTAL_STRIDE}x{TOTAL_STRIDE} (e.g. 32x32 or 224x224)"
            )
        return shape, classes

    # -- cost ---------------------------------------------------------------------------

    def _count(self, arch, input_shape, num_classes) -> blocks.Counter:
        (h, w, c), classes = self._resolve(input_shape, num_classes)
        family, counter = self.family, blocks.Counter()
        h, w = blocks.same_padding_size(h, 2), blocks.same_padding_size(w, 2)
        counter.conv(h, w, 3, c, family.stem_filters, bn=True)
        channels = family.stem_filters
        for _, bottleneck in self.bottlenecks(arch):
            h, w = bottleneck.count(counter, h, w)
            channels = bottleneck.out_channels
        if family.head == "v2":
            counter.conv(h, w, 1, channels, family.head_filters, bn=True)
            counter.dense(family.head_filters, classes)
        else:
            last = blocks.make_divisible(channels * 6)
            counter.conv(h, w, 1, channels, last, bn=True)
            counter.conv(1, 1, 1, last, family.head_filters, bias=True)
            counter.conv(1, 1, 1, family.head_filters, classes, bias=True)
        return counter

    # -- Keras ---------------------------------------------------------------------------

    def build(self, arch: Architecture, input_shape=None, num_classes: Optional[int] = None):
        """The Keras model of `arch`; it takes RGB pixels in [0, 255] and outputs class probabilities."""
        shape, classes = self._resolve(input_shape, num_classes)
        inputs = keras.Input(shape=shape, name="image")
        x = self.build_stem(inputs)
        for block_id, bottleneck in self.bottlenecks(arch):
            x = bottleneck.build(x, f"expanded_conv_{block_id}_" if block_id else "expanded_conv_")
        return keras.Model(inputs, self.build_head(x, classes), name=self.name)

    def build_stem(self, inputs):
        """Rescaling and the 3x3 stride-2 conv (also what a latency profile measures as the stem)."""
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(inputs)
        return blocks.conv_bn(x, self.family.stem_filters, 3, 2, self.family.activation, "conv")

    def build_head(self, x, classes: int):
        """From the last bottleneck's output to class probabilities."""
        family = self.family
        if family.head == "v2":
            x = blocks.conv_bn(x, family.head_filters, 1, 1, family.activation, "conv_1")
            x = layers.GlobalAveragePooling2D(name="global_average_pooling")(x)
            return layers.Dense(classes, activation="softmax", dtype="float32", name="predictions")(x)
        x = blocks.conv_bn(x, blocks.make_divisible(x.shape[-1] * 6), 1, 1, family.activation, "conv_1")
        x = layers.GlobalAveragePooling2D(keepdims=True, name="global_average_pooling")(x)
        x = layers.Conv2D(family.head_filters, 1, name="conv_2")(x)
        x = blocks.activation(family.activation, f"conv_2_{family.activation}")(x)
        if family.dropout:
            x = layers.Dropout(family.dropout, name="dropout")(x)
        x = layers.Conv2D(classes, 1, name="logits")(x)
        x = layers.Flatten(name="flatten")(x)
        return layers.Activation("softmax", dtype="float32", name="predictions")(x)
