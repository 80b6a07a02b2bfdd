"""Search algorithms behind one ask/tell contract; pure Python, no TensorFlow.

The RNN controller alone imports Keras, when one is made (`controller.py`).

`create(name, space, target, **settings)` builds one by name, which is how the
command-line tools pick them.
"""

from typing import Optional

from layernas_tf.algorithms.base import Algorithm, Target, Trial
from layernas_tf.core.status import COMPLETE, FAILED, PENDING
from layernas_tf.algorithms.controller import Controller
from layernas_tf.algorithms.evolution import RegularizedEvolution
from layernas_tf.algorithms.layernas import LayerNAS
from layernas_tf.algorithms.layernas_plus import LayerNASPlus
from layernas_tf.algorithms.listed import Listed
from layernas_tf.algorithms.random_search import RandomSearch
from layernas_tf.algorithms.reinforce import Reinforce

ALGORITHMS = {cls.name: cls
              for cls in (LayerNAS, LayerNASPlus, RandomSearch, RegularizedEvolution, Reinforce, Controller)}
# Names as people write them, for headers and plots.
TITLES = {"layernas": "LayerNAS", "layernas_plus": "LayerNAS+", "random": "random search",
          "evolution": "regularized evolution", "reinforce": "REINFORCE", "controller": "RNN controller"}
# What `main` and the comparisons search with unless told otherwise: LayerNAS with a reward model
# (docs/algorithm.md); "layernas" is the paper's, for reproduction.
DEFAULT = "layernas_plus"


def names() -> list[str]:
    return list(ALGORITHMS)


def layerwise(name: str) -> bool:
    """Whether algorithm `name` searches layer by layer, so ends by itself and takes H and k."""
    return issubclass(ALGORITHMS[name], LayerNAS)


def create(name: str, space, target, *, saved: Optional[dict] = None, **settings) -> Algorithm:
    """Builds the algorithm called `name` (one of `names()`).

    `saved`: the `config()` of a saved search of it being resumed, if any. Its `tuned`
    settings (those no flag sets) are taken from it, so that a search begun under
    earlier defaults resumes as it began instead of being refused as another search.
    """
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; valid: {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    if saved and saved.get("algorithm") == name:
        settings = {**{k: saved[k] for k in cls.tuned if k in saved}, **settings}
    return cls(space, target, **settings)


__all__ = [
    "ALGORITHMS", "COMPLETE", "Controller", "DEFAULT", "FAILED", "PENDING", "TITLES", "Algorithm", "LayerNAS",
    "LayerNASPlus", "Listed", "RandomSearch", "RegularizedEvolution", "Reinforce", "Target", "Trial", "create", "layerwise",
    "names",
]
