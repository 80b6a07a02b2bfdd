"""Search algorithms behind one ask/tell contract; pure Python, no TensorFlow.

The RNN controller alone imports Keras, when one is made (`controller.py`).

`create(name, space, target, **settings)` builds one by name, which is how the
command-line tools pick them.
"""

from layernas_tf.algorithms.base import COMPLETE, FAILED, PENDING, Algorithm, Target, Trial
from layernas_tf.algorithms.controller import Controller
from layernas_tf.algorithms.evolution import RegularizedEvolution
from layernas_tf.algorithms.layernas import LayerNAS
from layernas_tf.algorithms.layernas_plus import LayerNASPlus
from layernas_tf.algorithms.random_search import RandomSearch
from layernas_tf.algorithms.reinforce import Reinforce

ALGORITHMS = {cls.name: cls for cls in (LayerNAS, LayerNASPlus, RandomSearch, RegularizedEvolution, Reinforce, Controller)}
# Names as people write them, for headers and plots.
TITLES = {"layernas": "LayerNAS", "layernas_plus": "LayerNAS+", "random": "random search", "evolution": "regularized evolution",
          "reinforce": "REINFORCE", "controller": "RNN controller"}
# What `main` searches with unless `--algorithm` says otherwise: LayerNAS as the paper describes it.
DEFAULT = "layernas"


def names() -> list[str]:
    return list(ALGORITHMS)


def create(name: str, space, target, **settings) -> Algorithm:
    """Builds the algorithm called `name` (one of `names()`)."""
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; valid: {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name](space, target, **settings)


__all__ = [
    "ALGORITHMS", "COMPLETE", "Controller", "DEFAULT", "FAILED", "PENDING", "TITLES", "Algorithm", "LayerNAS", "LayerNASPlus", "RandomSearch",
    "RegularizedEvolution", "Reinforce", "Target", "Trial", "create", "names",
]
