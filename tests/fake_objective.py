"""Fake objectives for runner and executor tests: no TensorFlow, picklable for worker processes.

`make(log_path, die_on=..., die_once=..., raise_on=...)` returns a factory; the objective it
makes appends every architecture it starts to `log_path`, sleeps a little (so parallel
workers finish out of order), and returns the toy reward of `conftest.toy_reward`.
"""

import functools
import os
import signal
import time
import zlib


def toy_reward(arch: str) -> float:
    indices = [int(i) for i in arch.split(":")]
    noise = zlib.crc32(arch.encode()) % 100 / 100
    return float(sum((i + 1) * (j % 3 + 1) for j, i in enumerate(indices))) + noise


class ResourceExhaustedError(Exception):
    """Named as TensorFlow's error of a GPU allocator that ran out (`tf.errors.ResourceExhaustedError`)."""


_LEAKED = []  # what a leaking objective keeps, as a TensorFlow process keeps some of every trial


def _objective(trial_id, arch, *, log_path, die_on, die_once, raise_on, delay, oom_on=(), leak_mb=0,
               memory_limit_on=(), constant=None):
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"{trial_id} {arch} {os.getpid()}\n")
    time.sleep(delay * (zlib.crc32(arch.encode()) % 5))
    if arch in raise_on:
        raise RuntimeError("the network diverged")
    if arch in oom_on:
        raise ResourceExhaustedError("OOM when allocating tensor with shape[256,112,112,96]")
    if arch in memory_limit_on:  # a real limit: this worker may map 200 MB more than it has, and asks for 1 GB
        import resource  # pylint: disable=import-outside-toplevel

        mapped = int(open("/proc/self/statm", encoding="utf-8").read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (mapped + (200 << 20), resource.getrlimit(resource.RLIMIT_AS)[1]))
        bytearray(1 << 30)
    if leak_mb:
        _LEAKED.append(bytearray(leak_mb << 20))
    marker = f"{log_path}.died-{arch}"
    if arch in die_on or (arch in die_once and not os.path.exists(marker)):
        open(marker, "w", encoding="utf-8").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return {"reward": toy_reward(arch) if constant is None else constant, "worker": os.getpid()}


def _factory(**settings):
    return functools.partial(_objective, **settings)


def make(log_path, die_on=(), die_once=(), raise_on=(), delay=0.01, oom_on=(), leak_mb=0, memory_limit_on=(),
         constant=None):
    """`raise_on`: archs whose training raises (diverged); `oom_on`: archs that raise a ResourceExhaustedError;
    `memory_limit_on`: archs whose worker gets a real address-space limit and asks beyond it (MemoryError);
    `leak_mb`: MB the worker keeps after every trial; `constant`: every network's reward (data without signal)."""
    return functools.partial(_factory, log_path=str(log_path), die_on=tuple(die_on), die_once=tuple(die_once),
                             raise_on=tuple(raise_on), delay=delay, oom_on=tuple(oom_on), leak_mb=leak_mb,
                             memory_limit_on=tuple(memory_limit_on), constant=constant)


def started(log_path):
    """(trial id, arch) of every start the objective logged, in order."""
    if not os.path.exists(log_path):
        return []
    with open(log_path, encoding="utf-8") as log:
        return [(int(line.split()[0]), line.split()[1]) for line in log if line.strip()]


def _fail_to_load():
    raise ImportError("No module named 'my_script'")


class Unloadable:
    """A factory that pickles here but cannot be loaded in a worker, as when a worker cannot import the script
    that defines the objective."""

    def __reduce__(self):
        return (_fail_to_load, ())


def _rung_objective(trial_id, arch, epochs, *, log_path, raise_on, delay):
    """Trains `arch` to `epochs` "epochs" on from its checkpoint, as the real worker's backup does.

    Each epoch sleeps `delay`, then writes the checkpoint, then logs `epoch ID E` (so an epoch a kill
    interrupted before its checkpoint is trained again, and no checkpointed epoch is logged twice).
    The reward is the toy reward times the epochs, so every rung ranks as the full training does.
    """
    checkpoint = f"{log_path}.checkpoint-{trial_id}"
    reached = int(open(checkpoint, encoding="utf-8").read()) if os.path.exists(checkpoint) else 0
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"start {trial_id} {arch} {reached} {epochs} {os.getpid()}\n")
    if (arch, epochs) in raise_on:
        raise RuntimeError("the network diverged")
    for epoch in range(reached, epochs):
        time.sleep(delay)
        with open(checkpoint + ".tmp", "w", encoding="utf-8") as f:
            f.write(str(epoch + 1))
        os.replace(checkpoint + ".tmp", checkpoint)
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"epoch {trial_id} {epoch + 1}\n")
    return {"reward": toy_reward(arch) * epochs, "epochs_trained": max(0, epochs - reached), "worker": os.getpid()}


def _rung_factory(**settings):
    return functools.partial(_rung_objective, **settings)


def make_rungs(log_path, raise_on=(), delay=0.0):
    """A factory of `_rung_objective`; `raise_on`: (arch, epochs) pairs whose training raises."""
    return functools.partial(_rung_factory, log_path=str(log_path), raise_on=tuple(tuple(p) for p in raise_on),
                             delay=delay)


def lines(log_path, kind):
    """The objective's log lines of `kind` ("start", "epoch"), split, in order."""
    if not os.path.exists(log_path):
        return []
    with open(log_path, encoding="utf-8") as log:
        return [line.split()[1:] for line in log if line.startswith(kind + " ")]
