"""pipe and pipe2."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EINVAL, Errno
from abi.linux import O_CLOEXEC, O_DIRECT, O_NONBLOCK
from abi.structs import I32
from kernel.files import install, release, vfs
from kernel.syscalls.args import Addr, Int
from kernel.syscalls.table import syscall
from services.vfs.contract import Opened

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
    reader, writer = await vfs(t, "pipe", flags & (O_NONBLOCK | O_DIRECT))
    fds = t.process.fds
    cloexec = bool(flags & O_CLOEXEC)
    try:
        read_fd = await install(t, Opened(reader), cloexec)
    except Errno:
        await release(t.kernel.bus, fds.id, (writer,))
        raise
    try:
        write_fd = await install(t, Opened(writer), cloexec)  # on EMFILE the write end is dropped
    except Errno:
        await release(t.kernel.bus, fds.id, (fds.close(read_fd),))
        raise
    try:
        await t.mm.copy_out(pipefd, I32.pack(read_fd) + I32.pack(write_fd))
    except Errno:
        await release(t.kernel.bus, fds.id, (fds.close(read_fd), fds.close(write_fd)))
        raise
    return 0
