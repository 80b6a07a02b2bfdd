"""Proxy training: a reward from the validation split, and divergence as a failure."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from layernas_tf.training import trainer


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.uniform(0, 50, (n, 8, 8, 3)).astype("float32")
    images[labels == 1, :4] += 150  # an easy pattern to learn
    return tf.data.Dataset.from_tensor_slices((images, tf.one_hot(labels, 2))).batch(16)


def _model(dropout=0.0):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3)(x)
    x = keras.layers.BatchNormalization(momentum=0.8)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))


def test_reward_is_validation_top1_after_training():
    config = trainer.TrainConfig(epochs=8, learning_rate=0.1, verbose=0)
    model, metrics = trainer.train(_model, _data(), _data(seed=1), config, tf.distribute.get_strategy(),
                                   steps_per_epoch=16)
    assert set(metrics) == {"reward", "val_loss", "train_loss", "train_top1", "train_seconds", "epochs_trained",
                            "first_epoch"}
    assert metrics["reward"] > 0.8
    evaluated = model.evaluate(_data(seed=1), return_dict=True, verbose=0)["top1"]
    assert metrics["reward"] == pytest.approx(evaluated)


def test_learning_rate_warms_up_then_decays():
    config = trainer.TrainConfig(epochs=10, learning_rate=0.4, warmup_fraction=0.2)
    rates = [trainer.learning_rate_at(step, 100, config) for step in (0, 10, 20, 60, 100)]
    assert rates[0] < rates[1] < rates[2] and rates[2] > rates[3] > rates[4]
    assert rates[2] == pytest.approx(0.4) and rates[4] == pytest.approx(0.0, abs=1e-6)


def test_the_optimizer_follows_the_schedule_step_by_step():
    config = trainer.TrainConfig(epochs=2, learning_rate=0.4, verbose=0)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(self.model.optimizer.learning_rate))

    model = _model()
    trainer.compile_model(model, config)
    model.fit(_data(), epochs=2, verbose=0, callbacks=[trainer.LearningRateSchedule(config, 16), Record()])
    assert seen == pytest.approx([trainer.learning_rate_at(step, 32, config) for step in range(32)])


def test_a_killed_training_resumes_from_its_last_finished_epoch(tmp_path):
    config = trainer.TrainConfig(epochs=4, learning_rate=0.1, verbose=0)

    class Die(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt  # stands for the worker dying after two epochs

    model = _model()
    trainer.compile_model(model, config)
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"), save_freq="epoch")
    with pytest.raises(KeyboardInterrupt):
        model.fit(_data(), epochs=4, verbose=0, callbacks=[backup, Die()])
    _, metrics = trainer.train(_model, _data(), _data(seed=1), config, tf.distribute.get_strategy(),
                               steps_per_epoch=16, backup_dir=str(tmp_path / "backup"))
    assert metrics["first_epoch"] == 2 and metrics["epochs_trained"] == 2
    assert not (tmp_path / "backup").exists()  # removed once training ended


def test_a_backup_left_half_written_is_dropped_and_the_training_starts_over(tmp_path):
    config = trainer.TrainConfig(epochs=2, learning_rate=0.1, verbose=0)
    backup = tmp_path / "backup"
    model = _model()
    trainer.compile_model(model, config)

    class Die(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt  # the worker dies once the first epoch's backup is written

    with pytest.raises(KeyboardInterrupt):
        model.fit(_data(), epochs=2, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(str(backup)), Die()])
    written = [path for path in backup.rglob("*.h5")]
    assert written
    for path in written:  # what a worker killed mid-write leaves
        path.write_bytes(path.read_bytes()[:100])
    _, metrics = trainer.train(_model, _data(), _data(seed=1), config, tf.distribute.get_strategy(),
                               steps_per_epoch=16, backup_dir=str(backup))
    assert metrics["first_epoch"] == 0 and metrics["epochs_trained"] == 2
    assert not backup.exists()


def test_the_same_seed_trains_to_the_same_reward():
    tf.config.experimental.enable_op_determinism()
    config = trainer.TrainConfig(epochs=2, learning_rate=0.1, verbose=0)
    runs = [trainer.train(_model, _data(), _data(seed=1), config, tf.distribute.get_strategy(), steps_per_epoch=16,
                          seed=7)[1] for _ in range(2)]
    assert runs[0]["reward"] == runs[1]["reward"] and runs[0]["val_loss"] == runs[1]["val_loss"]


def test_a_diverging_candidate_fails_with_its_reason():
    config = trainer.TrainConfig(epochs=3, learning_rate=1e12, verbose=0)
    with pytest.raises(trainer.TrialFailed, match="diverged"):
        trainer.train(_model, _data(), _data(seed=1), config, tf.distribute.get_strategy(), steps_per_epoch=16)


def test_a_recipes_dropout_sets_the_networks_dropout_layers_and_a_network_without_one_is_refused():
    import search_spaces  # pylint: disable=import-outside-toplevel

    v3 = search_spaces.get("mbv3_small", input_shape=(32, 32, 3), num_classes=10)
    model = v3.build(v3.default())
    trainer.set_dropout(model, 0.5)
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.5]
    v2 = search_spaces.get("mbv2", input_shape=(32, 32, 3), num_classes=10)
    with pytest.raises(ValueError, match="dropout=0.3: the network has no dropout layer"):
        trainer.set_dropout(v2.build(v2.default()), 0.3)


def _shuffled_data():
    """A training pipeline like the search's: reshuffled every epoch, a random op per image."""
    images, labels = next(iter(_data(n=256).unbatch().batch(256)))
    return (tf.data.Dataset.from_tensor_slices((images, labels))
            .shuffle(256, seed=3, reshuffle_each_iteration=True)
            .map(lambda image, label: (image + tf.random.uniform((8, 8, 3), 0, 20, seed=3), label))
            .batch(16))


def test_a_training_stopped_at_a_rung_goes_on_as_one_that_never_stopped(tmp_path):
    """A promoted trial (or one resumed after a kill) sees the data orders and dropout masks of the epochs it
    resumes at, not the first epoch's again, so it ends with the weights of a straight training."""
    tf.config.experimental.enable_op_determinism()
    config = trainer.TrainConfig(epochs=3, learning_rate=0.1, verbose=0)
    strategy = tf.distribute.get_strategy()

    def train(backup, until=None):
        keras.utils.set_random_seed(7)  # as the worker does before it builds each trial's pipeline
        return trainer.train(lambda: _model(dropout=0.5), _shuffled_data(), _data(seed=1),
                             dataclasses.replace(config, until=until), strategy, steps_per_epoch=16,
                             backup_dir=str(tmp_path / backup), seed=7)

    straight, straight_metrics = train("straight")
    straight_weights = straight.get_weights()
    train("rungs", until=1)
    resumed, resumed_metrics = train("rungs")
    assert resumed_metrics["first_epoch"] == 1 and resumed_metrics["epochs_trained"] == 2
    for a, b in zip(resumed.get_weights(), straight_weights):
        np.testing.assert_array_equal(a, b)
    assert resumed_metrics["val_loss"] == straight_metrics["val_loss"]
