"""One answer and one front for every reader of a study: a trial stopped at an early rung is never picked."""

import argparse

import pytest

from layernas_tf import api, export, train
from layernas_tf.algorithms import Trial
from layernas_tf.config import SearchConfig
from layernas_tf.core import front
from layernas_tf.core.records import TrialRecord
from layernas_tf.core.status import COMPLETE, FAILED, Status
from layernas_tf.trials import study as study_module
from layernas_tf.trials.study import Study

# nats_sss at 16x16 on digits, multi-fidelity LayerNAS: rungs of 1 and 3 epochs.
ARGUMENTS = dict(space="nats_sss", madds="30M", dataset="digits", image_size=16, deploy_image_size=16,
                 proxy_epochs=3, rung_epochs=1, rung_factor=3, algorithm="layernas", buckets=4, per_bucket=2,
                 executor="serial", verbose=0)


@pytest.fixture
def rung_study(tmp_path):
    """A real study as search() writes it, whose best reward belongs to a trial stopped at its 1-epoch rung."""
    prepared = api.prepare(log=lambda line: None, study_dir=str(tmp_path / "study"), **ARGUMENTS)
    algorithm = api._algorithm(prepared)  # pylint: disable=protected-access
    space = prepared.space
    trials = [Trial(1, space.parse("0:0:0:0:0"), 0.0, epochs=1, reward=0.99),  # stopped at the first rung
              Trial(2, space.parse("1:1:1:1:1"), 0.0, epochs=3, reward=0.60),
              Trial(3, space.parse("2:2:2:2:2"), 0.0, epochs=3, reward=0.70),
              Trial(4, space.parse("3:3:3:3:3"), 0.0, epochs=3, reward=0.65),  # dearer and worse: off the front
              Trial(5, space.parse("0:1:0:1:0"), 0.0, epochs=1)]  # failed
    store = Study(prepared.config.study_dir, {**prepared.config.study_settings(), "algorithm": algorithm.config()})
    for t in trials:
        t.cost = space.cost(t.arch)
        t.status = FAILED if t.reward is None else COMPLETE
        store.record(t, algorithm.state_dict(), status=t.status, metrics={"epochs_trained": t.epochs})
    store.close()
    algorithm.trials = trials
    return prepared, algorithm


def test_no_reader_picks_a_trial_stopped_at_an_early_rung(rung_study):
    prepared, algorithm = rung_study
    study_dir = prepared.config.study_dir
    # The search's own answer and front (search(), the reports, front.json, the comparisons).
    assert algorithm.best().id == 3
    assert front.of_search(algorithm) == [2, 3]
    # The final training's default trial.
    assert train.plan(study_dir, epochs=1).row["id"] == 3
    # export --front.
    settings, rows = study_module.read(study_dir)
    config = SearchConfig.from_study(settings, study_dir=study_dir, verbose=0)
    values = argparse.Namespace(front=True, trial=None, study_dir=study_dir)
    assert export._chosen(values, config, config.search_space(), rows) == [2, 3]  # pylint: disable=protected-access
    # export without --trial or --front: the answer.
    values = argparse.Namespace(front=False, trial=None, study_dir=study_dir)
    assert export._chosen(values, config, config.search_space(), rows) == [3]  # pylint: disable=protected-access
    records = config.records(rows)
    assert [(r.id, r.epochs, r.full_fidelity) for r in records] == [
        (1, 1, False), (2, 3, True), (3, 3, True), (4, 3, True), (5, None, False)]
    assert records[4].status is Status.FAILED and f"{records[4].status}" == "FAILED"


def test_from_study_rebuilds_the_search_a_real_study_holds(rung_study):
    prepared, _ = rung_study
    made = prepared.config
    settings, _ = study_module.read(made.study_dir)
    rebuilt = SearchConfig.from_study(settings, study_dir=made.study_dir, verbose=made.verbose)
    assert rebuilt.study_settings() == made.study_settings()
    for name in ("algorithm", "rung_epochs", "rung_factor", "buckets", "per_bucket", "max_trials", "seed"):
        assert getattr(rebuilt, name) == getattr(made, name), name
    assert rebuilt.rungs() == (1, 3)


def test_ties_go_to_the_cheaper_then_the_earlier_trial():
    def record(i, reward, cost, full=True):
        return TrialRecord(i, f"{i}", Status.COMPLETE, reward, cost, full_fidelity=full)

    records = [record(0, 0.9, 5.0), record(1, 0.9, 4.0), record(2, 0.9, 4.0), record(3, 0.95, 1.0, full=False),
               record(4, 0.99, 9.0)]
    assert front.answer(records, lambda r: r.cost <= 8).id == 1
    assert front.front(records, lambda r: r.cost <= 8) == [1]
    assert front.answer(records, lambda r: r.cost <= 0.5) is None
