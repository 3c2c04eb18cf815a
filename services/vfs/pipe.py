"""Pipes (pipe(7)): a byte buffer of 64 KiB between read ends and write ends.

Writes of at most PIPE_BUF bytes are atomic: they wait until the whole write fits, so
concurrent small writes never interleave; larger ones may be split. A write with no read end
left fails with EPIPE; a read of an empty pipe with no write end left returns 0. With
O_NONBLOCK a read or write that would wait fails with EAGAIN (a large write returns what fit).

Waiting is the handler's own task sleeping on a trio event that is replaced at every change of
the pipe, so a blocked guest thread costs nothing and is woken to re-check.
"""

from __future__ import annotations

import trio

from kernel.abi.errno import EAGAIN, EPIPE
from kernel.abi.linux import (
    O_NONBLOCK,
    O_RDONLY,
    O_WRONLY,
    PIPE_BUF,
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
from kernel.errors import Errno
from services.vfs.file import File
from services.vfs.inode import Filesystem, Inode

_pipefs = Filesystem(magic=PIPEFS_MAGIC, name=b"pipefs")


class Pipe(Inode):
    """The buffer and the count of open ends."""

    def __init__(self, capacity: int = PIPE_DEFAULT_SIZE) -> None:
        super().__init__(_pipefs, S_IFIFO | 0o600)
        self.buffer = bytearray()
        self.capacity = capacity
        self.readers = 0
        self.writers = 0
        #: Counts every change (edge-triggered epoll compares it).
        self.changes = 0
        self._changed = trio.Event()

    def notify(self) -> None:
        """Wake every task waiting on this pipe; each re-checks what it waits for."""
        self.changes += 1
        self._changed.set()
        self._changed = trio.Event()

    async def wait(self) -> None:
        await self._changed.wait()

    async def read(self, buffers: list[memoryview], nonblock: bool) -> int:
        want = sum(len(b) for b in buffers)
        if want == 0:
            return 0
        while not self.buffer:
            if self.writers == 0:
                return 0
            if nonblock:
                raise Errno(EAGAIN)
            await self._changed.wait()
        n = min(want, len(self.buffer))
        position = 0
        for view in buffers:
            take = min(len(view), n - position)
            view[:take] = self.buffer[position:position + take]
            position += take
            if position == n:
                break
        del self.buffer[:n]
        self.notify()
        return n

    async def write(self, buffers: list[memoryview], nonblock: bool) -> int:
        data = b"".join(buffers)
        if not data:
            return 0
        atomic = len(data) <= PIPE_BUF
        written = 0
        while written < len(data):
            if self.readers == 0:
                if written:
                    return written
                raise Errno(EPIPE)
            room = self.capacity - len(self.buffer)
            if room == 0 or (atomic and room < len(data)):
                if nonblock:
                    if written:
                        return written
                    raise Errno(EAGAIN)
                await self._changed.wait()
                continue
            chunk = data[written:written + room]
            self.buffer += chunk
            written += len(chunk)
            self.notify()
        return written


class PipeFile(File):
    """One end of a pipe."""

    epollable = True

    def __init__(self, pipe: Pipe, flags: int) -> None:
        super().__init__(flags, pipe)
        self.pipe = pipe
        self.read_end = flags & 3 == O_RDONLY
        if self.read_end:
            pipe.readers += 1
        else:
            pipe.writers += 1

    async def read(self, buffers: list[memoryview]) -> int:
        return await self.pipe.read(buffers, bool(self.flags & O_NONBLOCK))

    async def write(self, buffers: list[memoryview]) -> int:
        return await self.pipe.write(buffers, bool(self.flags & O_NONBLOCK))

    def readable_bytes(self) -> int:
        return len(self.pipe.buffer)

    def poll(self) -> int:
        pipe = self.pipe
        if self.read_end:
            events = POLLIN | POLLRDNORM if pipe.buffer else 0
            return events | (POLLHUP if pipe.writers == 0 else 0)
        if pipe.readers == 0:
            return POLLOUT | POLLWRNORM | POLLERR
        return POLLOUT | POLLWRNORM if pipe.capacity - len(pipe.buffer) >= PIPE_BUF else 0

    async def wait(self, events: int) -> None:
        await self.pipe.wait()

    @property
    def changes(self) -> int:
        return self.pipe.changes

    def release(self) -> None:
        if self.read_end:
            self.pipe.readers -= 1
        else:
            self.pipe.writers -= 1
        self.pipe.notify()


def new_pipe(flags: int = 0) -> tuple[PipeFile, PipeFile]:
    """pipe2(2): a fresh pipe's read end and write end, with status ``flags`` (O_NONBLOCK)."""
    pipe = Pipe()
    return PipeFile(pipe, O_RDONLY | flags), PipeFile(pipe, O_WRONLY | flags)
