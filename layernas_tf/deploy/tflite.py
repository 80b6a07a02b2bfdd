"""Deployable forms of a network: a SavedModel and a TFLite file, each checked against Keras.

The SavedModel carries the inference function as its default signature. The TFLite
file is converted from it with TensorFlow's converter, as float, dynamic-range
quantized, or full int8 (uint8 pixels in, uint8 probabilities out, calibrated on
images drawn from the training split), and then run with LiteRT's interpreter
against Keras on validation images: float must agree within 1e-4, int8 on at least
95% of top-1 answers. Every file is written under a temporary name and renamed
when complete.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Optional

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from layernas_tf.config import TFLITE_KINDS
from layernas_tf.quiet import quiet_native_output
from layernas_tf.reports import folder_atomic, write_atomic

FLOAT_TOLERANCE = 1e-4
INT8_AGREEMENT = 0.95


def interpreter(flatbuffer: bytes, threads: Optional[int] = None) -> Interpreter:
    """A LiteRT interpreter of `flatbuffer`, its tensors allocated."""
    with quiet_native_output():
        runner = Interpreter(model_content=flatbuffer, num_threads=threads)
        runner.allocate_tensors()
    return runner


def export_saved_model(model: keras.Model, path: str) -> None:
    """Writes the model's inference function (`serve`, the default signature) as a SavedModel.

    Not `model.export`: it tracks each weight twice, as the Keras variable and as the
    TensorFlow variable the traced function uses, so the SavedModel stored every
    value twice (3,075,831 for a network of 1,537,914 parameters). An archive with
    only the endpoint tracks what the endpoint uses, once. Written through a
    temporary directory and a rename.
    """
    with folder_atomic(path) as tmp:
        archive = keras.export.ExportArchive()
        archive.add_endpoint("serve", lambda images: model(images, training=False),
                             input_signature=[tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)])
        archive.write_out(tmp, verbose=False)



def convert_tflite(saved_model_dir: str, kind: str, representative: Iterable[np.ndarray] = ()) -> bytes:
    """TFLite flatbuffer of a SavedModel; `representative` images calibrate int8."""
    if kind not in TFLITE_KINDS:
        raise ValueError(f"unknown TFLite kind {kind!r}; valid: {', '.join(TFLITE_KINDS)}")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    if kind in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "int8":
        images = list(representative)
        if not images:
            raise ValueError("int8 conversion needs representative images")

        def dataset():
            for image in images:
                yield [image[None].astype(np.float32)]

        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    with quiet_native_output():
        return converter.convert()



def tflite_predict(tflite_model: bytes, images: np.ndarray) -> np.ndarray:
    """Class probabilities from LiteRT's interpreter, one image at a time (as on a phone)."""
    runner = interpreter(tflite_model)
    source = runner.get_input_details()[0]
    sink = runner.get_output_details()[0]
    outputs = []
    for image in images:
        x = image[None]
        if source["dtype"] != np.float32:
            scale, zero = source["quantization"]
            info = np.iinfo(source["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        runner.set_tensor(source["index"], x.astype(source["dtype"]))
        runner.invoke()
        y = runner.get_tensor(sink["index"])[0].astype(np.float32)
        if sink["dtype"] != np.float32:
            scale, zero = sink["quantization"]
            y = (y - zero) * scale
        outputs.append(y)
    return np.stack(outputs)



def export_model(
    model: keras.Model,
    export_dir: str,
    *,
    tflite: str,
    validation: tuple[np.ndarray, np.ndarray],
    representative: Iterable[np.ndarray],
    madds: int,
) -> dict[str, Any]:
    """Writes the SavedModel and the TFLite file into `export_dir`; returns what was checked.

    Args:
      validation: (images, one-hot labels) the exported forms are checked and scored on.
      representative: training images that calibrate int8 quantization.
      madds: the model's MAdds, reported beside each form.
    """
    images, labels = validation
    truth = labels.argmax(axis=1)
    keras_probs = model.predict(images, verbose=0, batch_size=64)
    saved_model_dir = os.path.join(export_dir, "saved_model")
    export_saved_model(model, saved_model_dir)
    reloaded = tf.saved_model.load(saved_model_dir)
    served = reloaded.serve(tf.constant(images[:64], tf.float32)).numpy()
    results: dict[str, Any] = {
        "saved_model": {
            "path": saved_model_dir,
            "size_bytes": _tree_size(saved_model_dir),
            "madds": madds,
            "val_top1": float(np.mean(keras_probs.argmax(axis=1) == truth)),
            "max_abs_diff": float(np.abs(served - keras_probs[:64]).max()),
        }
    }
    flatbuffer = convert_tflite(saved_model_dir, tflite, representative)
    path = os.path.join(export_dir, f"model_{tflite}.tflite")
    write_atomic(path, flatbuffer)
    lite_probs = tflite_predict(flatbuffer, images)
    entry = {
        "path": path,
        "kind": tflite,
        "size_bytes": len(flatbuffer),
        "madds": madds,
        "val_top1": float(np.mean(lite_probs.argmax(axis=1) == truth)),
        "top1_agreement": float(np.mean(lite_probs.argmax(axis=1) == keras_probs.argmax(axis=1))),
        "max_abs_diff": float(np.abs(lite_probs - keras_probs).max()),
    }
    if tflite == "float":
        entry["verified"] = entry["max_abs_diff"] < FLOAT_TOLERANCE
    else:
        entry["verified"] = entry["top1_agreement"] >= INT8_AGREEMENT
    results["tflite"] = entry
    return results



def _tree_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)

