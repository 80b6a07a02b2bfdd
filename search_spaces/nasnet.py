"""The NASNet cell space (Zoph, Vasudevan, Shlens & Le, CVPR 2018), NASNet-A its default.

A network is a stem and a stack of two searched cells: a normal cell, repeated
`cells` (N) times per stage, and a reduction cell of stride 2 between stages,
with keras.applications' NASNet skeleton around them (a 3x3 stride-2 stem
convolution, two reduction cells as the rest of the stem, three stages of N normal
cells at F, 2F and 4F filters, F = `penultimate_filters` / 24, then ReLU, global
pooling and the classifier). `penultimate_filters` and `cells` only set the size,
so a cell searched small builds at ImageNet size ("4 @ 1056" is NASNetMobile).

Each cell has 5 blocks. Its hidden states are h (its input, through ReLU, a 1x1
convolution and batch normalization), p (the previous cell's input, brought to
h's size and F channels: keras.applications' "adjust" block) and the blocks'
outputs x1..x5 so far. A block picks two hidden states, an operation for each
among the paper's 13, and adds or concatenates the two results. In a reduction
cell an operation on h or p has stride 2. The cell's output concatenates every
block output that no later block puts through an operation other than identity,
and, in a normal cell, p: the rule that reproduces NASNet-A as keras.applications
and TF-slim release it (the paper says "unused hidden states", but the released
reduction cell keeps x2, which block 4 passes on by identity, and the normal cell
keeps p).

Decision points, in block order (the normal cell's 5 blocks, then the reduction
cell's), 5 per block: `block{k}_{cell}_input_1`, `..._operation_1`, `..._input_2`,
`..._operation_2`, `..._combine`, so `--decisions=normal_operation` searches the
normal cell's operations alone. 50 decision points; (2*3*4*5*6)^2 * 13^10 * 2^5
(about 2.3e18) networks per cell, about 5.2e36 in all; LayerNAS with H = 10,
k = 1 trains at most 1 + 10 * 2 * (40 + 130 + 10) = 3,601.

The default, NASNet-A at N = 4, F = 1056 (NASNetMobile), at 224x224 with 1000
classes: 563,638,816 MAdds and 5,326,716 parameters, equal to
`keras.applications.NASNetMobile(weights=None)` (the tests pin both and measure
keras again); at 32x32 with 10 classes: 11,459,680 MAdds and 4,280,286 parameters.
Layer names follow keras.applications (`normal_conv_1_0`,
`separable_conv_1_normal_left1_0`, `adjust_conv_projection_1`, `reduction_concat_stem_1`, ...).
"""

from __future__ import annotations

import math
from typing import Optional

from layernas_tf.core.space import Architecture, DecisionPoint
from search_spaces.blocks import BN_EPSILON, BN_MOMENTUM, CountedSpace, Counter

OPERATIONS = (
    "identity", "conv_1x3_3x1", "conv_1x7_7x1", "dilated_conv_3x3", "avg_pool_3x3", "max_pool_3x3", "max_pool_5x5",
    "max_pool_7x7", "conv_1x1", "conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
)
COMBINATIONS = ("add", "concat")
BLOCKS = 5
STEM_FILTERS = 32
# NASNet-A as (input, operation) pairs per block, hidden states numbered h, p, x1, x2, ...
NASNET_A = {
    "normal": (((0, "sep_conv_5x5"), (1, "sep_conv_3x3")), ((1, "sep_conv_5x5"), (1, "sep_conv_3x3")),
               ((0, "avg_pool_3x3"), (1, "identity")), ((1, "avg_pool_3x3"), (1, "avg_pool_3x3")),
               ((0, "sep_conv_3x3"), (0, "identity"))),
    "reduction": (((0, "sep_conv_5x5"), (1, "sep_conv_7x7")), ((0, "max_pool_3x3"), (1, "sep_conv_7x7")),
                  ((0, "avg_pool_3x3"), (1, "sep_conv_5x5")), ((2, "avg_pool_3x3"), (3, "identity")),
                  ((2, "sep_conv_3x3"), (0, "max_pool_3x3"))),
}


def _hidden_states(block: int) -> tuple[str, ...]:
    return ("h", "p") + tuple(f"x{i + 1}" for i in range(block))


def _pad_for_stride_2(size: int, kernel: int) -> tuple[int, int]:
    """keras.applications' `correct_pad`: the zero padding before a stride-2 "valid" window."""
    half = kernel // 2
    return (half - (1 - size % 2), half)


class _Count:
    """Walks a network as shapes, counting MAdds and parameters; the twin of `_Build`."""

    def __init__(self):
        self.counter = Counter()

    @staticmethod
    def shape(x):
        return x

    def image(self, shape):
        return tuple(shape)

    def stem(self, x, filters):
        h, w, c = x
        h, w = (h - 3) // 2 + 1, (w - 3) // 2 + 1
        self.counter.conv(h, w, 3, c, filters, bn=True)
        return h, w, filters

    def conv(self, x, filters, kernel, stride, name, *, relu=True, dilation=1):
        del name, relu
        h, w, c = x
        (kh, kw), out_h, out_w = kernel, math.ceil(h / stride), math.ceil(w / stride)
        at_h, at_w = out_h, out_w
        if dilation > 1:  # at stride 1 (then subsampled), on TensorFlow's space-to-batch grid: sides padded to
            at_h, at_w = (dilation * math.ceil(n / dilation) for n in (h, w))  # a multiple of the dilation
        self.counter.madds += at_h * at_w * kh * kw * c * filters
        self.counter.params += kh * kw * c * filters + 4 * filters
        return out_h, out_w, filters

    def separable(self, x, filters, kernel, stride, tag):
        del tag
        h, w, c = x
        h, w = math.ceil(h / stride), math.ceil(w / stride)
        for c_in in (c, filters):
            self.counter.depthwise(h, w, kernel, c_in, bn=False)
            self.counter.conv(h, w, 1, c_in, filters, bn=True)
        return h, w, filters

    def pool(self, x, kind, kernel, stride, name):
        del kind, kernel, name
        h, w, c = x
        return math.ceil(h / stride), math.ceil(w / stride), c

    def factorized_reduction(self, x, filters, block_id):
        del block_id
        h, w, c = x
        h, w = math.ceil(h / 2), math.ceil(w / 2)
        for _ in range(2):
            self.counter.conv(h, w, 1, c, filters // 2)
        self.counter.params += 4 * filters
        return h, w, filters

    def add(self, xs, name):
        del name
        return xs[0]

    def concat(self, xs, name):
        del name
        return xs[0][0], xs[0][1], sum(x[2] for x in xs)

    def head(self, x, classes):
        self.counter.dense(x[2], classes)


class _Build:
    """Walks a network as Keras tensors, with keras.applications' layers and names."""

    def __init__(self):
        from keras import layers  # pylint: disable=import-outside-toplevel  (no TensorFlow until a network is built)

        self.layers = layers

    @staticmethod
    def shape(x):
        return tuple(x.shape[1:])

    def image(self, shape):
        import keras  # pylint: disable=import-outside-toplevel  (no TensorFlow until a network is built)

        self.inputs = keras.Input(shape=shape, name="image")
        return self.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(self.inputs)

    def _bn(self, x, name):
        return self.layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)

    def stem(self, x, filters):
        x = self.layers.Conv2D(filters, 3, strides=2, padding="valid", use_bias=False, name="stem_conv1")(x)
        return self._bn(x, "stem_bn1")

    def conv(self, x, filters, kernel, stride, name, *, relu=True, dilation=1):
        layers = self.layers
        if relu:
            x = layers.ReLU(name=f"{name}_relu")(x)
        x = layers.Conv2D(filters, kernel, strides=1 if dilation > 1 else stride, dilation_rate=dilation,
                          padding="same", use_bias=False, name=name)(x)
        if dilation > 1 and stride > 1:  # keras refuses strides with dilation: subsample after
            x = layers.AveragePooling2D(1, strides=stride, padding="same", name=f"{name}_subsample")(x)
        return self._bn(x, f"{name}_bn")

    def separable(self, x, filters, kernel, stride, tag):
        layers = self.layers
        x = layers.ReLU(name=f"separable_conv_1_relu_{tag}")(x)
        padding = "same"
        if stride > 1:
            x = layers.ZeroPadding2D((_pad_for_stride_2(x.shape[1], kernel), _pad_for_stride_2(x.shape[2], kernel)),
                                     name=f"separable_conv_1_pad_{tag}")(x)
            padding = "valid"
        x = layers.SeparableConv2D(filters, kernel, strides=stride, padding=padding, use_bias=False,
                                   name=f"separable_conv_1_{tag}")(x)
        x = self._bn(x, f"separable_conv_1_bn_{tag}")
        x = layers.ReLU(name=f"separable_conv_2_relu_{tag}")(x)
        x = layers.SeparableConv2D(filters, kernel, padding="same", use_bias=False, name=f"separable_conv_2_{tag}")(x)
        return self._bn(x, f"separable_conv_2_bn_{tag}")

    def pool(self, x, kind, kernel, stride, name):
        layers = self.layers
        pooling = layers.AveragePooling2D if kind == "avg" else layers.MaxPooling2D
        if stride == 1:
            return pooling(kernel, strides=1, padding="same", name=name)(x)
        x = layers.ZeroPadding2D((_pad_for_stride_2(x.shape[1], kernel), _pad_for_stride_2(x.shape[2], kernel)),
                                 name=f"{name}_pad")(x)
        return pooling(kernel, strides=stride, padding="valid", name=name)(x)

    def factorized_reduction(self, x, filters, block_id):
        layers = self.layers
        x = layers.ReLU(name=f"adjust_relu_1_{block_id}")(x)
        path_1 = layers.AveragePooling2D(1, strides=2, padding="valid", name=f"adjust_avg_pool_1_{block_id}")(x)
        path_1 = layers.Conv2D(filters // 2, 1, padding="same", use_bias=False, name=f"adjust_conv_1_{block_id}")(path_1)
        path_2 = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"adjust_pad_2_{block_id}")(x)
        path_2 = layers.Cropping2D(((1, 0), (1, 0)), name=f"adjust_crop_2_{block_id}")(path_2)
        path_2 = layers.AveragePooling2D(1, strides=2, padding="valid", name=f"adjust_avg_pool_2_{block_id}")(path_2)
        path_2 = layers.Conv2D(filters // 2, 1, padding="same", use_bias=False, name=f"adjust_conv_2_{block_id}")(path_2)
        x = layers.Concatenate(name=f"adjust_concat_{block_id}")([path_1, path_2])
        return self._bn(x, f"adjust_bn_{block_id}")

    def add(self, xs, name):
        return self.layers.Add(name=name)(xs)

    def concat(self, xs, name):
        return self.layers.Concatenate(name=name)(xs)

    def head(self, x, classes):
        import keras  # pylint: disable=import-outside-toplevel  (no TensorFlow until a network is built)

        layers = self.layers
        x = layers.ReLU(name="head_relu")(x)
        x = layers.GlobalAveragePooling2D(name="global_average_pooling")(x)
        outputs = layers.Dense(classes, activation="softmax", dtype="float32", name="predictions")(x)
        return keras.Model(self.inputs, outputs, name="nasnet")


class NASNetSpace(CountedSpace):
    """The NASNet cell space; the cost is MAdds at the space's input size.

    Args:
      cells: N, normal cells per stage (NASNetMobile: 4).
      penultimate_filters: channels before the classifier in NASNet-A (NASNetMobile:
        1056); a multiple of 96, so that every stage's filters divide as keras's do.
    """

    name = "nasnet"

    def __init__(self, cells: int = 4, penultimate_filters: int = 1056, input_shape=(224, 224, 3),
                 num_classes: int = 1000):
        if isinstance(cells, bool) or not isinstance(cells, int) or cells < 1:
            raise ValueError(f"nasnet: cells (N) must be a positive integer, got {cells!r}")
        if isinstance(penultimate_filters, bool) or not isinstance(penultimate_filters, int) \
                or penultimate_filters < 96 or penultimate_filters % 96:
            raise ValueError(f"nasnet: penultimate_filters must be a positive multiple of 96 (NASNetMobile: 1056), "
                             f"got {penultimate_filters!r}")
        self.cells, self.penultimate_filters = cells, penultimate_filters
        points = []
        for cell in ("normal", "reduction"):
            for b, pair in enumerate(NASNET_A[cell]):
                k = len(points) // 5 + 1
                for side, (state, operation) in enumerate(pair, start=1):
                    points.append(DecisionPoint(f"block{k}_{cell}_input_{side}", _hidden_states(b), default=state))
                    points.append(DecisionPoint(f"block{k}_{cell}_operation_{side}", OPERATIONS,
                                                default=OPERATIONS.index(operation)))
                points.append(DecisionPoint(f"block{k}_{cell}_combine", COMBINATIONS, default=0))
        super().__init__(points)
        self.input_shape, self.num_classes = self._check(input_shape, num_classes)

    def cell(self, arch: Architecture, kind: str) -> list[dict]:
        """One cell's blocks resolved: `inputs` (hidden-state indices), `operations`, `combine`."""
        values = list(self.values(arch))
        start = 0 if kind == "normal" else 5 * BLOCKS
        out = []
        for b in range(BLOCKS):
            in_1, op_1, in_2, op_2, combine = values[start + 5 * b: start + 5 * b + 5]
            states = _hidden_states(b)
            out.append({"inputs": (states.index(in_1), states.index(in_2)), "operations": (op_1, op_2),
                        "combine": combine})
        return out

    @staticmethod
    def _kept(blocks: list[dict], kind: str) -> list[int]:
        """Hidden states the cell's output concatenates (see the module docstring)."""
        transformed = {i for block in blocks for i, op in zip(block["inputs"], block["operations"])
                       if op != "identity"}
        return ([1] if kind == "normal" else []) + [2 + b for b in range(BLOCKS) if 2 + b not in transformed]

    def _walk(self, net, arch: Architecture, input_shape, num_classes):
        (height, width, channels), classes = self._resolve(input_shape, num_classes)
        normal, reduction = self.cell(arch, "normal"), self.cell(arch, "reduction")
        filters = self.penultimate_filters // 24
        x = net.stem(net.image((height, width, channels)), STEM_FILTERS)
        p = None
        x, p = self._cell(net, reduction, "reduction", x, p, filters // 4, "stem_1")
        x, p = self._cell(net, reduction, "reduction", x, p, filters // 2, "stem_2")
        n = self.cells
        for stage in range(3):
            if stage:
                x, p = self._cell(net, reduction, "reduction", x, p, filters * 2**stage, f"reduce_{n * stage}")
            for i in range(n):
                cell_id = n * stage + i + (1 if stage else 0)  # keras.applications' numbering
                x, p = self._cell(net, normal, "normal", x, p, filters * 2**stage, f"{cell_id}")
        return net.head(x, classes)

    @staticmethod
    def _cell(net, blocks, kind, ip, p, filters, block_id):
        """One cell on input `ip` and the previous cell's input `p`: returns (output, ip)."""
        shape = net.shape(ip)
        if p is None:
            p = ip
        elif net.shape(p)[1] != shape[1]:
            p = net.factorized_reduction(p, filters, block_id)
        elif net.shape(p)[2] != filters:
            p = net.conv(p, filters, (1, 1), 1, f"adjust_conv_projection_{block_id}")
        h = net.conv(ip, filters, (1, 1), 1, f"{kind}_conv_1_{block_id}")
        states = [h, p]
        for b, block in enumerate(blocks, start=1):
            results = []
            for side, state, operation in zip(("left", "right"), block["inputs"], block["operations"]):
                stride = 2 if kind == "reduction" and state < 2 else 1
                results.append(_operation(net, states[state], operation, filters, stride,
                                          f"{kind}_{side}{b}_{block_id}"))
            combine = net.add if block["combine"] == "add" else net.concat
            states.append(combine(results, f"{kind}_{block['combine']}_{b}_{block_id}"))
        kept = [states[i] for i in NASNetSpace._kept(blocks, kind)]
        out = kept[0] if len(kept) == 1 else net.concat(kept, f"{kind}_concat_{block_id}")
        return out, ip

    def _count(self, arch: Architecture, input_shape, num_classes) -> Counter:
        net = _Count()
        self._walk(net, arch, input_shape, num_classes)
        return net.counter

    def build(self, arch: Architecture, input_shape=None, num_classes: Optional[int] = None):
        """The Keras model of `arch`; it takes RGB pixels in [0, 255] and outputs class probabilities."""
        return self._walk(_Build(), arch, input_shape, num_classes)


def _operation(net, x, operation: str, filters: int, stride: int, tag: str):
    """One of the 13 operations, `filters` channels out; pools and identity project when channels differ."""
    channels = net.shape(x)[2]
    if operation == "identity":
        if stride == 1 and channels == filters:
            return x
        return net.conv(x, filters, (1, 1), stride, f"{tag}_projection")
    if operation.startswith("sep_conv"):
        return net.separable(x, filters, int(operation[-1]), stride, tag)
    if "pool" in operation:
        x = net.pool(x, operation[:3], int(operation[-1]), stride, tag)
        return x if channels == filters else net.conv(x, filters, (1, 1), 1, f"{tag}_projection", relu=False)
    if operation == "dilated_conv_3x3":
        return net.conv(x, filters, (3, 3), stride, f"{tag}_conv", dilation=2)
    if operation in ("conv_1x3_3x1", "conv_1x7_7x1"):
        k = int(operation[-1])
        x = net.conv(x, filters, (1, k), stride, f"{tag}_conv_1")
        return net.conv(x, filters, (k, 1), 1, f"{tag}_conv_2")
    k = int(operation[-1])  # conv_1x1, conv_3x3
    return net.conv(x, filters, (k, k), stride, f"{tag}_conv")
