"""vmsplice (fs/splice.c): user memory into a pipe, or a pipe's data out to user memory.

Linux may map the pages themselves into the pipe (SPLICE_F_GIFT); here the bytes are copied,
which a program cannot tell apart except by timing, so vmsplice is writev to the pipe's write
end and readv from its read end, with SPLICE_F_NONBLOCK making that one call non-blocking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EAGAIN, EBADF, EINVAL, EPIPE, Errno
from abi.linux import O_ACCMODE, O_PATH, O_RDONLY, S_IFIFO, S_IFMT, SPLICE_F_GIFT, SPLICE_F_MORE, SPLICE_F_MOVE
from abi.linux import SPLICE_F_NONBLOCK
from kernel.syscalls.args import Addr, Fd, UInt, ULong
from kernel.syscalls.readwrite import broken_pipe, iovec_buffers, read_into, write_from
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

_SPLICE_F_ALL = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT


@syscall
async def vmsplice(t: Task, fd: Fd, iov: Addr, nr_segs: ULong, flags: UInt) -> int:
    """Into the pipe ``fd`` if it is open for writing, else out of it, the memory ``iov`` names."""
    if flags & ~_SPLICE_F_ALL:
        raise Errno(EINVAL)
    opened = t.process.fds.get(fd)
    bus = t.kernel.bus
    mode = await bus.call("vfs", "get_flags", opened.handle)
    if mode & O_PATH:
        raise Errno(EBADF)
    into_pipe = mode & O_ACCMODE != O_RDONLY
    buffers = await iovec_buffers(t, iov, min(nr_segs, 1 << 31), write=not into_pipe)
    if not any(len(buffer) for buffer in buffers):
        return 0
    if (await bus.call("vfs", "fstat", opened.handle)).mode & S_IFMT != S_IFIFO:
        raise Errno(EBADF)
    if flags & SPLICE_F_NONBLOCK:
        try:
            done = await bus.call("vfs", "write" if into_pipe else "read", t.caller, opened.handle, buffers, True)
        except Errno as error:
            if error.errno == EPIPE:
                await broken_pipe(t)
            raise
        if done is None:
            raise Errno(EAGAIN)
        return int(done)
    return await (write_from if into_pipe else read_into)(t, opened, buffers)
