"""The deterministic scheduler: one guest thread runs at a time, in an order drawn from a seed.

A thread holds the *baton* while its guest code runs and while its system calls are served.
The task loop calls :meth:`Scheduler.syscall_point` as each system call arrives (the baton goes
back and the next holder is drawn), :meth:`Scheduler.off_cpu` around a system call's sleep (the
baton is free while the thread sleeps and taken again after), :meth:`Scheduler.enter` before a
new thread first runs and :meth:`Scheduler.leave` when it ends.

Decisions are made by the scheduler's own task, and only once the Sentry is at rest
(``wait_all_tasks_blocked``): every thread woken by what the last holder did has then asked
for the baton, so who may run next depends on the program, not on the host's timing. With
nobody asking, every thread sleeps: virtual time jumps to the next deadline (a sleep's end, a
timer, a timeout) and the threads it wakes ask in turn.

The draw: without chaos the thread that just made a system call keeps the baton, except with
probability 1/``quantum``, when the next waiting thread in tid order gets it (so threads
interleave, in an order the seed fixes). With ``chaos`` every system call is a uniform draw
among the waiting threads and the caller, which explores far more interleavings: a race shows
up under some seeds, and the seed that showed it replays it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import trio
import trio.testing

from kernel.determinism import VirtualClock

if TYPE_CHECKING:
    from kernel.task import Task

log = logging.getLogger("sentrio.determinism")
T = TypeVar("T")


class Scheduler:
    """The baton, who waits for it, and the seeded draw of who gets it next."""

    def __init__(self, seed: int, clock: VirtualClock, chaos: bool = False, quantum: int = 8) -> None:
        self.rng = random.Random(f"schedule:{seed}")
        self.clock = clock
        self.chaos = chaos
        self.quantum = quantum
        self.holder: Task | None = None
        #: Threads ready to run guest code, each with the event that gives it the baton.
        self._waiting: dict[Task, trio.Event] = {}
        #: The thread that handed the baton back at a system call (it may keep it).
        self._yielder: Task | None = None
        self._wake = trio.Event()
        #: How many times the baton changed hands, and virtual time jumped (for tests, traces).
        self.switches = 0
        self.jumps = 0

    # --- the task loop's side ------------------------------------------------------------

    async def enter(self, task: Task) -> None:
        """A new thread waits for its first turn."""
        await self._take(task)

    async def syscall_point(self, task: Task) -> None:
        """``task`` made a system call: hand the baton back and wait for the draw."""
        self._yielder = task
        await self._take(task)

    async def off_cpu(self, task: Task, awaitable: Awaitable[T]) -> T:
        """Await a system call's sleep without the baton; take it again before returning."""
        self._release(task)
        try:
            return await awaitable
        finally:
            await self._take(task)

    def leave(self, task: Task) -> None:
        """``task`` ended: it holds and waits for nothing any more."""
        self._waiting.pop(task, None)
        if self._yielder is task:
            self._yielder = None
        self._release(task)

    # --- the baton ---------------------------------------------------------------------------

    def _release(self, task: Task) -> None:
        if self.holder is task:
            self.holder = None
            self._wake.set()

    async def _take(self, task: Task) -> None:
        self._release(task)
        event = self._waiting[task] = trio.Event()
        self._wake.set()
        try:
            await event.wait()
        finally:
            if self._waiting.get(task) is event:
                del self._waiting[task]
        assert self.holder is task

    def _draw(self) -> Task:
        waiting = sorted(self._waiting, key=lambda t: t.tid)
        yielder = self._yielder if self._yielder in self._waiting else None
        if self.chaos or yielder is None:
            return waiting[self.rng.randrange(len(waiting))] if self.chaos else waiting[0]
        if len(waiting) == 1 or self.rng.randrange(self.quantum):
            return yielder
        after = [t for t in waiting if t.tid > yielder.tid]
        return (after or [t for t in waiting if t is not yielder])[0]

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """The scheduler's task: hand out the baton whenever it is free."""
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self.holder is None:
                await trio.testing.wait_all_tasks_blocked()
                if self.holder is not None:
                    break
                if self._waiting:
                    chosen = self._draw()
                    if chosen is not self._yielder:
                        self.switches += 1
                    self._yielder = None
                    self.holder = chosen
                    self._waiting.pop(chosen).set()
                    break
                ahead = trio.lowlevel.current_statistics().seconds_to_next_deadline
                if ahead == float("inf"):
                    break  # nothing will wake by itself: wait for the host (a reply, a signal)
                self.clock.advance(ahead)
                self.jumps += 1
