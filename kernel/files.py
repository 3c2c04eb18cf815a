"""A process's side of its files: fd tables and directories kept in step with the VFS.

The VFS owns every open file description and counts the references to its handle; a process
holds references through its fd table (one per fd) and its root and working directory. The
helpers here change the table and then tell the VFS what the change added or dropped, so a
handle's count is always the number of places that hold it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from abi.errno import Errno
from abi.linux import NR_OPEN, RLIMIT_NOFILE

if TYPE_CHECKING:
    from kernel.bus import Bus
    from kernel.task import Task
    from services.vfs.contract import Opened


def nofile_limit(t: Task) -> int:
    """The first fd number a process may not use (RLIMIT_NOFILE, capped at NR_OPEN)."""
    return min(t.process.rlimits[RLIMIT_NOFILE][0], NR_OPEN)


async def vfs(t: Task, op: str, *args: Any) -> Any:
    """The VFS operation ``op``; the calling thread is its caller."""
    return await t.kernel.bus.call("vfs", op, t.caller, *args)


async def release(bus: Bus, table: int, dropped: Iterable[Opened | int]) -> None:
    """Tell the VFS that fd table ``table`` (or a process's directories) let go of ``dropped``."""
    handles = tuple(item if isinstance(item, int) else item.handle for item in dropped)
    if handles:
        hung_up = await bus.call("vfs", "drop", handles, table)
        if hung_up:  # the last reference to a pty master: its terminal is hung up
            await bus.call("proc", "hang_up", hung_up)


async def install(t: Task, opened: Opened, cloexec: bool = False, start: int = 0) -> int:
    """Give the new description ``opened`` the lowest free fd >= ``start`` of the caller's table;
    on EMFILE its reference is dropped, so nothing leaks."""
    fds = t.process.fds
    try:
        return fds.install(opened, nofile_limit(t), cloexec, start)
    except Errno:
        await release(t.kernel.bus, fds.id, (opened,))
        raise


async def duplicate(t: Task, opened: Opened, cloexec: bool = False, start: int = 0, at: int | None = None) -> int:
    """dup/dup2/dup3/F_DUPFD: another fd for ``opened`` (at fd ``at``, replacing what was there,
    or the lowest free one >= ``start``)."""
    fds = t.process.fds
    if at is None:
        fd = fds.lowest_free(start, nofile_limit(t))
    else:
        fd = at
    await t.kernel.bus.call("vfs", "hold", (opened.handle,))
    old = fds.put(fd, opened, cloexec)
    if old is not None:
        await release(t.kernel.bus, fds.id, (old,))
    return fd


async def close(t: Task, fd: int) -> None:
    """close(2)."""
    fds = t.process.fds
    await release(t.kernel.bus, fds.id, (fds.close(fd),))
