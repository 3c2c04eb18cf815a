"""The fd table's own calls: close, close_range, dup, dup2, dup3 and fcntl."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from kernel.abi.errno import EBADF, EINVAL
from kernel.abi.linux import (
    CLOSE_RANGE_CLOEXEC,
    CLOSE_RANGE_UNSHARE,
    F_DUPFD,
    F_DUPFD_CLOEXEC,
    F_GETFD,
    F_GETFL,
    F_GETLK,
    F_GETPIPE_SZ,
    F_OFD_GETLK,
    F_OFD_SETLK,
    F_OFD_SETLKW,
    F_SETFD,
    F_SETFL,
    F_SETLK,
    F_SETLKW,
    F_SETPIPE_SZ,
    F_UNLCK,
    FD_CLOEXEC,
    NR_OPEN,
    O_CLOEXEC,
    O_PATH,
    RLIMIT_NOFILE,
    SETFL_MASK,
)
from kernel.errors import Errno
from kernel.syscalls.args import Fd, Int, UInt, ULong
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

#: struct flock: l_type, l_whence (shorts), l_start, l_len, l_pid.
_FLOCK = struct.Struct("<hh4xqqi4x")


def nofile_limit(t: Task) -> int:
    """The first fd number a process may not use (RLIMIT_NOFILE, capped at NR_OPEN)."""
    return min(t.process.rlimits[RLIMIT_NOFILE][0], NR_OPEN)


@syscall
async def close(t: Task, fd: Fd) -> int:
    t.process.fds.close(fd)
    return 0


@syscall
async def close_range(t: Task, first: UInt, last: UInt, flags: UInt) -> int:
    if flags & ~(CLOSE_RANGE_CLOEXEC | CLOSE_RANGE_UNSHARE) or first > last:
        raise Errno(EINVAL)
    t.process.fds.close_range(first, last, cloexec_only=bool(flags & CLOSE_RANGE_CLOEXEC))
    return 0


@syscall
async def dup(t: Task, oldfd: Fd) -> int:
    file = t.process.fds.get(oldfd)
    return t.process.fds.install(file, nofile_limit(t))


@syscall
async def dup2(t: Task, oldfd: Fd, newfd: Fd) -> int:
    file = t.process.fds.get(oldfd)
    if oldfd == newfd:
        return newfd
    return _dup_to(t, file, newfd, cloexec=False)


@syscall
async def dup3(t: Task, oldfd: Fd, newfd: Fd, flags: Int) -> int:
    if flags & ~O_CLOEXEC or oldfd == newfd:
        raise Errno(EINVAL)
    file = t.process.fds.get(oldfd)
    return _dup_to(t, file, newfd, cloexec=bool(flags & O_CLOEXEC))


def _dup_to(t: Task, file: object, newfd: int, cloexec: bool) -> int:
    if not 0 <= newfd < nofile_limit(t):
        raise Errno(EBADF)
    t.process.fds.put(newfd, file, cloexec)  # type: ignore[arg-type]
    return newfd


@syscall
async def fcntl(t: Task, fd: Fd, cmd: Int, arg: ULong) -> int:
    fds = t.process.fds
    file = fds.get(fd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        start = arg & 0xFFFF_FFFF
        if start >= nofile_limit(t) or start >> 31:
            raise Errno(EINVAL)
        return fds.install(file, nofile_limit(t), cloexec=cmd == F_DUPFD_CLOEXEC, start=start)
    if cmd == F_GETFD:
        return FD_CLOEXEC if fds.get_cloexec(fd) else 0
    if cmd == F_SETFD:
        fds.set_cloexec(fd, bool(arg & FD_CLOEXEC))
        return 0
    if cmd == F_GETFL:
        return file.flags
    if file.flags & O_PATH:
        raise Errno(EBADF)
    if cmd == F_SETFL:
        file.flags = (file.flags & ~SETFL_MASK) | (arg & SETFL_MASK)
        return 0
    if cmd in (F_GETPIPE_SZ, F_SETPIPE_SZ):
        from services.vfs.pipe import PipeFile

        if not isinstance(file, PipeFile):
            raise Errno(EBADF)
        return file.pipe.capacity if cmd == F_GETPIPE_SZ else file.pipe.resize(arg & 0xFFFF_FFFF)
    if cmd in (F_GETLK, F_OFD_GETLK):
        # One process per file in practice: nothing ever conflicts with the caller's lock.
        values = list(await t.mm.read_struct(_FLOCK, arg))
        values[0] = F_UNLCK
        await t.mm.write_struct(_FLOCK, arg, *values)
        return 0
    if cmd in (F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW):
        await t.mm.read_struct(_FLOCK, arg)  # EFAULT for a bad pointer
        return 0
    raise Errno(EINVAL)
