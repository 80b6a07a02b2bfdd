"""The one vocabulary of a trial's status, shared by the algorithms, the study and the reports.

PENDING: handed out by an algorithm and not yet reported (in the study: RUNNING
while a worker has it). COMPLETE: trained, with a reward. FAILED: could not be
trained (diverged, raised, its worker died more often than allowed).
"""

PENDING = "PENDING"
RUNNING = "RUNNING"
COMPLETE = "COMPLETE"
FAILED = "FAILED"
