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

from layernas_tf.config import define_flags
from layernas_tf.trials import stopping


class UsageError(Exception):
    """Bad input from the user; the entry point exits 2 with this one-line message."""


def define_shared_flags(values: flags.FlagValues, *names: str, **defaults: Any) -> None:
    """Defines the search settings `names` that another command also takes (the export's `tflite`, the final
    training's `tpu`, ...) in `values`, from `SearchConfig`'s fields, with a command's own `defaults` where it
    differs."""
    define_flags(values, names, **defaults)


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
