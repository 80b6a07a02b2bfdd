"""The final training command: a searched network trained with a full recipe, exported and checked; resumed."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, command_in_process
from layernas_tf import main as main_module
from layernas_tf import train
from layernas_tf.trials.artefacts import THREADS_ENV
from layernas_tf.trials.executors import free_ports, group_config

SEARCH = ["--space=test_keras_space:small_cnn", "--madds=2M", "--image_size=32", "--proxy_epochs=1",
          "--batch_size=64", "--max_trials=2", "--verbose=0"]


def test_a_directory_without_a_study_or_a_bad_recipe_is_refused_with_one_line(tmp_path, capsys):
    status, lines = command_in_process(train, capsys, f"--study_dir={tmp_path / 'none'}")
    assert status == 2 and len(lines) == 1 and "holds no study (study.db)" in lines[0]
    status, lines = command_in_process(train, capsys, f"--study_dir={tmp_path}", "--ema=1.5")
    assert status == 2 and len(lines) == 1 and "--ema=1.5 is not in [0, 1)" in lines[0]
    status, lines = command_in_process(train, capsys, f"--study_dir={tmp_path}", "--epochs=2", "--warmup_epochs=2")
    assert status == 2 and "--warmup_epochs=2.0 is not below --epochs=2" in lines[0]
    status, lines = command_in_process(train, capsys, f"--study_dir={tmp_path}", "--dropout=1.5")
    assert status == 2 and len(lines) == 1 and "--dropout=1.5 is not in [0, 1)" in lines[0]


@pytest.mark.slow
def test_the_answer_trains_with_a_full_recipe_is_exported_and_a_killed_training_resumes(tmp_path, capsys):
    study_dir = tmp_path / "study"
    assert command_in_process(main_module, capsys, *SEARCH, f"--study_dir={study_dir}")[0] is None
    status, lines = command_in_process(train, capsys, f"--study_dir={study_dir}", "--trial=7")
    assert status == 2 and len(lines) == 1 and "--trial=7 (no such trial): choose a completed trial of" in lines[0]
    # The final training exports the kind the search exported (results.json), unless told otherwise.
    results = json.loads((study_dir / "results.json").read_text())
    assert results["tflite"] == "float" and train.plan(str(study_dir)).tflite == "float"
    (study_dir / "results.json").write_text(json.dumps({**results, "tflite": "int8"}))
    assert train.plan(str(study_dir)).tflite == "int8" and train.plan(str(study_dir), tflite="dynamic").tflite == "dynamic"
    (study_dir / "results.json").write_text(json.dumps(results))

    args = [sys.executable, "-m", "layernas_tf.train", f"--study_dir={study_dir}", "--epochs=8",
            "--optimizer=rmsprop", "--learning_rate=0.005", "--ema=0.9", "--augment=randaugment", "--mixed_precision",
            "--verbose=2"]
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}  # the space's module, for the command
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.time() + 300
        # The epoch's weights are written first, then the metadata that marks the backup whole.
        while not any(os.path.exists(os.path.join(root, "backup", "training_metadata.json"))
                      for root in _final_dirs(study_dir)):
            assert time.time() < deadline and process.poll() is None, "the final training never saved an epoch"
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)  # preempted after its first epoch
    finally:
        process.kill()
        process.wait()
    resumed = subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 1/8" not in resumed.stdout and "Epoch 8/8" in resumed.stdout  # from the backup, not epoch 1
    (final,) = _final_dirs(study_dir)
    report = json.loads(open(os.path.join(final, "final.json")).read())
    assert report["recipe"]["optimizer"] == "rmsprop" and report["recipe"]["ema"] == 0.9
    assert report["recipe"]["augment"] == "randaugment" and report["final"]["epochs"] == 8
    assert report["recipe"]["precision"] == "mixed_bfloat16"  # trained in bfloat16, exported in float32
    assert report["exports"]["tflite"]["verified"] and os.path.isdir(os.path.join(final, "tensorboard"))
    assert not os.listdir(os.path.join(final, "backup")) if os.path.isdir(os.path.join(final, "backup")) else True


def _final_dirs(study_dir):
    root = os.path.join(study_dir, "final")
    return [os.path.join(root, d) for d in os.listdir(root)] if os.path.isdir(root) else []


@pytest.mark.slow
def test_the_final_training_on_a_two_worker_cluster_matches_one_process_and_only_the_chief_writes(tmp_path, capsys):
    """Each host of a cluster runs the same command with its TF_CONFIG (here two processes on 127.0.0.1): they
    train in lockstep over the global batch, worker 0 alone writes TensorBoard, the export and final.json,
    and the network scores as one process training with that batch does."""
    one, cluster = tmp_path / "one", tmp_path / "cluster"
    assert command_in_process(main_module, capsys, *SEARCH, f"--study_dir={one}")[0] is None
    shutil.copytree(one, cluster)
    recipe = ["--epochs=2", "--batch_size=64", "--learning_rate=0.01", "--verbose=2"]
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__), THREADS_ENV: "1"}
    command = [sys.executable, "-m", "layernas_tf.train", *recipe]
    ports = free_ports(2)
    workers = [subprocess.Popen([*command, f"--study_dir={cluster}", "--strategy=multi_worker"], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**env, "TF_CONFIG": group_config(ports, index)}) for index in range(2)]
    try:
        single = subprocess.run([*command, f"--study_dir={one}", "--strategy=default"], cwd=REPO, capture_output=True,
                                text=True, env=env, timeout=600)
        outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert single.returncode == 0, single.stderr[-3000:]
    assert [worker.returncode for worker in workers] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "multi_worker strategy over 2 replicas" in outputs[0]
    assert "worker 1 of the cluster has trained its share" in outputs[1] and "exported" not in outputs[1]
    (final,) = _final_dirs(cluster)
    report = json.loads(open(os.path.join(final, "final.json")).read())
    alone = json.loads(open(os.path.join(_final_dirs(one)[0], "final.json")).read())
    assert report["recipe"]["replicas"] == 2 and alone["recipe"]["replicas"] == 1
    assert report["exports"]["tflite"]["verified"]
    assert abs(report["final"]["val_top1"] - alone["final"]["val_top1"]) <= 1 / 144 + 1e-9  # one image at most
    assert sorted(os.listdir(final)) == ["export", "final.json", "tensorboard"]  # each worker's backup, deleted at the end


def test_a_final_training_whose_cluster_never_forms_ends_in_bounded_time_with_one_line(tmp_path, capsys, monkeypatch):
    ports = free_ports(2)
    monkeypatch.setenv("TF_CONFIG", group_config(ports, 0))
    monkeypatch.setenv("LAYERNAS_PEER_TIMEOUT", "3")
    start = time.time()
    status, lines = command_in_process(train, capsys, f"--study_dir={tmp_path}", "--strategy=multi_worker")
    assert status == 2 and len(lines) == 1 and time.time() - start < 60
    assert f"worker 1 of TF_CONFIG's cluster, at 127.0.0.1:{ports[1]}, did not answer within 3 s" in lines[0]
    status, lines = command_in_process(train, capsys, f"--study_dir={tmp_path}", "--strategy=multi_worker",
                                       "--steps_per_execution=8")
    assert status == 2 and "--steps_per_execution=8 does not run under MultiWorkerMirroredStrategy" in lines[0]
