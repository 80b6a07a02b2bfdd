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


@pytest.mark.slow
def test_out_of_memory_trains_again_at_half_the_batch_when_asked_and_says_so(tmp_path, monkeypatch):
    import dataclasses  # pylint: disable=import-outside-toplevel

    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from layernas_tf.training import data, trainer  # pylint: disable=import-outside-toplevel

    config = dataclasses.replace(_config(tmp_path / "half"), half_batch_on_oom=True)
    at32 = dataclasses.replace(config, batch_size=32, study_dir=str(tmp_path / "at32"))
    for c in (config, at32):
        os.makedirs(c.study_dir)
    reference = TrialWorker(at32)(0, "1:7:7:7:7")  # a search whose batch_size is 32 from the start
    worker = TrialWorker(config)
    worker.setup()
    steps = {b: data.steps_per_epoch(worker.dataset.sizes["train"], b) for b in (64, 32)}
    real, tried = trainer.train, []

    def train(*args, **kwargs):  # a GPU's allocator that cannot hold a batch of 64
        tried.append(kwargs["steps_per_epoch"])
        if kwargs["steps_per_epoch"] == steps[64]:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[64,16,16,32]")
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer, "train", train)
    metrics = worker(0, "1:7:7:7:7")
    assert tried == [steps[64], steps[32]]
    assert metrics["batch_size"] == 32 and "out of memory at batch_size 64" in metrics["out_of_memory_retry"]
    assert metrics["reward"] == reference["reward"]  # trained exactly as at batch 32 from the start

    # Off (the default), the error goes to the executor, which retries on a fresh worker, then fails the trial.
    worker = TrialWorker(dataclasses.replace(config, half_batch_on_oom=False))
    with pytest.raises(tf.errors.ResourceExhaustedError):
        worker(1, "1:7:7:7:7")
