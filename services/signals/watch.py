"""A read-only view of pending signals, for files whose readiness depends on them (signalfd).

A file's ``poll`` cannot wait for an answer on the bus, so the signals actor hands out a
:class:`PendingWatch`: a view it keeps current, which tells which signals are pending for a
thread and wakes waiters whenever that may have changed. signalfd asks it for the
thread its caller names (it reads the caller's signals, as on Linux).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import trio


class Thread(Protocol):
    """What a watch needs to know of the calling thread."""

    tid: int


class PendingWatch:
    """Pending signals of any thread, as the signals actor last changed them."""

    def __init__(self, pending: Callable[[int], int]) -> None:
        self._pending = pending
        self.count = 0
        self._event = trio.Event()

    def pending(self, tid: int) -> int:
        """The bits pending for thread ``tid`` or its process (0 for an unknown thread)."""
        return self._pending(tid)

    def changed(self) -> None:
        """The actor changed some pending queue: wake every waiter."""
        self.count += 1
        self._event.set()
        self._event = trio.Event()

    async def wait(self) -> None:
        await self._event.wait()
