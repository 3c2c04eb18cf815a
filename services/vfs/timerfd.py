"""timerfd(2): a timer read as a file.

A timerfd counts expirations of a timer on a host clock (CLOCK_REALTIME, MONOTONIC or BOOTTIME,
or an alarm clock, which runs as its plain twin: the sandbox cannot wake a sleeping machine). It
runs no task: what it owes is computed when asked, from the clock, so an unread periodic timer
costs nothing however short its interval. A read takes the count of expirations since the last
read (sleeping while it is 0); poll reports POLLIN while it is not 0; a waiter sleeps until the
next expiry or a change of setting.

TFD_TIMER_CANCEL_ON_SET is accepted and never fires: the guest cannot set the host's clock.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from abi.encoding import clamp_ktime
from abi.errno import EAGAIN, EINVAL, Errno
from abi.linux import NSEC_PER_SEC, O_NONBLOCK, POLLIN, POLLRDNORM
from kernel.bus import operation
from services.vfs.contract import Handle
from services.vfs.core import VfsCore
from services.vfs.eventfd import AnonInodeFile
from services.vfs.file import scatter
from services.vfs.poll import Changes

if TYPE_CHECKING:
    from abi.creds import Caller

_U64 = struct.Struct("<Q")


class TimerFd(AnonInodeFile):
    """A timer on a host clock and the expirations it has counted since the last read."""

    epollable = True
    may_block = True

    def __init__(self, clock: Callable[[], int], flags: int) -> None:
        super().__init__(flags)
        #: Reads the timer's clock in ns (the kernel's reading: virtual in a deterministic run).
        self._now = clock
        #: When the timer next runs out, on its clock (ns); None when disarmed.
        self.expiry: int | None = None
        self.interval = 0
        #: Expirations not yet read.
        self.ticks = 0
        self._changes = Changes()

    def _update(self) -> int:
        """Count the expirations up to now (moving a periodic timer's expiry past now, disarming a
        one-shot one); returns the clock's time."""
        now = self._now()
        expiry = self.expiry
        if expiry is not None and now >= expiry:
            if self.interval:
                fired = 1 + (now - expiry) // self.interval
                self.expiry = clamp_ktime(expiry + fired * self.interval)
            else:
                fired, self.expiry = 1, None
            self.ticks += fired
            self._changes.notify()
        return now

    def settime(self, value: int, interval: int, absolute: bool) -> tuple[int, int]:
        """Arm the timer (a zero ``value`` disarms it, keeping ``interval`` to show), forgetting
        expirations not yet read, as Linux does; returns the old setting as :meth:`gettime` says."""
        old = self.gettime()
        now = self._now()
        self.ticks = 0
        self.interval = interval  # kept by a disarmed timer too: timerfd_gettime shows it
        self.expiry = None if value == 0 else value if absolute else clamp_ktime(now + value)
        self._changes.notify()
        return old

    def gettime(self) -> tuple[int, int]:
        """(nanoseconds until the next expiry, 0 if disarmed; interval)."""
        now = self._update()
        return (0 if self.expiry is None else self.expiry - now), self.interval

    async def read(self, buffers: list[memoryview]) -> int:
        if sum(len(b) for b in buffers) < 8:
            raise Errno(EINVAL)
        while True:
            self._update()
            if self.ticks:
                break
            if self.flags & O_NONBLOCK:
                raise Errno(EAGAIN)
            await self.wait(POLLIN)
        value, self.ticks = self.ticks, 0
        scatter(memoryview(_U64.pack(value)), buffers)
        return 8

    def poll(self, caller: Caller | None = None) -> int:
        self._update()
        return POLLIN | POLLRDNORM if self.ticks else 0

    async def wait(self, events: int) -> None:
        """Sleep until the next expiry, or until the timer is set again."""
        now = self._update()
        if self.expiry is None:
            await self._changes.wait()
            return
        with trio.move_on_after((self.expiry - now) / NSEC_PER_SEC):
            await self._changes.wait()

    @property
    def changes(self) -> int:
        self._update()
        return self._changes.count

    def proc_target(self) -> bytes:
        return b"anon_inode:[timerfd]"


class TimerFds(VfsCore):
    """timerfd_create, timerfd_settime, timerfd_gettime."""

    @operation
    async def timerfd_create(self, caller: Caller, clock: Callable[[], int], flags: int) -> Handle:
        return self.new_handle(TimerFd(clock, flags & O_NONBLOCK))

    @operation
    async def timerfd_settime(self, caller: Caller, handle: Handle, value: int, interval: int,
                              absolute: bool) -> tuple[int, int]:
        return self._timerfd(handle).settime(value, interval, absolute)

    @operation
    async def timerfd_gettime(self, caller: Caller, handle: Handle) -> tuple[int, int]:
        return self._timerfd(handle).gettime()

    def _timerfd(self, handle: Handle) -> TimerFd:
        file = self.file(handle)
        if not isinstance(file, TimerFd):
            raise Errno(EINVAL)
        return file
