"""mmap(2) of a file descriptor: the checks Linux makes, then the MM maps the file's bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EACCES, EINVAL, ENODEV
from abi.linux import MAP_PRIVATE, MAP_TYPE, O_ACCMODE, O_PATH, O_WRONLY, PROT_WRITE
from abi.errno import Errno

if TYPE_CHECKING:
    from kernel.task import Task


async def map_file(t: Task, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    """Map ``length`` bytes of ``fd`` from ``offset``; EACCES/ENODEV/EBADF as Linux checks them."""
    file = t.process.fds.get(fd)
    if file.flags & O_PATH:
        from abi.errno import EBADF

        raise Errno(EBADF)
    if length == 0:
        raise Errno(EINVAL)
    host_fd = file.host_fd()
    if host_fd is None:
        raise Errno(ENODEV)
    if file.flags & O_ACCMODE == O_WRONLY:
        raise Errno(EACCES)
    if flags & MAP_TYPE != MAP_PRIVATE and prot & PROT_WRITE and not file.writable:
        raise Errno(EACCES)
    if flags & MAP_TYPE != MAP_PRIVATE and file.inode is not None:
        file.inode.mapped_shared = True
    return await t.mm.call("mmap_file", addr, length, prot, flags, host_fd, offset)
