"""pipe and pipe2."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EINVAL
from abi.linux import O_CLOEXEC, O_DIRECT, O_NONBLOCK
from abi.structs import I32
from abi.errno import Errno
from kernel.syscalls.args import Addr, Int
from kernel.syscalls.fdops import nofile_limit
from kernel.syscalls.table import syscall
from services.vfs.pipe import new_pipe

if TYPE_CHECKING:
    from kernel.task import Task


@syscall
async def pipe(t: Task, pipefd: Addr) -> int:
    return await pipe2(t, pipefd, 0)


@syscall
async def pipe2(t: Task, pipefd: Addr, flags: Int) -> int:
    if flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT):
        raise Errno(EINVAL)
    await t.mm.copy_in(pipefd, 2 * I32.size)  # EFAULT before any fd is taken
    reader, writer = new_pipe(flags & O_NONBLOCK)
    fds = t.process.fds
    cloexec = bool(flags & O_CLOEXEC)
    read_fd = fds.install(reader, nofile_limit(t), cloexec)
    try:
        write_fd = fds.install(writer, nofile_limit(t), cloexec)
    except Errno:
        fds.close(read_fd)
        writer.release()
        raise
    try:
        await t.mm.copy_out(pipefd, I32.pack(read_fd) + I32.pack(write_fd))
    except Errno:
        fds.close(read_fd)
        fds.close(write_fd)
        raise
    return 0
