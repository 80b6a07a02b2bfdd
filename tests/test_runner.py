"""The trial runner with fake objectives: any finishing order, failures, dead workers, a killed driver."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

import fake_objective
import conftest
from conftest import REPO
from layernas_tf.algorithms import LayerNAS, RegularizedEvolution
from layernas_tf.trials.executors import Executor, LocalExecutor, Result, SerialExecutor, WorkerSetupError
from layernas_tf.trials.runner import NoSignal, Runner
from layernas_tf.trials.study import Study

SETTINGS = {"space": "additive", "target": [0, 20], "buckets": 3}


def _layernas(space):
    return LayerNAS(space, 20, buckets=3)


def _run(tmp_path, space, executor, algorithm=None, retries=1):
    study = Study(str(tmp_path / "study"), SETTINGS)
    algorithm = algorithm or _layernas(space)
    lines = []
    Runner(study, algorithm, executor, retries=retries, log=lines.append, expected_trials=40).run()
    rows = study.trials()
    study.close()
    return algorithm, rows, lines


def _layers(algorithm):
    return [sorted(entry["kept"]) for entry in algorithm.layer_log]


def test_serial_runner_records_every_trial_and_failure(tmp_path, additive_space):
    log = tmp_path / "log"
    executor = SerialExecutor(fake_objective.make(log, raise_on=["0:3:1:2"], delay=0))
    algorithm, rows, lines = _run(tmp_path, additive_space, executor)
    assert [r["id"] for r in rows] == list(range(len(algorithm.trials)))
    failed = [r for r in rows if r["status"] == "FAILED"]
    assert [r["arch"] for r in failed] == ["0:3:1:2"]
    assert failed[0]["error"] == "RuntimeError: the network diverged"  # failed at once: not retried
    assert all(r["ended"] >= r["started"] for r in rows)
    progress = [line for line in lines if "reward" in line]
    assert len(progress) == len(rows) - 1 and "left <=" in progress[0]
    assert any("over budget" in line for line in progress)  # the default network (cost 35) exceeds 20
    assert len(fake_objective.started(log)) == len(rows)
    closed = [line for line in lines if line.startswith("layer ")]
    assert len(closed) == len(additive_space) == len(algorithm.layer_log)
    first = algorithm.layer_log[0]
    kept = [algorithm.tried(additive_space.parse(a)) for a in first["kept"]]
    assert closed[0].startswith(f"layer 1/4 layer_0 closed: {first['searchable']} searchable children, 3 buckets")
    assert closed[0].endswith(", ".join(f"trial {t.id} ({t.reward:.4f})" for t in kept))
    # Each layer's line comes right after the result that closed it, before the next layer's trials.
    assert lines.index(closed[0]) < next(i for i, line in enumerate(lines)
                                         if line.startswith("trial") and algorithm.trials[int(line.split()[1])].arch[1] != 3)


def test_parallel_workers_finish_in_any_order_and_layernas_keeps_the_same_candidates(tmp_path, additive_space):
    serial, serial_rows, _ = _run(tmp_path / "serial", additive_space,
                                  SerialExecutor(fake_objective.make(tmp_path / "serial.log", delay=0)))
    executor = LocalExecutor(fake_objective.make(tmp_path / "local.log", delay=0.05), 3)
    try:
        parallel, rows, _ = _run(tmp_path / "local", additive_space, executor)
    finally:
        executor.close()
    ended = [r["id"] for r in sorted(rows, key=lambda r: r["ended"])]
    assert ended != sorted(ended)  # results came back out of order
    assert len({r["metrics"]["worker"] for r in rows}) == 3
    assert _layers(parallel) == _layers(serial)
    assert sorted(r["arch"] for r in rows) == sorted(r["arch"] for r in serial_rows)
    assert parallel.best().arch == serial.best().arch


def test_a_dead_worker_is_replaced_and_its_trial_retried_then_failed(tmp_path, additive_space):
    log = tmp_path / "log"
    executor = LocalExecutor(fake_objective.make(log, die_on=["1:0:1:2"], die_once=["0:3:1:2"]), 2)
    try:
        algorithm, rows, lines = _run(tmp_path, additive_space, executor, retries=1)
    finally:
        executor.close()
    by_arch = {r["arch"]: r for r in rows}
    assert by_arch["0:3:1:2"]["status"] == "COMPLETE"  # died once, trained again on a fresh worker
    assert by_arch["1:0:1:2"]["status"] == "FAILED"
    assert "killed by SIGKILL (2 attempt(s))" in by_arch["1:0:1:2"]["error"]
    starts = [arch for _, arch in fake_objective.started(log)]
    assert starts.count("1:0:1:2") == 2 and starts.count("0:3:1:2") == 2
    assert sum("training it again (attempt 2 of 2)" in line for line in lines) == 2
    assert algorithm.done and all(r["status"] in ("COMPLETE", "FAILED") for r in rows)


def test_out_of_memory_is_a_reason_retried_on_a_fresh_worker_and_counted(tmp_path, additive_space):
    """An injected ResourceExhaustedError (a GPU allocator's) and a real address-space limit (MemoryError)."""
    log = tmp_path / "log"
    executor = LocalExecutor(fake_objective.make(log, oom_on=["0:3:1:2"], memory_limit_on=["1:0:1:2"], delay=0), 2)
    try:
        algorithm, rows, lines = _run(tmp_path, additive_space, executor, retries=1)
    finally:
        executor.close()
    by_arch = {r["arch"]: r for r in rows}
    for arch, kind in (("0:3:1:2", "ResourceExhaustedError: OOM when allocating"), ("1:0:1:2", "MemoryError")):
        assert by_arch[arch]["status"] == "FAILED"
        assert by_arch[arch]["error"].startswith(f"out of memory: {kind}"), by_arch[arch]["error"]
        assert by_arch[arch]["error"].endswith("(2 attempt(s))")
        pids = [int(line.split()[2]) for line in log.read_text().splitlines() if line.split()[1] == arch]
        assert len(pids) == 2 and pids[0] != pids[1]  # the second attempt ran on a fresh worker
    assert algorithm.done and sum(r["status"] == "COMPLETE" for r in rows) == len(rows) - 2  # the search went on
    assert lines[-1].startswith("2 trial(s) failed out of memory (trials ")


def test_a_worker_whose_memory_grew_is_replaced_without_training_anything_again(tmp_path, additive_space):
    log = tmp_path / "log"
    executor = LocalExecutor(fake_objective.make(log, leak_mb=40, delay=0), 1, memory_growth_mb=100)
    try:
        algorithm, rows, _ = _run(tmp_path, additive_space, executor)
    finally:
        executor.close()
    workers = [r["metrics"]["worker"] for r in rows]
    assert all(r["status"] == "COMPLETE" for r in rows) and len(fake_objective.started(log)) == len(rows)
    # 40 MB kept a trial: past 100 MB over its first trial's mark after 4 trials, so 4 trials a worker.
    assert [workers.count(w) for w in dict.fromkeys(workers)][:-1] == [4] * (len(set(workers)) - 1)
    assert executor.replaced == len(set(workers)) - 1 >= 2
    assert max(r["metrics"]["worker_rss_mb"] for r in rows) - min(r["metrics"]["worker_rss_mb"] for r in rows) < 200
    assert algorithm.done


def test_worker_setup_failure_stops_the_run_with_its_reason(tmp_path, additive_space):
    def broken():
        raise FileNotFoundError("no such dataset")

    with pytest.raises(WorkerSetupError, match="no such dataset"):
        _run(tmp_path, additive_space, SerialExecutor(broken))


def test_a_worker_that_dies_before_it_starts_ends_the_run_in_moments():
    executor = LocalExecutor(fake_objective.Unloadable(), 1)
    executor.submit(0, "0:0")
    with pytest.raises(WorkerSetupError, match="exited with status 1 before it could start"):
        executor.wait()


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
        executor = LocalExecutor(fake_objective.make({log!r}, delay=0.1), 2)
        study = Study({study!r}, {settings!r})
        Runner(study, LayerNAS(AdditiveSpace(), 20, buckets=3), executor, log=print).run()
        executor.close()
        print("finished")
""")


def test_driver_killed_at_any_moment_resumes_without_retraining(tmp_path):
    study_dir, log = tmp_path / "study", tmp_path / "log"
    script = DRIVER.format(tests=os.path.join(REPO, "tests"), log=str(log), study=str(study_dir), settings=SETTINGS)
    command = [sys.executable, "-c", script]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(fake_objective.started(log)) < 8 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(os.getpgid(process.pid), 0)  # still alive
    workers = [conftest.process(int(pid)) for pid in
               subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()]
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.time() + 30
    while any(conftest.running(worker) for worker in workers) and time.time() < deadline:
        time.sleep(0.05)  # the workers die with their driver (their parent-death signal)
    with sqlite3.connect(study_dir / "study.db") as db:
        complete_before = {arch for arch, in db.execute("SELECT arch FROM trials WHERE status = 'COMPLETE'")}
    assert complete_before
    starts_before = len(fake_objective.started(log))

    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "finished" in result.stdout, result.stderr[-2000:]
    retrained = [arch for _, arch in fake_objective.started(log)[starts_before:]]
    assert not complete_before & set(retrained)
    with sqlite3.connect(study_dir / "study.db") as db:
        assert {s for s, in db.execute("SELECT status FROM trials")} == {"COMPLETE"}


def test_runner_drives_every_algorithm(tmp_path, additive_space):
    executor = LocalExecutor(fake_objective.make(tmp_path / "log"), 2)
    try:
        algorithm, rows, _ = _run(tmp_path, additive_space, executor,
                                  algorithm=RegularizedEvolution(additive_space, 20, max_trials=12))
    finally:
        executor.close()
    assert len(rows) == 12 and algorithm.done and algorithm.best() is not None


def test_a_reward_without_signal_stops_the_search_keeping_its_trials_and_resumes_only_when_told(tmp_path,
                                                                                                additive_space):
    log = tmp_path / "log"

    def run(no_signal_trials):
        study = Study(str(tmp_path / "study"), SETTINGS)
        try:
            Runner(study, _layernas(additive_space), SerialExecutor(fake_objective.make(log, delay=0, constant=0.25)),
                   log=lambda line: None, no_signal_trials=no_signal_trials).run()
        finally:
            rows = study.trials()
            study.close()
        return rows

    with pytest.raises(NoSignal, match=r"the first 4 networks trained all scored 0\.2500: the reward carries no "
                                       r"signal.*the 4 completed trial\(s\) are kept in .*no_signal_trials=0"):
        run(4)
    assert len(fake_objective.started(log)) == 4
    with pytest.raises(NoSignal):  # resumed with the check on: stops again at once, training nothing
        run(4)
    assert len(fake_objective.started(log)) == 4
    rows = run(0)  # told to go on: the search ends as it would have
    assert len(fake_objective.started(log)) == len(rows) > 4 and all(r["status"] == "COMPLETE" for r in rows)
    # Rewards that differ among the first networks never stop a search, however many tie later.
    other = tmp_path / "other"
    study = Study(str(other), SETTINGS)
    Runner(study, _layernas(additive_space), SerialExecutor(fake_objective.make(other / "log", delay=0)),
           log=lambda line: None, no_signal_trials=4).run()
    study.close()


def test_a_sigterm_that_a_library_turns_into_a_plain_keyboardinterrupt_still_exits_143():
    """Ray's `wait` catches the `Stopped` a SIGTERM raises inside it and raises a plain KeyboardInterrupt: the exit
    status still says SIGTERM (143), as batch systems expect, not Ctrl-C (130)."""
    from layernas_tf.trials import stopping  # pylint: disable=import-outside-toplevel

    with pytest.raises(KeyboardInterrupt) as caught:
        with stopping.sigterm_stops():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except stopping.Stopped:
                raise KeyboardInterrupt from None  # what Ray's wait does with it
    assert type(caught.value) is KeyboardInterrupt and stopping.exit_status(caught.value) == 143


class _Partitioned(Executor):
    """One worker whose first trial's node drops out: given up as lost, it answers late, after the retry is out,
    with a reward the trial never earned. What a Ray actor behind a network partition does."""

    def __init__(self):
        self.queue, self.victim, self.late = [], None, None

    def submit(self, trial_id, arch, epochs=None, attempt=0):
        self.victim = self.victim or arch
        self.queue.append((trial_id, arch, attempt))

    def wait(self):
        trial_id, arch, attempt = self.queue.pop(0)
        if arch == self.victim and self.late is None:
            self.late = Result(trial_id, metrics={"reward": -100.0}, attempt=attempt)
            return [Result(trial_id, error="Ray worker lost: node unreachable", lost=True, attempt=attempt)]
        answer = Result(trial_id, metrics={"reward": fake_objective.toy_reward(arch)}, attempt=attempt)
        return [self.late, answer] if arch == self.victim else [answer]


def test_a_late_result_of_an_attempt_given_up_on_is_ignored(tmp_path, additive_space):
    executor = _Partitioned()
    algorithm, rows, lines = _run(tmp_path, additive_space, executor)
    (victim,) = [r for r in rows if r["arch"] == executor.victim]
    assert victim["status"] == "COMPLETE" and victim["reward"] == fake_objective.toy_reward(executor.victim)
    assert any("ignored a late result of an attempt no longer out" in line for line in lines)
    assert all(r["status"] == "COMPLETE" for r in rows) and algorithm.done


def test_every_executor_hands_back_the_attempt_it_was_given(tmp_path):
    for executor in (SerialExecutor(fake_objective.make(tmp_path / "serial", delay=0)),
                     LocalExecutor(fake_objective.make(tmp_path / "local", die_on=["0:1"], delay=0), 1)):
        try:
            executor.submit(3, "0:0", attempt=7)
            assert [(r.trial_id, r.attempt, r.lost) for r in executor.wait()] == [(3, 7, False)]
            if isinstance(executor, LocalExecutor):
                executor.submit(4, "0:1", attempt=9)  # its worker dies: the lost result is stamped too
                assert [(r.trial_id, r.attempt, r.lost) for r in executor.wait()] == [(4, 9, True)]
        finally:
            executor.close()


def test_a_trial_trained_at_half_the_batch_is_said_and_counted(tmp_path, additive_space):
    def objective(trial_id, arch):
        if arch != "0:3:1:2":
            return {"reward": fake_objective.toy_reward(arch)}
        return {"reward": fake_objective.toy_reward(arch), "batch_size": 32,
                "out_of_memory_retry": "out of memory at batch_size 64 (ResourceExhaustedError: OOM)"}

    algorithm, rows, lines = _run(tmp_path, additive_space, SerialExecutor(lambda: objective))
    (halved,) = [r for r in rows if r["metrics"].get("batch_size") == 32]
    assert halved["arch"] == "0:3:1:2" and halved["status"] == "COMPLETE"
    assert f"trial {halved['id']:>4}: out of memory at batch_size 64 (ResourceExhaustedError: OOM); trained at " \
           "batch_size 32 instead" in lines
    assert lines[-1] == (f"1 trial(s) ran out of memory and trained at half the batch_size (trials {halved['id']}): "
                         "their rewards are the smaller batch's")
