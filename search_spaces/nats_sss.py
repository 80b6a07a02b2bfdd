"""The NATS-Bench size search space (SSS), its exact MAdds,.

NATS-Bench (Dong et al., TPAMI 2021) trained every network of this space, so a
search run against its table measures the search algorithm alone, in seconds; the
tables' readers are benchmark data and live in `experiments/tables.py`.
The network (xautodl `DynamicShapeTinyNet`) is a 3x3 conv stem to C1, then
cell(C1->C1), ResNet block stride 2 (C1->C2), cell(C2->C3), ResNet block stride 2
(C3->C4), cell(C4->C5), BN-ReLU, global average pool and a linear classifier. The
cell is fixed:

    node1 = conv(node0); node2 = conv(node0) + conv(node1);
    node3 = skip(node0) + conv(node1) + conv(node2)

with conv = ReLU-Conv3x3-BN and skip a 1x1 conv when the widths differ. The ResNet
block is ReLU-Conv3x3(stride 2)-BN, ReLU-Conv3x3-BN plus a 2x2 average pool and
1x1 conv shortcut.

Decision points: 5 layers, the widths C1..C5, each from {8, 16, ..., 64}: 8^5 =
32,768 architectures. The default is 64 everywhere, the most expensive network, as
the LayerNAS paper starts from. LayerNAS with H buckets and k per bucket trains at
most 1 + 5 * 8 * k * H networks (401 for H = 10, k = 1).

Cost: MAdds of convolutions and the classifier (its bias included), counted the
way NATS-Bench's `flops_m` counts them; they agree exactly for every record.
`build` gives the same network in Keras, so the MobileNet spaces' cost path
(graph profiling) serves this space too.
"""

from __future__ import annotations

from typing import Optional, Sequence

from layernas_tf.core.space import Architecture, DecisionPoint, SearchSpace

CHANNELS = (8, 16, 24, 32, 40, 48, 56, 64)
NUM_LAYERS = 5
# PyTorch's BatchNorm default (momentum 0.1 there), as NATS-Bench trained with.
BN_MOMENTUM = 0.9
# dataset -> (input size, classes), as NATS-Bench trains them.
DATASETS = {"cifar10": (32, 10), "cifar100": (32, 100), "ImageNet16-120": (16, 120)}


def check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown NATS-Bench dataset {dataset!r}; valid: {', '.join(DATASETS)}")


class NATSSizeSpace(SearchSpace):
    """The NATS-Bench size space with MAdds for one dataset's input size and classes."""

    name = "nats_sss"

    def __init__(self, dataset: str = "cifar10", input_shape=None, num_classes: Optional[int] = None):
        """`input_shape` and `num_classes` override the dataset's for `cost` and `build`."""
        check_dataset(dataset)
        self.dataset = dataset
        super().__init__(
            [DecisionPoint(f"channels_{i + 1}", CHANNELS, default=len(CHANNELS) - 1) for i in range(NUM_LAYERS)]
        )
        self.input_shape, self.num_classes = input_shape, num_classes
        self._shape(input_shape, num_classes)

    # -- the official naming -------------------------------------------------------

    def channels(self, arch: Architecture) -> tuple[int, ...]:
        return self.values(arch)

    def channel_string(self, arch: Architecture) -> str:
        """The official `C1:C2:C3:C4:C5` name, e.g. `8:8:8:16:32`."""
        return ":".join(str(c) for c in self.channels(arch))

    def from_channels(self, text: str) -> Architecture:
        """Parses the official channel string (`8:8:8:16:32`)."""
        try:
            return self.validate([CHANNELS.index(int(c)) for c in text.split(":")])
        except ValueError:
            raise ValueError(
                f"{text!r} is not a NATS-Bench size-space network: need {NUM_LAYERS} widths from {CHANNELS}"
            ) from None

    def index(self, arch: Architecture) -> int:
        """The official NATS-Bench index (mixed radix, last layer fastest)."""
        self.validate(arch)
        index = 0
        for i in arch:
            index = index * len(CHANNELS) + i
        return index

    def from_index(self, index: int) -> Architecture:
        if not 0 <= index < self.size:
            raise ValueError(f"NATS-Bench size-space index must be in 0..{self.size - 1}, got {index}")
        indices = []
        for _ in range(NUM_LAYERS):
            index, i = divmod(index, len(CHANNELS))
            indices.append(i)
        return Architecture(reversed(indices))

    # -- cost --------------------------------------------------------------------

    def _shape(self, input_shape: Optional[Sequence[int]], num_classes: Optional[int]) -> tuple[int, int]:
        size, classes = DATASETS[self.dataset]
        input_shape = self.input_shape if input_shape is None else input_shape
        num_classes = self.num_classes if num_classes is None else num_classes
        if input_shape is not None:
            if len(input_shape) != 3 or input_shape[0] != input_shape[1] or input_shape[2] != 3:
                raise ValueError(f"input_shape must be (size, size, 3), got {tuple(input_shape)}")
            size = input_shape[0]
        if size < 4 or size % 4:
            raise ValueError(f"input size must be a positive multiple of 4 (two stride-2 blocks), got {size}")
        if num_classes is not None:
            if num_classes < 1:
                raise ValueError(f"num_classes must be >= 1, got {num_classes}")
            classes = num_classes
        return size, classes

    def madds(self, arch: Architecture, input_shape=None, num_classes=None) -> int:
        """Multiply-adds of one image's forward pass (convolutions and classifier)."""
        size, classes = self._shape(input_shape, num_classes)
        c1, c2, c3, c4, c5 = self.channels(arch)

        def cell(hw, c_in, c_out):
            skip = c_in * c_out if c_in != c_out else 0
            return hw * (9 * (2 * c_in * c_out + 3 * c_out * c_out) + skip)

        def resnet_block(hw, c_in, c_out):
            return hw * (9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out)

        hw = size * size
        total = hw * 27 * c1 + cell(hw, c1, c1)
        total += resnet_block(hw // 4, c1, c2) + cell(hw // 4, c2, c3)
        total += resnet_block(hw // 16, c3, c4) + cell(hw // 16, c4, c5)
        return total + c5 * classes + classes

    def params(self, arch: Architecture, input_shape=None, num_classes=None) -> int:
        """Trainable parameters (convolutions, BatchNorm scale and shift, classifier)."""
        _, classes = self._shape(input_shape, num_classes)
        c1, c2, c3, c4, c5 = self.channels(arch)

        def cell(c_in, c_out):
            convs = 9 * (2 * c_in * c_out + 3 * c_out * c_out) + 5 * 2 * c_out
            return convs + (c_in * c_out + 2 * c_out if c_in != c_out else 0)

        def resnet_block(c_in, c_out):
            return 9 * c_in * c_out + 9 * c_out * c_out + 4 * c_out + c_in * c_out

        total = 27 * c1 + 2 * c1 + cell(c1, c1) + resnet_block(c1, c2) + cell(c2, c3)
        total += resnet_block(c3, c4) + cell(c4, c5) + 2 * c5
        return total + c5 * classes + classes

    def cost(self, arch: Architecture) -> int:
        return self.madds(arch)

    def build(self, arch: Architecture, input_shape=None, num_classes=None):
        """The Keras model of `arch`; it takes RGB pixels in [0, 255] and outputs class probabilities.

        Graph profiling of it counts `madds(...)` less the classifier's bias adds, and its
        trainable weights number exactly `params(...)`.
        """
        import keras  # pylint: disable=import-outside-toplevel  (no TensorFlow until a network is built)
        from keras import layers  # pylint: disable=import-outside-toplevel  (no TensorFlow until a network is built)

        size, classes = self._shape(input_shape, num_classes)
        c1, c2, c3, c4, c5 = self.channels(arch)

        def relu_conv_bn(x, c_out, kernel, stride, name):
            x = layers.ReLU(name=f"{name}_relu")(x)
            x = layers.Conv2D(c_out, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
            return layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)

        def cell(x, c_out, name):
            node1 = relu_conv_bn(x, c_out, 3, 1, f"{name}_node1_conv0")
            node2 = layers.Add(name=f"{name}_node2")(
                [relu_conv_bn(x, c_out, 3, 1, f"{name}_node2_conv0"), relu_conv_bn(node1, c_out, 3, 1, f"{name}_node2_conv1")]
            )
            skip = x if x.shape[-1] == c_out else relu_conv_bn(x, c_out, 1, 1, f"{name}_node3_skip0")
            return layers.Add(name=f"{name}_node3")(
                [skip, relu_conv_bn(node1, c_out, 3, 1, f"{name}_node3_conv1"),
                 relu_conv_bn(node2, c_out, 3, 1, f"{name}_node3_conv2")]
            )

        def resnet_block(x, c_out, name):
            residual = relu_conv_bn(x, c_out, 3, 2, f"{name}_conv_a")
            residual = relu_conv_bn(residual, c_out, 3, 1, f"{name}_conv_b")
            shortcut = layers.AveragePooling2D(2, name=f"{name}_shortcut_pool")(x)
            shortcut = layers.Conv2D(c_out, 1, use_bias=False, name=f"{name}_shortcut_conv")(shortcut)
            return layers.Add(name=f"{name}_add")([residual, shortcut])

        inputs = keras.Input(shape=(size, size, 3), name="image")
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(inputs)
        x = layers.Conv2D(c1, 3, padding="same", use_bias=False, name="stem")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
        x = cell(x, c1, "cell0")
        x = resnet_block(x, c2, "cell1")
        x = cell(x, c3, "cell2")
        x = resnet_block(x, c4, "cell3")
        x = cell(x, c5, "cell4")
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="lastact_bn")(x)
        x = layers.ReLU(name="lastact_relu")(x)
        x = layers.GlobalAveragePooling2D(name="global_average_pooling")(x)
        outputs = layers.Dense(classes, activation="softmax", dtype="float32", name="predictions")(x)
        return keras.Model(inputs, outputs, name=self.name)
