"""A trial across several worker processes: groups under MultiWorkerMirroredStrategy on 127.0.0.1."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import fake_objective
from conftest import REPO, AdditiveSpace
from layernas_tf.algorithms import LayerNAS
from layernas_tf.training import distribute
from layernas_tf.trials.executors import LocalExecutor, RayExecutor, free_ports, group_config
from layernas_tf.trials.runner import Runner
from layernas_tf.trials.study import Study


@pytest.mark.parametrize("executor", [LocalExecutor, RayExecutor])
@pytest.mark.parametrize("slots, group, message", [(0, 1, "parallel_trials must be >= 1, got 0"),
                                                   (2, 0, "workers_per_trial must be >= 1, got 0")])
def test_a_pool_executor_refuses_no_slots_or_an_empty_group_before_any_worker_starts(executor, slots, group, message):
    import ray  # pylint: disable=import-outside-toplevel

    with pytest.raises(ValueError, match=message):
        executor(fake_objective.make(None, delay=0), slots, workers_per_trial=group)
    assert not ray.is_initialized()  # the Ray executor refused before it started a Ray of its own


def test_a_group_trains_each_trial_on_every_member_and_answers_once(tmp_path):
    log = tmp_path / "log"
    executor = LocalExecutor(fake_objective.make(log, delay=0), 2, workers_per_trial=2)
    study = Study(str(tmp_path / "study"), {"space": "additive"})
    algorithm = LayerNAS(AdditiveSpace(), 20, buckets=3)
    try:
        Runner(study, algorithm, executor, log=lambda line: None).run()
        rows = study.trials()
    finally:
        study.close()
        executor.close()
    starts = fake_objective.started(log)
    assert len(starts) == 2 * len(rows)  # every member trained every trial
    assert all(sum(1 for s in starts if s[0] == r["id"]) == 2 for r in rows)
    assert all(r["status"] == "COMPLETE" for r in rows) and algorithm.done
    assert "2 groups of 2 worker processes" in executor.describe()


def test_a_member_that_dies_takes_its_group_down_and_the_trial_is_retried(tmp_path):
    log = tmp_path / "log"
    # The first member to start 0:3:1:2 dies; the group is started again and trains it again.
    executor = LocalExecutor(fake_objective.make(log, die_once=["0:3:1:2"], delay=0.05), 1, workers_per_trial=2)
    study = Study(str(tmp_path / "study"), {"space": "additive"})
    lines = []
    try:
        Runner(study, LayerNAS(AdditiveSpace(), 20, buckets=3), executor, log=lines.append).run()
        rows = {r["arch"]: r for r in study.trials()}
    finally:
        study.close()
        executor.close()
    assert rows["0:3:1:2"]["status"] == "COMPLETE"
    retried = [line for line in lines if "training it again" in line]
    assert len(retried) == 1 and "member" in retried[0] and "of a group of 2" in retried[0]
    pids = {pid for _, arch, pid in _starts_with_pids(log) if arch == "0:3:1:2"}
    assert len(pids) >= 3  # two groups' members: the dead one's group was replaced whole


def _starts_with_pids(log):
    with open(log, encoding="utf-8") as f:
        return [tuple(line.split()) for line in f if line.strip()]


def test_group_configs_name_every_member_on_this_host():
    ports = free_ports(3)
    configs = [json.loads(group_config(ports, i)) for i in range(3)]
    assert all(c["cluster"]["worker"] == [f"127.0.0.1:{p}" for p in ports] for c in configs)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]


def test_workers_meet_before_the_strategy_starts_and_a_missing_one_is_named_in_bounded_time():
    ports = free_ports(2)
    workers = [f"127.0.0.1:{p}" for p in ports]
    errors = []

    def member(index):
        try:
            distribute.meet(workers, index, timeout=30)
        except ValueError as e:
            errors.append(e)

    threads = [threading.Thread(target=member, args=(i,)) for i in range(2)]
    for i, thread in enumerate(threads):
        thread.start()
        time.sleep(0.5 * i)  # the second member comes late
    for thread in threads:
        thread.join()
    assert not errors
    start = time.time()
    with pytest.raises(ValueError, match=f"worker 1 of TF_CONFIG's cluster, at {workers[1]}, did not answer "
                                         "within 2 s"):
        distribute.meet(workers, 0, timeout=2)
    assert time.time() - start < 10
    with socket.socket() as server:  # the port is free again for the strategy's server (which reuses addresses)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", ports[0]))
        server.listen(1)


def test_tf_config_that_is_not_a_cluster_is_refused(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "chief",
                                                                                              "index": 0}}))
    with pytest.raises(ValueError, match="is not one of its 1 workers"):
        distribute.cluster()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"task": {}}))
    with pytest.raises(ValueError, match='TF_CONFIG must be {"cluster"'):
        distribute.cluster()


@pytest.mark.slow
def test_a_command_whose_tf_config_names_a_worker_nobody_runs_ends_in_bounded_time_with_one_line(tmp_path):
    ports = free_ports(2)
    env = dict(os.environ, TF_CONFIG=group_config(ports, 0), LAYERNAS_PEER_TIMEOUT="5")
    start = time.time()
    result = subprocess.run([sys.executable, "-m", "layernas_tf.main", "--space=nats_sss", "--params=600K",
                             "--image_size=16", "--proxy_epochs=1", "--batch_size=64", "--max_trials=1",
                             "--strategy=multi_worker", "--verbose=0", f"--study_dir={tmp_path / 'study'}"],
                            cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    errors = [line for line in result.stderr.splitlines() if line.startswith("main.py: error:")]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-3000:]
    assert f"worker 1 of TF_CONFIG's cluster, at 127.0.0.1:{ports[1]}, did not answer within 5 s" in errors[0]
    assert time.time() - start < 120


@pytest.mark.slow
def test_a_search_whose_trials_train_on_two_processes_matches_one_process(tmp_path, local_ray):
    """Each trial on a group of two processes (one CPU thread each) under MultiWorkerMirroredStrategy, the
    global batch split between them, against one process of one thread with that batch: the same trials
    and, to floating-point tolerance, the same losses and rewards; the driver alone writes the study. The
    groups of local processes and of Ray actors alike."""
    import layernas_tf  # pylint: disable=import-outside-toplevel
    from layernas_tf.trials import study  # pylint: disable=import-outside-toplevel
    from test_keras_space import small_cnn  # pylint: disable=import-outside-toplevel

    space = layernas_tf.KerasSpace(small_cnn, input_shape=(16, 16, 3), num_classes=10)
    common = dict(space=space, madds=space.cost(space.dearest()), image_size=16, proxy_epochs=2, batch_size=64,
                  algorithm="layernas", max_trials=3, verbose=0, log=lambda line: None)
    one = layernas_tf.search(**common, executor="local", parallel_trials=1, cpus_per_trial=1, study_dir=str(tmp_path / "one"))
    two = layernas_tf.search(**common, workers_per_trial=2, cpus_per_trial=2, study_dir=str(tmp_path / "two"))
    on_ray = layernas_tf.search(**common, executor="ray", workers_per_trial=2, cpus_per_trial=2,
                                study_dir=str(tmp_path / "ray"))
    rows = {name: study.read(str(tmp_path / name))[1] for name in ("one", "two", "ray")}
    assert [r["arch"] for r in rows["one"]] == [r["arch"] for r in rows["two"]] == [r["arch"] for r in rows["ray"]]
    for single, group in [*zip(rows["one"], rows["two"]), *zip(rows["one"], rows["ray"])]:
        assert group["metrics"]["replicas"] == 2 and single["metrics"]["replicas"] == 1
        assert group["metrics"]["train_loss"] == pytest.approx(single["metrics"]["train_loss"], rel=1e-4)
        assert group["metrics"]["val_loss"] == pytest.approx(single["metrics"]["val_loss"], rel=1e-4)
        assert abs(group["reward"] - single["reward"]) <= 1 / 144 + 1e-9  # one validation image at most
    for name in ("two", "ray"):
        for group in rows[name]:
            directory = tmp_path / name / "trials" / f"{group['id']:04d}"
            assert sorted(os.listdir(directory)) in (["tensorboard"], ["tensorboard", "weights.npz"])  # chief only
    assert one.best["arch"] == two.best["arch"] == on_ray.best["arch"]


@pytest.fixture
def local_ray(monkeypatch):
    """Ray's workers import the fake objectives and test spaces from tests/, like the pytest process."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [os.path.dirname(__file__),
                                                                   os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("RAY_TMPDIR", tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # socket paths under 108 bytes
    yield
    import ray  # pylint: disable=import-outside-toplevel

    ray.shutdown()
    shutil.rmtree(os.environ["RAY_TMPDIR"], ignore_errors=True)


@pytest.mark.slow
def test_ray_forms_groups_from_actors_and_a_lost_member_takes_its_group_down(tmp_path, local_ray):
    """The Ray executor's groups, which may span nodes: each member names its node and a port, all train
    every trial, the chief answers; a member killed mid-trial loses the trial, which a new group trains."""
    from layernas_tf.trials.executors import RayExecutor  # pylint: disable=import-outside-toplevel

    log = tmp_path / "log"
    executor = RayExecutor(fake_objective.make(log, die_once=["0:3:1:2"], delay=0.05), 1, cpus_per_trial=2,
                           workers_per_trial=2)
    study = Study(str(tmp_path / "study"), {"space": "additive"})
    lines = []
    try:
        assert "1 groups of 2 actors, 1 CPU and 0 GPU each" in executor.describe()
        Runner(study, LayerNAS(AdditiveSpace(), 20, buckets=3), executor, log=lines.append).run()
        rows = {r["arch"]: r for r in study.trials()}
    finally:
        study.close()
        executor.close()
    assert all(r["status"] == "COMPLETE" for r in rows.values()) and rows["0:3:1:2"]["status"] == "COMPLETE"
    starts = fake_objective.started(log)
    assert all(sum(1 for s in starts if s[0] == r["id"]) == 2 for r in rows.values() if r["arch"] != "0:3:1:2")
    retried = [line for line in lines if "training it again" in line]
    assert len(retried) == 1 and "a member of a group of 2" in retried[0]
    pids = {pid for _, arch, pid in _starts_with_pids(log) if arch == "0:3:1:2"}
    assert len(pids) >= 3  # the dead member's group was replaced whole


@pytest.mark.slow
def test_ray_replaces_an_actor_whose_memory_grew_and_one_that_ran_out(tmp_path, local_ray):
    from layernas_tf.trials.executors import RayExecutor  # pylint: disable=import-outside-toplevel

    log = tmp_path / "log"
    executor = RayExecutor(fake_objective.make(log, leak_mb=40, oom_on=["0:3:1:2"], delay=0), 1, cpus_per_trial=1,
                           memory_growth_mb=100)
    study = Study(str(tmp_path / "study"), {"space": "additive"})
    lines = []
    try:
        Runner(study, LayerNAS(AdditiveSpace(), 20, buckets=3), executor, log=lines.append).run()
        rows = study.trials()
    finally:
        study.close()
        executor.close()
    completed = [r for r in rows if r["status"] == "COMPLETE"]
    workers = [r["metrics"]["worker"] for r in completed]
    assert len(completed) == len(rows) - 1 and executor.replaced >= 2
    assert max(workers.count(w) for w in set(workers)) <= 4  # 40 MB a trial: replaced after at most 4
    failed = next(r for r in rows if r["status"] == "FAILED")
    assert failed["arch"] == "0:3:1:2" and failed["error"].startswith("out of memory: ResourceExhaustedError")
    pids = {pid for _, arch, pid in _starts_with_pids(log) if arch == "0:3:1:2"}
    assert len(pids) == 2  # retried on a fresh actor


RAY_DRIVER = """
import sys, time
import fake_objective
from layernas_tf.trials.executors import RayExecutor

executor = RayExecutor(fake_objective.make(sys.argv[1], delay=60), 2, cpus_per_trial=1)
executor.submit(0, "0:1", attempt=1)  # each sleeps a minute or more: still training when the driver is killed
executor.submit(1, "0:3", attempt=2)
print("submitted", flush=True)
executor.wait()
"""


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        children = subprocess.run(["pgrep", "-P", str(todo.pop())], capture_output=True, text=True).stdout.split()
        todo += [int(c) for c in children]
        found.update(int(c) for c in children)
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().split(") ")[-1][0] != "Z"  # a zombie has ended, only its parent has not reaped it
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_a_ray_driver_killed_by_sigkill_takes_its_actors_with_it(tmp_path, local_ray):
    """SIGKILL leaves the driver no chance to close its executor: Ray itself must end the actors it owned (and the
    Ray it started), or they would train on, holding the machine, for a search that no longer exists."""
    log = tmp_path / "log"
    driver = subprocess.Popen([sys.executable, "-c", RAY_DRIVER, str(log)], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert driver.stdout.readline().strip() == "submitted"
        deadline = time.time() + 120
        while (not log.exists() or len(_starts_with_pids(log)) < 2) and time.time() < deadline:
            time.sleep(0.5)
        actors = {int(pid) for _, _, pid in _starts_with_pids(log)}
        assert len(actors) == 2 and all(_alive(p) for p in actors)  # both actors are training
        ray_processes = _descendants(driver.pid)  # the Ray it started: GCS, raylet, their agents, the actors
        assert actors <= ray_processes
        driver.kill()
        driver.wait()
        started = time.time()
        while any(_alive(p) for p in ray_processes) and time.time() < started + 150:
            time.sleep(0.5)
        assert not [p for p in ray_processes if _alive(p)]
        # Measured here: the actors end within seconds (the raylet kills them); Ray's dashboard and runtime-env
        # agents notice their raylet gone within about a minute.
        print(f"every process of the killed driver's Ray ended {time.time() - started:.0f} s after the SIGKILL")
    finally:
        if driver.poll() is None:
            driver.kill()
