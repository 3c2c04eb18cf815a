"""The trio tasks that run guest threads, kept for the next thread when one ends.

Each guest thread runs in a trio task of its own (gVisor's goroutine per task), inside a cancel
scope through which the kernel ends it wherever it waits (:meth:`Task.stop`). Both cost here:
spawning a trio task ~9 µs, entering and leaving a cancel scope ~8 µs — together a tenth of a
pthread_create + pthread_join. So a trio task that has run a thread to its end does not end
with it: it waits, its scope unused, for the next thread to start, and starting a thread on it
is a reschedule (~1 µs). A runner whose scope was cancelled (its thread was stopped from
outside) ends with its thread: a cancelled scope cannot be entered again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import outcome
import trio

if TYPE_CHECKING:
    from kernel.task import Task

#: Idle runners kept at most; a burst of threads beyond it leaves only this many waiting.
IDLE_RUNNERS_MOST = 16


class Runners:
    """Starts guest threads on idle runners, or on new ones in ``nursery``."""

    def __init__(self, nursery: trio.Nursery, most_idle: int = IDLE_RUNNERS_MOST) -> None:
        self._nursery = nursery
        self._most_idle = most_idle
        self._idle: list[trio.lowlevel.Task] = []

    @property
    def idle(self) -> int:
        """How many runners wait for a thread (for tests and diagnostics)."""
        return len(self._idle)

    def start(self, task: Task) -> None:
        """Run ``task`` on a runner of its own: it starts when trio next schedules it."""
        if self._idle:
            trio.lowlevel.reschedule(self._idle.pop(), outcome.Value(task))
        else:
            self._nursery.start_soon(self._serve, task, name=task.name)

    async def _serve(self, task: Task) -> None:
        with trio.CancelScope() as scope:
            while True:
                await task.run(scope)
                if scope.cancel_called or len(self._idle) >= self._most_idle:
                    return
                task = await self._next()

    async def _next(self) -> Task:
        """Wait, idle, for the next thread to run (the kernel's end cancels the wait)."""
        runner = trio.lowlevel.current_task()
        self._idle.append(runner)

        def abort(_: object) -> trio.lowlevel.Abort:
            self._idle.remove(runner)
            return trio.lowlevel.Abort.SUCCEEDED

        task: Task = await trio.lowlevel.wait_task_rescheduled(abort)
        return task
