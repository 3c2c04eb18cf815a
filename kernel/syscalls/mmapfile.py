"""mmap(2) of a file descriptor: the checks Linux makes, then the MM maps the file's bytes."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from abi.errno import EINVAL, Errno
from abi.linux import MAP_ANONYMOUS, MAP_PRIVATE, MAP_TYPE, O_ACCMODE, O_RDONLY
from kernel.files import vfs

if TYPE_CHECKING:
    from kernel.task import Task


async def map_file(t: Task, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    """Map ``length`` bytes of ``fd`` from ``offset``: the VFS checks the description and grants
    a host fd of the file's bytes (EACCES/ENODEV/EBADF as Linux checks them), the MM maps it."""
    handle = t.process.fds.handle(fd)
    if length == 0:
        raise Errno(EINVAL)
    grant = await vfs(t, "map_file", handle, prot, flags & MAP_TYPE != MAP_PRIVATE)
    if grant is None:  # /dev/zero: anonymous memory, private or shared as asked
        return await t.mm.call("mmap", addr, length, prot, flags | MAP_ANONYMOUS)
    shared = flags & MAP_TYPE != MAP_PRIVATE
    # A shared mapping may become writable later (mprotect) only if the file was opened for writing.
    writable = shared and await t.kernel.bus.call("vfs", "get_flags", handle) & O_ACCMODE != O_RDONLY
    try:
        return await t.mm.call("mmap_file", addr, length, prot, flags, grant.fd, offset, "", writable,
                               grant.identity)
    finally:
        os.close(grant.fd)
