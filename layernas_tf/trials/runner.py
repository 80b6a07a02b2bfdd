"""The trial runner: the ask/tell loop between an algorithm, an executor and the study.

keras-tuner's split: the algorithm decides what to try, the executor trains it, and
the runner keeps them going. It asks `suggest(n)` for as many trials as there are
free workers, hands each to the executor, and reports results back in whatever
order they arrive, writing every step to the store (`store.Store`: the SQLite study,
or memory) in one transaction with the algorithm's state. Only this process writes
the store. It is the only ask/tell loop: the command and `search()`, the proxy check,
the KerasTuner tuner's workers, the tabular comparisons and the rung replays all run
on it, adding what they need through its hooks (`on_trial_begin`, `on_trial_end`,
`on_layer`, `on_rung`, `stop_requested`, `payload`, `reward`), as keras-tuner's `BaseTuner`
subclasses do.

A trial whose worker died (SIGKILL, the OOM killer, a lost Ray node) or that ran
out of memory (MemoryError, TensorFlow's ResourceExhaustedError) is trained again on
a fresh worker up to `retries` times, then recorded FAILED, an out-of-memory one
with "out of memory" and the attempts; a trial that raised anything else is FAILED
at once (the same network would fail the same way). With `half_batch_on_oom` the
worker first trains such a trial again itself at half the batch (`TrialWorker`); the
runner says so when it does. The run's last lines count the trials that failed out
of memory and those trained at half the batch. Killed at any moment, the driver
resumes from the study: trials that were out are trained again, completed ones never
are. Each submission carries a token the result hands back: a late result of an
attempt given up on (a partitioned Ray node's) is ignored.

A search whose first `no_signal_trials` networks (trained to the full proxy) all
score the same reward stops with `NoSignal`: such a reward ranks nothing (data whose
labels do not match, a class-less split, a learning rate that never leaves the
start), and searching on would spend the whole budget on coin flips. What was
trained is kept; the same check stops a resumed run at once, unless it is turned off.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional

from layernas_tf.algorithms import Algorithm, Trial
from layernas_tf.core.status import COMPLETE, FAILED, PENDING, RUNNING
from layernas_tf.core.units import human
from layernas_tf.trials.artefacts import Child
from layernas_tf.trials.executors import Executor, Result
from layernas_tf.trials.store import Store


class NoSignal(RuntimeError):
    """The first networks trained all scored the same: the reward cannot rank networks. The study is kept."""


def clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Runner:
    """Runs `algorithm` to its end on `executor`, recording everything in `store`.

    Args:
      retries: how many times a trial whose worker died is trained again.
      expected_trials: the most trials the search can take, for the time-left estimate.
      log: where progress lines go; None: no lines are even built (a tabular search
        runs thousands of trials a second).
      format_cost: how a cost is shown in progress lines (with its unit and size).
      on_result: called with (trial, metrics) after a completed trial is recorded.
      no_signal_trials: stop with `NoSignal` when the first this many full-proxy
        trials all scored the same reward; 0 never stops.
    """

    def __init__(self, store: Store, algorithm: Algorithm, executor: Executor, *, retries: int = 1,
                 expected_trials: Optional[int] = None, log: Optional[Callable[[str], None]] = print,
                 format_cost: Callable[[float], str] = lambda c: f"{c:,.0f}",
                 on_result: Optional[Callable[[Trial, dict[str, Any]], None]] = None, no_signal_trials: int = 0):
        if retries < 0:
            raise ValueError(f"trial_retries must be >= 0, got {retries}")
        self.no_signal_trials = no_signal_trials
        self._signal_seen = not no_signal_trials
        self.store, self.algorithm, self.executor = store, algorithm, executor
        self.retries, self.expected_trials, self.log = retries, expected_trials, log
        self.format_cost, self.on_result = format_cost, on_result
        self._out: dict[int, Trial] = {}
        self._started: dict[int, float] = {}
        self._attempts: dict[int, int] = {}
        # Each submission's token: a result that does not carry its trial's latest one is a late answer from an
        # attempt given up on (a partitioned node's), and is ignored rather than taken for the attempt out now.
        self._token = 0
        self._tokens: dict[int, int] = {}
        self._halved: list[int] = []  # trials that ran out of memory and trained at half the batch here
        self._finished_here = 0
        self._began = time.time()
        self._layers_shown = len(algorithm.layer_log)
        self._rungs_shown = len(algorithm.rung_log)

    # -- hooks: a subclass adds what it needs -------------------------------------------

    def payload(self, trial: Trial) -> "str | Child":
        """What the executor's objective receives for `trial` (with its id): the architecture's string, or for a
        trial that inherits (`Trial.parent`) a `Child` naming its parent."""
        if trial.parent is None:
            return str(trial.arch)
        return Child(str(trial.arch), trial.parent, str(self.algorithm.trials[trial.parent].arch))

    def reward(self, trial: Trial, metrics: dict[str, Any]) -> Optional[float]:
        """The reward the algorithm is told, from `trial`'s worker's `metrics`: their "reward". A reward that is
        not a finite number fails the trial (the same network, seeded alike, would score it again)."""
        del trial
        return metrics["reward"]

    def on_trial_begin(self, trial: Trial) -> None:
        """`trial` is recorded as running and about to go to a worker (again, when retried)."""

    def on_trial_end(self, trial: Trial, metrics: Optional[dict[str, Any]]) -> None:
        """`trial` is recorded complete (with its worker's `metrics`) or failed (None), the algorithm told."""
        if metrics is not None and self.on_result is not None:
            self.on_result(trial, metrics)

    def on_rung(self, entry: dict[str, Any]) -> None:
        """The algorithm closed a rung (`Algorithm.rung_log`'s entry)."""
        self._say(lambda: self._rung_line(entry))

    def on_layer(self, entry: dict[str, Any]) -> None:
        """The algorithm closed a layer (`Algorithm.layer_log`'s entry)."""
        self._say(lambda: self._layer_line(entry))

    def stop_requested(self) -> bool:
        """True ends the search before the next trials are handed out (those out are waited for)."""
        return False

    # -- the loop ------------------------------------------------------------------------

    def _say(self, line: Callable[[], str]) -> None:
        if self.log is not None:
            self.log(line())

    def _state(self) -> Optional[dict]:
        return self.algorithm.state_dict() if self.store.keeps_state else None

    def run(self) -> None:
        algorithm = self.algorithm
        state = self.store.algorithm_state()
        if state is not None:
            algorithm.load_state_dict(state)
            done = sum(t.status != PENDING for t in algorithm.trials)
            self._say(lambda: f"resuming {self.store.path}: {done} trial(s) done, {len(algorithm.pending())} to "
                      "retry")
            self._check_signal()
        self._began = time.time()
        while not algorithm.done:
            if self.stop_requested():
                if not self._out:
                    break
            else:
                self._fill()
            if not self._out:
                if algorithm.done:
                    break
                raise RuntimeError(f"{algorithm.name} suggested nothing while no trial is out")
            for result in self.executor.wait():
                self._handle(result)
        out_of_memory = [t.id for t in algorithm.trials if t.status == FAILED and "out of memory" in (t.error or "")]
        if out_of_memory:
            self._say(lambda: f"{len(out_of_memory)} trial(s) failed out of memory (trials "
                      f"{', '.join(map(str, out_of_memory))}): a smaller batch_size, or a larger host or GPU, trains "
                      "them")
        if self._halved:
            self._say(lambda: f"{len(self._halved)} trial(s) ran out of memory and trained at half the batch_size "
                      f"(trials {', '.join(map(str, self._halved))}): their rewards are the smaller batch's")

    def _fill(self) -> None:
        free = self.executor.slots - len(self._out)
        if free <= 0:
            return
        todo = [t for t in self.algorithm.pending() if t.id not in self._out][:free]
        if len(todo) < free:
            todo += self.algorithm.suggest(free - len(todo))
        for trial in todo:
            self._submit(trial)

    def _submit(self, trial: Trial) -> None:
        started = time.time()
        self._started.setdefault(trial.id, started)
        self.store.record(trial, self._state(), status=RUNNING, started=self._started[trial.id])
        self._out[trial.id] = trial
        self._attempts[trial.id] = self._attempts.get(trial.id, 0) + 1
        self.on_trial_begin(trial)
        self._token += 1
        self._tokens[trial.id] = self._token
        self.executor.submit(trial.id, self.payload(trial), trial.epochs, attempt=self._token)

    def _handle(self, result: Result) -> None:
        if result.trial_id not in self._out or result.attempt != self._tokens.get(result.trial_id):
            self._say(lambda: f"trial {result.trial_id}: ignored a late result of an attempt no longer out (its "
                      f"token {result.attempt}, the trial's {self._tokens.get(result.trial_id, 'none')})")
            return
        trial = self._out.pop(result.trial_id)
        started = self._started[trial.id]
        if result.lost and self._attempts[trial.id] <= self.retries:
            self._say(lambda: f"trial {trial.id:>4} {trial.arch}: {result.error}; training it again "
                      f"(attempt {self._attempts[trial.id] + 1} of {self.retries + 1})")
            self._submit(trial)
            return
        self._finished_here += 1
        reward = None if result.metrics is None else self.reward(trial, result.metrics)
        if reward is None or not math.isfinite(reward):
            reason = (result.error or "no result") if result.metrics is None else f"its reward is {reward}"
            if result.lost:
                reason += f" ({self._attempts[trial.id]} attempt(s))"
            self.algorithm.report_failure(trial.id, reason)
            self.store.record(trial, self._state(), status=FAILED, started=started, ended=time.time(), error=reason)
            self._say(lambda: f"trial {trial.id:>4} {trial.arch} FAILED: {reason}")
            self.on_trial_end(trial, None)
            self._show_layers()
            return
        try:
            self.algorithm.report(trial.id, reward)
        finally:  # a trained result is kept even if the algorithm fails on it: it is never trained again
            self.store.record(trial, self._state(), status=COMPLETE, metrics=result.metrics, started=started,
                              ended=time.time())
        self.on_trial_end(trial, result.metrics)
        self._say(lambda: self._progress_line(trial))
        if result.metrics.get("out_of_memory_retry"):  # `half_batch_on_oom`: its reward is a smaller batch's
            self._halved.append(trial.id)
            self._say(lambda: f"trial {trial.id:>4}: {result.metrics['out_of_memory_retry']}; trained at batch_size "
                      f"{result.metrics.get('batch_size')} instead")
        self._show_layers()
        self._check_signal()

    def _check_signal(self) -> None:
        """`NoSignal` once the first `no_signal_trials` full-proxy trials are in, if they all scored alike."""
        if self._signal_seen:
            return
        algorithm = self.algorithm
        done = sorted((t for t in algorithm.trials if t.status == COMPLETE and algorithm.full_fidelity(t)),
                      key=lambda t: t.id)
        if len(done) < self.no_signal_trials:
            return
        first = [t.reward for t in done[:self.no_signal_trials]]
        self._signal_seen = True
        if max(first) - min(first) > 1e-9:
            return
        raise NoSignal(
            f"the first {len(first)} networks trained all scored {first[0]:.4f}: the reward carries no signal, so the "
            "search would rank nothing. Look at the data (labels matching the examples, every class in every split, "
            "the input range the model expects) and at learning_rate and proxy_epochs (python -m "
            f"layernas_tf.proxy_check compares rewards); the {len(done)} completed trial(s) are kept in "
            f"{self.store.path}: run again with no_signal_trials=0 to search regardless")

    def _show_layers(self) -> None:
        """`on_rung` and `on_layer` for each rung and layer the algorithm closed since the last result (the events
        it publishes in its `rung_log` and `layer_log`)."""
        rungs = self.algorithm.rung_log
        for entry in rungs[self._rungs_shown:]:
            self.on_rung(entry)
        self._rungs_shown = len(rungs)
        layers = self.algorithm.layer_log
        for entry in layers[self._layers_shown:]:
            self.on_layer(entry)
        self._layers_shown = len(layers)

    def _rung_line(self, entry: dict[str, Any]) -> str:
        layer = entry["layer"]
        promoted = entry["promoted"]
        tied = entry.get("tied", 0)  # absent from rung logs of studies written before ties went on
        return (f"layer {layer + 1}/{len(self.algorithm.space)} rung of {entry['epochs']} epoch(s) closed: "
                f"{entry['ranked']} networks ranked, {len(promoted)} train on to {entry['next']} epochs"
                + (f" (trials {', '.join(str(i) for i in promoted)})" if promoted else "")
                + (f"; {tied} of them tied at the cut" if tied else "")
                + ("; every network scored the same at this rung, so it ranked none of them (a longer first "
                   "rung, rung_epochs, may; or none)" if entry.get("one_reward") else ""))

    def _layer_line(self, entry: dict[str, Any]) -> str:
        algorithm = self.algorithm
        layer = entry["layer"]
        head = f"layer {layer + 1}/{len(algorithm.space)} {algorithm.space.decision_points[layer].name} closed: "
        if not entry["searchable"]:
            return head + "no child can still meet the budget; the search ends with what it trained"
        kept = [algorithm.tried(algorithm.space.parse(a)) for a in entry["kept"]]
        edges = entry["edges"]
        return (head + f"{entry['searchable']} searchable children, {len(edges) - 1} buckets from "
                f"{self.format_cost(edges[0])} to {self.format_cost(edges[-1])} (edges "
                f"{' '.join(human(e) for e in edges)}), kept {len(kept)}: "
                + ", ".join(f"trial {t.id} ({t.reward:.4f})" for t in kept))

    def _progress_line(self, trial: Trial) -> str:
        algorithm = self.algorithm
        best = algorithm.best()
        elapsed = time.time() - self._began
        over = "" if algorithm.feasible(trial.arch) else "  (over budget: not a candidate answer)"
        fidelity = "" if algorithm.full_fidelity(trial) else f" ({trial.epochs} epoch rung)"
        line = (f"trial {trial.id:>4} {trial.arch}  {self.format_cost(trial.cost)}  reward {trial.reward:.4f}"
                f"{fidelity}  best {f'{best.reward:.4f}' if best else '-'}  elapsed {clock(elapsed)}")
        if self.expected_trials:
            left = max(0, self.expected_trials - len(algorithm.trials) + len(self._out))
            line += f"  left <= {clock(left * elapsed / max(1, self._finished_here))}"
        return line + over
