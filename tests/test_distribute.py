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
    # The reward is the top-1 of the whole validation split (144 digits), not one replica's share of it.
    assert float(words[-1]) * 144 == pytest.approx(round(float(words[-1]) * 144), abs=1e-3)


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


@pytest.mark.parametrize("kind, tpu, gpus, chosen", [
    ("auto", "my-tpu", 0, "tpu"), ("auto", "grpc://10.0.0.2:8470", 8, "tpu"), ("auto", None, 8, "mirrored"),
    ("auto", None, 1, "default"), ("auto", None, 0, "default"), ("tpu", None, 0, "tpu"),
    ("multi_worker", None, 4, "multi_worker"), ("default", "my-tpu", 8, "default")])
def test_what_each_strategy_flag_stands_for_on_a_host(kind, tpu, gpus, chosen):
    assert distribute.strategy_kind(kind, tpu, gpus) == chosen


def test_mixed_precision_is_bfloat16_off_gpus_and_float32_unless_asked():
    strategy = distribute.make_strategy("default")
    assert distribute.precision_policy(False, strategy) == "float32"
    assert distribute.precision_policy(True, strategy) == "mixed_bfloat16"  # this host has no GPU: as on a TPU


def test_a_trial_in_bfloat16_with_several_steps_per_execution_as_a_tpu_runs_it(monkeypatch):
    """What `--mixed_precision --steps_per_execution=N` gives a TPU run, on the CPU: the network computes in
    bfloat16 with float32 variables and float32 probabilities; each call into the compiled step runs N steps,
    the learning rate is set per call and still follows the schedule; the global policy is left as it was."""
    import keras  # pylint: disable=import-outside-toplevel

    import search_spaces  # pylint: disable=import-outside-toplevel
    from layernas_tf.training import data, trainer  # pylint: disable=import-outside-toplevel

    digits = data.load("digits")
    space = search_spaces.get("nats_sss", input_shape=(16, 16, 3), num_classes=10)
    options = dict(image_size=16, batch_size=64, num_classes=10)
    train = data.input_pipeline(digits.train, training=True, flip=False, size_hint=1293, **options)
    validation = data.input_pipeline(digits.validation, training=False, size_hint=144, **options)
    seen = []  # (batch, learning rate) at each call into the compiled step
    schedule = trainer.LearningRateSchedule.on_train_batch_begin

    def recorded(self, batch, logs=None):
        schedule(self, batch, logs)
        seen.append((batch, float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))))

    monkeypatch.setattr(trainer.LearningRateSchedule, "on_train_batch_begin", recorded)
    config = trainer.TrainConfig(epochs=2, learning_rate=0.05, verbose=0, mixed_precision=True, steps_per_execution=4)
    model, metrics = trainer.train(lambda: space.build(space.parse("0:1:0:1:0")), train, validation, config,
                                   distribute.make_strategy("default"), steps_per_epoch=20)
    assert keras.config.dtype_policy().name == "float32"
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convolutions and all(layer.compute_dtype == "bfloat16" for layer in convolutions)
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    assert model.output.dtype == "float32" and model.steps_per_execution == 4
    assert int(model.optimizer.iterations.numpy()) == 2 * 20
    assert metrics["reward"] == pytest.approx(model.evaluate(validation, return_dict=True, verbose=0)["top1"])
    assert [batch for batch, _ in seen] == [0, 4, 8, 12, 16] * 2  # one call per 4 steps
    steps = [epoch * 20 + batch for epoch in range(2) for batch in (0, 4, 8, 12, 16)]
    assert [rate for _, rate in seen] == pytest.approx([trainer.learning_rate_at(s, 40, config) for s in steps])


def test_the_multi_worker_patch_still_fits_the_keras_it_patches():
    """The patch wraps private Keras functions (`distribute.patch_keras_for_multi_worker`): a Keras that renames
    them or changes their arguments fails here, in the fast tier, not only in the slow multi-worker tests."""
    import inspect  # pylint: disable=import-outside-toplevel

    from keras.src.backend.tensorflow import trainer  # pylint: disable=import-outside-toplevel

    assert list(inspect.signature(trainer.reduce_per_replica).parameters) == ["values", "strategy", "reduction"]
    build = trainer.TensorFlowTrainer._maybe_symbolic_build  # pylint: disable=protected-access
    assert list(inspect.signature(build).parameters) == ["self", "iterator", "data_batch"]
    assert callable(trainer._collective_all_reduce_multi_worker)  # pylint: disable=protected-access
    assert callable(trainer._is_per_replica_instance)  # pylint: disable=protected-access
    distribute.patch_keras_for_multi_worker()
    assert trainer._layernas_patched  # pylint: disable=protected-access
    # Off a multi-worker strategy the patched functions are Keras' own: a one-replica reduction passes through.
    strategy = tf.distribute.get_strategy()
    assert not trainer._collective_all_reduce_multi_worker(strategy)  # pylint: disable=protected-access
    assert float(trainer.reduce_per_replica(tf.constant(2.0), strategy, "auto")) == 2.0


def test_threads_that_can_no_longer_be_set_are_said_in_words(monkeypatch):
    """The serial executor's worker is the caller's process: TensorFlow may have started its pools already."""
    from layernas_tf.trials.artefacts import THREADS_ENV  # pylint: disable=import-outside-toplevel

    _ = tf.constant(1.0) + 1.0  # the pools start with the first op
    threads = tf.config.threading.get_intra_op_parallelism_threads() + 3
    monkeypatch.setenv(THREADS_ENV, str(threads))
    with pytest.raises(RuntimeError, match=f"cpus_per_trial={threads}: TensorFlow already runs in this process"):
        distribute.set_threads()
