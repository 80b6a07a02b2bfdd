"""Shared fixtures: the reference data in ../shared and small spaces with known costs."""

import os
import zlib

import pytest

from layernas_tf.core.space import DecisionPoint, SearchSpace

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "nats_sss")
NATS_CSV = os.path.join(SHARED_DATA, "nats_sss_cifar.csv")
NATS_RECORDS = os.path.join(SHARED_DATA, "official_records.json")
NATS_OFFICIAL = os.path.join(SHARED_DATA, "official", "NATS-sss-v1_0-50262-simple")
MACRO_JSON = os.path.join(os.path.dirname(SHARED_DATA), "nas_bench_macro", "nas-bench-macro_cifar10.json")


def command_in_process(module, capsys, *args):
    """A command (`layernas_tf.main`, `.export`, `.latency`) run in this process as from a shell: its exit status,
    None when it ended well, and the one-line errors it wrote to stderr."""
    from layernas_tf import cli  # pylint: disable=import-outside-toplevel  (the commands import TensorFlow)

    try:
        cli.invoke(module.define_flags, module.run, list(args))
        status = None
    except SystemExit as ended:
        status = ended.code
    return status, [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]


def _stat(pid):
    with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
        return f.read().rsplit(")", 1)[1].split()


def process(pid):
    """`pid` with its start time: PIDs wrap around quickly on a busy host (pid_max 32768 here), so a PID alone
    may name another process a moment later."""
    return pid, _stat(pid)[19]


def running(identity):
    """Whether the process `process()` named still runs: not if it is gone, a zombie (dead, waiting for whoever
    adopted it to reap it), or its PID now belongs to another process."""
    pid, started = identity
    try:
        fields = _stat(pid)
    except OSError:
        return False
    return fields[19] == started and fields[0] not in ("Z", "X")


class AdditiveSpace(SearchSpace):
    """A toy space whose cost is the sum of the chosen option values."""

    name = "additive"

    def __init__(self, options=((1, 2, 3), (0, 5, 10, 20), (1, 2), (0, 3, 6))):
        super().__init__([DecisionPoint(f"layer_{i}", o, default=len(o) - 1) for i, o in enumerate(options)])

    def cost(self, arch):
        return sum(self.values(arch))


def toy_reward(arch):
    """Deterministic, rewards cost but not monotonically, so buckets matter."""
    noise = zlib.crc32(str(arch).encode()) % 100 / 100
    return float(sum((i + 1) * (j % 3 + 1) for j, i in enumerate(arch))) + noise


@pytest.fixture
def additive_space():
    return AdditiveSpace()


@pytest.fixture(scope="session")
def nats_table_cifar10():
    from experiments.tables import NATSTable

    return NATSTable(NATS_CSV, "cifar10")


@pytest.fixture(scope="session")
def nats_table_cifar100():
    from experiments.tables import NATSTable

    return NATSTable(NATS_CSV, "cifar100")
