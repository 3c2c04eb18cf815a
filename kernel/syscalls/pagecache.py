"""cachestat (mm/filemap.c): how much of a range of a file is in the page cache.

The Sentry keeps no page cache of its own that a guest could see evicted or written back: a
regular file's pages are read from the host (or tmpfs) on demand. Its answer is the one a
file just written and synced gets on Linux: every page of the file within the range cached,
none dirty, under writeback or evicted. Other files (pipes, directories, devices) have none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.errno import EBADF, EINVAL, Errno
from abi.linux import O_PATH, PAGE_SHIFT, S_IFMT, S_IFREG
from kernel.syscalls.args import Addr, Fd, UInt
from kernel.syscalls.status import partial
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task


@syscall
@partial("a regular file's pages all count as cached (holes too) and none as dirty: the Sentry "
         "sees no host page cache")
async def cachestat(t: Task, fd: Fd, cstat_range: Addr, cstat: Addr, flags: UInt) -> int:
    """Page-cache counts of ``cstat_range`` (a ``len`` of 0 reaches the end of the file)."""
    bus = t.kernel.bus
    handle = t.process.fds.handle(fd)
    if await bus.call("vfs", "get_flags", handle) & O_PATH:
        raise Errno(EBADF)
    if flags:
        raise Errno(EINVAL)
    off, length = structs.CACHESTAT_RANGE.unpack(await t.mm.copy_in(cstat_range, structs.CACHESTAT_RANGE.size))
    st = await bus.call("vfs", "fstat", handle)
    cached = 0
    if st.mode & S_IFMT == S_IFREG and st.size:
        first = off >> PAGE_SHIFT
        last = (st.size - 1) >> PAGE_SHIFT
        if length:
            last = min(last, (off + length - 1) >> PAGE_SHIFT)
        cached = max(0, last - first + 1)
    await t.mm.copy_out(cstat, structs.CACHESTAT.pack(cached, 0, 0, 0, 0))
    return 0
