"""The fd table's own calls: close, close_range, dup, dup2, dup3 and fcntl (with its record locks)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from abi.errno import EBADF, EINVAL
from abi.linux import (
    CLOSE_RANGE_CLOEXEC,
    CLOSE_RANGE_UNSHARE,
    F_DUPFD,
    F_DUPFD_CLOEXEC,
    F_GETFD,
    F_GETFL,
    F_GETLK,
    F_GETOWN,
    F_GETOWN_EX,
    F_GETPIPE_SZ,
    F_GETSIG,
    F_OFD_GETLK,
    F_OFD_SETLK,
    F_OFD_SETLKW,
    F_OWNER_PGRP,
    F_OWNER_PID,
    F_OWNER_TID,
    F_SETFD,
    F_SETFL,
    F_SETLK,
    F_SETLKW,
    F_SETOWN,
    F_SETOWN_EX,
    F_SETPIPE_SZ,
    F_SETSIG,
    F_RDLCK,
    F_UNLCK,
    F_WRLCK,
    FD_CLOEXEC,
    O_CLOEXEC,
    O_PATH,
    OFFSET_MAX,
    SEEK_SET,
)
from abi.errno import Errno
from kernel.files import close as close_fd
from kernel.files import duplicate, nofile_limit, release, vfs
from kernel.sigio import getown, owner_of, set_owner, setown
from kernel.syscalls.args import Fd, Int, UInt, ULong
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task
    from services.vfs.contract import Opened

#: struct flock: l_type, l_whence (shorts), l_start, l_len, l_pid.
_FLOCK = struct.Struct("<hh4xqqi4x")

__all__ = ["nofile_limit"]


@syscall
async def close(t: Task, fd: Fd) -> int:
    await close_fd(t, fd)
    return 0


@syscall
async def close_range(t: Task, first: UInt, last: UInt, flags: UInt) -> int:
    if flags & ~(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE) or first > last:
        raise Errno(EINVAL)
    fds = t.process.fds
    await release(t.kernel.bus, fds.id, fds.close_range(first, last, cloexec_only=bool(flags & CLOSE_RANGE_CLOEXEC)))
    return 0


@syscall
async def dup(t: Task, oldfd: Fd) -> int:
    return await duplicate(t, t.process.fds.get(oldfd))


@syscall
async def dup2(t: Task, oldfd: Fd, newfd: Fd) -> int:
    opened = t.process.fds.get(oldfd)
    if oldfd == newfd:
        return newfd
    return await _dup_to(t, opened, newfd, cloexec=False)


@syscall
async def dup3(t: Task, oldfd: Fd, newfd: Fd, flags: Int) -> int:
    if flags & ~O_CLOEXEC or oldfd == newfd:
        raise Errno(EINVAL)
    return await _dup_to(t, t.process.fds.get(oldfd), newfd, cloexec=bool(flags & O_CLOEXEC))


async def _dup_to(t: Task, opened: Opened, newfd: int, cloexec: bool) -> int:
    if not 0 <= newfd < nofile_limit(t):
        raise Errno(EBADF)
    return await duplicate(t, opened, cloexec, at=newfd)


@syscall
async def fcntl(t: Task, fd: Fd, cmd: Int, arg: ULong) -> int:
    fds = t.process.fds
    opened = fds.get(fd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        start = arg & 0xFFFF_FFFF
        if start >= nofile_limit(t) or start >> 31:
            raise Errno(EINVAL)
        return await duplicate(t, opened, cloexec=cmd == F_DUPFD_CLOEXEC, start=start)
    if cmd == F_GETFD:
        return FD_CLOEXEC if fds.get_cloexec(fd) else 0
    if cmd == F_SETFD:
        fds.set_cloexec(fd, bool(arg & FD_CLOEXEC))
        return 0
    bus = t.kernel.bus
    if cmd == F_GETFL:
        return await bus.call("vfs", "get_flags", opened.handle)
    if cmd == F_SETFL:
        await bus.call("vfs", "set_flags", opened.handle, arg, fd)
        return 0
    if cmd in _SIGNAL_DRIVEN_IO:
        return await _signal_driven_io(t, opened, cmd, arg)
    if cmd in (F_GETPIPE_SZ, F_SETPIPE_SZ):
        return await bus.call("vfs", "pipe_size", opened.handle, None if cmd == F_GETPIPE_SZ else arg & 0xFFFF_FFFF)
    if cmd in (F_GETLK, F_OFD_GETLK, F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW):
        return await _record_lock(t, opened, cmd, arg)
    if await bus.call("vfs", "get_flags", opened.handle) & O_PATH:
        raise Errno(EBADF)
    raise Errno(EINVAL)


_SIGNAL_DRIVEN_IO = (F_SETOWN, F_GETOWN, F_SETOWN_EX, F_GETOWN_EX, F_SETSIG, F_GETSIG)
#: struct f_owner_ex { int type; pid_t pid; }
_F_OWNER_EX = struct.Struct("<ii")


async def _signal_driven_io(t: Task, opened: Opened, cmd: int, arg: int) -> int:
    """The description's owner and signal for O_ASYNC (kernel/sigio.py)."""
    if cmd == F_SETOWN:
        await setown(t, opened, struct.unpack("<i", struct.pack("<I", arg & 0xFFFF_FFFF))[0])
        return 0
    if cmd == F_GETOWN:
        return await getown(t, opened)
    if cmd == F_SETOWN_EX:
        kind, who = await t.mm.read_struct(_F_OWNER_EX, arg)
        if kind not in (F_OWNER_TID, F_OWNER_PID, F_OWNER_PGRP):
            raise Errno(EINVAL)
        await set_owner(t, opened, kind, who)
        return 0
    if cmd == F_GETOWN_EX:
        await t.mm.write_struct(_F_OWNER_EX, arg, *await owner_of(t, opened))
        return 0
    if cmd == F_SETSIG:
        signo = struct.unpack("<i", struct.pack("<I", arg & 0xFFFF_FFFF))[0]
        await t.kernel.bus.call("vfs", "set_sigio_signal", opened.handle, signo)
        return 0
    return await t.kernel.bus.call("vfs", "sigio_signal", opened.handle)


async def _record_lock(t: Task, opened: Opened, cmd: int, arg: int) -> int:
    """fcntl's record locks: POSIX ones owned by the fd table, OFD ones by the description."""
    kind, whence, l_start, l_len, l_pid = await t.mm.read_struct(_FLOCK, arg)
    ofd = cmd in (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
    if kind not in (F_RDLCK, F_WRLCK, F_UNLCK) or (ofd and l_pid != 0):
        raise Errno(EINVAL)
    table = t.process.fds.id
    if cmd in (F_GETLK, F_OFD_GETLK):
        if kind == F_UNLCK:
            raise Errno(EINVAL)
        holder = await vfs(t, "record_lock_query", opened.handle, table, ofd, kind, whence, l_start, l_len)
        if holder is None:
            await t.mm.write_struct(_FLOCK, arg, F_UNLCK, whence, l_start, l_len, l_pid)
        else:
            length = 0 if holder.end == OFFSET_MAX else holder.end - holder.start + 1
            await t.mm.write_struct(_FLOCK, arg, holder.kind, SEEK_SET, holder.start, length, holder.pid)
        return 0
    locking = vfs(t, "record_lock", opened.handle, table, ofd, kind, whence, l_start, l_len,
                  cmd in (F_SETLKW, F_OFD_SETLKW))
    await (t.blocking(locking) if cmd in (F_SETLKW, F_OFD_SETLKW) else locking)
    return 0
