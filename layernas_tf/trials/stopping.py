"""Stopping a run cleanly: SIGTERM handled as Ctrl-C is.

Kubernetes, Slurm and preemptible cloud VMs send SIGTERM first and SIGKILL a while
later. Raised as a `KeyboardInterrupt`, it unwinds through the same code as Ctrl-C:
the executor's workers are stopped, the study is closed, one line says what is
kept, and the process exits 128 + the signal's number (143).
"""

from __future__ import annotations

import contextlib
import signal
from typing import Iterator


class Stopped(KeyboardInterrupt):
    """A run told to stop by a signal; `signum` is which."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# The signals `sigterm_stops` turned into `Stopped`, last one last: a library that catches the exception inside its
# own blocking call and raises a plain KeyboardInterrupt in its place (Ray's `wait`) loses which signal it was.
_RECEIVED: list[int] = []


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal's number: 143 for SIGTERM, 130 for Ctrl-C."""
    if isinstance(interrupt, Stopped):
        return 128 + interrupt.signum
    return 128 + (_RECEIVED[-1] if _RECEIVED else signal.SIGINT)


@contextlib.contextmanager
def sigterm_stops() -> Iterator[None]:
    """Within, SIGTERM raises `Stopped`; outside the main thread signals are left to whoever owns them."""
    def stop(signum, frame):
        del frame
        _RECEIVED.append(signum)
        raise Stopped(signum)

    _RECEIVED.clear()  # a stop's own record: an earlier run's SIGTERM says nothing of this one
    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
