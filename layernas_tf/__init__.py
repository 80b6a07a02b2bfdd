"""layernas_tf: LayerNAS, multi-trial neural architecture search under a cost budget.

Importing this package loads no TensorFlow: the search-space contract and the
algorithms are pure Python, so searches against benchmark tables run in seconds.
"""

from layernas_tf.space import Architecture, DecisionPoint, SearchSpace

__all__ = ["Architecture", "DecisionPoint", "SearchSpace"]
__version__ = "0.1.0"
