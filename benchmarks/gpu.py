r"""What our users run, measured on a GPU: one prepared command, safe to rerun, about 8 minutes on one GPU.

    python -m benchmarks.gpu [--out=runs/gpu.json] [--sections=throughput,fixed,sharing,readme]
    python -m benchmarks.gpu --smoke      # the same code on a CPU in a couple of minutes (tests/test_gpu_benchmark.py)

Sections, each printed as a table and written to the JSON file as soon as it ends
(a run cut off by a time limit keeps what it finished):

1. `throughput`: training images/s of `mbv3_large`'s default network against
   keras.applications' `MobileNetV3Large`, same batch, optimizer
   (`trainer.compile_model`) and input pipeline, alternating rounds in one process;
   float32 and mixed precision (`distribute.precision_policy`: float16 on a GPU), with
   XLA (`jit_compile=True`) and without. At 224x224 and at the ImageNet recipes' proxy
   size (224 too today: measured once when they agree). Peak GPU memory of each.
2. `fixed`: the fixed cost of a trial (build, compile, first step) against its
   steady-state step time, for `mbv3_large` at the proxy size.
3. `sharing`: README's main job cut to `--sharing_trials` trials, once with two trials
   at a time on the one GPU (`--parallel_trials=2 --gpus_per_trial=0.5`, local
   executor) and once one at a time: trials per hour, and whether every trial of the
   shared run trained (a worker that took the whole GPU would leave the other none).
4. `readme`: README's main job, whole, with two workers sharing the GPU: its wall time
   against `CPU_SECONDS`, this repository's CPU figure for it (README).

Peak memory is `tf.config.experimental.get_memory_info`'s (None where the device does
not report it, as on a CPU). Exits 0 when every section ran.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

from absl import app, flags

from layernas_tf.reports import write_atomic

_OUT = flags.DEFINE_string("out", "runs/gpu.json", "Where the figures go (JSON, rewritten after each section).")
_SMOKE = flags.DEFINE_bool("smoke", False, "Tiny settings that run on a CPU: checks the code, measures nothing.")
_SECTIONS = flags.DEFINE_list("sections", ["throughput", "fixed", "sharing", "readme"], "Sections to run, in order.")
_BATCH = flags.DEFINE_integer("batch_size", 128, "Training batch of the throughput and fixed-cost sections.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed training steps per round.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Alternating rounds per model.")
_SHARING_TRIALS = flags.DEFINE_integer("sharing_trials", 8, "Trials of each run of the sharing section.")

# README's main job, as the command's flags (README's first command), and its wall time on this repository's CPU.
README_JOB = ["--space=mbv3_small", "--madds=2.1M", "--decisions=skip", "--dataset=digits", "--image_size=32",
              "--deploy_image_size=32", "--batch_size=64", "--learning_rate=0.02", "--proxy_epochs=3", "--tflite=int8"]
CPU_SECONDS = 181.0
SECTIONS = ("throughput", "fixed", "sharing", "readme")


def _settings(smoke: bool) -> dict[str, Any]:
    from experiments.imagenet import recipes  # pylint: disable=import-outside-toplevel

    proxy = recipes.get("layernas_220m").search["image_size"]
    if smoke:
        return dict(sizes=[32], batch=4, steps=2, rounds=1, precisions=[False], jit=[False], sharing_trials=2,
                    job=README_JOB + ["--proxy_epochs=1", "--max_trials=2"])
    return dict(sizes=sorted({224, proxy}), batch=_BATCH.value, steps=_STEPS.value, rounds=_ROUNDS.value,
                precisions=[False, True], jit=[False, True], sharing_trials=_SHARING_TRIALS.value, job=README_JOB)


def _device() -> str:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"{len(gpus)} x {details.get('device_name', 'GPU')}"


def _memory_device() -> str:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    return "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"


def _reset_peak() -> None:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    try:
        tf.config.experimental.reset_memory_stats(_memory_device())
    except (ValueError, RuntimeError):  # not every device keeps statistics (a CPU does not)
        pass


def _peak_mb() -> Optional[float]:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    try:
        return round(tf.config.experimental.get_memory_info(_memory_device())["peak"] / 2**20, 1)
    except (ValueError, RuntimeError):
        return None


def _pipeline(size: int, batch: int):
    from layernas_tf.training import data  # pylint: disable=import-outside-toplevel

    digits = data.load("digits")
    return data.input_pipeline(digits.train, image_size=size, batch_size=batch, num_classes=10, training=True,
                               flip=False, size_hint=digits.sizes["train"]).repeat()


def _models(size: int, mixed: bool, jit: bool) -> dict[str, Any]:
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    import search_spaces  # pylint: disable=import-outside-toplevel
    from layernas_tf.training import distribute, trainer  # pylint: disable=import-outside-toplevel

    keras.backend.clear_session()
    policy = distribute.precision_policy(mixed, tf.distribute.get_strategy())
    space = search_spaces.get("mbv3_large", input_shape=(size, size, 3), num_classes=10)
    with distribute.precision(policy):
        models = {"layernas_tf": space.build(space.default()),
                  "keras.applications": keras.applications.MobileNetV3Large(
                      input_shape=(size, size, 3), weights=None, classes=10)}
    config = trainer.TrainConfig(epochs=1, learning_rate=0.01, verbose=0)
    for model in models.values():
        trainer.compile_model(model, config)
        model.jit_compile = jit
    return models


def throughput(s: dict[str, Any]) -> list[dict[str, Any]]:
    """Section 1: images/s of ours and keras.applications', for every size, precision and XLA setting."""
    rows = []
    for size in s["sizes"]:
        batches = _pipeline(size, s["batch"])
        for mixed in s["precisions"]:
            for jit in s["jit"]:
                models = _models(size, mixed, jit)
                peaks, rates = {}, {k: [] for k in models}
                for key, model in models.items():
                    _reset_peak()
                    model.fit(batches, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)  # trace, warm up
                    peaks[key] = _peak_mb()
                for _ in range(s["rounds"]):
                    for key, model in models.items():
                        start = time.perf_counter()
                        model.fit(batches, epochs=1, steps_per_epoch=s["steps"], verbose=0, shuffle=False)
                        rates[key].append(s["steps"] * s["batch"] / (time.perf_counter() - start))
                ours, reference = statistics.median(rates["layernas_tf"]), statistics.median(rates["keras.applications"])
                rows.append(dict(size=size, batch=s["batch"], precision="mixed" if mixed else "float32", xla=jit,
                                 ours_images_per_s=round(ours, 1), keras_images_per_s=round(reference, 1),
                                 ratio=round(ours / reference, 3), ours_peak_mb=peaks["layernas_tf"],
                                 keras_peak_mb=peaks["keras.applications"]))
                print(_line(rows[-1]), flush=True)
    return rows


def fixed_cost(s: dict[str, Any]) -> dict[str, Any]:
    """Section 2: build, compile and first step of one trial's network against its steady step."""
    import keras  # pylint: disable=import-outside-toplevel

    import search_spaces  # pylint: disable=import-outside-toplevel
    from layernas_tf.training import trainer  # pylint: disable=import-outside-toplevel

    size = s["sizes"][-1]
    batches = _pipeline(size, s["batch"])
    keras.backend.clear_session()
    _reset_peak()
    start = time.perf_counter()
    space = search_spaces.get("mbv3_large", input_shape=(size, size, 3), num_classes=10)
    model = space.build(space.default())
    built = time.perf_counter()
    trainer.compile_model(model, trainer.TrainConfig(epochs=1, learning_rate=0.01, verbose=0))
    model.optimizer.build(model.trainable_variables)
    compiled = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)
    first = time.perf_counter()
    model.fit(batches, epochs=1, steps_per_epoch=s["steps"], verbose=0, shuffle=False)
    step = (time.perf_counter() - first) / s["steps"]
    row = dict(size=size, batch=s["batch"], build_s=round(built - start, 2), compile_s=round(compiled - built, 2),
               first_step_s=round(first - compiled, 2), steady_step_s=round(step, 4),
               fixed_in_steps=round((first - start - step) / step, 1), peak_mb=_peak_mb())
    print(_line(row), flush=True)
    return row


def _search(flags_: list[str], study_dir: str) -> dict[str, Any]:
    """README's job (`flags_`) as the command runs it, in a child process: wall time and its trials' outcomes."""
    from layernas_tf.trials import study  # pylint: disable=import-outside-toplevel

    command = [sys.executable, "-m", "layernas_tf.main", *flags_, f"--study_dir={study_dir}"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{tail}")
    _, rows = study.read(study_dir)
    statuses = [r["status"] for r in rows]
    # The trials' own span (first start to last end): what sharing changes, without start-up and export.
    span = max(r["ended"] or 0 for r in rows) - min(r["started"] or float("inf") for r in rows)
    return dict(wall_s=round(wall, 1), trials_s=round(span, 1), trials=len(rows),
                completed=statuses.count("COMPLETE"), failed=statuses.count("FAILED"))


def _on_gpu(parallel: int) -> list[str]:
    """Executor flags: `parallel` trials sharing the host's one GPU (or the CPU, where there is none)."""
    if _device() == "CPU":
        return [f"--parallel_trials={parallel}", "--cpus_per_trial=1", "--executor=local"]
    return [f"--parallel_trials={parallel}", f"--gpus_per_trial={1 / parallel:g}", "--executor=local"]


def sharing(s: dict[str, Any], root: str) -> list[dict[str, Any]]:
    """Section 3: two trials at once on the GPU against one at a time, same trials."""
    rows = []
    job = [f for f in s["job"] if not f.startswith("--max_trials")] + [f"--max_trials={s['sharing_trials']}"]
    for parallel in (1, 2):
        outcome = _search(job + _on_gpu(parallel), os.path.join(root, f"sharing_{parallel}"))
        outcome.update(parallel_trials=parallel, trials_per_hour=round(3600 * outcome["trials"] / outcome["trials_s"], 1))
        rows.append(outcome)
        print(_line(rows[-1]), flush=True)
    rows.append(dict(speedup=round(rows[1]["trials_per_hour"] / rows[0]["trials_per_hour"], 2),
                     both_fit=rows[1]["failed"] == 0 and rows[1]["completed"] == rows[1]["trials"]))
    print(_line(rows[-1]), flush=True)
    return rows


def readme_job(s: dict[str, Any], root: str) -> dict[str, Any]:
    """Section 4: README's main job whole, two workers sharing the GPU, against the CPU figure."""
    outcome = _search(s["job"] + _on_gpu(2), os.path.join(root, "readme"))
    outcome.update(cpu_s=CPU_SECONDS, against_cpu=round(outcome["wall_s"] / CPU_SECONDS, 2))
    print(_line(outcome), flush=True)
    return outcome


def _line(row: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v}" for k, v in row.items())


def run(out: str, sections: list[str], smoke: bool) -> dict[str, Any]:
    """Runs `sections` in order, rewriting `out` after each; returns the figures."""
    unknown = [name for name in sections if name not in SECTIONS]
    if unknown:
        raise ValueError(f"sections={','.join(unknown)}: valid sections are {', '.join(SECTIONS)}")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # this process and the searches' workers
    s = _settings(smoke)
    figures: dict[str, Any] = {"device": _device(), "smoke": smoke, "settings": {k: v for k, v in s.items()}}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    root = tempfile.mkdtemp(prefix="gpu_benchmark_")
    print(f"device: {figures['device']}", flush=True)
    for name in sections:
        print(f"\n== {name}", flush=True)
        start = time.perf_counter()
        figures[name] = {"throughput": lambda: throughput(s), "fixed": lambda: fixed_cost(s),
                         "sharing": lambda: sharing(s, root), "readme": lambda: readme_job(s, root)}[name]()
        figures.setdefault("seconds", {})[name] = round(time.perf_counter() - start, 1)
        write_atomic(out, json.dumps(figures, indent=1))
    print(f"\nwrote {out}", flush=True)
    return figures


def main(argv):
    del argv
    try:
        run(_OUT.value, _SECTIONS.value, _SMOKE.value)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main)
