"""eventfd(2): a 64-bit counter as a file; epoll(7): an interest list as a file."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING


from abi.errno import EAGAIN, EINVAL
from abi.linux import (
    EPOLLET,
    EPOLLONESHOT,
    O_NONBLOCK,
    O_RDWR,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLOUT,
    POLLRDNORM,
    POLLWRNORM,
)
from abi.errno import Errno
from services.vfs.file import File, scatter
from services.vfs.inode import Filesystem, Inode
from services.vfs.poll import Changes, Watched, change_counts, until_changed

if TYPE_CHECKING:
    from abi.creds import Caller

_anon = Filesystem(name=b"anon_inodefs")
#: Linux's anon_inodefs inode: owner read and write, and no file type at all (stat's "weird
#: file"), so calls that need a regular file (copy_file_range, mmap...) refuse it.
ANON_INODE_MODE = 0o600
_U64 = struct.Struct("<Q")
_MAX = (1 << 64) - 2


class AnonInodeFile(File):
    """A file on Linux's anon_inodefs (eventfd, epoll, signalfd): no name, no file type, and
    lseek a no-op that answers the offset, 0 (noop_llseek)."""

    def __init__(self, flags: int) -> None:
        super().__init__(O_RDWR | flags, Inode(_anon, ANON_INODE_MODE))

    async def seek(self, offset: int, whence: int) -> int:
        return self.offset


class EventFd(AnonInodeFile):
    """The counter behind an eventfd."""

    epollable = True
    may_block = True

    def __init__(self, initial: int, flags: int, semaphore: bool) -> None:
        super().__init__(flags)
        self.counter = initial
        self.semaphore = semaphore
        self._changes = Changes()

    async def read(self, buffers: list[memoryview]) -> int:
        if sum(len(b) for b in buffers) < 8:
            raise Errno(EINVAL)
        while self.counter == 0:
            if self.flags & O_NONBLOCK:
                raise Errno(EAGAIN)
            await self._changes.wait()
        value = 1 if self.semaphore else self.counter
        self.counter -= value
        self._changes.notify()
        scatter(memoryview(_U64.pack(value)), buffers)
        return 8

    async def write(self, buffers: list[memoryview]) -> int:
        data = b"".join(bytes(b) for b in buffers)
        if len(data) < 8:
            raise Errno(EINVAL)
        (value,) = _U64.unpack(data[:8])
        if value == (1 << 64) - 1:
            raise Errno(EINVAL)
        while self.counter + value > _MAX:
            if self.flags & O_NONBLOCK:
                raise Errno(EAGAIN)
            await self._changes.wait()
        self.counter += value
        self._changes.notify()  # even a write of 0 wakes an edge-triggered waiter, as on Linux
        return 8

    def signal(self, value: int) -> None:
        """eventfd_signal: add ``value`` without blocking, up to 2^64-1, and wake the readers."""
        if value:
            self.counter = min(self.counter + value, (1 << 64) - 1)
            self._changes.notify()

    def poll(self, caller: Caller | None = None) -> int:
        events = POLLIN | POLLRDNORM if self.counter else 0
        return events | (POLLOUT | POLLWRNORM if self.counter < _MAX else 0)

    async def wait(self, events: int) -> None:
        await self._changes.wait()

    @property
    def changes(self) -> int:
        return self._changes.count

    def readable_bytes(self) -> int:
        return 8 if self.counter else 0


@dataclass(slots=True)
class Interest:
    """One (fd, file) registered with an epoll instance."""

    file: File
    events: int
    data: int
    #: The file's change counter when last reported (edge-triggered), None before.
    seen: int | None = None
    #: EPOLLONESHOT fired: nothing more until EPOLL_CTL_MOD.
    disabled: bool = False


class Epoll(AnonInodeFile):
    """An epoll instance: its interest list, keyed by (fd, file) as Linux keys it."""

    epollable = True

    def __init__(self, flags: int) -> None:
        super().__init__(flags)
        self.interests: dict[tuple[int, int], Interest] = {}
        #: Notified when the interest list changes (epoll_ctl), so waiters look again.
        self.listed = Changes()

    def ready(self, limit: int, caller: Caller | None = None) -> list[tuple[int, int]]:
        """Up to ``limit`` (events, data) pairs, marking what they report as reported
        (``caller``: who waits, for files whose readiness depends on it)."""
        out: list[tuple[int, int]] = []
        for key, interest in list(self.interests.items()):
            file = interest.file
            if file.refs == 0:  # every fd of the file closed: it leaves every interest list
                del self.interests[key]
                continue
            if interest.disabled:
                continue
            events = file.poll(caller) & (interest.events | POLLERR | POLLHUP)
            if not events:
                continue
            if interest.events & EPOLLET:
                if interest.seen == file.changes:
                    continue
                interest.seen = file.changes
            if interest.events & EPOLLONESHOT:
                interest.disabled = True
            out.append((events, interest.data))
            if len(out) == limit:
                break
        return out

    def poll(self, caller: Caller | None = None) -> int:
        for interest in self.interests.values():
            if not interest.disabled and interest.file.refs and interest.file.poll(caller) & (interest.events | 0x18):
                return POLLIN | POLLRDNORM
        return 0

    def depth(self) -> int:
        """How many epolls deep this one watches (1: it watches no epoll)."""
        nested = [i.file for i in self.interests.values() if isinstance(i.file, Epoll) and i.file.refs]
        return 1 + max((epoll.depth() for epoll in nested), default=0)

    def reaches(self, other: Epoll) -> bool:
        """Whether ``other`` is this epoll or one it watches, however deep."""
        if other is self:
            return True
        return any(isinstance(i.file, Epoll) and i.file.reaches(other) for i in self.interests.values())

    def waits(self) -> list[tuple[File, int]]:
        return [(i.file, i.events) for i in self.interests.values() if not i.disabled and i.file.refs]

    @property
    def changes(self) -> int:
        """Moves when the interest list or any watched file changes (a poll of this epoll, or
        an epoll watching it, compares it)."""
        return self.listed.count + sum(file.changes for file, _ in self.waits())

    async def wait(self, events: int) -> None:
        """Return when a watched file's readiness, or the interest list itself, may have
        changed: what epoll_wait sleeps on, and what a poll of this epoll (or an epoll
        watching it) sleeps on."""
        waits: list[tuple[Watched, int]] = [*self.waits(), (self.listed, 0)]
        await until_changed(waits, change_counts(waits))
