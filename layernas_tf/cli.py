"""What every command-line entry point shares: the flags they have in common and the bad-input contract.

Bad input (an unknown flag, a value out of range, a missing file) exits with
status 2 and one line on stderr naming what is valid, before anything is written.
The library raises `ValueError` naming its arguments as `name=value`; `bad_input`
shows the same message with the commands' flags (`--name=value`).
"""

from __future__ import annotations

import contextlib
import re
import sys
from typing import Any, Callable, Iterator, Optional

from absl import app, flags

import search_spaces
from layernas_tf.config import DEFAULT_SPACE, TFLITE_KINDS
from layernas_tf.trials import stopping


class UsageError(Exception):
    """Bad input from the user; the entry point exits 2 with this one-line message."""


# The flags more than one command takes, each defined once: (definer, default, help).
_SHARED: dict[str, tuple[Callable, Any, str]] = {
    "space": (flags.DEFINE_string, DEFAULT_SPACE,
              f"Search space: {', '.join(search_spaces.names())}; or MODULE:FUNCTION, a Keras build function "
              "asking for its choices with layernas_tf.choose (docs/own_models.md)."),
    "deploy_image_size": (flags.DEFINE_integer, None,
                          "Side of the deployed network: budgets are counted and the model exported at this size "
                          "(default 224 for the MobileNet and NASNet spaces; nats_sss, zoph_le, tiny_cnn: the training "
                          "size)."),
    "decisions": (flags.DEFINE_list, None,
                  "Search only these kinds of decision points (MobileNet spaces: width, kernel, expansion, se, skip, "
                  "activation); the others keep the reference network's values. Default: all."),
    "data_dir": (flags.DEFINE_string, None, "tfds data directory (default ~/tensorflow_datasets)."),
    "final_epochs": (flags.DEFINE_integer, 0,
                     "Retrain the network this long at the deployment size before export; 0 keeps its proxy weights."),
    "export_dir": (flags.DEFINE_string, None, "Where the SavedModel and TFLite file go; default STUDY_DIR/export."),
    "tflite": (flags.DEFINE_enum, "float", "TFLite quantization: float, dynamic or int8."),
    "tpu": (flags.DEFINE_string, None, "TPU name or address for TPUClusterResolver (with --strategy=auto or tpu)."),
    "mixed_precision": (flags.DEFINE_bool, False, "Mixed precision: bfloat16 on TPUs and CPUs, float16 on GPUs."),
    "steps_per_execution": (flags.DEFINE_integer, 1,
                            "Training steps per call into the compiled step (on a TPU, 32 or more keeps the host from "
                            "waiting on the device after every step); the learning rate is set once per call."),
}


def define_shared_flags(values: flags.FlagValues, *names: str, **defaults: Any) -> None:
    """Defines the shared flags `names` in `values`, with a command's own `defaults` where it differs."""
    for name in names:
        define, default, help_text = _SHARED[name]
        default = defaults.get(name, default)
        if define is flags.DEFINE_enum:
            flags.DEFINE_enum(name, default, list(TFLITE_KINDS), help_text, flag_values=values)
        else:
            define(name, default, help_text, flag_values=values)


def as_flags(message: str, values: flags.FlagValues = flags.FLAGS) -> str:
    """The library's `name=value` as the command's `--name=value`, for every flag of `values`."""
    names = sorted(values, key=len, reverse=True)
    if not names:
        return message
    return re.sub(r"(?<![\w\-.])(" + "|".join(re.escape(n) for n in names) + r")=", r"--\1=", message)


def fail(message: Any, values: flags.FlagValues = flags.FLAGS, status: int = 2) -> None:
    """Prints `message`, its arguments as `values`' flags, as one line to stderr and exits with `status`."""
    program = sys.argv[0].rsplit("/", 1)[-1] if sys.argv else "layernas_tf"
    one_line = " ".join(as_flags(str(message), values).split())
    sys.stderr.write(f"{program}: error: {one_line}\n")
    sys.stderr.flush()
    sys.exit(status)


@contextlib.contextmanager
def bad_input() -> Iterator[None]:
    """Treats a ValueError raised while checking the user's input as a UsageError."""
    try:
        yield
    except ValueError as e:
        raise UsageError(str(e)) from None


Command = Callable[[flags.FlagValues], None]


def parse(values: flags.FlagValues, argv: list[str]) -> list[str]:
    """Parses `argv` into `values`; a bad flag exits 2 with one line."""
    try:
        return values(argv)
    except flags.Error as e:
        fail(e, values)


def execute(command: Command, values: flags.FlagValues, rest: list[str]) -> None:
    """Runs `command` over parsed flags: UsageErrors exit 2, Ctrl-C 130 and SIGTERM 143, each with one line."""
    if len(rest) > 1:
        fail(f"unexpected arguments {rest[1:]}; every setting is a --flag (see --helpfull)", values)
    try:
        with stopping.sigterm_stops():
            command(values)
    except UsageError as e:
        fail(e, values)
    except KeyboardInterrupt as interrupt:  # a command that did not say what it keeps itself
        sys.stderr.write("\ninterrupted: every file written so far is whole (each is written under a temporary "
                         "name and renamed when complete); run the same command again\n")
        sys.exit(stopping.exit_status(interrupt))


def run(command: Command, define: Optional[Callable[[flags.FlagValues], None]] = None) -> None:
    """The command line: `define`'s flags (or those already defined) parsed by `absl.app`, then `command`
    under `execute`."""
    if define is not None:
        define(flags.FLAGS)
    app.run(lambda rest: execute(command, flags.FLAGS, rest), flags_parser=lambda argv: parse(flags.FLAGS, argv))


def invoke(define: Callable[[flags.FlagValues], None], command: Command, args: list[str]) -> None:
    """The command run in this process over `args` (its own flags, apart from the global ones), exactly as
    from a shell: exits as it would (`SystemExit`), or returns when it ends well."""
    values = flags.FlagValues()
    define(values)
    execute(command, values, parse(values, ["layernas_tf", *args]))
