"""Pipes (pipe(7)): a byte buffer of 64 KiB between read ends and write ends.

Writes of at most PIPE_BUF bytes are atomic: they wait until the whole write fits, so
concurrent small writes never interleave; larger ones may be split. A write with no read end
left fails with EPIPE; a read of an empty pipe with no write end left returns 0. With
O_NONBLOCK a read or write that would wait fails with EAGAIN (a large write returns what fit).

Waiting is the handler's own task sleeping on a trio event that is replaced at every change of
the pipe, so a blocked guest thread costs nothing and is woken to re-check. A read or write that
need not wait is done by ``read_nowait``/``write_nowait`` without any of that: the system call
sets up an interruptible sleep only when it must sleep.
"""

from __future__ import annotations

import trio

from kernel.errors import Interrupted
from abi.errno import EAGAIN, EBUSY, ENXIO, EPERM, EPIPE
from abi.linux import (
    O_NONBLOCK,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    PAGE_SIZE,
    PIPE_BUF,
    PIPE_MAX_SIZE,
    PIPE_DEFAULT_SIZE,
    PIPEFS_MAGIC,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLOUT,
    POLLRDNORM,
    POLLWRNORM,
    S_IFIFO,
)
from typing import TYPE_CHECKING

from abi.errno import ENOMEM, Errno
from services.vfs.file import File, PathFile, scatter
from services.vfs.inode import Filesystem, Inode
from services.vfs.poll import Changes

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.mm.account import MemoryAccount

_pipefs = Filesystem(magic=PIPEFS_MAGIC, name=b"pipefs")


class Pipe(Inode):
    """The buffer and the count of open ends."""

    def __init__(self, capacity: int = PIPE_DEFAULT_SIZE, account: MemoryAccount | None = None) -> None:
        super().__init__(_pipefs, S_IFIFO | 0o600)
        self.buffer = bytearray()
        self.capacity = capacity
        #: The sandbox's memory account its buffered pages are charged to, and how many bytes
        #: (whole pages) are charged now: a full pipe holds host memory as Linux's holds pages.
        self.account = account
        self.charged = 0
        self.readers = 0
        self.writers = 0
        #: How many times each end was ever opened: a FIFO's opener waits for the other to move.
        self.reader_opens = 0
        self.writer_opens = 0
        self._changes = Changes()

    @property
    def changes(self) -> int:
        """How many times the pipe changed (edge-triggered epoll compares it)."""
        return self._changes.count

    def notify(self) -> None:
        """Wake every task waiting on this pipe; each re-checks what it waits for."""
        self._changes.notify()

    async def wait(self) -> None:
        await self._changes.wait()

    def read_nowait(self, buffers: list[memoryview]) -> int | None:
        """The read done at once: bytes moved, 0 at end of file, or None if it must wait."""
        buffer = self.buffer
        if not buffers:
            return 0
        if not buffer:
            return 0 if self.writers == 0 else None
        with memoryview(buffer) as held:
            moved = scatter(held, buffers)
        del buffer[:moved]  # O(1) from the front of a bytearray
        if self.charged:
            self.settle()
        self.notify()
        return moved

    async def read(self, buffers: list[memoryview], nonblock: bool) -> int:
        while (moved := self.read_nowait(buffers)) is None:
            if nonblock:
                raise Errno(EAGAIN)
            await self._changes.wait()
        return moved

    def write_nowait(self, buffers: list[memoryview]) -> int | None:
        """The write done whole at once, or None if it must wait (for room, or partly)."""
        total = sum(map(len, buffers))
        if total == 0:
            return 0  # even with no reader left, as Linux's pipe_write checks the length first
        if self.readers == 0:
            raise Errno(EPIPE)
        if total > self.capacity - len(self.buffer):
            return None
        if self.account is not None and self.admit(total) < total:
            return None  # the write path finds out how much memory there is
        for view in buffers:
            self.buffer += view
        self.notify()
        return total

    async def write(self, buffers: list[memoryview], nonblock: bool) -> int:
        total = sum(map(len, buffers))
        atomic = total <= PIPE_BUF
        written = 0
        while written < total:
            if self.readers == 0:
                if written:
                    return written
                raise Errno(EPIPE)
            room = self.capacity - len(self.buffer)
            if self.account is not None and room and not (atomic and room < total):
                want = min(room, total - written)
                room = self.admit(want)
                if room == 0 or (atomic and room < want):  # no page to be had: pipe_write's allocation fails
                    if written:
                        return written
                    raise Errno(ENOMEM)
            if room == 0 or (atomic and room < total):
                if nonblock:
                    if written:
                        return written
                    raise Errno(EAGAIN)
                try:
                    await self._changes.wait()
                except (trio.Cancelled, Interrupted):
                    if written:  # a signal after some bytes went in: pipe_write returns them
                        return written
                    raise
                continue
            written += self._append(buffers, written, room)
            self.notify()
        return written

    def admit(self, count: int) -> int:
        """How many of ``count`` more bytes the sandbox's memory can hold, charging the pages
        they need (0 if not one more page can be had)."""
        assert self.account is not None
        have = len(self.buffer)
        need = -(-(have + count) // PAGE_SIZE) * PAGE_SIZE - self.charged
        if need <= 0 or self.account.try_charge_buffers(need):
            self.charged += max(need, 0)
            return count
        fits = self.account.room() // PAGE_SIZE * PAGE_SIZE
        if fits and self.account.try_charge_buffers(fits):
            self.charged += fits
        return max(0, min(count, self.charged - have))

    def settle(self) -> None:
        """Charge exactly the pages the buffer holds now (after a read, a drain, a release)."""
        if self.account is None:
            return
        held = -(-len(self.buffer) // PAGE_SIZE) * PAGE_SIZE
        if held != self.charged:
            self.account.uncharge_buffers(self.charged - held)
            self.charged = held

    def discard(self) -> None:
        """The last end closed: the buffered bytes go, as Linux frees the pipe's pages."""
        self.buffer.clear()
        self.settle()

    def _append(self, buffers: list[memoryview], skip: int, limit: int) -> int:
        """Append at most ``limit`` bytes of ``buffers``, after their first ``skip`` bytes."""
        appended = 0
        for view in buffers:
            if skip >= len(view):
                skip -= len(view)
                continue
            piece = view[skip:skip + limit - appended]
            skip = 0
            self.buffer += piece
            appended += len(piece)
            if appended == limit:
                break
        return appended

    def resize(self, size: int) -> int:
        """F_SETPIPE_SZ: a power-of-two number of pages; EBUSY below what the pipe holds."""
        if size > PIPE_MAX_SIZE:
            raise Errno(EPERM)
        pages = 1
        while pages * PAGE_SIZE < size:
            pages *= 2
        capacity = pages * PAGE_SIZE
        if capacity < len(self.buffer):
            raise Errno(EBUSY)
        self.capacity = capacity
        self.notify()
        return capacity

    async def open(self, flags: int, caller: Caller) -> File:
        """Opening the pipe again (through /proc/PID/fd/N): a new end, as a FIFO's open gives."""
        if flags & O_PATH:
            return PathFile(flags, self)
        return PipeFile(self, flags)

    def peek(self, count: int) -> bytes:
        """tee(2): up to ``count`` bytes from the front, left in the pipe."""
        return bytes(self.buffer[:count])


class PipeFile(File):
    """One end of a pipe (both, for a FIFO opened O_RDWR)."""

    epollable = True
    may_block = True

    def __init__(self, pipe: Pipe, flags: int, inode: Inode | None = None) -> None:
        super().__init__(flags, inode or pipe)
        self.pipe = pipe
        #: How often the other end had been opened when this FIFO end was (see finish_open).
        self.partner_opens_seen = 0
        self.read_end = flags & 3 in (O_RDONLY, O_RDWR)
        self.write_end = flags & 3 in (O_WRONLY, O_RDWR)
        pipe.readers += self.read_end
        pipe.writers += self.write_end
        pipe.reader_opens += self.read_end
        pipe.writer_opens += self.write_end
        pipe.notify()

    def partner_came(self, seen: int) -> bool:
        """Whether the other end is open, or was opened since it had been ``seen`` times."""
        pipe = self.pipe
        if self.read_end:
            return pipe.writers > 0 or pipe.writer_opens != seen
        return pipe.readers > 0 or pipe.reader_opens != seen

    async def finish_open(self) -> None:
        """A FIFO end waits until the other end has been opened."""
        while not self.partner_came(self.partner_opens_seen):
            await self.pipe.wait()
        self.open_pending = False

    async def read(self, buffers: list[memoryview]) -> int:
        return await self.pipe.read(buffers, bool(self.flags & O_NONBLOCK))

    async def write(self, buffers: list[memoryview]) -> int:
        return await self.pipe.write(buffers, bool(self.flags & O_NONBLOCK))

    def read_nowait(self, buffers: list[memoryview]) -> int | None:
        return self.pipe.read_nowait(buffers) if self.read_end else None

    def write_nowait(self, buffers: list[memoryview]) -> int | None:
        return self.pipe.write_nowait(buffers) if self.write_end else None

    def readable_bytes(self) -> int:
        return len(self.pipe.buffer)

    def poll(self, caller: Caller | None = None) -> int:
        pipe = self.pipe
        events = 0
        if self.read_end:
            events |= POLLIN | POLLRDNORM if pipe.buffer else 0
            events |= POLLHUP if pipe.writers == 0 and pipe.writer_opens else 0
        if self.write_end:
            if pipe.readers == 0:
                events |= POLLOUT | POLLWRNORM | POLLERR
            elif pipe.capacity - len(pipe.buffer) >= PIPE_BUF:
                events |= POLLOUT | POLLWRNORM
        return events

    async def wait(self, events: int) -> None:
        await self.pipe.wait()

    def notifier(self) -> Changes:
        return self.pipe._changes

    @property
    def changes(self) -> int:
        return self.pipe.changes

    def release(self) -> None:
        pipe = self.pipe
        pipe.readers -= self.read_end
        pipe.writers -= self.write_end
        if pipe.readers == 0 and pipe.writers == 0:
            pipe.discard()
        pipe.notify()


def new_pipe(flags: int = 0, uid: int = 0, gid: int = 0,
             account: MemoryAccount | None = None) -> tuple[PipeFile, PipeFile]:
    """pipe2(2): a fresh pipe's read end and write end, with status ``flags`` (O_NONBLOCK),
    owned by its creator (``uid``, ``gid``) as fstat shows; its buffer is charged to ``account``."""
    pipe = Pipe(account=account)
    pipe.uid, pipe.gid = uid, gid
    return PipeFile(pipe, O_RDONLY | flags), PipeFile(pipe, O_WRONLY | flags)


class Fifo(Inode):
    """A named pipe (mkfifo): opening it attaches to the one pipe it holds, per fifo(7).

    O_RDONLY waits for a writer and O_WRONLY for a reader (unless O_NONBLOCK: a reader opens at
    once, a writer without a reader fails with ENXIO); O_RDWR never waits. The waiting is not
    done here: the end comes back with :attr:`PipeFile.open_pending`, and the open(2) handler
    sleeps in :meth:`PipeFile.finish_open` (interruptibly, as Linux's fifo_open does).
    """

    def __init__(self, fs: Filesystem, mode: int, uid: int = 0, gid: int = 0, **kwargs: object) -> None:
        super().__init__(fs, S_IFIFO | (mode & 0o7777), uid, gid, **kwargs)  # type: ignore[arg-type]
        self.pipe = Pipe(account=fs.account)

    async def open(self, flags: int, caller: Caller) -> File:
        if flags & O_PATH:
            return PathFile(flags, self)
        pipe = self.pipe
        access = flags & 3
        if access == O_WRONLY and flags & O_NONBLOCK and pipe.readers == 0:
            raise Errno(ENXIO)
        seen = pipe.writer_opens if access == O_RDONLY else pipe.reader_opens
        file = PipeFile(pipe, flags, self)
        if access != O_RDWR and not (access == O_RDONLY and flags & O_NONBLOCK):
            file.open_pending = not file.partner_came(seen)
            file.partner_opens_seen = seen
        return file
