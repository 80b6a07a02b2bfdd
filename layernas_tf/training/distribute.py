"""The tf.distribute strategy candidates train under, chosen from the flags, and their numeric precision.

`auto` picks a TPU when one is named, mirrored replicas when more than one GPU is
visible, and the default (single-device) strategy otherwise. The batch size users
give is global: Keras splits each batch across the strategy's replicas.

What a TPU run needs beyond `TPUStrategy` itself runs on CPU too, so it is tested
here: the choice of strategy (`strategy_kind`), mixed precision in bfloat16 (the
TPU's and modern CPUs' half type; float16 with loss scaling is for GPUs) and
`steps_per_execution` (`trainer.TrainConfig`). Only `TPUClusterResolver` and the
TPU system's start need a TPU.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from typing import Iterator, Optional

import keras
import tensorflow as tf

from layernas_tf.config import STRATEGIES
from layernas_tf.trials.artefacts import THREADS_ENV


def make_strategy(kind: str = "auto", tpu: Optional[str] = None) -> tf.distribute.Strategy:
    """Builds the strategy named `kind` (one of STRATEGIES)."""
    # Listing devices starts TensorFlow, after which a multi-worker cluster can no longer be configured.
    kind = strategy_kind(kind, tpu, gpus=len(tf.config.list_logical_devices("GPU")) if kind == "auto" else 0)
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multi_worker":
        workers, index = cluster()
        meet(workers, index, timeout=float(os.environ.get(PEER_TIMEOUT_ENV, PEER_TIMEOUT)))
        patch_keras_for_multi_worker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def strategy_kind(kind: str, tpu: Optional[str], gpus: int) -> str:
    """What `kind` stands for on a host with `gpus` GPUs: `auto` resolved, the others as they are.

    Raises:
      ValueError: an unknown kind.
    """
    if kind not in STRATEGIES:
        raise ValueError(f"unknown strategy {kind!r}; valid: {', '.join(STRATEGIES)}")
    if kind != "auto":
        return kind
    if tpu:
        return "tpu"
    return "mirrored" if gpus > 1 else "default"


def precision_policy(mixed: bool, strategy: tf.distribute.Strategy) -> str:
    """The Keras dtype policy networks are built with: float32, or mixed in the hardware's half type.

    bfloat16 keeps float32's range, so it needs no loss scaling: the type of TPUs, and of
    CPUs (oneDNN computes it natively where the CPU has AVX512_BF16 or AMX). float16 is
    the GPUs' (Keras scales the loss for it).
    """
    if not mixed:
        return "float32"
    on_gpu = tf.config.list_logical_devices("GPU") and not isinstance(strategy, tf.distribute.TPUStrategy)
    return "mixed_float16" if on_gpu else "mixed_bfloat16"


@contextlib.contextmanager
def precision(policy: str) -> Iterator[None]:
    """Builds the layers made inside in `policy`, then restores the global policy.

    A layer keeps the policy it was made with, so the trained network computes in half
    precision while what is built afterwards (the float32 network that is exported,
    another trial's in the same process) is not affected.
    """
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


PEER_TIMEOUT = 300.0  # seconds the workers of a cluster wait for each other before the strategy starts
PEER_TIMEOUT_ENV = "LAYERNAS_PEER_TIMEOUT"


def cluster() -> tuple[list[str], int]:
    """The workers TF_CONFIG names (`host:port`) and this process's index among them.

    Raises:
      ValueError: TF_CONFIG is missing, not JSON, or names no worker task for this process.
    """
    if "TF_CONFIG" not in os.environ:
        raise ValueError("strategy=multi_worker needs TF_CONFIG naming the cluster and this worker's task")
    try:
        config = json.loads(os.environ["TF_CONFIG"])
        workers = list(config["cluster"]["worker"])
        task = config["task"]
        index = int(task["index"])
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    except (KeyError, TypeError, ValueError):
        raise ValueError('TF_CONFIG must be {"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", '
                         '"index": i}}') from None
    if task.get("type") != "worker" or not 0 <= index < len(workers):
        raise ValueError(f"TF_CONFIG's task {task} is not one of its {len(workers)} workers")
    return workers, index


def worker_index(strategy: tf.distribute.Strategy) -> Optional[int]:
    """This process's index in its MultiWorkerMirroredStrategy cluster (0: the chief, which alone writes a
    training's files); None under any other strategy."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None
    return cluster()[1]


def backup_name(member: Optional[int]) -> str:
    """The folder a worker keeps its `BackupAndRestore` state in: `backup`, or one of its own for a member of a
    cluster other than the chief (each member saves its own copy of the same state)."""
    return f"backup_worker{member}" if member else "backup"


def meet(workers: list[str], index: int, timeout: float) -> None:
    """Waits until every worker of the cluster is up, or raises within `timeout` seconds.

    `MultiWorkerMirroredStrategy()` blocks until the whole cluster has joined, with no
    limit: a worker that never starts (a wrong port, a dead host) would hang the others
    for good. So first each worker listens on its own port and connects to every other
    one; it lets go only once it has reached them all and all have reached it, so no
    worker leaves while another still looks for it. The strategy then binds the port.

    Raises:
      ValueError: a worker did not answer within `timeout`, naming it.
    """
    if len(workers) < 2:
        return
    host, port = workers[index].rsplit(":", 1)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, int(port)))
    except OSError as e:
        listener.close()
        raise ValueError(f"worker {index} cannot listen on {workers[index]} (TF_CONFIG): {e.strerror}") from None
    listener.listen(len(workers))
    listener.settimeout(0.2)
    heard: set[int] = set()

    def accept() -> None:
        while len(heard) < len(workers) - 1 and not stop.is_set():
            try:
                peer, _ = listener.accept()
            except OSError:  # timed out: look again
                continue
            with peer:
                peer.settimeout(5)
                try:
                    heard.add(int(peer.recv(16).decode() or -1))
                except (OSError, ValueError):
                    pass

    stop = threading.Event()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    deadline = time.time() + timeout
    try:
        for other, address in enumerate(workers):
            if other == index:
                continue
            peer_host, peer_port = address.rsplit(":", 1)
            while True:
                try:
                    with socket.create_connection((peer_host, int(peer_port)), timeout=2) as peer:
                        peer.sendall(str(index).encode())
                    break
                except OSError:
                    if time.time() > deadline:
                        raise ValueError(f"worker {other} of TF_CONFIG's cluster, at {address}, did not answer within "
                                         f"{timeout:g} s: start every worker, or correct TF_CONFIG") from None
                    time.sleep(0.2)
        while len(heard) < len(workers) - 1:
            if time.time() > deadline:
                missing = sorted(set(range(len(workers))) - heard - {index})
                raise ValueError(f"worker(s) {', '.join(map(str, missing))} of TF_CONFIG's cluster did not reach "
                                 f"{workers[index]} within {timeout:g} s")
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
        listener.close()


def patch_keras_for_multi_worker() -> None:
    """Lets Keras 3's `fit` and `evaluate` run under MultiWorkerMirroredStrategy, which they cannot as released.

    Two bugs of Keras 3 (keras-team/keras#20585, open): `fit` first builds the model
    from a batch it averages across workers with `strategy.reduce(..., axis=None)` on
    every input, which MultiWorkerMirroredStrategy cannot do eagerly; and the logs of
    every step are averaged with `axis=0`, which fails on the scalar metrics. The
    first build is given the data's shapes instead (all it needs), the second
    average is taken with `axis=None`. Both are private Keras functions: a fast test
    (`test_distribute.py::test_the_multi_worker_patch_still_fits_the_keras_it_patches`) checks their names and
    arguments, and the multi-worker tests (`test_train.py`, `test_worker_groups.py`, slow) train under the patch.
    """
    from keras.src.backend.tensorflow import trainer  # pylint: disable=import-outside-toplevel

    if getattr(trainer, "_layernas_patched", False):
        return
    reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):  # pylint: disable=protected-access
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None) if trainer._is_per_replica_instance(v) else v,  # pylint: disable=protected-access
                values)
        return reduce(values, strategy, reduction)

    build = trainer.TensorFlowTrainer._maybe_symbolic_build  # pylint: disable=protected-access

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and trainer._collective_all_reduce_multi_worker(self.distribute_strategy):  # pylint: disable=protected-access
            # The shapes are all the build needs: drawing a batch would also start an epoch of the data
            # early, and a reshuffling pipeline would then show the first epoch its second order.
            spec = iterator._distributed_dataset.element_spec  # pylint: disable=protected-access
            spec = tf.nest.map_structure(lambda v: v._value_specs[0] if hasattr(v, "_value_specs") else v, spec)  # pylint: disable=protected-access
            return build(self, data_batch=spec)
        return build(self, iterator=iterator, data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build  # pylint: disable=protected-access
    trainer._layernas_patched = True  # pylint: disable=protected-access


def synchronize_batch_norm(model, strategy: tf.distribute.Strategy) -> None:
    """Under MultiWorkerMirroredStrategy, batch norm takes its statistics over the global batch.

    Each replica otherwise normalizes by its own share of the batch: a trial on two
    workers would train a different network than on one with the same global batch.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    for layer in model._flatten_layers():  # pylint: disable=protected-access
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


def split_batches(dataset: tf.data.Dataset, strategy: tf.distribute.Strategy):
    """Under MultiWorkerMirroredStrategy, each worker's slice of every global batch, in the single-process order.

    Left to tf.data's auto-sharding, the pipeline is rewritten for each worker, and
    its shuffle then draws another order than the same pipeline in one process: a
    trial on two workers would see other batches than on one. Here every worker runs
    the pipeline as it is (the same seeds, the same global batches) and keeps its
    contiguous share of each batch, so the workers' shares together are the batch.
    The global batch must split evenly (`config` checks `batch_size`), and the
    training pipeline drops a last partial batch.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return dataset

    def per_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
        share, index = context.num_input_pipelines, context.input_pipeline_id

        def take(*batch):
            size = tf.shape(tf.nest.flatten(batch)[0])[0] // share
            sliced = tf.nest.map_structure(lambda t: t[index * size:(index + 1) * size], batch)
            return sliced if len(batch) > 1 else sliced[0]

        return dataset.map(take)

    return strategy.distribute_datasets_from_function(per_worker)


def describe(strategy: tf.distribute.Strategy) -> str:
    """The strategy in the words of the flags: `default`, `mirrored over 8 replicas`, ..."""
    kinds = {tf.distribute.MirroredStrategy: "mirrored", tf.distribute.MultiWorkerMirroredStrategy: "multi_worker",
             tf.distribute.TPUStrategy: "tpu"}
    kind = next((name for cls, name in kinds.items() if isinstance(strategy, cls)), "default")
    replicas = strategy.num_replicas_in_sync
    return f"{kind} strategy over {replicas} replica{'s' if replicas > 1 else ''}"


def set_threads() -> None:
    """Sizes TensorFlow's thread pools as the executor asked (`THREADS_ENV`), before they start."""
    threads = int(os.environ.get(THREADS_ENV, "0"))
    if threads and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError as e:  # the serial executor's worker is this process, which ran TensorFlow already
            raise RuntimeError(f"cpus_per_trial={threads}: TensorFlow already runs in this process, and its thread "
                               "pools cannot be resized once started; search in a fresh process, leave "
                               "cpus_per_trial unset, or use executor='local'") from e
