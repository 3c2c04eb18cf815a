"""Waiting for readiness: what poll, select and epoll_wait share.

``check`` looks at every file's readiness (without waiting); if nothing is ready the calling
task sleeps until any of the files says its readiness may have changed, or the deadline
passes, and checks again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import trio

if TYPE_CHECKING:
    from services.vfs.file import File

T = TypeVar("T")


class Changes:
    """A count of changes and an event replaced at each: tasks waiting on a file (a pipe's
    readers and writers, an eventfd, a lock's waiters) sleep on it and re-check when woken;
    edge-triggered epoll compares the count."""

    __slots__ = ("count", "_event")

    def __init__(self) -> None:
        self.count = 0
        self._event = trio.Event()

    def notify(self) -> None:
        """Wake every waiter."""
        self.count += 1
        self._event.set()
        self._event = trio.Event()

    async def wait(self) -> None:
        await self._event.wait()


async def wait_ready(check: Callable[[], T], waits: list[tuple[File, int]], deadline: float) -> T:
    """Return ``check()``'s first truthy answer, or its last one once ``deadline`` passes."""
    while True:
        result = check()
        if result or trio.current_time() >= deadline or not waits and math.isinf(deadline):
            if not result and not waits and math.isinf(deadline):
                await trio.sleep_forever()  # poll(NULL, 0, -1): sleeps until a signal
            return result
        with trio.move_on_at(deadline):
            async with trio.open_nursery() as nursery:
                for file, events in waits:
                    nursery.start_soon(_wake_on, file, events, nursery.cancel_scope)
                if not waits:
                    await trio.sleep_forever()


async def _wake_on(file: File, events: int, scope: trio.CancelScope) -> None:
    await file.wait(events)
    scope.cancel()
