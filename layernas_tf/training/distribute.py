"""The tf.distribute strategy candidates train under, chosen from the flags.

`auto` picks a TPU when one is named, mirrored replicas when more than one GPU is
visible, and the default (single-device) strategy otherwise. The batch size users
give is global: Keras splits each batch across the strategy's replicas.
"""

from __future__ import annotations

import json
import os
from typing import Optional

import tensorflow as tf

from layernas_tf.config import STRATEGIES
from layernas_tf.trials.artefacts import THREADS_ENV


def make_strategy(kind: str = "auto", tpu: Optional[str] = None) -> tf.distribute.Strategy:
    """Builds the strategy named `kind` (one of STRATEGIES)."""
    if kind not in STRATEGIES:
        raise ValueError(f"unknown strategy {kind!r}; valid: {', '.join(STRATEGIES)}")
    if kind == "auto":
        if tpu:
            kind = "tpu"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy=multi_worker needs TF_CONFIG naming the cluster and this worker's task")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as e:
            raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def describe(strategy: tf.distribute.Strategy) -> str:
    """The strategy in the words of the flags: `default`, `mirrored over 8 replicas`, ..."""
    kinds = {"MirroredStrategy": "mirrored", "MultiWorkerMirroredStrategy": "multi_worker", "TPUStrategy": "tpu"}
    kind = kinds.get(type(strategy).__name__, "default")
    replicas = strategy.num_replicas_in_sync
    return f"{kind} strategy over {replicas} replica{'s' if replicas > 1 else ''}"


def set_threads() -> None:
    """Sizes TensorFlow's thread pools as the executor asked (`THREADS_ENV`), before they start."""
    threads = int(os.environ.get(THREADS_ENV, "0"))
    if threads and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
