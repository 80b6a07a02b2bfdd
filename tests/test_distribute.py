"""Strategies from the flags, and a real trial under MirroredStrategy over two CPU replicas."""

import subprocess
import sys

import pytest
import tensorflow as tf

from conftest import REPO
from layernas_tf.training import distribute

MIRRORED_TRIAL = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import search_spaces
from layernas_tf.training import data, distribute, trainer
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
digits = data.load("digits")
space = search_spaces.get("nats_sss", input_shape=(16, 16, 3), num_classes=10)
options = dict(image_size=16, batch_size=64, num_classes=10)
train = data.input_pipeline(digits.train, training=True, flip=False, size_hint=1293, **options)
validation = data.input_pipeline(digits.validation, training=False, size_hint=144, **options)
model, metrics = trainer.train(lambda: space.build(space.parse("0:1:0:1:0")), train, validation,
                               trainer.TrainConfig(epochs=2, learning_rate=0.05, verbose=0), strategy,
                               steps_per_epoch=21)
variable = model.trainable_variables[0].value
print("replicas", strategy.num_replicas_in_sync, type(variable).__name__, "reward", metrics["reward"])
"""


def test_a_trial_trains_under_mirrored_strategy_on_two_cpu_replicas():
    result = subprocess.run([sys.executable, "-c", MIRRORED_TRIAL], cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    words = result.stdout.split()
    assert words[:2] == ["replicas", "2"]
    assert "Mirrored" in words[2]  # the model was built inside the strategy's scope
    assert 0.0 <= float(words[-1]) <= 1.0


def test_auto_and_default_strategies_on_one_device():
    assert distribute.make_strategy("auto").num_replicas_in_sync == 1
    assert distribute.make_strategy("default") is tf.distribute.get_strategy()
    assert "1 replica" in distribute.describe(distribute.make_strategy("default"))


def test_bad_strategy_requests_say_what_is_needed(monkeypatch):
    with pytest.raises(ValueError, match="auto, default, mirrored, multi_worker, tpu"):
        distribute.make_strategy("horovod")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        distribute.make_strategy("multi_worker")
