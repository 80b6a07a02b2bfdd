"""The NATS-Bench comparison from the command line: outputs, and bad input."""

import json
import math
import os
import subprocess
import sys

import pytest

from conftest import NATS_CSV, NATS_OFFICIAL, REPO
from experiments import comparison
from layernas_tf import algorithms


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "experiments.nats_bench", *args], cwd=REPO, capture_output=True, text=True
    )


def test_writes_summary_table_and_curves(tmp_path):
    out = tmp_path / "out"
    result = run_cli(f"--table={NATS_CSV}", "--dataset=cifar100", "--runs=3", f"--output_dir={out}")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"benchmark", "dataset", "flops_limit", "runs", "max_trials", "oracle", "algorithms"}
    assert summary["benchmark"] == "nats_sss"
    assert summary["dataset"] == "cifar100" and summary["runs"] == 3
    assert summary["flops_limit"] == 0.5 * 274_405_732  # the largest network, 100 classes
    assert summary["oracle"]["arch"] == "4:6:5:6:7" and summary["oracle"]["test"] == 70.32
    assert list(summary["algorithms"]) == algorithms.names()
    for stats in summary["algorithms"].values():
        assert set(stats) == {"trials_mean", "valid_mean", "test_mean", "test_std", "test_q25", "test_q75", "seconds",
                              "test_mean_at", "trials_saved_mean", "answered", "test_mean_answered", "held_out_mean"}
        assert stats["held_out_mean"] is None  # NATS-Bench's table: one training per network, none held out
        assert stats["answered"] == 3 and stats["test_mean_answered"] == pytest.approx(stats["test_mean"])
        assert list(stats["test_mean_at"]) == [str(n) for n in range(25, summary["max_trials"] + 1, 25)]
        assert stats["trials_mean"] == summary["max_trials"] <= 400
        assert stats["test_q25"] <= stats["test_mean"] <= stats["test_q75"] or stats["test_std"] < 1e-9
    assert summary["algorithms"]["layernas"]["test_mean"] >= 70.3
    table = (out / "summary.md").read_text()
    assert "| layernas | " in table and "70.32" in table
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(out)) == ["curves.png", "summary.json", "summary.md"]


def test_max_trials_and_algorithm_subset(tmp_path):
    result = run_cli(
        f"--table={NATS_CSV}", "--runs=2", "--max_trials=25", "--algorithms=random,layernas", "--buckets=4",
        f"--output_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["algorithms"]) == ["random", "layernas"]
    assert all(s["trials_mean"] == 25 for s in summary["algorithms"].values())


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--table=/nonexistent.csv"], ["does not exist"]),
        ([f"--table={NATS_CSV}", "--dataset=svhn"], ["svhn", "cifar10, cifar100"]),
        ([f"--table={NATS_CSV}", "--flops_fraction=0.01"], ["no feasible network", "4,481,114"]),
        ([f"--table={NATS_CSV}", "--flops_fraction=0"], ["must be > 0"]),
        ([f"--table={NATS_CSV}", "--algorithms=layernas,bohb"], ["bohb", "layernas, layernas_plus, random, evolution, reinforce"]),
        ([f"--table={NATS_CSV}", "--runs=0"], ["--runs", "positive"]),
        ([f"--table={NATS_CSV}", "--runs=many"], ["--runs"]),
        ([f"--table={NATS_CSV}", "--colour=blue"], ["colour"]),
        ([f"--table={NATS_CSV}", "--time_budget=100"], ["--nats_dir"]),
        ([], ["--table", "--nats_dir"]),
        ([f"--nats_dir={NATS_OFFICIAL}"], ["holds 3 of 32768", "no record of network 1,", "full release"]),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, fragments):
    out = tmp_path / "out"
    result = run_cli(*args, f"--output_dir={out}")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert not out.exists()


class _TimedTable:
    """The CSV table with a made-up training time, for the time-budget protocol."""

    def __init__(self, table, seconds):
        self.table, self.seconds = table, seconds
        self.reward, self.test_accuracy, self.space = table.reward, table.test_accuracy, table.space
        self.held_out_score = table.held_out_score

    def train_seconds(self, arch):
        return self.seconds


def test_a_time_budget_stops_each_search_once_spent(nats_table_cifar10):
    bench = _TimedTable(nats_table_cifar10, 40.0)
    limit = 0.5 * bench.space.cost(bench.space.dearest())
    result = comparison.search_once(algorithms.create("random", bench.space, limit, seed=0), bench, time_budget=1000)
    assert result["trials"] == 25 and len(result["curve"]) == 25
    assert result["test"] == nats_table_cifar10.test_accuracy(bench.space.parse(result["arch"]))


def test_curve_is_the_answers_test_accuracy_after_each_trial(nats_table_cifar10):
    space = nats_table_cifar10.space
    limit = 0.5 * space.cost(space.dearest())
    result = comparison.search_once(algorithms.create("layernas", space, limit), nats_table_cifar10)
    assert math.isnan(result["curve"][0])  # the default network is over the limit
    assert result["curve"][-1] == result["test"] == 93.34
    assert result["held_out"] is None  # one training per network: none held out
    assert result["trials"] == len(result["curve"])
