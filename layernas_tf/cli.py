"""What every command-line entry point shares: absl flags and the bad-input contract.

Bad input (an unknown flag, a value out of range, a missing file) exits with
status 2 and one line on stderr naming what is valid, before anything is written.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from absl import app, flags


class UsageError(Exception):
    """Bad input from the user; the entry point exits 2 with this one-line message."""


def human(count: float) -> str:
    """A count as people write budgets: 2.09M, 220M, 1.2G."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            return f"{count / scale:.4g}{unit}"
    return f"{count:.4g}"


def show(cost: str, value: float) -> str:
    """A cost as its budget is written: counts as `human` does, latency in ms (12.5ms)."""
    return f"{value:.4g}ms" if cost == "latency" else human(value)


def fail(message: str) -> None:
    """Prints `message` as one line to stderr and exits with status 2."""
    program = sys.argv[0].rsplit("/", 1)[-1] if sys.argv else "layernas_tf"
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"{program}: error: {one_line}\n")
    sys.stderr.flush()
    sys.exit(2)


@contextlib.contextmanager
def bad_input() -> Iterator[None]:
    """Treats a ValueError raised while checking the user's input as a UsageError."""
    try:
        yield
    except ValueError as e:
        raise UsageError(str(e)) from None


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(e)


def run(main: Callable[[list[str]], None]) -> None:
    """`absl.app.run(main)`, with flag errors and UsageErrors ending in status 2."""

    def guarded(argv):
        if len(argv) > 1:
            fail(f"unexpected arguments {argv[1:]}; every setting is a --flag (see --helpfull)")
        try:
            main(argv)
        except UsageError as e:
            fail(e)

    app.run(guarded, flags_parser=_parse_flags)
