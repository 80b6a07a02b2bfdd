"""One search's settings: checked once, recorded by the study, rebuilt from it."""

import pytest

from layernas_tf import config
from layernas_tf.config import SearchConfig


def test_arguments_are_normalized_once_for_the_command_and_for_python():
    checked = config.check_arguments({"madds": "2.1M", "params": 3e6, "madds_min": "1M", "decisions": "skip,width"})
    assert checked["cost"] == "madds" and checked["ranges"] == {"madds": (1_000_000, 2_100_000), "params": (0, 3_000_000)}
    assert checked["decisions"] == ("skip", "width") and checked["batch_size"] == config.DEFAULTS["batch_size"]
    assert config.check_arguments({"params": "1M", "latency": "3ms", "latency_profile": "p.json",
                                   "bucket_by": "latency"})["cost"] == "latency"


def test_a_config_is_rebuilt_from_the_settings_its_study_recorded():
    made = SearchConfig(space="mbv3_small", cost="params", target=(0, 3e6), dataset="digits", num_classes=10,
                        image_size=32, deploy_image_size=32, batch_size=64, proxy_epochs=1, learning_rate=0.02,
                        budgets=(("madds", 0, 2.1e6),), decisions=("skip",), study_dir="runs/a", train_examples=0.25)
    rebuilt = SearchConfig.from_study(made.study_settings(), study_dir="runs/a")
    assert rebuilt == made and rebuilt.study_settings() == made.study_settings()


def test_a_study_of_the_users_own_data_or_space_says_it_cannot_be_rebuilt_from_the_shell():
    settings = {"space": "nats_sss", "cost": "params", "target": [0, 1e6], "dataset": "arrays:0123456789abcdef",
                "num_classes": 2, "image_size": 16, "deploy_image_size": 16, "batch_size": 64, "proxy_epochs": 1,
                "learning_rate": 0.05, "seed": 0}
    with pytest.raises(ValueError, match="the user's own data .* from Python"):
        SearchConfig.from_study(settings)
    with pytest.raises(ValueError, match="the user's space 'my_space'"):
        SearchConfig.from_study({**settings, "dataset": "digits", "space": "my_space"})


def test_steps_per_execution_is_a_positive_count_that_multi_worker_training_refuses():
    assert config.check_arguments({"madds": "2.1M", "steps_per_execution": 32})["steps_per_execution"] == 32
    with pytest.raises(ValueError, match="steps_per_execution=0 is not a positive finite number"):
        config.check_arguments({"madds": "2.1M", "steps_per_execution": 0})
    for where in ({"workers_per_trial": 2}, {"strategy": "multi_worker"}):
        with pytest.raises(ValueError, match="steps_per_execution=4 does not run under MultiWorkerMirroredStrategy"):
            config.check_arguments({"madds": "2.1M", "steps_per_execution": 4, **where})
