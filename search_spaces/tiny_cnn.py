"""A small plain CNN whose 243 networks this machine trains whole: the space of our own real-training table.

NATS-Bench and NAS-Bench-Macro let a search be measured in seconds, but they were
trained by others on GPUs. This space is small enough that every network trains
on two CPU cores in minutes, on `noisy_digits` (16x16, `training/data.py`), yet its
networks differ enough in accuracy that seeds agree on their order
(`experiments/real_table.py` builds the table and prints how far).

The network, for a 16x16 RGB input: five Conv-BN-ReLU layers and a classifier.

    layer        kernel  stride  output   widths (decision point)
    conv1        3x3     1       16x16    2, 4, 8
    conv2        3x3     2       8x8      4, 8, 16
    conv3        3x3     1       8x8      4, 8, 16
    conv4        3x3     2       4x4      8, 16, 32
    conv5        1x1     1       4x4      8, 16, 32
    global average pool, Dense(classes, softmax)

The widths are narrow on purpose: a layer of 2 or 4 channels is a bottleneck that
costs accuracy, so the networks spread over 0.65-0.86 validation top-1 (measured on
a pilot of 10 networks, 12 epochs, two seeds: Spearman 0.84 between the seeds).
3^5 = 243 architectures; the default is the widest everywhere (the most
expensive network, where LayerNAS starts). LayerNAS with H buckets trains at most
1 + 5 * 3 * H networks of it (31 for H = 2, 46 for H = 3).

Cost: MAdds of the convolutions and the classifier's matrix product (biases and
BatchNorm not counted), exactly what graph profiling of `build` counts.
"""

from __future__ import annotations

from typing import Optional, Sequence

from layernas_tf.core.space import Architecture, DecisionPoint, SearchSpace

# (name, kernel, stride, widths)
LAYERS = (
    ("conv1", 3, 1, (2, 4, 8)),
    ("conv2", 3, 2, (4, 8, 16)),
    ("conv3", 3, 1, (4, 8, 16)),
    ("conv4", 3, 2, (8, 16, 32)),
    ("conv5", 1, 1, (8, 16, 32)),
)
DEFAULT_SIZE = 16
DEFAULT_CLASSES = 10
BN_MOMENTUM = 0.9


class TinyCNNSpace(SearchSpace):
    """Five convolution widths of a plain CNN; MAdds and parameters counted exactly."""

    name = "tiny_cnn"

    def __init__(self, input_shape: Optional[Sequence[int]] = None, num_classes: Optional[int] = None):
        super().__init__([DecisionPoint(f"{name}_width", widths, default=len(widths) - 1)
                          for name, _, _, widths in LAYERS])
        self.input_shape, self.num_classes = input_shape, num_classes
        self._shape(input_shape, num_classes)

    def _shape(self, input_shape, num_classes) -> tuple[int, int, int]:
        input_shape = self.input_shape if input_shape is None else input_shape
        num_classes = self.num_classes if num_classes is None else num_classes
        size, channels = DEFAULT_SIZE, 3
        if input_shape is not None:
            if len(input_shape) != 3 or input_shape[0] != input_shape[1]:
                raise ValueError(f"input_shape must be (size, size, channels), got {tuple(input_shape)}")
            size, channels = int(input_shape[0]), int(input_shape[2])
        if size < 4 or size % 4:
            raise ValueError(f"input size must be a positive multiple of 4 (two stride-2 layers), got {size}")
        classes = DEFAULT_CLASSES if num_classes is None else int(num_classes)
        if classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {classes}")
        return size, channels, classes

    def widths(self, arch: Architecture) -> tuple[int, ...]:
        return self.values(arch)

    def madds(self, arch: Architecture, input_shape=None, num_classes=None) -> int:
        """Multiply-adds of one image's forward pass: convolutions and the classifier's matrix product."""
        size, c_in, classes = self._shape(input_shape, num_classes)
        total = 0
        for (_, kernel, stride, _), width in zip(LAYERS, self.widths(arch)):
            size //= stride
            total += size * size * kernel * kernel * c_in * width
            c_in = width
        return total + c_in * classes

    def params(self, arch: Architecture, input_shape=None, num_classes=None) -> int:
        """Parameters as Keras counts them (`count_params`): convolution kernels (no bias), BatchNorm's four per
        channel (scale, shift and the two moving statistics), the classifier's weights and bias."""
        _, c_in, classes = self._shape(input_shape, num_classes)
        total = 0
        for (_, kernel, _, _), width in zip(LAYERS, self.widths(arch)):
            total += kernel * kernel * c_in * width + 4 * width
            c_in = width
        return total + c_in * classes + classes

    def cost(self, arch: Architecture) -> int:
        return self.madds(arch)

    def build(self, arch: Architecture, input_shape=None, num_classes=None):
        """The Keras model of `arch`: pixels in [0, 255] in, class probabilities out."""
        import keras  # pylint: disable=import-outside-toplevel  (no TensorFlow until a network is built)
        from keras import layers  # pylint: disable=import-outside-toplevel

        size, channels, classes = self._shape(input_shape, num_classes)
        inputs = keras.Input(shape=(size, size, channels), name="image")
        x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(inputs)
        for (name, kernel, stride, _), width in zip(LAYERS, self.widths(arch)):
            x = layers.Conv2D(width, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
            x = layers.ReLU(name=f"{name}_relu")(x)
        x = layers.GlobalAveragePooling2D(name="global_average_pooling")(x)
        outputs = layers.Dense(classes, activation="softmax", dtype="float32", name="predictions")(x)
        return keras.Model(inputs, outputs, name=self.name)
