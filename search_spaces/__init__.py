"""Search spaces by name: what `--space` selects.

    import search_spaces
    space = search_spaces.get("mbv3_large")      # or get("mbv3_large", input_shape=(32, 32, 3), num_classes=10)

Spaces load lazily, so the NATS-Bench space and the algorithms run without
importing TensorFlow; the MobileNet spaces import Keras when first asked for.
"""

import importlib

# name -> (module, factory)
_REGISTRY = {
    "mbv2": ("search_spaces.mobilenet_v2", "mbv2"),
    "mbv2_140": ("search_spaces.mobilenet_v2", "mbv2_140"),
    "mbv3_large": ("search_spaces.mobilenet_v3", "mbv3_large"),
    "mbv3_small": ("search_spaces.mobilenet_v3", "mbv3_small"),
    "nasnet": ("search_spaces.nasnet", "NASNetSpace"),
    "nats_sss": ("search_spaces.nats_sss", "NATSSizeSpace"),
    "tiny_cnn": ("search_spaces.tiny_cnn", "TinyCNNSpace"),
    "zoph_le": ("search_spaces.zoph_le", "ZophLeSpace"),
}
MOBILENETS = ("mbv2", "mbv2_140", "mbv3_large", "mbv3_small")


def names() -> list[str]:
    """Registered space names, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **kwargs):
    """The space called `name`; unknown names raise ValueError listing the valid ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown search space {name!r}; valid: {', '.join(names())}")
    module, factory = _REGISTRY[name]
    return getattr(importlib.import_module(module), factory)(**kwargs)
