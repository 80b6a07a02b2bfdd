"""One search's settings: checked once, recorded by the study, rebuilt from it."""

import pytest

from layernas_tf import config
from layernas_tf.config import SearchConfig


def test_arguments_are_normalized_once_for_the_command_and_for_python():
    checked = SearchConfig.from_arguments(madds="2.1M", params=3e6, madds_min="1M", decisions="skip,width")
    assert checked.cost == "madds" and checked.target == (1_000_000, 2_100_000)
    assert checked.budgets == (("params", 0, 3_000_000),)
    assert checked.decisions == ("skip", "width") and checked.batch_size == config.arguments_of()["batch_size"] == 128
    assert SearchConfig.from_arguments(params="1M", latency="3ms", latency_profile="p.json",
                                       bucket_by="latency").cost == "latency"


@pytest.mark.parametrize("arguments, message", [
    ({"madds": "2.1M", "batch_sise": 8}, "unknown argument(s) batch_sise; valid: space, madds"),
    ({"madds": "2.1M", "buckets": 0}, "buckets=0 is not a positive finite number"),
    ({"madds": "2.1M", "verbose": 3}, "unknown verbose=3; valid: 0, 1, 2"),
    ({"madds": "2.1M", "algorithm": "grid"}, "unknown algorithm='grid'; valid: layernas, layernas_plus"),
    ({}, "give a budget"),
])
def test_a_bad_argument_is_named_by_its_fields_check(arguments, message):
    with pytest.raises(ValueError) as e:
        SearchConfig.from_arguments(**arguments)
    assert message in str(e.value)


def test_every_setting_is_a_flag_of_the_same_name_default_and_help(monkeypatch):
    import dataclasses  # pylint: disable=import-outside-toplevel

    from absl import flags  # pylint: disable=import-outside-toplevel

    from layernas_tf import main  # pylint: disable=import-outside-toplevel

    values = flags.FlagValues()
    main.define_flags(values)
    public = [f for f in dataclasses.fields(SearchConfig) if f.metadata["public"]]
    assert sorted(values) == sorted(f.name for f in public)
    for f in public:
        default = values[f.name].default
        assert (tuple(default or ()) if f.name == "decisions" else default) == f.default, f.name
        assert values[f.name].help.endswith(f.metadata["help"]), f.name  # an enum's starts with <its|values>:
    # A setting added to the config is a flag at once (and in --helpfull), with nothing else to edit.
    extended = dataclasses.make_dataclass(
        "Extended", [("extra_setting", int, config.setting(7, "An extra setting.", "integer"))],
        bases=(SearchConfig,), frozen=True)
    monkeypatch.setattr(config, "SearchConfig", extended)
    values = flags.FlagValues()
    main.define_flags(values)
    assert values["extra_setting"].default == 7 and "An extra setting." in values.get_help()


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
    assert SearchConfig.from_arguments(madds="2.1M", steps_per_execution=32).steps_per_execution == 32
    with pytest.raises(ValueError, match="steps_per_execution=0 is not a positive finite number"):
        SearchConfig.from_arguments(madds="2.1M", steps_per_execution=0)
    for where in ({"workers_per_trial": 2}, {"strategy": "multi_worker"}):
        with pytest.raises(ValueError, match="steps_per_execution=4 does not run under MultiWorkerMirroredStrategy"):
            SearchConfig.from_arguments(madds="2.1M", steps_per_execution=4, **where)
