"""MobileNetV2 and MobileNetV2-1.4x search spaces (`mbv2`, `mbv2_140`).

Reference network (Sandler et al., 2018; keras.applications.MobileNetV2): stem
conv 3x3/2 to 32 channels (48 at 1.4x), ReLU6 everywhere, 17 bottlenecks, head
conv 1x1 to 1280 (1792 at 1.4x), global pool, dense classifier.

    expansion, filters, kernel, stride, se, activation      (alpha 1.0)
    1,  16,  3, 1, no, relu6       stage 0
    6,  24,  3, 2, no, relu6       stage 1 (x2)
    6,  32,  3, 2, no, relu6       stage 2 (x3)
    6,  64,  3, 2, no, relu6       stage 3 (x4)
    6,  96,  3, 1, no, relu6       stage 4 (x3)
    6, 160,  3, 2, no, relu6       stage 5 (x3)
    6, 320,  3, 1, no, relu6       stage 6

At 224x224 with 1000 classes the reference costs 300,774,272 MAdds and 3,538,984
parameters (582,195,824 and 6,156,712 at 1.4x), exactly keras.applications'.

Decision points (see `mobilenet.py` for their order): per stage its width
(0.5, 0.75, 1.0, 1.25, 1.5 x reference); per bottleneck its kernel (3, 5, 7), its
expansion ({1,} 3, 4, 6), squeeze-and-excite off/on (the paper's searched models use
SE); per non-first bottleneck of a stage, skip or keep.

- `mbv2`: 68 decision points, 2.33e+29 architectures; LayerNAS with H = 10, k = 1
  trains at most 1 + 10 * 192 = 1,921 of them.
- `mbv2_140`: the same decision points over the 1.4x-wide reference: 68 decision
  points, 2.33e+29 architectures; LayerNAS with H = 10, k = 1 trains at most
  1 + 10 * 192 = 1,921 of them.
"""

from search_spaces import blocks
from search_spaces.mobilenet import Family, MobileNetSpace, Row

# expansion, filters, kernel, stride, se, activation
_TABLE = (
    (1, 16, 3, 1, False, "relu6"),
    (6, 24, 3, 2, False, "relu6"),
    (6, 24, 3, 1, False, "relu6"),
    (6, 32, 3, 2, False, "relu6"),
    (6, 32, 3, 1, False, "relu6"),
    (6, 32, 3, 1, False, "relu6"),
    (6, 64, 3, 2, False, "relu6"),
    (6, 64, 3, 1, False, "relu6"),
    (6, 64, 3, 1, False, "relu6"),
    (6, 64, 3, 1, False, "relu6"),
    (6, 96, 3, 1, False, "relu6"),
    (6, 96, 3, 1, False, "relu6"),
    (6, 96, 3, 1, False, "relu6"),
    (6, 160, 3, 2, False, "relu6"),
    (6, 160, 3, 1, False, "relu6"),
    (6, 160, 3, 1, False, "relu6"),
    (6, 320, 3, 1, False, "relu6"),
)


def family(name: str, alpha: float) -> Family:
    """MobileNetV2 at width multiplier `alpha`, rounded as keras.applications rounds it."""
    rows = tuple(
        Row(e, blocks.make_divisible(int(f * alpha)), k, s, se, act) for e, f, k, s, se, act in _TABLE
    )
    return Family(
        name=name,
        rows=rows,
        stem_filters=blocks.make_divisible(32 * alpha),
        activation="relu6",
        head="v2",
        head_filters=blocks.make_divisible(1280 * alpha) if alpha > 1.0 else 1280,
        round_expansion=False,
        search_activation=False,
    )


def mbv2(input_shape=(224, 224, 3), num_classes=1000) -> MobileNetSpace:
    return MobileNetSpace(family("mbv2", 1.0), input_shape, num_classes)


def mbv2_140(input_shape=(224, 224, 3), num_classes=1000) -> MobileNetSpace:
    return MobileNetSpace(family("mbv2_140", 1.4), input_shape, num_classes)
