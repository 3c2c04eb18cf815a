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
    F_GETPIPE_SZ,
    F_OFD_GETLK,
    F_OFD_SETLK,
    F_OFD_SETLKW,
    F_SETFD,
    F_SETFL,
    F_SETLK,
    F_SETLKW,
    F_SETPIPE_SZ,
    F_RDLCK,
    F_UNLCK,
    F_WRLCK,
    FD_CLOEXEC,
    NR_OPEN,
    O_CLOEXEC,
    O_PATH,
    RLIMIT_NOFILE,
    SEEK_CUR,
    SEEK_END,
    SEEK_SET,
    SETFL_MASK,
)
from abi.errno import Errno
from kernel.syscalls.args import Fd, Int, UInt, ULong
from kernel.syscalls.table import syscall
from services.vfs import locks
from services.vfs.pipe import PipeFile

if TYPE_CHECKING:
    from kernel.task import Task
    from services.vfs.file import File

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
        if not isinstance(file, PipeFile):
            raise Errno(EBADF)
        return file.pipe.capacity if cmd == F_GETPIPE_SZ else file.pipe.resize(arg & 0xFFFF_FFFF)
    if cmd in (F_GETLK, F_OFD_GETLK, F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW):
        return await _record_lock(t, file, cmd, arg)
    raise Errno(EINVAL)


async def _record_lock(t: Task, file: File, cmd: int, arg: int) -> int:
    """fcntl's record locks: POSIX ones owned by the fd table, OFD ones by the description."""
    kind, whence, l_start, l_len, l_pid = await t.mm.read_struct(_FLOCK, arg)
    ofd = cmd in (F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
    if kind not in (F_RDLCK, F_WRLCK, F_UNLCK) or (ofd and l_pid != 0):
        raise Errno(EINVAL)
    start, end = await _lock_range(file, whence, l_start, l_len)
    owner = file if ofd else t.process.fds
    if cmd in (F_GETLK, F_OFD_GETLK):
        if kind == F_UNLCK:
            raise Errno(EINVAL)
        holder = locks.locks_of(file.lock_key).records.conflict(owner, kind, start, end)
        if holder is None:
            await t.mm.write_struct(_FLOCK, arg, F_UNLCK, whence, l_start, l_len, l_pid)
        else:
            length = 0 if holder.end == locks.OFFSET_MAX else holder.end - holder.start + 1
            await t.mm.write_struct(_FLOCK, arg, holder.kind, SEEK_SET, holder.start, length, holder.pid)
        return 0
    if (kind == F_RDLCK and not file.readable) or (kind == F_WRLCK and not file.writable):
        raise Errno(EBADF)
    await locks.acquire(file.lock_key, False, owner, kind, start, end, -1 if ofd else t.process.pid,
                        wait=cmd in (F_SETLKW, F_OFD_SETLKW), sleep=t.blocking, posix=not ofd)
    return 0


async def _lock_range(file: File, whence: int, l_start: int, l_len: int) -> tuple[int, int]:
    """struct flock's l_whence/l_start/l_len as the first and last byte locked."""
    if whence == SEEK_SET:
        base = 0
    elif whence == SEEK_CUR:
        base = file.offset
    elif whence == SEEK_END:
        base = (await file.stat()).size
    else:
        raise Errno(EINVAL)
    start = base + l_start
    if l_len > 0:
        end = start + l_len - 1
    elif l_len == 0:
        end = locks.OFFSET_MAX
    else:
        start, end = start + l_len, start - 1
    if start < 0 or end > locks.OFFSET_MAX:
        raise Errno(EINVAL)
    return start, end
