"""Export: a SavedModel that serves the same answers, and TFLite files LiteRT runs correctly."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import search_spaces
from layernas_tf.training import data, trainer
from layernas_tf.config import SearchConfig
from layernas_tf.deploy import tflite, trial_export
from layernas_tf.trials.artefacts import WEIGHTS, save_weights


@pytest.fixture(scope="module")
def trained():
    """A small trained network (NATS size space on digits at 16x16) and validation arrays."""
    keras.utils.set_random_seed(0)
    digits = data.load("digits")
    space = search_spaces.get("nats_sss", input_shape=(16, 16, 3), num_classes=10)
    arch = space.parse("1:1:1:1:1")
    options = dict(image_size=16, batch_size=64, num_classes=10)
    train = data.input_pipeline(digits.train, training=True, flip=False, size_hint=1293, **options)
    validation = data.input_pipeline(digits.validation, training=False, size_hint=144, **options)
    model, metrics = trainer.train(lambda: space.build(arch), train, validation,
                                   trainer.TrainConfig(epochs=3, learning_rate=0.05, verbose=0),
                                   tf.distribute.get_strategy(), steps_per_epoch=21)
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in validation.unbatch()])
    representative = [x.numpy() for x, _ in data.input_pipeline(digits.train, training=False, **options).unbatch().take(64)]
    return model, space.madds(arch), (np.stack(images), np.stack(labels)), representative, metrics


@pytest.mark.parametrize("kind", tflite.TFLITE_KINDS)
def test_exports_verify_against_keras(trained, tmp_path, kind):
    model, madds, validation, representative, metrics = trained
    assert metrics["reward"] > 0.5  # the check below compares real predictions, not noise
    results = tflite.export_model(model, str(tmp_path), tflite=kind, validation=validation,
                            representative=representative, madds=madds)
    saved = results["saved_model"]
    assert os.path.isfile(os.path.join(saved["path"], "saved_model.pb"))
    assert saved["max_abs_diff"] < 1e-5 and saved["madds"] == madds
    assert saved["val_top1"] == pytest.approx(metrics["reward"], abs=1e-6)
    lite = results["tflite"]
    assert lite["verified"], lite
    assert os.path.getsize(lite["path"]) == lite["size_bytes"] > 0
    if kind == "float":
        assert lite["max_abs_diff"] < tflite.FLOAT_TOLERANCE
    else:
        assert lite["top1_agreement"] >= tflite.INT8_AGREEMENT
    assert sorted(os.listdir(tmp_path)) == sorted(["saved_model", f"model_{kind}.tflite"])  # no temporaries
    # Each weight stored once, and no optimizer state, though the model was trained and compiled.
    checkpoint = os.path.join(saved["path"], "variables", "variables")
    stored = sum(int(np.prod(shape)) for name, shape in tf.train.list_variables(checkpoint) if "ATTRIBUTES" in name)
    assert stored == model.count_params()


def test_int8_file_is_smaller_and_takes_uint8_pixels(trained, tmp_path):
    model, madds, validation, representative, _ = trained
    tflite.export_saved_model(model, str(tmp_path / "sm"))
    flat = tflite.convert_tflite(str(tmp_path / "sm"), "float")
    int8 = tflite.convert_tflite(str(tmp_path / "sm"), "int8", representative)
    assert len(int8) < len(flat) / 2
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel

    interpreter = Interpreter(model_content=int8)
    assert interpreter.get_input_details()[0]["dtype"] == np.uint8
    with pytest.raises(ValueError, match="float, dynamic, int8"):
        tflite.convert_tflite(str(tmp_path / "sm"), "fp16")
    with pytest.raises(ValueError, match="representative"):
        tflite.convert_tflite(str(tmp_path / "sm"), "int8", [])


def test_a_trial_exports_at_the_deployment_size_and_warns_when_its_weights_do_not_carry(trained, tmp_path):

    model = trained[0]
    config = SearchConfig(space="nats_sss", cost="madds", target=(0, 1e9), dataset="digits", num_classes=10,
                          image_size=16, deploy_image_size=64, batch_size=64, proxy_epochs=1, learning_rate=0.05,
                          verbose=0, study_dir=str(tmp_path))
    os.makedirs(config.trial_dir(0))
    save_weights(model, os.path.join(config.trial_dir(0), WEIGHTS))
    digits, space = data.load("digits"), config.search_space()
    lines = []
    kept = trial_export.export_trial(config, space, digits, 0, "1:1:1:1:1", str(tmp_path / "kept"), tflite="float",
                               log=lines.append)
    assert kept["final"]["image_size"] == 16 and kept["exports"]["image_size"] == 64
    assert kept["final"]["val_top1"] == pytest.approx(trained[4]["reward"], abs=1e-6)  # the trial's own weights
    served = tf.saved_model.load(kept["exports"]["saved_model"]["path"]).signatures["serving_default"]
    assert tuple(served.inputs[0].shape[1:]) == (64, 64, 3)
    assert kept["exports"]["tflite"]["val_top1"] < kept["final"]["val_top1"] - 0.1
    assert any(line.startswith("warning: the exported model keeps the proxy's weights, trained at 16x16")
               and "(final_epochs=N)" in line for line in lines)

    lines.clear()
    retrained = trial_export.export_trial(config, space, digits, 0, "1:1:1:1:1", str(tmp_path / "retrained"),
                                    tflite="float", final_epochs=1, log=lines.append)
    assert retrained["final"]["image_size"] == 64 and retrained["final"]["epochs"] == 1
    assert "training 1:1:1:1:1 for 1 epochs at 64x64" in lines
    assert not any(line.startswith("warning:") for line in lines)
