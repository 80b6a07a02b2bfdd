"""MAdds of a built Keras model, by profiling its TensorFlow graph.

This is the ground truth the analytic counters of the search spaces are checked
against: trace the model at batch 1 as a concrete function and let
`tf.compat.v1.profiler` count floating-point operations of `Conv2D`,
`DepthwiseConv2dNative`, `MatMul` and `BatchMatMul` (bias adds, BatchNorm, activations and pooling
are left out), then halve: one multiply-add is two flops. `keras-flops` does the
same but does not run on TensorFlow 2.21 with Keras 3.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # pylint: disable=wrong-import-position
from tensorflow.python.framework import convert_to_constants  # pylint: disable=wrong-import-position

COUNTED_OPS = ("Conv2D", "DepthwiseConv2dNative", "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")


@contextlib.contextmanager
def _quiet():
    """Silences the v1 profiler's deprecation warnings and its stdout report."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def profile_madds(model, input_shape=None) -> int:
    """Multiply-adds of one forward pass of `model` on one image.

    Args:
      model: a Keras model (several inputs are traced together, each at batch 1).
      input_shape: (height, width, channels) to trace a one-input model at; needed
        only when the model's input has undefined spatial dimensions.
    """
    shapes = [tuple(input_shape)] if input_shape else [tuple(t.shape[1:]) for t in model.inputs]
    if any(d is None for shape in shapes for d in shape):
        raise ValueError(f"model input shape {shapes[0]} is not fully defined; pass input_shape=(h, w, c)")
    specs = [tf.TensorSpec((1, *shape), t.dtype) for shape, t in zip(shapes, model.inputs)]
    call = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False))
    return _graph_madds(call.get_concrete_function(*specs).graph)


def profile_saved_model(path: str, input_shape) -> int:
    """Multiply-adds of a SavedModel's `serve` on one image: what was exported, counted.

    The saved function is called through a batch-1 wrapper and frozen, which inlines
    it, so the profiler sees every convolution with its shapes.
    """
    loaded = tf.saved_model.load(path)
    spec = tf.TensorSpec((1, *input_shape), tf.float32)
    serve = tf.function(tf.autograph.experimental.do_not_convert(lambda x: loaded.serve(x)))  # pylint: disable=unnecessary-lambda
    frozen = convert_to_constants.convert_variables_to_constants_v2(serve.get_concrete_function(spec))
    return _graph_madds(frozen.graph)


def _graph_madds(graph) -> int:
    with _quiet():
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        options["account_type_regexes"] = list(COUNTED_OPS)
        profile = tf.compat.v1.profiler.profile(graph, options=options)
    return profile.total_float_ops // 2
