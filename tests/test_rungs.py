"""Multi-fidelity LayerNAS (rungs): promotions per bucket, resumption mid-rung, failures, every executor."""

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

import fake_objective
from conftest import REPO, AdditiveSpace, toy_reward
from layernas_tf.algorithms import COMPLETE, FAILED, LayerNAS
from layernas_tf.algorithms.layernas import bucketize
from layernas_tf.config import rung_schedule
from layernas_tf.core import front
from layernas_tf.trials.executors import LocalExecutor, SerialExecutor
from layernas_tf.trials.runner import Runner
from layernas_tf.trials.study import Study

RUNGS = (1, 3, 5)


def drive(algo, reward, batch=1000):
    while not algo.done:
        for trial in algo.suggest(batch):
            value = reward(trial.arch, trial.epochs)
            if value is None:
                algo.report_failure(trial.id, "raised")
            else:
                algo.report(trial.id, value)
    return algo


def scaled(arch, epochs):
    """A reward every rung ranks exactly as the full training does."""
    return toy_reward(arch) * (epochs or 5) / 5


def noisy(arch, epochs):
    """A short rung ranks with noise that shrinks as it trains longer."""
    return toy_reward(arch) + (5 - epochs) * (hash((str(arch), "n")) % 7)


@pytest.mark.parametrize("target, buckets, per_bucket", [((0, 20), 3, 1), ((0, 12), 4, 2), ((8, 25), 10, 1)])
def test_rungs_ranking_like_the_full_proxy_keep_the_same_candidates_for_fewer_epochs(target, buckets, per_bucket):
    space = AdditiveSpace()
    plain = drive(LayerNAS(space, target, buckets=buckets, per_bucket=per_bucket), scaled)
    rungs = drive(LayerNAS(space, target, buckets=buckets, per_bucket=per_bucket, rungs=RUNGS), scaled)
    assert [e["kept"] for e in rungs.layer_log] == [e["kept"] for e in plain.layer_log]
    assert [t.arch for t in rungs.trials] == [t.arch for t in plain.trials]  # the same networks, trained less
    assert sum(t.epochs for t in rungs.trials) < 5 * len(plain.trials)
    full = [t for t in rungs.trials if rungs.full_fidelity(t)]
    assert rungs.best() in full and set(front.of_search(rungs)) <= {t.id for t in full}
    assert rungs.best().reward == max(t.reward for t in full if rungs.feasible(t.arch))
    assert all(set(t.rewards) == {e for e in RUNGS if e <= t.epochs} or t.epochs == 5 for t in rungs.trials)


def coarse(arch, epochs):
    """A short rung that only tells networks apart by tens: many tie."""
    return noisy(arch, epochs) if epochs == 5 else float(int(noisy(arch, epochs)) // 10)


def chance(arch, epochs):
    """A short rung at which every network scores the same (README's digits job after 1 of 3 epochs)."""
    return toy_reward(arch) if epochs == 5 else 0.0972


@pytest.mark.parametrize("per_bucket, factor, reward", [(1, 3, noisy), (2, 2, noisy), (1, 2, noisy), (1, 3, coarse),
                                                        (2, 3, coarse)])
def test_each_rung_promotes_the_best_share_of_each_bucket(per_bucket, factor, reward):
    space = AdditiveSpace(((1, 2, 3), (0, 5, 10, 20, 30, 40), (1, 2), (0, 3, 6, 9)))
    algo = LayerNAS(space, (0, 60), buckets=2, per_bucket=per_bucket, rungs=RUNGS, rung_factor=factor)
    checked = 0
    while not algo.done:
        for trial in algo.suggest(3):
            algo.report(trial.id, reward(trial.arch, trial.epochs))
            for entry in algo.rung_log[checked:]:  # closed by this result; nothing handed out again yet
                assert sorted(entry["promoted"]) == _expected_promotions(algo, entry, per_bucket, factor), entry
            checked = len(algo.rung_log)
    assert checked and any(entry["promoted"] for entry in algo.rung_log)
    for t in algo.trials:  # each trial stopped at the rung it lost at, with that rung's reward
        assert t.status == COMPLETE and t.epochs in RUNGS and t.rewards[t.epochs] == t.reward
        assert sorted(t.rewards) == [e for e in RUNGS if e <= t.epochs] or sorted(t.rewards) == [5]


def test_ties_at_the_cut_train_on_and_a_rung_that_ranks_nothing_stops_nothing():
    space = AdditiveSpace()
    plain = drive(LayerNAS(space, (0, 20), buckets=3), toy_reward_of)
    tied = drive(LayerNAS(space, (0, 20), buckets=3, rungs=RUNGS), chance)
    assert [e["kept"] for e in tied.layer_log] == [e["kept"] for e in plain.layer_log]
    assert all(t.epochs == 5 for t in tied.trials) and [t.arch for t in tied.trials] == [t.arch for t in plain.trials]
    assert tied.rung_log and all(e["one_reward"] and e["tied"] for e in tied.rung_log)
    assert any(e["tied"] for e in drive(LayerNAS(space, (0, 20), buckets=3, rungs=RUNGS), coarse).rung_log)


def test_the_progress_line_says_when_a_rung_ranked_nothing(tmp_path):
    study = Study(str(tmp_path), SETTINGS)
    lines = []
    objective = lambda trial_id, arch, epochs: {"reward": chance(AdditiveSpace().parse(arch), epochs)}
    try:
        Runner(study, LayerNAS(AdditiveSpace(), 20, buckets=3, rungs=RUNGS), SerialExecutor(lambda: objective),
               log=lines.append).run()
    finally:
        study.close()
    closed = [line for line in lines if " rung of 1 epoch(s) closed: " in line]
    assert closed and all("tied at the cut" in line and "it ranked none of them" in line for line in closed)


def toy_reward_of(arch, epochs):
    del epochs
    return toy_reward(arch)


def _expected_promotions(algo, entry, per_bucket, factor):
    """Each bucket's best max(k, ceil(n / factor)) at the rung and those tied with the last of them, less those
    already past the next one."""
    space, epochs = algo.space, entry["epochs"]
    following = RUNGS[RUNGS.index(epochs) + 1]
    children = _children(algo, entry["layer"])
    costs = [space.cost(c) for c in children]
    index = bucketize(costs, algo.buckets, min(costs), max(costs))
    expected = []
    for b in set(index):
        trials = {algo.tried(c).id: algo.tried(c) for c, i in zip(children, index) if i == b}
        ranked = sorted((-t.rewards[epochs], t.cost, t.id) for t in trials.values() if epochs in t.rewards)
        if not ranked:
            continue
        quota = max(per_bucket, math.ceil(len(ranked) / factor))
        last = ranked[min(quota, len(ranked)) - 1][0]  # ties with the quota's last go on
        expected += [i for r, _, i in ranked if r <= last and algo.trials[i].epochs < following]
    return sorted(expected)


def _children(algo, layer):
    """The layer's searchable children, as LayerNAS forms them from the layer before's candidates."""
    space = algo.space
    parents = [space.parse(a) for a in algo.layer_log[layer - 1]["kept"]] if layer else [space.default()]
    children = {}
    for parent in parents:
        for option in range(len(space.decision_points[layer])):
            children.setdefault(parent.replace(layer, option), None)
    return [c for c in children if algo.reachable(c, layer)]


def test_a_bucket_of_at_most_k_networks_trains_straight_to_the_last_rung():
    space = AdditiveSpace()
    algo = drive(LayerNAS(space, 20, buckets=10, rungs=RUNGS), scaled)
    default = algo.trials[0]
    assert default.arch == space.default() and default.rewards == {5: default.reward}
    assert any(len(t.rewards) == 1 and t.epochs == 5 for t in algo.trials[1:])


def test_a_failure_in_a_rung_is_recorded_and_the_search_goes_on():
    space = AdditiveSpace()
    clean = drive(LayerNAS(space, 20, buckets=3, rungs=RUNGS), scaled)
    promoted = next(t for t in clean.trials if t.rewards and min(t.rewards) == 1 and t.epochs == 5)
    algo = drive(LayerNAS(space, 20, buckets=3, rungs=RUNGS),
                 lambda a, e: None if (a == promoted.arch and e == 3) else scaled(a, e))
    failed = algo.tried(promoted.arch)
    assert failed.status == FAILED and failed.rewards == {1: promoted.rewards[1]}
    assert algo.done and algo.best() is not None and algo.best().id != failed.id
    assert str(promoted.arch) not in algo.layer_log[-1]["kept"]


def test_a_search_restored_mid_rung_goes_on_as_the_straight_one():
    space = AdditiveSpace()
    straight = drive(LayerNAS(space, 20, buckets=3, rungs=RUNGS), noisy, batch=2)
    algo = LayerNAS(space, 20, buckets=3, rungs=RUNGS)
    restored_mid_rung = False
    while not algo.done:
        batch = algo.suggest(2)
        restored_mid_rung |= any(t.rewards for t in batch)
        state = algo.state_dict()
        algo = LayerNAS(space, 20, buckets=3, rungs=RUNGS)
        algo.load_state_dict(state)
        for trial in batch:
            algo.report(trial.id, noisy(trial.arch, trial.epochs))
    assert restored_mid_rung
    assert [t.to_json() for t in algo.trials] == [t.to_json() for t in straight.trials]
    assert algo.rung_log == straight.rung_log and algo.layer_log == straight.layer_log


def test_rungs_are_part_of_the_search_settings():
    space = AdditiveSpace()
    saved = LayerNAS(space, 20, rungs=RUNGS).state_dict()
    with pytest.raises(ValueError, match="rungs"):
        LayerNAS(space, 20).load_state_dict(saved)
    assert "rungs" not in LayerNAS(space, 20).config()  # a study made before rungs still resumes
    with pytest.raises(ValueError, match="rungs must be"):
        LayerNAS(space, 20, rungs=(3, 1))
    with pytest.raises(ValueError, match="rung_factor"):
        LayerNAS(space, 20, rungs=RUNGS, rung_factor=1)


def test_the_schedule_is_geometric_up_to_the_proxy():
    assert rung_schedule(1, 3, 5) == (1, 3, 5)
    assert rung_schedule(1, 2, 5) == (1, 2, 4, 5)
    assert rung_schedule(2, 3, 5) == (2, 5)
    assert rung_schedule(1, 3, 9) == (1, 3, 9)
    assert rung_schedule(0, 3, 5) == ()


SETTINGS = {"space": "additive", "target": [0, 20], "buckets": 3, "rungs": list(RUNGS)}


def _run(study_dir, executor):
    study = Study(str(study_dir), SETTINGS)
    algorithm = LayerNAS(AdditiveSpace(), 20, buckets=3, rungs=RUNGS)
    lines = []
    try:
        Runner(study, algorithm, executor, log=lines.append).run()
        return algorithm, study.trials(), lines
    finally:
        study.close()
        executor.close()


def _epochs_logged(log):
    return [(int(t), int(e)) for t, e in fake_objective.lines(log, "epoch")]


def test_the_runner_records_every_rung_and_workers_train_on_from_the_checkpoint(tmp_path):
    serial, serial_rows, lines = _run(tmp_path / "serial", SerialExecutor(fake_objective.make_rungs(tmp_path / "s")))
    local, rows, _ = _run(tmp_path / "local", LocalExecutor(fake_objective.make_rungs(tmp_path / "l", delay=0.01), 2))
    assert [(r["arch"], r["reward"], r["rungs"]) for r in rows] == [(r["arch"], r["reward"], r["rungs"])
                                                                   for r in serial_rows]
    assert [t.to_json() for t in local.trials] == [t.to_json() for t in serial.trials]
    for row, trial in zip(rows, local.trials):
        assert [r["epochs"] for r in row["rungs"]] == sorted(trial.rewards)
        assert [r["reward"] for r in row["rungs"]] == [trial.rewards[e] for e in sorted(trial.rewards)]
    epochs = _epochs_logged(tmp_path / "l")
    assert len(epochs) == len(set(epochs)) == sum(t.epochs for t in local.trials)  # no epoch trained twice
    starts = fake_objective.lines(tmp_path / "l", "start")
    assert any(int(reached) > 0 for _, _, reached, _, _ in starts)  # promotions went on from a checkpoint
    assert any(line.startswith("layer 2/4 rung of 1 epoch(s) closed: ") and "train on to 3 epochs" in line
               for line in lines)
    assert any("(1 epoch rung)" in line for line in lines)


def test_a_failure_in_a_rung_through_the_runner(tmp_path):
    clean, _, _ = _run(tmp_path / "clean", SerialExecutor(fake_objective.make_rungs(tmp_path / "c")))
    promoted = next(t for t in clean.trials if min(t.rewards) == 1 and t.epochs == 5)
    algorithm, rows, lines = _run(tmp_path / "failing", SerialExecutor(
        fake_objective.make_rungs(tmp_path / "f", raise_on=[(str(promoted.arch), 3)])))
    row = rows[promoted.id]
    assert row["status"] == "FAILED" and row["error"] == "RuntimeError: the network diverged"
    assert row["rungs"] == [{"epochs": 1, "reward": promoted.rewards[1], "epochs_trained": 1}]
    assert algorithm.done and any("FAILED" in line for line in lines)


DRIVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import fake_objective
    from conftest import AdditiveSpace
    from layernas_tf.algorithms import LayerNAS
    from layernas_tf.trials.executors import LocalExecutor
    from layernas_tf.trials.runner import Runner
    from layernas_tf.trials.study import Study

    if __name__ == "__main__":
        executor = LocalExecutor(fake_objective.make_rungs({log!r}, delay=0.05), 2)
        study = Study({study!r}, {settings!r})
        Runner(study, LayerNAS(AdditiveSpace(), 20, buckets=3, rungs={rungs!r}), executor, log=print).run()
        executor.close()
        print("finished")
""")


def test_a_driver_killed_mid_rung_resumes_without_training_an_epoch_twice(tmp_path):
    study_dir, log = tmp_path / "study", tmp_path / "log"
    script = DRIVER.format(tests=os.path.join(REPO, "tests"), log=str(log), study=str(study_dir), settings=SETTINGS,
                           rungs=RUNGS)
    command = [sys.executable, "-c", script]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not any(
            int(reached) > 0 and int(reached) < int(to) for _, _, reached, to, _ in fake_objective.lines(log, "start")):
        time.sleep(0.02)  # until a promotion is training on from its checkpoint
    time.sleep(0.03)
    assert process.poll() is None  # killed mid-search
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(0.5)  # the workers die with their driver (their parent-death signal)
    with sqlite3.connect(study_dir / "study.db") as db:
        rungs_before = set(db.execute("SELECT trial, epochs FROM rungs"))
    assert any(epochs == 1 for _, epochs in rungs_before)
    starts_before = len(fake_objective.lines(log, "start"))

    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "finished" in result.stdout, result.stderr[-2000:]
    epochs = _epochs_logged(log)
    assert len(epochs) == len(set(epochs))  # every checkpointed epoch trained once, across the kill
    resumed = fake_objective.lines(log, "start")[starts_before:]
    assert resumed and any(int(reached) > 0 for _, _, reached, _, _ in resumed)
    assert not {(int(t), int(to)) for t, _, _, to, _ in resumed} & rungs_before  # no recorded rung again
    with sqlite3.connect(study_dir / "study.db") as db:
        assert {s for s, in db.execute("SELECT status FROM trials")} == {"COMPLETE"}
        recorded = {(t, e) for t, e in db.execute("SELECT trial, epochs FROM rungs")}
    straight, _, _ = _run(tmp_path / "straight", SerialExecutor(fake_objective.make_rungs(tmp_path / "s")))
    assert recorded == {(t.id, e) for t in straight.trials for e in t.rewards}


@pytest.mark.slow
def test_a_multi_fidelity_search_on_real_training_with_two_local_workers(tmp_path):
    import json  # pylint: disable=import-outside-toplevel

    import layernas_tf  # pylint: disable=import-outside-toplevel
    from layernas_tf.trials import study  # pylint: disable=import-outside-toplevel
    from test_keras_space import small_cnn  # pylint: disable=import-outside-toplevel

    space = layernas_tf.KerasSpace(small_cnn, input_shape=(16, 16, 3), num_classes=10)
    lines = []
    result = layernas_tf.search(
        space=space, madds=(space.cost(space.cheapest()) + space.cost(space.dearest())) // 2, image_size=16,
        proxy_epochs=3, rung_epochs=1, algorithm="layernas", batch_size=64, buckets=2, verbose=0, executor="local",
        parallel_trials=2, cpus_per_trial=1, study_dir=str(tmp_path / "study"), log=lines.append)
    rows = study.read(str(tmp_path / "study"))[1]
    stopped = [r for r in rows if r["rungs"][-1]["epochs"] == 1]
    promoted = [r for r in rows if [g["epochs"] for g in r["rungs"]] == [1, 3]]
    assert stopped and promoted and all(r["status"] == "COMPLETE" for r in rows)
    for row in promoted:  # trained on from the rung's checkpoint: epochs 2 and 3 only
        assert row["metrics"]["first_epoch"] == 1 and row["metrics"]["epochs_trained"] == 2
        assert row["reward"] == row["rungs"][-1]["reward"]
        assert not os.path.exists(tmp_path / "study" / "trials" / f"{row['id']:04d}" / "backup")
    for row in stopped:  # settled once its rung closed without it: its checkpoint is gone
        assert not os.path.exists(tmp_path / "study" / "trials" / f"{row['id']:04d}" / "backup")
    assert result.best["epochs"] == 3 and result.best["full_fidelity"]
    assert result.best["trial"] in {r["id"] for r in rows if r["rungs"][-1]["epochs"] == 3}
    assert all(entry["full_fidelity"] for entry in result.front)
    results = json.loads((tmp_path / "study" / "results.json").read_text())
    assert sorted(results["rungs"]["trials_stopped_at"]["1"]) == sorted(r["id"] for r in stopped)
    assert results["epochs_trained"] == sum(g["epochs_trained"] for r in rows for g in r["rungs"]) < 3 * len(rows)
    assert any("children ranked at 1 and 3 epochs" in line for line in lines)


def test_max_trials_stops_new_trials_but_the_rungs_of_the_layer_close():
    space = AdditiveSpace()
    algo = drive(LayerNAS(space, 20, buckets=3, rungs=RUNGS, max_trials=5), scaled, batch=2)
    assert len(algo.trials) == 5 and algo.stopped_early and algo.done
    best = algo.best()
    assert best is not None and best.epochs == 5 and best.rewards[1] == max(
        t.rewards[1] for t in algo.trials[1:] if 1 in t.rewards and algo.feasible(t.arch))


@pytest.mark.parametrize("reward, batch", [(noisy, 1), (noisy, 3), (scaled, 2)])
def test_a_trial_called_settled_never_trains_again_and_every_trial_ends_settled(reward, batch):
    """What lets the search delete a stopped rung's checkpoint: once `settled`, a trial is never handed out again."""
    space = AdditiveSpace()
    algo = LayerNAS(space, 20, buckets=3, rungs=RUNGS)
    settled_at: dict[int, int] = {}  # trial -> its epochs when first called settled
    early = 0
    while not algo.done:
        for trial in algo.suggest(batch):
            assert trial.id not in settled_at, f"trial {trial.id} was settled at {settled_at[trial.id]} epochs"
            algo.report(trial.id, reward(trial.arch, trial.epochs))
        for trial in algo.trials:
            if trial.id not in settled_at and algo.settled(trial):
                settled_at[trial.id] = trial.epochs
                early += not algo.done and trial.epochs < RUNGS[-1]
    assert all(algo.settled(t) for t in algo.trials) and len(settled_at) == len(algo.trials)
    assert {t.id: t.epochs for t in algo.trials} == settled_at
    assert early  # stopped rungs are settled while the search goes on, not only at its end
