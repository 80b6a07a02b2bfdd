"""benchmarks/gpu.py, the prepared GPU check, in its CPU smoke setting: every section runs and reports."""

import json
import subprocess
import sys

import pytest

from conftest import REPO


def _gpu(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "benchmarks.gpu", *args], cwd=REPO, capture_output=True, text=True,
                          check=False, **kwargs)


@pytest.mark.slow
def test_smoke_runs_every_section_and_writes_its_figures(tmp_path):
    out = tmp_path / "gpu.json"
    done = _gpu("--smoke", f"--out={out}", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["device"] == "CPU" and figures["smoke"] is True
    assert set(figures["seconds"]) == {"throughput", "fixed", "sharing", "readme"}
    (row,) = figures["throughput"]  # smoke: one size, float32, no XLA
    assert row["ours_images_per_s"] > 0 and row["keras_images_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["ours_images_per_s"] / row["keras_images_per_s"], rel=0.01)
    fixed = figures["fixed"]
    assert fixed["first_step_s"] > fixed["steady_step_s"] > 0
    one, two, verdict = figures["sharing"]
    assert (one["parallel_trials"], two["parallel_trials"]) == (1, 2)
    assert one["completed"] == two["completed"] == 2 and two["failed"] == 0 and verdict["both_fit"] is True
    assert figures["readme"]["completed"] == figures["readme"]["trials"] == 2
    assert "wrote" in done.stdout


def test_an_unknown_section_is_refused_in_one_line(tmp_path):
    done = _gpu("--smoke", "--sections=throughput,speed", f"--out={tmp_path / 'gpu.json'}", timeout=300)
    assert done.returncode == 2
    assert "sections=speed: valid sections are throughput, fixed, sharing, readme" in done.stderr
    assert not (tmp_path / "gpu.json").exists()
