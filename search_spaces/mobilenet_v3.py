"""MobileNetV3-Small and MobileNetV3-Large search spaces (`mbv3_small`, `mbv3_large`).

Reference networks (Howard et al., 2019; keras.applications.MobileNetV3Small/Large):
stem conv 3x3/2 to 16 channels with hard-swish; bottlenecks as below; head conv 1x1
to 6x the last width, global pool, conv 1x1 to 1024 (Small) or 1280 (Large),
dropout 0.2, conv 1x1 logits. Expanded widths round to multiples of 8.

    mbv3_large: expansion, filters, kernel, stride, se, activation
    1,   16, 3, 1, no,  relu          stage 0
    4,   24, 3, 2, no,  relu          stage 1
    3,   24, 3, 1, no,  relu
    3,   40, 5, 2, yes, relu          stage 2 (x3)
    6,   80, 3, 2, no,  hard_swish    stage 3, then 2.5, 2.3, 2.3
    6,  112, 3, 1, yes, hard_swish    stage 4 (x2)
    6,  160, 5, 2, yes, hard_swish    stage 5 (x3)

    mbv3_small: expansion, filters, kernel, stride, se, activation
    1,     16, 3, 2, yes, relu        stage 0
    4.5,   24, 3, 2, no,  relu        stage 1, then 88/24
    4,     40, 5, 2, yes, hard_swish  stage 2, then 6, 6
    3,     48, 5, 1, yes, hard_swish  stage 3 (x2)
    6,     96, 5, 2, yes, hard_swish  stage 4 (x3)

At 224x224 with 1000 classes the references cost 216,589,760 MAdds and 5,507,432
parameters (Large) and 56,510,400 and 2,554,968 (Small), exactly keras.applications'.

Decision points (see `mobilenet.py` for their order): per stage its width
(0.5, 0.75, 1.0, 1.25, 1.5 x reference) and its activation (ReLU or hard-swish);
per bottleneck its kernel (3, 5, 7), its expansion (the reference's plus 3, 4, 6),
squeeze-and-excite off/on; per non-first bottleneck of a stage, skip or keep.

- `mbv3_large`: 66 decision points, 1.09e+28 architectures; LayerNAS with H = 10,
  k = 1 trains at most 1 + 10 * 184 = 1,841 of them.
- `mbv3_small`: 49 decision points, 9.75e+20 architectures; LayerNAS with H = 10,
  k = 1 trains at most 1 + 10 * 138 = 1,381 of them.
"""

from search_spaces.mobilenet import Family, MobileNetSpace, Row

# expansion, filters, kernel, stride, se, activation
_LARGE = (
    (1, 16, 3, 1, False, "relu"),
    (4, 24, 3, 2, False, "relu"),
    (3, 24, 3, 1, False, "relu"),
    (3, 40, 5, 2, True, "relu"),
    (3, 40, 5, 1, True, "relu"),
    (3, 40, 5, 1, True, "relu"),
    (6, 80, 3, 2, False, "hard_swish"),
    (2.5, 80, 3, 1, False, "hard_swish"),
    (2.3, 80, 3, 1, False, "hard_swish"),
    (2.3, 80, 3, 1, False, "hard_swish"),
    (6, 112, 3, 1, True, "hard_swish"),
    (6, 112, 3, 1, True, "hard_swish"),
    (6, 160, 5, 2, True, "hard_swish"),
    (6, 160, 5, 1, True, "hard_swish"),
    (6, 160, 5, 1, True, "hard_swish"),
)

_SMALL = (
    (1, 16, 3, 2, True, "relu"),
    (72.0 / 16, 24, 3, 2, False, "relu"),
    (88.0 / 24, 24, 3, 1, False, "relu"),
    (4, 40, 5, 2, True, "hard_swish"),
    (6, 40, 5, 1, True, "hard_swish"),
    (6, 40, 5, 1, True, "hard_swish"),
    (3, 48, 5, 1, True, "hard_swish"),
    (3, 48, 5, 1, True, "hard_swish"),
    (6, 96, 5, 2, True, "hard_swish"),
    (6, 96, 5, 1, True, "hard_swish"),
    (6, 96, 5, 1, True, "hard_swish"),
)


def _family(name, table, head_filters) -> Family:
    return Family(
        name=name,
        rows=tuple(Row(*row) for row in table),
        stem_filters=16,
        activation="hard_swish",
        head="v3",
        head_filters=head_filters,
        round_expansion=True,
        search_activation=True,
        dropout=0.2,
    )


def mbv3_large(input_shape=(224, 224, 3), num_classes=1000) -> MobileNetSpace:
    return MobileNetSpace(_family("mbv3_large", _LARGE, 1280), input_shape, num_classes)


def mbv3_small(input_shape=(224, 224, 3), num_classes=1000) -> MobileNetSpace:
    return MobileNetSpace(_family("mbv3_small", _SMALL, 1024), input_shape, num_classes)
