"""Waiting for readiness: what poll, select and epoll_wait share.

``check`` looks at every file's readiness (without waiting); if nothing is ready the calling
task sleeps until any of the files says its readiness may have changed, or the deadline
passes, and checks again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

import trio

T = TypeVar("T")


class Changes:
    """A count of changes and an event replaced at each: tasks waiting on a file (a pipe's
    readers and writers, an eventfd, a lock's waiters) sleep on it and re-check when woken;
    edge-triggered epoll compares the count, and a poll compares it to know that nothing
    changed while it was getting ready to sleep."""

    __slots__ = ("count", "_event", "fasync")

    def __init__(self) -> None:
        self.count = 0
        #: Made by the first waiter after a change, so a change nobody waits for (a pipe
        #: written while its reader is busy) costs no new event.
        self._event: trio.Event | None = None
        #: Called at each change while a description of the file has O_ASYNC and an owner
        #: (services/vfs/fasync.py), so its signal is sent before the change's call returns.
        self.fasync: Callable[[], None] | None = None

    def notify(self) -> None:
        """Wake every waiter."""
        self.count += 1
        event = self._event
        if event is not None:
            self._event = None
            event.set()
        if self.fasync is not None:
            self.fasync()

    @property
    def changes(self) -> int:
        return self.count

    async def wait(self, events: int = 0) -> None:
        event = self._event
        if event is None:
            event = self._event = trio.Event()
        await event.wait()


class Watched(Protocol):
    """What a poll can sleep on: a file, or the changes of an epoll's interest list.

    ``changes`` moves at every change that may make it ready. ``wait`` must be asleep on the
    current change before its first checkpoint (as ``trio.Event.wait`` is), or a change made
    at that checkpoint would be missed."""

    @property
    def changes(self) -> int: ...

    async def wait(self, events: int) -> None: ...


def change_counts(waits: Sequence[tuple[Watched, int]]) -> list[int]:
    """Each watched thing's change count now."""
    return [watched.changes for watched, _ in waits]


async def wait_ready(check: Callable[[], T], waits: Sequence[tuple[Watched, int]], deadline: float) -> T:
    """Return ``check()``'s first truthy answer, or its last one once ``deadline`` passes."""
    while True:
        seen = change_counts(waits)  # in the same step as the check: no change can slip between
        result = check()
        if result or trio.current_time() >= deadline or not waits and math.isinf(deadline):
            if not result and not waits and math.isinf(deadline):
                await trio.sleep_forever()  # poll(NULL, 0, -1): sleeps until a signal
            return result
        if math.isinf(deadline):  # no cancel scope to build (~10 µs) for a wait without a timeout
            await until_changed(waits, seen)
        else:
            with trio.move_on_at(deadline):
                await until_changed(waits, seen)


async def until_changed(waits: Sequence[tuple[Watched, int]], seen: list[int]) -> None:
    """Sleep until any of ``waits`` may have changed since its change counts were ``seen``.

    Starting a sleeper per file takes scheduling points, where another task may change a file
    before its sleeper is in place; so once every sleeper sleeps, the counts are compared again
    and a change in between ends the sleep at once, rather than being lost.
    """
    if not waits:
        await trio.sleep_forever()
    starting = len(waits)
    all_asleep = trio.Event()

    def asleep() -> None:
        nonlocal starting
        starting -= 1
        if starting == 0:
            all_asleep.set()

    async with trio.open_nursery() as nursery:
        for watched, events in waits:
            nursery.start_soon(_wake_on, watched, events, nursery.cancel_scope, asleep)
        await all_asleep.wait()
        if change_counts(waits) != seen:
            nursery.cancel_scope.cancel()


async def _wake_on(watched: Watched, events: int, scope: trio.CancelScope, asleep: Callable[[], None]) -> None:
    asleep()
    await watched.wait(events)  # asleep before any other task runs: no checkpoint between
    scope.cancel()
