"""Search spaces by name: what `--space` selects.

    import search_spaces
    space = search_spaces.get("nats_sss")
"""

from search_spaces.nats_bench import NATSSizeSpace

_REGISTRY = {"nats_sss": NATSSizeSpace}


def names() -> list[str]:
    """Registered space names, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **kwargs):
    """The space called `name`; unknown names raise ValueError listing the valid ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown search space {name!r}; valid: {', '.join(names())}")
    return _REGISTRY[name](**kwargs)
