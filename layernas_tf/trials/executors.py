"""Where trials train: in this process, in worker processes on this machine, or on Ray.

Every executor takes a `factory`: a picklable callable that, called once in each
worker, returns the objective `objective(trial_id, arch) -> metrics` (in a multi-fidelity
search `objective(trial_id, arch, epochs)`: train to `epochs`, on from the
trial's checkpoint). Workers set
up once (TensorFlow starts once per worker, not per trial) and only return
results; the runner in the driver reports them to the algorithm and writes the
study, so the study stays the single source of truth.

Why Ray actors and not Ray Tune: Tune's `Searcher` would put Tune's trial records,
checkpoints and resume logic beside the study's, two sources of truth that must
agree after any crash. Here Ray only places and runs work (each actor asks for
`cpus_per_trial` CPUs and `gpus_per_trial` GPUs, fractions allowed); what was
tried, what it scored and what comes next stay in the study database. A lost
actor or node surfaces as a lost trial, which the runner retries.

    executor.submit(trial_id, arch)   # up to `executor.slots` at a time
    for result in executor.wait():    # blocks until at least one finishes
        ...                           # Result(trial_id, metrics, error, lost)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import errno
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import threading
import traceback
from multiprocessing import connection
from typing import Any, Callable, Optional

from layernas_tf.core.status import COMPLETE, FAILED
from layernas_tf.trials.artefacts import THREADS_ENV

_PR_SET_PDEATHSIG = 1  # <sys/prctl.h>
RAY_INSTALL = "Ray is not installed: pip install -e '.[ray]' (Ray 2.60)"


def visible_gpus() -> tuple[int, ...]:
    """GPUs this host shows, the local executor shares out among its workers: read without starting TensorFlow
    on them (which would claim them in the driver)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return tuple(int(g) for g in visible.split(",") if g.strip().isdigit())
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(range(sum(line.startswith("GPU ") for line in listing.splitlines())))


class WorkerSetupError(RuntimeError):
    """A worker could not start training at all (no data, no shared study directory)."""


class DiskFull(RuntimeError):
    """A trial could not write its files: the disk is full. Not the network's fault, so not a failed trial:
    the run stops and the trial trains again when it resumes."""


def disk_full(e: BaseException) -> bool:
    """Whether `e` says the disk is full (an OSError's ENOSPC, TensorFlow's and SQLite's words for it, or a
    worker's DiskFull, whose quoted error may be cut before its words)."""
    if isinstance(e, DiskFull) or (isinstance(e, OSError) and e.errno == errno.ENOSPC):
        return True
    text = str(e)
    return "No space left on device" in text or "database or disk is full" in text


@dataclasses.dataclass
class Result:
    """How a trial ended: `metrics` when it trained, `error` when it raised, `lost` when its worker died (or ran
    out of memory: `out_of_memory`), so that the runner trains it again on a fresh worker. `attempt`: the token
    the trial was submitted with, so that a late result of an attempt the runner gave up on is told apart."""

    trial_id: int
    metrics: Optional[dict[str, Any]] = None
    error: Optional[str] = None
    lost: bool = False
    out_of_memory: bool = False
    attempt: int = 0


# Replace a worker whose memory grew by more than this many MB since its first trial (`worker_memory_growth`):
# a TensorFlow process keeps tens of MB of every trial it trained, clear_session() or not (17.7 MB a trial
# measured on the CPU), and a search of thousands of trials would run the host out of memory.
WORKER_MEMORY_GROWTH_MB = 256


class OutOfMemory(str):
    """A trial's error that says it ran out of memory: the runner retries it on a fresh worker."""


def out_of_memory(e: BaseException) -> bool:
    """Whether `e` is running out of memory: Python's MemoryError, TensorFlow's ResourceExhaustedError (a GPU's
    allocator), or an error that says OOM."""
    return (isinstance(e, MemoryError) or type(e).__name__ in ("ResourceExhaustedError", "OutOfMemoryError")
            or "OOM when allocating" in str(e))


def rss_mb(pid: Optional[int] = None) -> Optional[float]:
    """Resident memory of a process (this one by default) in MB, from /proc; None where there is no /proc."""
    try:
        with open(f"/proc/{pid or 'self'}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def oom_kills() -> Optional[int]:
    """How many processes the kernel's OOM killer has killed in this cgroup (cgroup v2's memory.events), or None."""
    try:
        with open("/sys/fs/cgroup/memory.events", encoding="utf-8") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class _MemoryWatch:
    """Which slots' workers grew past `limit_mb` since their first trial, from the RSS each result reports."""

    def __init__(self, limit_mb: float):
        self.limit_mb = limit_mb
        self._first: dict[int, float] = {}

    def grown(self, slot: int, result: Result) -> bool:
        """Records `result`'s worker memory; True when the slot's worker should be replaced before its next trial."""
        rss = (result.metrics or {}).get("worker_rss_mb")
        if not self.limit_mb or rss is None:
            return False
        first = self._first.setdefault(slot, rss)
        return rss - first > self.limit_mb

    def forget(self, slot: int) -> None:
        """The slot has a new worker: its first trial sets the mark again."""
        self._first.pop(slot, None)


# A worker's outcomes that end the whole run rather than one trial (a trial's own are COMPLETE and FAILED).
DISK_FULL = "DISK_FULL"
SETUP_FAILED = "SETUP_FAILED"
RUN_ENDING = (DISK_FULL, SETUP_FAILED)


def describe_error(e: BaseException) -> str:
    return f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"


class Executor:
    """Runs up to `slots` trials at a time."""

    slots = 1

    def submit(self, trial_id: int, arch: str, epochs: Optional[int] = None, attempt: int = 0) -> None:
        """Starts training `arch`; `epochs` (multi-fidelity searches) trains it that far, on from its checkpoint.
        Its `Result` carries `attempt` back."""
        raise NotImplementedError

    def wait(self) -> list[Result]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return type(self).__name__

    def _take_slots(self, slots: int, workers_per_trial: int) -> None:
        """Refuses fewer than one trial at a time or one process per trial (the pool executors' one check), before
        any worker starts; keeps both."""
        if slots < 1:
            raise ValueError(f"parallel_trials must be >= 1, got {slots}")
        if workers_per_trial < 1:
            raise ValueError(f"workers_per_trial must be >= 1, got {workers_per_trial}")
        self.slots = slots
        self.group = workers_per_trial


class _Host:
    """What every worker does with a trial: set up once, run, word the outcome.

    `run` returns `(kind, trial_id, payload)`: a trial's outcome in the one status
    vocabulary (`core.status`), (COMPLETE, id, metrics) or (FAILED, id, reason) when the
    objective raised; or one of the two outcomes that end the whole run, not a trial:
    (DISK_FULL, id, reason) when it could not write for a full disk, (SETUP_FAILED, id,
    reason) when setting the worker up did.
    """

    def __init__(self, factory):
        self._factory = factory
        self._objective = None
        self._setup_error: Optional[str] = None

    def prepare(self) -> None:
        """Sets the objective up (TensorFlow, the data) before its first trial, if it has a `setup`."""
        if self._objective is not None or self._setup_error:
            return
        try:
            objective = self._factory()
            if hasattr(objective, "setup"):
                objective.setup()
            self._objective = objective
        except Exception as e:  # pylint: disable=broad-except
            self._setup_error = f"on {socket.gethostname()}: {describe_error(e)}"

    def run(self, trial_id: int, arch: str, epochs: Optional[int] = None) -> tuple[str, int, Any]:
        self.prepare()
        if self._setup_error:
            return (SETUP_FAILED, trial_id, self._setup_error)
        try:
            metrics = self._objective(trial_id, arch) if epochs is None else self._objective(trial_id, arch, epochs)
            rss = rss_mb()
            return (COMPLETE, trial_id, metrics if rss is None else {**metrics, "worker_rss_mb": round(rss, 1)})
        except Exception as e:  # pylint: disable=broad-except
            if disk_full(e):
                return (DISK_FULL, trial_id, describe_error(e))
            if out_of_memory(e):
                return (FAILED, trial_id, OutOfMemory(f"out of memory: {describe_error(e)}"))
            traceback.print_exc()
            return (FAILED, trial_id, describe_error(e))


def _result(outcome: tuple[str, int, Any], attempt: int) -> Result:
    """A worker's outcome as the runner sees it; a setup failure ends the run."""
    kind, trial_id, payload = outcome
    if kind == SETUP_FAILED:
        raise WorkerSetupError(payload)
    if kind == DISK_FULL:
        raise DiskFull(f"trial {trial_id} could not write its files: {payload}")
    if kind == COMPLETE:
        return Result(trial_id, metrics=payload, attempt=attempt)
    if isinstance(payload, OutOfMemory):  # trained again on a fresh worker: this one may hold on to the memory
        return Result(trial_id, error=str(payload), lost=True, out_of_memory=True, attempt=attempt)
    return Result(trial_id, error=payload, attempt=attempt)


class SerialExecutor(Executor):
    """One trial at a time, in this process."""

    def __init__(self, factory: Callable[[], Callable[[int, str], dict]]):
        self._host = _Host(factory)
        self._queue: list[tuple[int, str, Optional[int], int]] = []

    def submit(self, trial_id: int, arch: str, epochs: Optional[int] = None, attempt: int = 0) -> None:
        self._queue.append((trial_id, arch, epochs, attempt))

    def wait(self) -> list[Result]:
        trial_id, arch, epochs, attempt = self._queue.pop(0)
        return [_result(self._host.run(trial_id, arch, epochs), attempt)]

    def describe(self) -> str:
        return "serial executor (one trial at a time, in this process)"


WORKER_NAME = "layernas-worker"
# A GPU worker's TensorFlow takes memory as it needs it instead of the whole GPU at start, so trials
# sharing a GPU (`gpus_per_trial` < 1) all fit; set in the worker's environment before TensorFlow starts.
GPU_MEMORY_GROWTH = {"TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def check_not_in_worker(what: str) -> None:
    """ValueError when a local worker is importing the user's script and reaches `what` (a search) at its top level.

    Workers start with `spawn`, which imports the driver's main script: a script that
    starts a search outside `if __name__ == "__main__":` would start one in every worker.
    """
    if multiprocessing.current_process().name.startswith(WORKER_NAME):
        raise ValueError(f"{what} was started while a trial worker imported your script: local workers import the "
                         "main script, so start the search under `if __name__ == \"__main__\":`")


def die_with(parent: int) -> None:
    """Ends this worker when its driver dies, however it dies (kill -9 included).

    Linux's parent-death signal: without it a worker whose driver was killed goes on
    training, re-parented to PID 1, and writes into a trial directory that a resumed
    search hands to a new worker. If the driver died before the signal was set,
    the parent is already someone else: stop now.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pipe's EOF still ends an idle worker
        pass
    if os.getppid() != parent:
        os._exit(1)  # pylint: disable=protected-access


def _worker_main(conn, factory, env: dict[str, str], parent: int) -> None:
    """A long-lived local worker: set up once, then train whatever the driver sends."""
    die_with(parent)
    # Ctrl-C and SIGTERM (sent to a whole process group by terminals and Slurm) are the driver's to
    # handle: it stops its workers itself, and they die with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ.update(env)
    host = _Host(factory)
    host.prepare()  # while the driver is still busy with its own start-up
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        conn.send(host.run(*message))


def _exit_reason(code: Optional[int]) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that nothing listens on now (the OS's picks), for a worker group's TF_CONFIG."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cluster_config(addresses: list[str], index: int) -> str:
    """TF_CONFIG of member `index` of a worker group at `addresses` (`host:port`): one MultiWorkerMirroredStrategy
    cluster."""
    return json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}})


def group_config(ports: list[int], index: int) -> str:
    """TF_CONFIG of member `index` of a worker group on this host."""
    return cluster_config([f"127.0.0.1:{p}" for p in ports], index)


def _group_outcome(outcomes: list[tuple[str, int, Any]]) -> tuple[str, int, Any]:
    """What stands for a group's trial: a member's outcome that ends the run (a setup failure, a full disk),
    else the chief's."""
    return next((o for o in outcomes if o[0] in RUN_ENDING), outcomes[0])


class LocalExecutor(Executor):
    """`slots` long-lived workers on this machine, each pinned to its own devices.

    A worker is one process, or with `workers_per_trial` > 1 a group of processes
    that train each trial together under `MultiWorkerMirroredStrategy` (TF_CONFIG
    naming the group's ports on 127.0.0.1, member 0 the chief): the driver sends the
    trial to every member and takes the chief's result. A member that dies takes
    its group with it (the others would wait in a collective forever): the group
    is killed, started again on new ports, and the trial is lost, so retried.

    Args:
      gpus: GPU ids to share out (`CUDA_VISIBLE_DEVICES` per worker, `gpus_per_trial`
        each); empty on a CPU-only machine, where each process gets an even share of
        the cores as TensorFlow's thread pools.
      memory_growth_mb: a worker whose memory grew by more than this since its first
        trial is replaced by a fresh one before its next trial (0: never); one that ran
        out of memory is replaced too. Nothing is trained again for it.
    """

    def __init__(self, factory, slots: int, *, gpus: tuple[int, ...] = (), gpus_per_trial: float = 1,
                 cpus: Optional[int] = None, workers_per_trial: int = 1,
                 memory_growth_mb: float = WORKER_MEMORY_GROWTH_MB):
        self._take_slots(slots, workers_per_trial)
        self._factory = factory
        self._context = multiprocessing.get_context("spawn")
        self._envs = []
        per_gpu = max(1, int(gpus_per_trial)) if gpus else 0
        cpus = cpus or os.cpu_count() or 1
        for i in range(slots):
            env = {THREADS_ENV: str(max(1, cpus // (slots * self.group)))}
            if gpus:
                share = [gpus[(i * per_gpu + j) % len(gpus)] for j in range(per_gpu)]
                env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in share)
                env.update(GPU_MEMORY_GROWTH)
            elif "CUDA_VISIBLE_DEVICES" not in os.environ:
                env["CUDA_VISIBLE_DEVICES"] = ""
            self._envs.append(env)
        self._workers: list[Optional[list[tuple[Any, Any]]]] = [None] * slots  # slot -> its members
        self._busy: dict[int, tuple[int, int]] = {}  # slot -> (trial id, attempt)
        self._answered: set[int] = set()  # slots whose worker has sent a result
        self._outcomes: dict[int, dict[int, Any]] = {}  # slot -> the outcomes its members sent so far
        self._memory = _MemoryWatch(memory_growth_mb)
        self._replace: set[int] = set()  # slots whose workers are replaced before their next trial
        self._oom_kills: dict[int, Optional[int]] = {}  # slot -> the OOM killer's count when its trial went out
        self.replaced = 0  # workers replaced for their memory
        for slot in range(slots):  # all at once: LayerNAS's first layer is one trial, its second many
            self._start(slot)

    def _start(self, slot: int):
        ports = free_ports(self.group) if self.group > 1 else []
        members = []
        for index in range(self.group):
            env = dict(self._envs[slot], **({"TF_CONFIG": group_config(ports, index)} if ports else {}))
            parent, child = self._context.Pipe()
            name = f"{WORKER_NAME}-{slot}" + (f"-{index}" if ports else "")
            process = self._context.Process(target=_worker_main, args=(child, self._factory, env, os.getpid()),
                                            name=name, daemon=True)
            process.start()
            child.close()
            members.append((process, parent))
        self._workers[slot] = members
        self._answered.discard(slot)
        return members

    def submit(self, trial_id: int, arch: str, epochs: Optional[int] = None, attempt: int = 0) -> None:
        slot = next(s for s in range(self.slots) if s not in self._busy)
        members = self._workers[slot]
        if members is None or slot in self._replace or not all(process.is_alive() for process, _ in members):
            self._stop(slot, busy=slot not in self._replace)
            self._replace.discard(slot)
            self._memory.forget(slot)
            members = self._start(slot)
        for _, conn in members:
            conn.send((trial_id, arch, epochs))
        self._busy[slot] = (trial_id, attempt)
        self._oom_kills[slot] = oom_kills()

    def wait(self) -> list[Result]:
        results = []
        while self._busy and not results:
            handles = {}
            for slot in self._busy:
                answered = self._outcomes.get(slot, {})
                for index, (process, conn) in enumerate(self._workers[slot]):
                    if index not in answered:
                        handles[conn] = slot
                        handles[process.sentinel] = slot
            ready = connection.wait(list(handles))
            for slot in dict.fromkeys(handles[h] for h in ready):
                result = self._collect(slot)
                if result is not None:
                    results.append(result)
        return results

    def _collect(self, slot: int) -> Optional[Result]:
        """The slot's result once every member has answered or one has died; None while some still train."""
        members = self._workers[slot]
        answered = self._outcomes.setdefault(slot, {})
        dead = None
        for index, (process, conn) in enumerate(members):
            if index in answered:
                continue
            try:
                if conn.poll():
                    answered[index] = conn.recv()
                elif not process.is_alive():
                    dead = dead or (index, process)
            except (EOFError, OSError):
                dead = dead or (index, process)
        if dead is None and len(answered) < len(members):
            return None
        trial_id, attempt = self._busy.pop(slot)
        outcomes = [answered[i] for i in sorted(answered)]
        del self._outcomes[slot]
        if dead is None:
            self._answered.add(slot)
            outcome = _group_outcome(outcomes)
            if outcome[0] in RUN_ENDING:
                self.close()
            result = _result(outcome, attempt)
            if result.out_of_memory:
                self._replace.add(slot)
            elif self._memory.grown(slot, result):
                self._replace.add(slot)
                self.replaced += 1
            return result
        index, process = dead
        process.join(timeout=5)
        self._stop(slot)
        if slot not in self._answered and process.exitcode is not None and process.exitcode > 0:
            # Python exited with an error before the worker's own code ran (it could not import the main
            # script, or unpickle the objective): every new worker would do the same.
            self.close()
            raise WorkerSetupError(f"worker {process.pid} {_exit_reason(process.exitcode)} before it could start "
                                   "(its error is printed above)")
        member = f" (member {index} of a group of {self.group})" if self.group > 1 else ""
        reason = f"worker {process.pid}{member} {_exit_reason(process.exitcode)}"
        before, after = self._oom_kills.get(slot), oom_kills()
        if process.exitcode == -signal.SIGKILL and before is not None and after is not None and after > before:
            return Result(trial_id, error=f"out of memory: {reason} by the kernel's OOM killer", lost=True,
                          out_of_memory=True, attempt=attempt)
        return Result(trial_id, error=reason, lost=True, attempt=attempt)

    def _stop(self, slot: int, busy: bool = True) -> None:
        """Ends the slot's processes: asked to when idle, killed when training (a group mid-trial cannot stop)."""
        members = self._workers[slot] or []
        for process, conn in members:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
            if busy and process.is_alive():
                process.kill()
        for process, _ in members:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
        self._workers[slot] = None

    def close(self) -> None:
        for slot in range(self.slots):
            self._stop(slot, busy=slot in self._busy)
        self._busy.clear()
        self._outcomes.clear()

    def describe(self) -> str:
        pinned = ", ".join(env.get("CUDA_VISIBLE_DEVICES") or f"{env[THREADS_ENV]} CPU threads" for env in self._envs)
        if self.group > 1:
            return (f"local executor ({self.slots} groups of {self.group} worker processes, each trial under "
                    f"MultiWorkerMirroredStrategy on 127.0.0.1: {pinned} per process)")
        return f"local executor ({self.slots} worker processes: {pinned})"


class _RayWorker(_Host):
    """A Ray actor: what a local worker process is, on a Ray node.

    A member of a worker group sets up only once it has joined its group: its
    strategy needs the group's TF_CONFIG, which names every member's node and port.
    """

    def __init__(self, factory, env: dict[str, str], grouped: bool = False):
        os.environ.update(env)
        super().__init__(factory)
        if not grouped:
            self.prepare()

    def address(self) -> str:
        """`host:port` this member will listen on for its group: its node's address, a port free there now."""
        import ray  # pylint: disable=import-outside-toplevel  (an optional extra; this runs on a Ray node)

        return f"{ray.util.get_node_ip_address()}:{free_ports(1)[0]}"

    def join(self, tf_config: str) -> None:
        """Takes the group's TF_CONFIG and sets up: the members meet, then start the strategy together."""
        os.environ["TF_CONFIG"] = tf_config
        self.prepare()


def import_ray():
    try:
        import ray  # pylint: disable=import-outside-toplevel  (an optional extra)
    except ImportError:
        raise ValueError(RAY_INSTALL) from None
    return ray


GROUP_TIMEOUT = 600.0  # seconds Ray may take to place a worker group's actors (an autoscaler adds nodes)


class RayExecutor(Executor):
    """Trials as calls on `slots` Ray actors, on an existing cluster or a local Ray.

    With `workers_per_trial` > 1 a slot is a group of actors, wherever Ray places them
    (on several nodes: a trial across hosts), that train each trial together under
    `MultiWorkerMirroredStrategy`: each member names its node's address and a free
    port, and the group's TF_CONFIG lists them all (member 0 the chief, whose result
    is the trial's). A member lost takes its group with it: the group's actors are
    killed, a new group is formed, and the trial is retried like any lost one.

    Args:
      address: `auto`, `HOST:PORT` or `ray://HOST:PORT` of a running cluster; None
        starts a Ray on this machine for the run, on 127.0.0.1.
      memory_growth_mb: as the local executor's: an actor (group) grown past it is replaced.
      cpus_per_trial, gpus_per_trial: what a trial asks of Ray: its CPUs are split
        among a group's members, each member asks for `gpus_per_trial` GPUs.
    """

    def __init__(self, factory, slots: int, *, address: Optional[str] = None, cpus_per_trial: float = 1,
                 gpus_per_trial: float = 0, workers_per_trial: int = 1,
                 memory_growth_mb: float = WORKER_MEMORY_GROWTH_MB):
        ray = import_ray()
        self._take_slots(slots, workers_per_trial)
        self._ray = ray
        self._owns_ray = False
        if not ray.is_initialized():
            # No address: a Ray of this run's own, even where another runs on this machine (which Ray would join).
            kwargs = {"address": address} if address else {"address": "local", "include_dashboard": False,
                                                           "_node_ip_address": "127.0.0.1"}
            # Ray's core worker installs a fatal-signal handler for SIGTERM in this process (it prints "SIGTERM
            # received" and aborts, exit -6): the search's own handlers (`stopping`) go back in after it.
            handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
            ray.init(log_to_driver=True, logging_level="ERROR", **kwargs)
            if threading.current_thread() is threading.main_thread():
                for number, handler in handlers.items():
                    if handler is not None:
                        signal.signal(number, handler)
            self._owns_ray = address is None
        cpus = cpus_per_trial / self.group
        self._actor_class = ray.remote(num_cpus=cpus, num_gpus=gpus_per_trial, max_restarts=0)(_RayWorker)
        self._env = {THREADS_ENV: str(max(1, int(cpus)))}
        if not gpus_per_trial:
            self._env["CUDA_VISIBLE_DEVICES"] = ""
        else:
            self._env.update(GPU_MEMORY_GROWTH)
        self._factory = factory
        self._cpus, self._gpus = cpus_per_trial, gpus_per_trial
        self._busy: dict[int, tuple[int, int, list[Any]]] = {}  # slot -> (trial id, attempt, each member's ref)
        self._memory = _MemoryWatch(memory_growth_mb)
        self.replaced = 0  # actors replaced for their memory
        self._groups: list[Optional[list[Any]]] = [None] * slots
        try:
            self._groups = [self._form() for _ in range(slots)]
        except BaseException:
            self.close()
            raise

    def _form(self) -> list[Any]:
        """A slot's actors: one, or a group that has its TF_CONFIG (calls on an actor run in order, so every
        trial sent later finds its member joined)."""
        if self.group == 1:
            return [self._actor_class.remote(self._factory, self._env)]
        members = [self._actor_class.remote(self._factory, self._env, True) for _ in range(self.group)]
        try:
            addresses = self._ray.get([member.address.remote() for member in members], timeout=GROUP_TIMEOUT)
        except self._ray.exceptions.GetTimeoutError:
            for member in members:
                self._ray.kill(member)
            raise WorkerSetupError(f"the Ray cluster did not place a group of {self.group} actors ("
                                   f"{self._cpus / self.group:g} CPU and {self._gpus:g} GPU each) within "
                                   f"{GROUP_TIMEOUT:g} s: lower --parallel_trials or add nodes") from None
        for index, member in enumerate(members):
            member.join.remote(cluster_config(addresses, index))
        return members

    def submit(self, trial_id: int, arch: str, epochs: Optional[int] = None, attempt: int = 0) -> None:
        slot = next(s for s in range(self.slots) if s not in self._busy)
        if self._groups[slot] is None:
            self._groups[slot] = self._form()
        self._busy[slot] = (trial_id, attempt,
                            [member.run.remote(trial_id, arch, epochs) for member in self._groups[slot]])

    def wait(self) -> list[Result]:
        lost_errors = (self._ray.exceptions.RayActorError, self._ray.exceptions.WorkerCrashedError,
                       self._ray.exceptions.NodeDiedError, self._ray.exceptions.ObjectLostError)
        results = []
        while self._busy and not results:
            pending = []  # members still training: a finished one would wake the wait at once, again and again
            for slot, (trial_id, attempt, refs) in list(self._busy.items()):
                done, waiting = self._ray.wait(refs, num_returns=len(refs), timeout=0)
                pending += waiting
                lost = None
                for ref in done:
                    try:
                        self._ray.get(ref)
                    except lost_errors as e:
                        lost = e
                        break
                if lost is None and len(done) < len(refs):
                    continue  # members still training
                del self._busy[slot]
                if lost is not None:
                    self._kill(slot)  # the others would wait in a collective for ever
                    member = f" (a member of a group of {self.group})" if self.group > 1 else ""
                    results.append(Result(trial_id, error=f"Ray worker lost{member}: {describe_error(lost)}",
                                          lost=True, attempt=attempt))
                    continue
                outcome = _group_outcome(self._ray.get(refs))
                if outcome[0] in RUN_ENDING:
                    self.close()  # and _result raises: the run ends
                result = _result(outcome, attempt)
                grown = self._memory.grown(slot, result)
                if result.out_of_memory or grown:  # a fresh group for the next trial (`submit` forms it)
                    self._kill(slot)
                    self._memory.forget(slot)
                    self.replaced += grown
                results.append(result)
            if not results and pending:
                self._ray.wait(pending, num_returns=1)
        return results

    def _kill(self, slot: int) -> None:
        for actor in self._groups[slot] or []:
            self._ray.kill(actor)
        self._groups[slot] = None

    def close(self) -> None:
        for slot in range(self.slots):
            self._kill(slot)
        self._busy.clear()
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False

    def describe(self) -> str:
        cluster = self._ray.get_runtime_context().gcs_address
        if self.group > 1:
            return (f"Ray executor ({self.slots} groups of {self.group} actors, {self._cpus / self.group:g} CPU and "
                    f"{self._gpus:g} GPU each, each trial under MultiWorkerMirroredStrategy across their nodes, "
                    f"cluster {cluster})")
        return f"Ray executor ({self.slots} actors, {self._cpus:g} CPU and {self._gpus:g} GPU each, cluster {cluster})"
