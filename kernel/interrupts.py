"""Interrupting a guest thread's sleep when a signal comes for it, without a cancel scope.

An interruptible sleep (a pipe read waiting for data, wait4, poll, nanosleep) is the thread's
trio task parked in some trio wait deep inside an actor's operation. A signal for the thread
must end it, as Linux's ``signal_wake_up`` ends a ``TASK_INTERRUPTIBLE`` sleep, wherever it is
parked. trio's own way is a cancel scope around the sleep, cancelled by the signal: but
entering and leaving a ``trio.CancelScope`` runs ~50 Python calls (~10 µs here), and a pipe
between two processes sleeps once or twice per chunk; the scope was a quarter of the Sentry's
time moving 64 KiB chunks through a pipe.

So a sleep is entered with no scope, and the signal throws :class:`Interrupted` into the
parked task through the abort protocol trio itself uses to deliver a cancellation: the wait's
abort function takes the task out of whatever it waits in (a parking lot, an fd's wait, a
deadline) and the task resumes with the exception. That protocol is reached through trio's
private ``Task._attempt_abort`` (as trio's cancel scopes reach it); :data:`AVAILABLE` says
whether this trio has it, and without it the task falls back to a cancel scope per sleep.

A task that is not parked when the signal comes (it was woken, and has not run yet) gets the
exception when it parks again in the same sleep (:meth:`kernel.task.Task.blocking`), or not
at all if the sleep ends first: then the system call returns what it did, and the signal is
handled on the way back to the guest, as after any call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

import trio

from kernel.errors import Interrupted

__all__ = ["AVAILABLE", "Interrupted", "interrupt", "interrupt_sleep", "was_interrupted"]

#: Whether this trio's tasks have the abort hook an interruption needs.
AVAILABLE = hasattr(trio.lowlevel.Task, "_attempt_abort") and hasattr(trio.lowlevel.Task, "_abort_func")


def interrupt(task: trio.lowlevel.Task) -> bool:
    """Throw :class:`Interrupted` into ``task`` where it is parked (or hand it to the wait,
    which raises it when it ends: a nursery's). False if the task was not parked, or parked in
    a wait that cannot be aborted (a checkpoint, a thread): the caller tries again later."""
    if task._abort_func is None:
        return False
    delivered = False

    def raise_interrupted() -> NoReturn:
        nonlocal delivered
        delivered = True  # (called at once when the abort succeeds: trio captures the outcome)
        raise Interrupted

    task._attempt_abort(raise_interrupted)
    return delivered


def interrupt_sleep(task: trio.lowlevel.Task, asleep: Callable[[], bool]) -> None:
    """Interrupt ``task``'s sleep: at once if it is parked, else as soon as it parks again
    while ``asleep()`` still says it is in the same sleep (a system task tries after each of
    the scheduler's batches, in which the woken task runs until it parks or ends its sleep)."""
    if not interrupt(task):
        trio.lowlevel.spawn_system_task(_interrupt_when_parked, task, asleep)


async def _interrupt_when_parked(task: trio.lowlevel.Task, asleep: Callable[[], bool]) -> None:
    while asleep():
        if interrupt(task):
            return
        await trio.lowlevel.checkpoint()


def was_interrupted(error: BaseExceptionGroup[BaseException]) -> bool:
    """Whether a group raised out of a sleep (a nursery inside the sleep, whose wait was
    aborted) holds :class:`Interrupted` and nothing else."""
    matched, rest = error.split(Interrupted)
    return matched is not None and rest is None
