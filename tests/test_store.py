"""The storage contract: the SQLite study and the in-memory store keep the same trials, and the one loop runs on
either, with the hooks the tuner, the comparisons and the rung replays add through."""

import math

import pytest

import fake_objective
from conftest import AdditiveSpace
from fake_objective import toy_reward
from experiments.comparison import TableSearch
from layernas_tf.algorithms import LayerNAS
from layernas_tf.core.records import from_rows
from layernas_tf.core.status import COMPLETE, FAILED, RUNNING, Status
from layernas_tf.trials.executors import SerialExecutor
from layernas_tf.trials.runner import Runner
from layernas_tf.trials.store import MemoryStore
from layernas_tf.trials.study import Study

SETTINGS = {"space": "additive", "target": [0, 20], "buckets": 3}


def _stores(tmp_path):
    return {"study": Study(str(tmp_path / "study"), SETTINGS), "memory": MemoryStore(keep_state=True)}


def _steps(store):
    """One of each kind of write: handed out, completed (at full fidelity, at a rung), failed; the state each time."""
    search = LayerNAS(AdditiveSpace(), 20, buckets=3, rungs=(1, 3, 5))
    for reward, metrics, error in ((0.5, {"reward": 0.5, "epochs_trained": 5, "shape": (2, 3)}, None),
                                   (0.25, {"reward": 0.25, "epochs_trained": 1}, None), (None, None, "diverged")):
        (trial,) = search.suggest(1)
        store.record(trial, search.state_dict(), status=RUNNING, started=1.0)
        if error:
            search.report_failure(trial.id, error)
        else:
            search.report(trial.id, reward)
        store.record(trial, search.state_dict(), status=FAILED if error else COMPLETE, metrics=metrics, started=1.0,
                     ended=2.0, error=error)
    return search


@pytest.mark.parametrize("kind", ["study", "memory"])
def test_a_store_gives_back_what_was_written_and_the_state_to_resume_from(tmp_path, kind):
    store = _stores(tmp_path)[kind]
    assert store.trials() == [] and store.algorithm_state() is None
    search = _steps(store)
    rows = store.trials()
    assert [(r["id"], r["status"], r["reward"], r["error"]) for r in rows] == [
        (0, "COMPLETE", 0.5, None), (1, "COMPLETE", 0.25, None), (2, "FAILED", None, "diverged")]
    assert rows[0]["metrics"] == {"reward": 0.5, "epochs_trained": 5, "shape": [2, 3]}  # as JSON gives it back
    done = search.trials[:2]
    assert [r["rungs"] for r in rows] == [[{"epochs": t.epochs, "reward": t.reward, "epochs_trained": e}]
                                          for t, e in zip(done, (5, 1))] + [[]]
    assert store.algorithm_state() == search.state_dict()
    records = from_rows(rows, full_epochs=5)
    assert [r.status for r in records] == [Status.COMPLETE, Status.COMPLETE, Status.FAILED]
    assert [r.full_fidelity for r in records[:2]] == [search.full_fidelity(t) for t in done]
    store.close()


def test_the_study_and_the_memory_store_return_the_same_rows(tmp_path):
    stores = _stores(tmp_path)
    for store in stores.values():
        _steps(store)
    assert stores["study"].trials() == stores["memory"].trials()
    stores["study"].close()


def test_a_memory_store_that_keeps_no_state_is_not_asked_to_build_one(additive_space):
    class Counting(LayerNAS):
        built = 0

        def state_dict(self):
            Counting.built += 1
            return super().state_dict()

    store = MemoryStore()
    assert not store.keeps_state
    Runner(store, Counting(additive_space, 20, buckets=3),
           SerialExecutor(lambda: lambda i, arch: {"reward": toy_reward(arch)}), log=None).run()
    assert Counting.built == 0 and store.algorithm_state() is None and len(store.trials()) > 10


def test_one_search_records_the_same_trials_in_memory_as_in_the_study(tmp_path, additive_space):
    runs = {}
    for kind, store in _stores(tmp_path).items():
        algorithm = LayerNAS(additive_space, 20, buckets=3)
        executor = SerialExecutor(fake_objective.make(tmp_path / f"{kind}.log", raise_on=["0:3:1:2"], delay=0))
        Runner(store, algorithm, executor, log=None).run()
        runs[kind] = [(r["id"], r["arch"], r["status"], r["reward"], r["error"]) for r in store.trials()]
        store.close()
    assert runs["study"] == runs["memory"] and ("FAILED" in {r[2] for r in runs["memory"]})


class Watching(Runner):
    """Every hook, in the order the loop calls them."""

    def __init__(self, *args, stop_after=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.events, self.stop_after = [], stop_after

    def on_trial_begin(self, trial):
        self.events.append(("begin", trial.id))

    def payload(self, trial):
        return f"{trial.arch}"

    def on_trial_end(self, trial, metrics):
        self.events.append(("end", trial.id, trial.status, None if metrics is None else metrics["reward"]))

    def on_layer(self, entry):
        self.events.append(("layer", entry["layer"]))

    def on_rung(self, entry):
        self.events.append(("rung", entry["layer"], entry["epochs"]))

    def stop_requested(self):
        return self.stop_after is not None and sum(e[0] == "end" for e in self.events) >= self.stop_after


def test_hooks_see_each_trial_begin_and_end_and_each_layer_and_rung_the_algorithm_closes(additive_space):
    algorithm = LayerNAS(additive_space, 20, buckets=3, rungs=(1, 3, 5))
    runner = Watching(MemoryStore(), algorithm, SerialExecutor(
        lambda: lambda i, arch, epochs: {"reward": math.nan if arch == "0:3:1:2" else toy_reward(arch) * epochs}),
        log=None)
    runner.run()
    events = runner.events
    begins = [e for e in events if e[0] == "begin"]
    ends = [e for e in events if e[0] == "end"]
    assert len(begins) == len(ends) > len(algorithm.trials)  # a promoted trial begins again for its next rung
    assert {e[1] for e in begins} == {e[1] for e in ends} == {t.id for t in algorithm.trials}
    assert [e[0] for e in events[:2]] == ["begin", "end"]  # one worker: each trial ends before the next begins
    assert [e[1] for e in events if e[0] == "layer"] == list(range(len(additive_space)))
    assert len([e for e in events if e[0] == "rung"]) == len(algorithm.rung_log) > 0
    # A reward that is not a number fails the trial with the reason, as a network that raised: never reported.
    (nan,) = [t for t in algorithm.trials if str(t.arch) == "0:3:1:2"]
    assert nan.status == FAILED and nan.error == "its reward is nan" and ("end", nan.id, FAILED, None) in ends


def test_a_stop_request_ends_the_search_after_the_trials_out(additive_space):
    algorithm = LayerNAS(additive_space, 20, buckets=3)
    runner = Watching(MemoryStore(), algorithm, SerialExecutor(lambda: lambda i, arch: {"reward": toy_reward(arch)}),
                      log=None, stop_after=5)
    runner.run()
    assert len(algorithm.trials) == 5 and not algorithm.done and not algorithm.pending()


def test_a_table_search_counts_epochs_as_a_live_search_trains_them(additive_space):
    algorithm = LayerNAS(additive_space, 20, buckets=3, rungs=(1, 3, 5))
    search = TableSearch(algorithm, lambda arch, epochs: toy_reward(str(arch)) * (epochs or 5), full_epochs=5)
    search.run()
    # Each trial trains to its last rung once: a promotion goes on from the rung before, never from scratch.
    assert search.epochs == sum(max(t.rewards) for t in algorithm.trials if t.rewards)
    assert search.epochs < 5 * len(algorithm.trials) and algorithm.done


def _plain_loop(algorithm, benchmark, run):
    """The ask/tell loop the comparisons ran before they ran on `Runner`: the reference for the same trials."""
    while not algorithm.done:
        (trial,) = algorithm.suggest(1)
        algorithm.report(trial.id, benchmark.reward(trial.arch, run))
    return [(t.id, str(t.arch), t.reward) for t in algorithm.trials]


@pytest.mark.parametrize("name", ["layernas", "layernas_plus", "random", "evolution", "reinforce"])
def test_a_comparison_on_the_one_loop_trains_the_same_trials_as_a_plain_ask_tell_loop(nats_table_cifar10, name):
    from experiments import comparison  # pylint: disable=import-outside-toplevel

    space = nats_table_cifar10.space
    limit = 0.25 * space.cost(space.dearest())
    for run in (0, 1):
        reference = _plain_loop(comparison.make(name, space, limit, run, 60, {}), nats_table_cifar10, run)
        algorithm = comparison.make(name, space, limit, run, 60, {})
        result = comparison.search_once(algorithm, nats_table_cifar10, run=run)
        assert [(t.id, str(t.arch), t.reward) for t in algorithm.trials] == reference
        assert result["trials"] == len(reference) == len(result["curve"])
