"""Latency profiles: the parts that make a network, timing them with LiteRT, a phone's timings read back."""

import json
import random

import pytest

import search_spaces
from conftest import command_in_process
from layernas_tf import latency
from layernas_tf.cost import graph, latency_model, latency_timing
from layernas_tf.core.space import Subspace


def small(name="mbv3_small", decisions=(), classes=10):
    space = search_spaces.get(name, input_shape=(32, 32, 3), num_classes=classes)
    return Subspace(space, decisions) if decisions else space


@pytest.mark.parametrize("name", search_spaces.MOBILENETS)
def test_every_networks_parts_are_in_the_space_parts(name):
    space = small(name)
    parts = set(latency_model.space_parts(space, 32, 10))
    rng = random.Random(0)
    for arch in [space.default(), space.cheapest(), space.dearest()] + [space.random(rng) for _ in range(200)]:
        assert set(latency_model.network_parts(space, arch, 32, 10)) <= parts


def test_a_subspace_has_only_the_parts_its_decisions_reach():
    whole, skip = small(), small(decisions=("skip",))
    parts = latency_model.space_parts(skip, 32, 10)
    assert set(parts) < set(latency_model.space_parts(whole, 32, 10))
    assert set(parts) == {p for arch in skip.all_architectures()
                          for p in latency_model.network_parts(whole, skip.full(arch), 32, 10)}


def test_the_parts_are_the_whole_network():
    """Their MAdds add up to the network's: no layer is left out or counted twice."""
    space = small("mbv3_small")
    arch = space.random(random.Random(3))
    parts = latency_model.network_parts(space, arch, 32, 10)
    assert any(p[0] == "project" and p[-1] for p in parts)
    # The residual add has no MAdds (and a second input, which the profiler does not feed).
    total = sum(graph.profile_madds(latency_timing.build_part(space, p[:-1] + (False,) if p[0] == "project" else p))
                for p in parts)
    assert total == space.madds(arch)


@pytest.fixture(scope="module")
def profile():
    """A profile of this host for mbv3_small's skip decisions at 32x32 (35 parts, 3 whole networks)."""
    return latency_timing.measure(small(decisions=("skip",)), 32, 10, latency_timing.Timer(warmup=3, warmup_seconds=0, repeats=5, min_seconds=0.01),
                           calibration=3, progress=False)


@pytest.mark.slow  # measures a real profile of this host (40 s)
def test_a_profile_of_this_host_predicts_its_networks(profile, tmp_path):
    space = small(decisions=("skip",))
    assert set(profile.parts) == {latency_model.part_key(p) for p in latency_model.space_parts(space, 32, 10)}
    assert all(v > 0 for v in profile.parts.values())
    assert len(profile.calibration) == 3 and profile.threads == 1 and "LiteRT" in profile.runtime
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile.to_json()))
    predict = latency_model.Predictor(latency_model.Profile.load(str(path)), space, 32, 10)
    for c in profile.calibration:
        assert predict(space.parse(c["arch"])) == pytest.approx(profile.scale * c["parts_ms"] + profile.constant_ms)
    # Skipping blocks makes a network faster, and the prediction says so.
    assert predict(space.cheapest()) < predict(space.default())


def stub_rounds(monkeypatch, latency_of):
    """Times each model as `latency_of(model, its round number from 1)` without running it; returns
    the list the models' rounds are appended to, in the order they run."""
    calls = []

    class Stub:
        def __init__(self, model):
            self.model = model

        def invoke(self):
            pass

    def median(self, invoke):
        model = invoke.__self__.model
        calls.append(model)
        return latency_of(model, calls.count(model))

    monkeypatch.setattr(latency_timing.Timer, "_ready", lambda self, flatbuffer: Stub(flatbuffer))
    monkeypatch.setattr(latency_timing.Timer, "_median", median)
    return calls


def test_a_timer_keeps_each_models_fastest_round_and_spreads_its_rounds_over_the_whole_measurement(monkeypatch):
    """A slow stretch of the host must not hit all of a model's rounds: they do not come one pass after another."""
    # Each model's 1st and 3rd rounds slow.
    calls = stub_rounds(monkeypatch, lambda i, n: (1.0 + i) * (2 if n % 2 else 1))
    timer = latency_timing.Timer(rounds=4, network_rounds=6)
    models = list(range(12))
    assert timer.time_models(models) == [1.0 + i for i in models]
    assert sorted(calls) == sorted(models * 4)
    seconds = [calls.index(i, calls.index(i) + 1) for i in models]  # where each model's 2nd round is
    assert min(seconds) < max(calls.index(i) for i in models)  # one model's 2nd round before another's 1st
    calls.clear()
    assert timer.time_models(models[:3], rounds=[1, 2, 4]) == [2.0, 2.0, 3.0]
    assert sorted(calls) == [0, 1, 1, 2, 2, 2, 2]
    calls.clear()
    timer.time_networks([0, 1])
    assert len(calls) == 12


def test_a_profile_times_the_parts_as_slow_as_a_network_as_often_as_a_network(monkeypatch):
    """Such a part is most of the networks it is in: one slow round of it is a slow network."""
    stages = []
    ms = {"fast part": 0.5, "slow part": 3.0, "slower part": 9.0, "network": 2.0, "bigger network": 12.0}
    calls = stub_rounds(monkeypatch, lambda name, n: ms[name] * (1.5 if n <= 3 else 1))  # first three rounds slow
    timer = latency_timing.Timer(rounds=3, network_rounds=5)
    parts, networks = timer.time_profile(["fast part", "slow part", "slower part"], ["network", "bigger network"],
                                         lambda what, done, total: stages.append((what, done, total)))
    assert parts == [0.75, 3.0, 9.0] and networks == [2.0, 12.0]
    assert {name: calls.count(name) for name in ms} == {
        "fast part": 3, "slow part": 5, "slower part": 5, "network": 5, "bigger network": 5}
    assert stages[-1] == ("timing the slowest parts again", 4, 4) and ("timing", 19, 19) in stages
    calls.clear()
    assert timer.time_profile(["slow part"], [])[0] == [4.5] and calls == ["slow part"] * 3


def test_the_line_is_fitted_on_the_relative_error_so_the_dearest_network_does_not_place_it_alone():
    calibration = [{"parts_ms": x, "measured_ms": y} for x, y in [(1, 1.1), (2, 2.2), (3, 3.3), (4, 4.4), (20, 30)]]
    scale, constant = latency_model.fit_line(calibration)
    errors = [abs(scale * c["parts_ms"] + constant - c["measured_ms"]) / c["measured_ms"] for c in calibration]
    assert max(errors) < 0.2 and max(errors[:4]) < 0.1  # plain least squares: 58% on the cheapest
    assert latency_model.fit_line(calibration[:1]) == (1.0, pytest.approx(0.1))


@pytest.mark.slow  # measures a real profile of this host (40 s)
def test_a_profile_for_something_else_is_refused(profile, tmp_path):
    skip = small(decisions=("skip",))
    with pytest.raises(ValueError, match="measured for space=mbv3_small at 32x32 with 10 classes, not mbv3_small at 32x32 "
                       "with 100: build one for these with python -m layernas_tf.latency --space=mbv3_small "
                       "--deploy_image_size=32 --num_classes=100 --decisions=skip --output=PROFILE.json"):
        latency_model.Predictor(profile, small(decisions=("skip",), classes=100), 32, 100)
    with pytest.raises(ValueError, match="measured for space=mbv3_small at 32x32 with 10 classes, not mbv2"):
        latency_model.Predictor(profile, small("mbv2", ("skip",)), 32, 10)
    with pytest.raises(ValueError, match="not mbv3_small at 64x64"):
        latency_model.Predictor(profile, skip, 64, 10)
    with pytest.raises(ValueError, match="lacks .* parts .* decisions=skip"):
        latency_model.Predictor(profile, small(decisions=("kernel",)), 32, 10)
    for text, message in [("{", "cannot be read"), ("[]", "not a latency profile"),
                          (json.dumps({**profile.to_json(), "version": 0}), "version 0"),
                          (json.dumps({**profile.to_json(), "parts": {"stem 32": "fast"}}), "malformed"),
                          (json.dumps({**profile.to_json(), "scale": float("nan")}), "malformed: scale nan"),
                          (json.dumps({**profile.to_json(), "scale": -1}), "malformed: scale -1 is not a positive"),
                          (json.dumps({**profile.to_json(), "scale": "fast"}), "malformed: scale 'fast'"),
                          (json.dumps({**profile.to_json(), "deploy_image_size": "32"}),
                           "malformed: deploy_image_size '32' is not a positive integer"),
                          (json.dumps({**profile.to_json(), "constant_ms": float("inf")}), "malformed: constant_ms")]:
        path = tmp_path / "bad.json"
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            latency_model.Profile.load(str(path))


BENCHMARK_OUTPUT = """STARTING!
Log parameter values verbosely: [0]
Graph: [/data/local/tmp/layernas_block.tflite]
The input model file size (MB): 0.01
Initialized session in 3.1ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=1000 first=301 curr=98 min=95 max=310 avg={avg} std=8
Inference timings in us: Init: 3100, First inference: 301, Warmup (avg): 120.5, Inference (avg): {avg}
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime.
Memory footprint delta from the start of the tool (MB): init=2.5 overall=3.1
"""


@pytest.mark.slow
def test_a_phones_timings_become_its_profile(tmp_path):
    """--export_blocks writes a model per part and network; benchmark_model's outputs are read back."""
    space = small(decisions=("activation",))
    folder = tmp_path / "blocks"
    count = latency_timing.export_blocks(space, 32, 10, str(folder), calibration=2, progress=False)
    index = json.loads((folder / "index.json").read_text())
    assert count == len(index["parts"]) + len(index["networks"]) == len(list(folder.glob("*/*.tflite")))
    assert "benchmark_model" in (folder / "run_on_phone.sh").read_text()
    with pytest.raises(ValueError, match="no benchmark_model output .* run run_on_phone.sh"):
        latency_timing.import_benchmarks(space, 32, 10, str(folder), device="Pixel 7", threads=1)
    part_ms = {}
    for i, name in enumerate(sorted(index["parts"])):
        (folder / name).with_suffix(".txt").write_text(BENCHMARK_OUTPUT.format(avg=100.0 + i))
        part_ms[index["parts"][name]] = (100.0 + i) / 1000
    for name, arch in index["networks"].items():  # a network runs 1.2x its parts, plus 0.05 ms
        parts = latency_model.network_parts(space.base, space.full(space.parse(arch)), 32, 10)
        total = sum(part_ms[latency_model.part_key(p)] for p in parts)
        (folder / name).with_suffix(".txt").write_text(BENCHMARK_OUTPUT.format(avg=1000 * (1.2 * total + 0.05)))
    profile = latency_timing.import_benchmarks(space, 32, 10, str(folder), device="Pixel 7", threads=1)
    assert profile.device == "Pixel 7" and profile.runtime == "TensorFlow Lite benchmark_model"
    assert profile.parts == pytest.approx(part_ms)
    assert profile.scale == pytest.approx(1.2) and profile.constant_ms == pytest.approx(0.05)
    latency_model.Predictor(profile, space, 32, 10)
    (folder / sorted(index["parts"])[0]).with_suffix(".txt").write_text("Segmentation fault\n")
    with pytest.raises(ValueError, match="no 'Inference timings in us"):
        latency_timing.import_benchmarks(space, 32, 10, str(folder), device="Pixel 7", threads=1)
    with pytest.raises(ValueError, match="holds blocks of"):
        latency_timing.import_benchmarks(small(decisions=("skip",)), 32, 10, str(folder), device="Pixel 7", threads=1)


@pytest.mark.parametrize("args, fragment", [
    (["--space=nasnet", "--output=p.json"], "valid: mbv2, mbv2_140, mbv3_large, mbv3_small"),
    (["--space=mbv3_small"], "give --output=PROFILE.json"),
    (["--output=p.json", "--export_blocks=d"], "give --output=PROFILE.json"),
    (["--export_blocks=d", "--import_benchmarks=d"], "--import_benchmarks=DIR writes a profile"),
    (["--output=p.json", "--threads=0"], "--threads=0 is not a positive integer"),
    (["--output=p.json", "--decisions=depth"], "no decision points of kind depth"),
    (["--output=p.json", "--import_benchmarks=nowhere"], "no readable index.json"),
    (["--output=/proc/profile.json"], "--output=/proc/profile.json cannot be written"),
    (["--output=."], "--output=. is a directory"),
    (["--export_blocks=/proc/blocks"], "--export_blocks=/proc/blocks cannot be written"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, args, fragment):
    monkeypatch.chdir(tmp_path)
    status, lines = command_in_process(latency, capsys, *args)
    assert status == 2 and len(lines) == 1 and fragment in lines[0], lines
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_sigterm_stops_a_measurement_with_one_line_and_no_profile(tmp_path):
    """SIGTERM, as a batch system sends it, ends the command as Ctrl-C does: exit 143, nothing half-written."""
    import signal  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    from conftest import REPO  # pylint: disable=import-outside-toplevel

    output = tmp_path / "host.json"
    process = subprocess.Popen([sys.executable, "-m", "layernas_tf.latency", "--space=mbv3_small",
                                "--deploy_image_size=32", "--num_classes=10", f"--output={output}"], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("measuring ")  # flags checked, the measurement begun
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 143 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("interrupted")] == [
        "interrupted: every file written so far is whole (each is written under a temporary name and renamed when "
        "complete); run the same command again"]
    assert not list(tmp_path.iterdir())
