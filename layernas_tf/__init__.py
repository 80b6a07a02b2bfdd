"""layernas_tf: LayerNAS, multi-trial neural architecture search under a cost budget.

    import layernas_tf
    result = layernas_tf.search(space="mbv3_small", madds="2.1M", dataset="digits", max_trials=30)

The package, by what it owns (each subpackage's docstring says what it may import):

    core/         the search-space contract, trial statuses, the front, budgets as written  (pure Python)
    algorithms/   LayerNAS, LayerNAS+ and the baselines behind one ask/tell interface     (pure Python)
    config.py     one search's settings and their one validation                           (pure Python)
    trials/       the runner, the executors, the SQLite study, trial artefacts              (no TensorFlow)
    training/     data, strategies, proxy training, the body of a trial                     (TensorFlow)
    cost/         MAdds by graph profiling (TensorFlow); the latency model (numpy) and its measurement
    deploy/       the final training; SavedModel and TFLite export, checked with LiteRT     (TensorFlow)
    api.py        `search()` and its result: the front door
    main.py, train.py, export.py, latency.py, proxy_check.py, cli.py   the command-line tools over the same
                  functions (only they define flags; the library never imports them)

Importing this package loads no TensorFlow: `search` and `SearchResult` load the
training side when first used, so the space contract and the algorithms run and
test in milliseconds.
"""

from layernas_tf.core.space import Architecture, DecisionPoint, SearchSpace

__all__ = ["Architecture", "DecisionPoint", "KerasSpace", "NoSignal", "SearchSpace", "SearchConfig", "SearchResult",
           "choose", "search"]
__version__ = "0.1.0"


def __getattr__(name: str):
    """`search`, `SearchResult`, `KerasSpace`, `choose`, `SearchConfig` and `NoSignal` on first use (PEP 562): the
    first four import TensorFlow."""
    if name in ("search", "SearchResult"):
        from layernas_tf import api  # pylint: disable=import-outside-toplevel  (imports TensorFlow)

        return getattr(api, name)
    if name in ("KerasSpace", "choose"):
        from search_spaces import keras_space  # pylint: disable=import-outside-toplevel  (imports Keras)

        return getattr(keras_space, name)
    if name == "SearchConfig":
        from layernas_tf.config import SearchConfig  # pylint: disable=import-outside-toplevel

        return SearchConfig
    if name == "NoSignal":  # what search() raises when the first networks all score alike
        from layernas_tf.trials.runner import NoSignal  # pylint: disable=import-outside-toplevel

        return NoSignal
    raise AttributeError(f"module 'layernas_tf' has no attribute {name!r}")
