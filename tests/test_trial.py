"""The body of a trial: the same network trains the same way whatever the worker trained before."""

import os

import numpy as np
import pytest

from layernas_tf.config import SearchConfig
from layernas_tf.training.worker import TrialWorker
from layernas_tf.trials.artefacts import WEIGHTS, trial_dir


def _config(study_dir):
    return SearchConfig(space="nats_sss", cost="params", target=(0, 600e3), dataset="digits", num_classes=10,
                        image_size=16, deploy_image_size=16, batch_size=64, proxy_epochs=1, learning_rate=0.05,
                        verbose=0, study_dir=str(study_dir))


def test_a_trial_does_not_depend_on_the_trials_before_it(tmp_path):
    config = _config(tmp_path)
    worker = TrialWorker(config)
    first = worker(0, "1:7:7:7:7")
    worker(1, "0:3:7:2:7")
    again = worker(2, "1:7:7:7:7")
    assert again["reward"] == first["reward"] and again["val_loss"] == first["val_loss"]
    assert first["params"] == config.search_space().params(config.search_space().parse("1:7:7:7:7"))
    with np.load(os.path.join(trial_dir(str(tmp_path), 0), WEIGHTS)) as a, \
            np.load(os.path.join(trial_dir(str(tmp_path), 2), WEIGHTS)) as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    assert os.listdir(os.path.join(trial_dir(str(tmp_path), 0), "tensorboard"))
    assert not os.path.exists(os.path.join(trial_dir(str(tmp_path), 0), "backup"))  # removed once trained


def test_a_worker_that_cannot_see_the_study_directory_says_to_share_it(tmp_path):
    with pytest.raises(RuntimeError, match="not visible on this worker's host.*storage that the driver and every"):
        TrialWorker(_config(tmp_path / "on_another_host")).setup()
