"""Step many environments at once, in-process or spread over worker processes.

`VectorEnv` holds ``num_envs`` slots, each one `Env` built with ``spec.make(options)``.
A GRPO group of G rollouts is G slots reset with the same `Task`, hence the same
initial state.

* ``num_workers=0``: the envs live in this process and are stepped one after another
  (right for fast envs such as the built-in household world). Timeouts are not enforced.
* ``num_workers=W>0``: slot ``i`` lives in worker ``i % W`` (a group is spread over the
  workers). Each worker is a ``spawn``-ed process that builds its envs itself and talks
  over a pipe; a call sends every worker its share first, then collects, so workers run
  in parallel. Each env call must answer within ``step_timeout`` (``reset_timeout`` for
  resets; a fresh worker also gets ``reset_timeout`` to build its envs).

Failures never lose the batch. A worker that dies (killed, crashed) or hangs past its
timeout is killed, reaped and restarted, and every episode it held ends: the slot's
`StepResult` has ``done=True``, reward 0, and ``info`` with the standard keys
(``won=False``) plus ``worker_error`` saying what happened. An exception raised by an env
inside ``step`` ends that episode the same way. A warning is logged each time. Resets
are retried once after a worker failure (the slot that was being reset first, alone, so a
game that hangs again takes no other slot down); a reset that fails again skips its
episode: the reset info carries ``worker_error`` and the slot's first step ends the
episode, marked. An env that raises during reset is an `EnvError` (usually a set-up
problem: missing data or package).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import pickle
import signal
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, NamedTuple

from sdar.envs.base import Env, EnvError, EnvSpec, StepResult, Task

logger = logging.getLogger(__name__)

_KINDS = ("reset", "step", "expert")


class _Outcome(NamedTuple):
    """What happened to one slot in one call: status "ok", "error" (the env raised) or
    "lost" (its worker died or hung); ``value`` is the result or the message."""

    status: str
    value: Any


def _apply(env: Env, kind: str, arg: Any) -> Any:
    if kind == "reset":
        return env.reset(arg)
    if kind == "step":
        return env.step(arg)
    return env.expert_action()


def _run_one(env: Env, kind: str, arg: Any) -> _Outcome:
    try:
        return _Outcome("ok", _apply(env, kind, arg))
    except Exception as exc:  # an env bug must end one episode, not the whole batch
        return _Outcome("error", f"{type(exc).__name__}: {exc}")


class _InProcess:
    """All envs in this process."""

    def __init__(self, make: Callable[[dict[str, Any]], Env], options: dict, num_envs: int):
        self.envs = [make(options) for _ in range(num_envs)]

    def call(self, kind: str, items: dict[int, Any], timeout: float) -> tuple[dict, dict]:
        return {slot: _run_one(self.envs[slot], kind, arg) for slot, arg in items.items()}, {}

    def close(self) -> None:
        for env in self.envs:
            env.close()


def _worker_main(conn: Connection, make: Callable, options: dict, slots: list[int]) -> None:
    """Worker loop: build the envs, then answer ``(kind, [(slot, arg), ...])`` requests
    with one ``(status, slot, value)`` message per slot and a final ``("done", ...)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and cleans up
    try:
        envs = {slot: make(options) for slot in slots}
    except Exception as exc:  # reported to the parent, which raises EnvError
        conn.send(("fatal", None, f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None, None))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            break
        if request[0] == "close":
            break
        kind, items = request
        for slot, arg in items:
            status, value = _run_one(envs[slot], kind, arg)
            conn.send((status, slot, value))
        conn.send(("done", None, None))
    for env in envs.values():
        env.close()


@dataclass
class _Worker:
    process: Any
    conn: Connection
    slots: list[int]
    started_at: float
    ready: bool = False


def _kill(worker: _Worker) -> None:
    """Kill and reap one worker (no zombie), closing its pipe."""
    if worker.process.is_alive():
        worker.process.kill()
    worker.process.join(timeout=10)
    worker.conn.close()


def _shutdown(workers: list[_Worker]) -> None:
    for worker in workers:
        if worker.process.is_alive() and not worker.conn.closed:
            with contextlib.suppress(OSError):  # already gone: _kill reaps it
                worker.conn.send(("close",))
            worker.process.join(timeout=2)
        _kill(worker)
    workers.clear()


class _WorkerPool:
    """Slots spread over worker processes; see the module docstring for failures."""

    def __init__(
        self, make: Callable, options: dict, num_envs: int, num_workers: int, startup_timeout: float
    ):
        try:
            pickle.dumps((make, options))
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise TypeError(
                f"worker processes need a picklable spec.make and options ({exc}); make "
                "spec.make a module-level function, or use num_workers=0"
            ) from exc
        self._ctx = multiprocessing.get_context("spawn")
        self._make, self._options, self._startup_timeout = make, options, startup_timeout
        self.workers = [
            self._start(list(range(w, num_envs, num_workers))) for w in range(num_workers)
        ]
        self._finalizer = weakref.finalize(self, _shutdown, self.workers)

    def _start(self, slots: list[int]) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main,
            args=(child, self._make, self._options, slots),
            name=f"sdar-env-worker-{slots[0]}",
            daemon=True,
        )
        process.start()
        child.close()
        return _Worker(process, parent, slots, time.monotonic())

    def _restart(self, index: int, reason: str) -> None:
        old = self.workers[index]
        logger.warning(
            "env worker pid %s (slots %s) %s; restarting it", old.process.pid, old.slots, reason
        )
        _kill(old)
        self.workers[index] = self._start(old.slots)

    def call(self, kind: str, items: dict[int, Any], timeout: float) -> tuple[dict, dict]:
        """Run ``kind`` on every slot in ``items``; returns (outcomes, {slot: reason} for
        every slot of a restarted worker, whose episodes are therefore lost)."""
        if not self.workers:
            raise EnvError("the env workers are shut down (closed, or one failed to start)")
        outcomes: dict[int, _Outcome] = {}
        pending: dict[int, float] = {}  # worker index -> deadline
        failed: dict[int, str] = {}
        for index, worker in enumerate(self.workers):
            share = [(slot, items[slot]) for slot in worker.slots if slot in items]
            if not share:
                continue
            try:
                worker.conn.send((kind, share))
                pending[index] = self._deadline(worker, timeout)
            except OSError as exc:
                failed[index] = f"died (pipe: {exc})"
        while pending:
            now = time.monotonic()
            waitables = [
                o for i in pending for o in (self.workers[i].conn, self.workers[i].process.sentinel)
            ]
            ready = set(wait(waitables, timeout=max(0.0, min(pending.values()) - now)))
            for index in list(pending):
                worker = self.workers[index]
                if worker.conn in ready or worker.process.sentinel in ready:
                    status = self._drain(worker, outcomes)
                    if status == "done":
                        del pending[index]
                        continue
                    if status is not None:
                        failed[index] = status
                        del pending[index]
                        continue
                    pending[index] = self._deadline(worker, timeout)
                if index in pending and time.monotonic() > pending[index]:
                    failed[index] = f"hung: no answer to {kind!r} within {timeout:g}s"
                    del pending[index]
        lost: dict[int, str] = {}
        for index, reason in failed.items():
            slots = self.workers[index].slots
            self._restart(index, reason)
            lost.update(dict.fromkeys(slots, reason))
            for slot in slots:
                if slot in items and slot not in outcomes:
                    outcomes[slot] = _Outcome("lost", f"env worker {reason}")
        return outcomes, lost

    def _deadline(self, worker: _Worker, timeout: float) -> float:
        if worker.ready:
            return time.monotonic() + timeout
        return worker.started_at + self._startup_timeout + timeout

    def _drain(self, worker: _Worker, outcomes: dict[int, _Outcome]) -> str | None:
        """Read what a worker sent: "done" when its share is answered, None when it is
        still working, else the reason it failed."""
        try:
            while worker.conn.poll():
                status, slot, value = worker.conn.recv()
                if status == "done":
                    return "done"
                if status == "ready":
                    worker.ready = True
                elif status == "fatal":
                    _shutdown(self.workers)
                    raise EnvError(f"env worker could not build its environments: {value}")
                else:
                    outcomes[slot] = _Outcome(status, value)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            return f"died ({type(exc).__name__}; exit code {worker.process.exitcode})"
        if not worker.process.is_alive():
            worker.process.join(timeout=1)
            return f"died (exit code {worker.process.exitcode})"
        return None

    def close(self) -> None:
        self._finalizer()


class VectorEnv:
    """``num_envs`` env slots stepped together (module docstring for workers/failures)."""

    def __init__(
        self,
        spec: EnvSpec,
        options: dict[str, Any],
        num_envs: int,
        *,
        num_workers: int = 0,
        step_timeout: float = 60.0,
        reset_timeout: float = 120.0,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an integer >= 0, got {num_workers!r}")
        if step_timeout <= 0 or reset_timeout <= 0:
            raise ValueError(
                f"step_timeout and reset_timeout must be > 0, got {step_timeout}, {reset_timeout}"
            )
        self.spec, self.num_envs = spec, num_envs
        self.num_workers = min(num_workers, num_envs)
        self.step_timeout, self.reset_timeout = step_timeout, reset_timeout
        self._tasks: list[Task | None] = [None] * num_envs
        self._active = [False] * num_envs
        self._lost: dict[int, str] = {}  # slot -> why its episode was ended behind its back
        if self.num_workers == 0:
            self._backend: _InProcess | _WorkerPool = _InProcess(spec.make, options, num_envs)
        else:
            self._backend = _WorkerPool(
                spec.make, options, num_envs, self.num_workers, startup_timeout=reset_timeout
            )

    def reset(self, tasks: list[Task | None]) -> list[tuple[str, dict[str, Any]] | None]:
        """Reset slot ``i`` to ``tasks[i]``; returns one ``(observation, info)`` per slot.

        A None task leaves its slot idle (no episode; its result is None)."""
        self._check_len(tasks, "tasks")
        items = {slot: task for slot, task in enumerate(tasks) if task is not None}
        outcomes, lost = self._call("reset", items, self.reset_timeout)
        if lost:  # every slot of a restarted worker needs its reset again
            outcomes.update(self._retry_resets(items, outcomes, lost))
        errors = [
            f"slot {slot} ({items[slot].task_id}): {o.value}"
            for slot, o in sorted(outcomes.items())
            if o.status == "error"
        ]
        self._lost.clear()
        if errors:
            self._active = [False] * self.num_envs
            raise EnvError(f"{self.spec.name} reset failed:\n  " + "\n  ".join(errors))
        self._tasks = list(tasks)
        self._active = [slot in items for slot in range(self.num_envs)]
        results: list[tuple[str, dict[str, Any]] | None] = []
        for slot in range(self.num_envs):
            if slot not in items:
                results.append(None)
            elif outcomes[slot].status == "lost":
                reason = f"reset of {items[slot].task_id} failed twice ({outcomes[slot].value})"
                logger.warning("skipping the episode in slot %d: %s", slot, reason)
                self._lost[slot] = f"{reason}; episode skipped"
                self._active[slot] = False
                results.append(("", self._ended_info(slot, self._lost[slot])))
            else:
                results.append(outcomes[slot].value)
        return results

    def _retry_resets(
        self, items: dict[int, Task], outcomes: dict[int, _Outcome], lost: dict[int, str]
    ) -> dict[int, _Outcome]:
        """Reset again every slot of a restarted worker. A worker resets its slots in
        order, so its first unanswered slot is the suspect: it goes first and alone, and
        a game that hangs again costs no other slot its reset."""
        retry = sorted(slot for slot in lost if slot in items)
        logger.warning("retrying the reset of slots %s after a worker failure", retry)
        workers = max(self.num_workers, 1)
        suspects = set()
        for w in {slot % workers for slot in retry}:
            unanswered = [s for s in retry if s % workers == w and outcomes[s].status == "lost"]
            suspects.update(unanswered[:1])
        out: dict[int, _Outcome] = {}
        for batch in (sorted(suspects), [s for s in retry if s not in suspects]):
            done, lost_again = self._call("reset", {s: items[s] for s in batch}, self.reset_timeout)
            out.update(done)
            for slot, reason in lost_again.items():  # a restart drops every env it held
                if slot in items:
                    out[slot] = _Outcome("lost", f"env worker {reason}")
        return out

    def step(self, actions: list[str | None]) -> list[StepResult | None]:
        """Step every slot whose action is not None; skipped slots give None."""
        self._check_len(actions, "actions")
        results: list[StepResult | None] = [None] * self.num_envs
        items: dict[int, str] = {}
        for slot, action in enumerate(actions):
            if action is None:
                continue
            if slot in self._lost:
                results[slot] = self._ended(slot, self._lost.pop(slot))
            elif not self._active[slot]:
                raise ValueError(
                    f"slot {slot} has no running episode (finished or never reset); "
                    "pass None for it or reset first"
                )
            else:
                items[slot] = action
        outcomes, lost = self._call("step", items, self.step_timeout)
        for slot, outcome in outcomes.items():
            if outcome.status == "ok":
                results[slot] = outcome.value
                self._active[slot] = not outcome.value.done
            else:
                results[slot] = self._ended(slot, outcome.value)
        self._forget(lost)
        return results

    def expert_actions(self) -> list[str | None]:
        """Each running slot's expert action (None for finished slots or no expert)."""
        items = {s: None for s in range(self.num_envs) if self._active[s] and s not in self._lost}
        actions: list[str | None] = [None] * self.num_envs
        outcomes, lost = self._call("expert", items, self.step_timeout)
        for slot, outcome in outcomes.items():
            if outcome.status == "ok":
                actions[slot] = outcome.value
            elif outcome.status == "error":
                logger.warning("expert_action failed in slot %d: %s", slot, outcome.value)
        self._forget(lost)
        return actions

    def close(self) -> None:
        """Close the envs and stop the worker processes (idempotent)."""
        self._backend.close()
        self._active = [False] * self.num_envs

    def __enter__(self) -> VectorEnv:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(
        self, kind: str, items: dict[int, Any], timeout: float
    ) -> tuple[dict[int, _Outcome], dict[int, str]]:
        assert kind in _KINDS
        if not items:
            return {}, {}
        return self._backend.call(kind, items, timeout)

    def _forget(self, lost: dict[int, str]) -> None:
        """Episodes still running in a restarted worker are gone: the slot's next step
        returns the marked result."""
        for slot, reason in lost.items():
            if self._active[slot]:
                self._lost[slot] = f"env worker {reason}; the restarted worker lost this episode"
                self._active[slot] = False

    def _ended(self, slot: int, reason: str) -> StepResult:
        """The marked result of an episode that a failure ended."""
        logger.warning("episode in slot %d ended by a failure: %s", slot, reason)
        self._active[slot] = False
        return StepResult(
            observation="", reward=0.0, done=True, info=self._ended_info(slot, reason)
        )

    def _ended_info(self, slot: int, reason: str) -> dict[str, Any]:
        task = self._tasks[slot]
        return {
            "won": False,
            "admissible_actions": None,
            "task_type": task.task_type if task is not None else "",
            "is_action_valid": False,
            "worker_error": reason,
        }

    def _check_len(self, values: list, name: str) -> None:
        if len(values) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} {name} (one per slot), got {len(values)}")
