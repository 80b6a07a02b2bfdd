"""The one vocabulary of a trial's status, shared by the algorithms, the study, the executors and the reports.

PENDING: handed out by an algorithm and not yet reported (in the study: RUNNING
while a worker has it). COMPLETE: trained, with a reward. FAILED: could not be
trained (diverged, raised, its worker died more often than allowed).

`Status` is a `str` enum, so a status read back from the study's JSON or SQLite
(a plain string) compares equal to its member, and prints as its bare name.
"""

import enum


class Status(str, enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"

    __str__ = str.__str__
    __format__ = str.__format__


PENDING = Status.PENDING
RUNNING = Status.RUNNING
COMPLETE = Status.COMPLETE
FAILED = Status.FAILED
