r"""Measure a device's latency profile of a MobileNet space, on this host or on a phone.

    python -m layernas_tf.latency --space=mbv3_small --deploy_image_size=224 --output=host.json
    python -m layernas_tf.latency --space=mbv3_small --deploy_image_size=224 --export_blocks=blocks
    # on a computer with the phone on adb: sh blocks/run_on_phone.sh (TensorFlow Lite's benchmark_model)
    python -m layernas_tf.latency --space=mbv3_small --deploy_image_size=224 --import_benchmarks=blocks \
        --device="Pixel 7" --output=pixel7.json

What a profile holds and how a search predicts from it: `cost/latency_model.py`;
how it is measured: `cost/latency_timing.py`. This module only reads flags.
"""

from __future__ import annotations

import os
import statistics

import layernas_tf.quiet  # pylint: disable=unused-import  (first: TensorFlow starts without its C++ start-up lines)

from absl import flags, logging  # pylint: disable=wrong-import-position

import search_spaces  # pylint: disable=wrong-import-position
from layernas_tf import cli, reports  # pylint: disable=wrong-import-position
from layernas_tf.core.space import Subspace  # pylint: disable=wrong-import-position
from layernas_tf.cost.latency_model import CALIBRATION_NETWORKS, space_parts  # pylint: disable=wrong-import-position
from layernas_tf.cost.latency_timing import (Timer, export_blocks, import_benchmarks,  # pylint: disable=wrong-import-position
                                             measure)

def define_flags(values: flags.FlagValues = flags.FLAGS) -> None:
    """The command's flags, in `values`."""
    cli.define_shared_flags(values, "space", "deploy_image_size", "decisions", deploy_image_size=224)
    for define, name, default, help_text in (
            (flags.DEFINE_integer, "num_classes", 1000, "Classes of the deployed network (the head's width)."),
            (flags.DEFINE_integer, "threads", 1, "LiteRT threads (for --export_blocks: the phone script's default)."),
            (flags.DEFINE_string, "output", None, "Where the profile goes (JSON)."),
            (flags.DEFINE_string, "export_blocks", None,
             "Write every part and calibration network as .tflite here, for a phone."),
            (flags.DEFINE_string, "import_benchmarks", None,
             "Read benchmark_model's outputs from this --export_blocks folder."),
            (flags.DEFINE_string, "device", None,
             "The device's name, recorded in the profile (default: this host, or 'a phone' with --import_benchmarks)."),
            (flags.DEFINE_integer, "calibration_networks", CALIBRATION_NETWORKS, "Whole networks the line is fitted on."),
            (flags.DEFINE_integer, "seed", 0, "Seed of the random calibration networks.")):
        define(name, default, help_text, flag_values=values)

def _check_output(path: str) -> None:
    """Refuses an output that cannot be written now, before minutes of measuring."""
    if os.path.isdir(path):
        raise ValueError(f"output={path} is a directory; give a file name, e.g. {os.path.join(path, 'profile.json')}")
    reports.check_writable("output", os.path.dirname(os.path.abspath(path)), value=path)


def run(values: flags.FlagValues) -> None:
    """The command over parsed flags."""
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines for every conversion would bury the progress
    with cli.bad_input():
        if values.space not in search_spaces.MOBILENETS:
            raise ValueError(f"space={values.space}: latency profiles cover the MobileNet spaces; valid: "
                             f"{', '.join(search_spaces.MOBILENETS)}")
        modes = [m for m in ("output", "export_blocks") if getattr(values, m)]
        if modes == ["output", "export_blocks"] or not modes:
            raise ValueError("give output=PROFILE.json (measure this host, or with import_benchmarks=DIR read a "
                             "phone's timings) or export_blocks=DIR (write the models a phone times)")
        if values.import_benchmarks and not values.output:
            raise ValueError("import_benchmarks=DIR writes a profile: give output=PROFILE.json")
        for flag in ("deploy_image_size", "num_classes", "threads", "calibration_networks"):
            if getattr(values, flag) < 1:
                raise ValueError(f"{flag}={getattr(values, flag)} is not a positive integer")
        if values.output:
            _check_output(values.output)
        if values.export_blocks:
            reports.check_writable("export_blocks", values.export_blocks)
        space = search_spaces.get(values.space, input_shape=(values.deploy_image_size,) * 2 + (3,),
                                  num_classes=values.num_classes)
        if values.decisions:
            space = Subspace(space, values.decisions)
        size, classes = values.deploy_image_size, values.num_classes
        if values.import_benchmarks:
            profile = import_benchmarks(space, size, classes, values.import_benchmarks,
                                        device=values.device or "a phone", threads=values.threads)
    if values.export_blocks:
        count = export_blocks(space, size, classes, values.export_blocks, threads=values.threads,
                              calibration=values.calibration_networks, seed=values.seed)
        print(f"wrote {count} models, index.json and run_on_phone.sh to {values.export_blocks}; run "
              f"run_on_phone.sh with the phone on adb, then --import_benchmarks={values.export_blocks}", flush=True)
        return
    if not values.import_benchmarks:
        print(f"measuring {len(space_parts(space, size, classes))} parts of {space.name} at {size}x{size} and "
              f"{values.calibration_networks} whole networks with LiteRT, {values.threads} thread(s)", flush=True)
        profile = measure(space, size, classes, Timer(threads=values.threads),
                          calibration=values.calibration_networks, seed=values.seed)
        if values.device:
            profile.device = values.device
    reports.write_json(values.output, profile.to_json())
    errors = [abs(profile.scale * c["parts_ms"] + profile.constant_ms - c["measured_ms"]) / c["measured_ms"]
              for c in profile.calibration]
    print(f"wrote {values.output}: {len(profile.parts)} parts, a network is {profile.scale:.3f} x its parts "
          f"{profile.constant_ms:+.3f} ms, "
          f"{len(errors)} whole networks predicted within {100 * statistics.mean(errors):.1f}% on average"
          + (f", built in {profile.seconds:.0f}s" if profile.seconds else ""), flush=True)


if __name__ == "__main__":
    cli.run(run, define_flags)
