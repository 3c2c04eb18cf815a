"""File attributes and contents by fd or path: the stat family, statx, getdents64, chmod, chown,
utimensat, truncate, fsync, statfs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from abi.errno import EFBIG, EINVAL, Errno
from abi.linux import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_NO_AUTOMOUNT,
    AT_STATX_SYNC_TYPE,
    AT_SYMLINK_NOFOLLOW,
    STATX__RESERVED,
    STATX_BASIC_STATS,
    UTIME_NOW,
    UTIME_OMIT,
)
from abi.structs import STAT, STATFS, STATX, TIMESPEC
from kernel.files import vfs
from kernel.syscalls.args import Addr, Fd, Int, Off, UInt
from kernel.syscalls.paths import at, read_path
from kernel.syscalls.readwrite import file_too_big
from kernel.syscalls.table import syscall
from services.vfs.contract import Attrs

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from kernel.task import Task
    from services.vfs.contract import Stat, StatFs

_NS = 1_000_000_000


def pack_stat(st: Stat) -> bytes:
    return STAT.pack(st.dev, st.ino, st.nlink, st.mode, st.uid, st.gid, 0, st.rdev, st.size, st.blksize,
                     st.blocks, st.atime_ns // _NS, st.atime_ns % _NS, st.mtime_ns // _NS, st.mtime_ns % _NS,
                     st.ctime_ns // _NS, st.ctime_ns % _NS)


async def _stat_at(t: Task, dirfd: int, pathname: int, flags: int) -> Stat:
    root, start, path = await at(t, dirfd, pathname, flags)
    return await vfs(t, "stat", root, start, path, not flags & AT_SYMLINK_NOFOLLOW)


@syscall
async def stat(t: Task, pathname: Addr, statbuf: Addr) -> int:
    await t.mm.copy_out(statbuf, pack_stat(await _stat_at(t, AT_FDCWD, pathname, 0)))
    return 0


@syscall
async def lstat(t: Task, pathname: Addr, statbuf: Addr) -> int:
    await t.mm.copy_out(statbuf, pack_stat(await _stat_at(t, AT_FDCWD, pathname, AT_SYMLINK_NOFOLLOW)))
    return 0


@syscall
async def fstat(t: Task, fd: Fd, statbuf: Addr) -> int:
    st = await t.kernel.bus.call("vfs", "fstat", t.process.fds.handle(fd))
    await t.mm.copy_out(statbuf, pack_stat(st))
    return 0


@syscall
async def newfstatat(t: Task, dirfd: Fd, pathname: Addr, statbuf: Addr, flags: Int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT):
        raise Errno(EINVAL)
    await t.mm.copy_out(statbuf, pack_stat(await _stat_at(t, dirfd, pathname, flags)))
    return 0


@syscall
async def statx(t: Task, dirfd: Fd, pathname: Addr, flags: Int, mask: UInt, statxbuf: Addr) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE):
        raise Errno(EINVAL)
    if flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE or mask & STATX__RESERVED:
        raise Errno(EINVAL)
    st = await _stat_at(t, dirfd, pathname, flags)
    data = STATX.pack(STATX_BASIC_STATS, st.blksize, 0, st.nlink, st.uid, st.gid, st.mode, st.ino, st.size,
                      st.blocks, 0,
                      st.atime_ns // _NS, st.atime_ns % _NS, st.ctime_ns // _NS, st.ctime_ns % _NS,  # btime
                      st.ctime_ns // _NS, st.ctime_ns % _NS, st.mtime_ns // _NS, st.mtime_ns % _NS,
                      st.rdev >> 8, st.rdev & 0xFF, st.dev >> 8, st.dev & 0xFF)
    await t.mm.copy_out(statxbuf, data)
    return 0


@syscall
async def getdents64(t: Task, fd: Fd, dirp: Addr, count: UInt) -> int:
    records = await t.kernel.bus.call("vfs", "getdents", t.process.fds.handle(fd), count)
    if records:
        await t.mm.copy_out(dirp, records)
    return len(records)


@syscall
async def getdents(t: Task, fd: Fd, dirp: Addr, count: UInt) -> int:
    """The old getdents: struct linux_dirent records (d_type after the name)."""
    records = await t.kernel.bus.call("vfs", "getdents", t.process.fds.handle(fd), count, True)
    if records:
        await t.mm.copy_out(dirp, records)
    return len(records)


# --- changing attributes ----------------------------------------------------------------------


async def setattr_at(t: Task, dirfd: int, pathname: int, flags: int, attrs: Attrs) -> int:
    """chmod/chown/utimes of a (dirfd, path) pair; AT_EMPTY_PATH and AT_SYMLINK_NOFOLLOW as given."""
    root, start, path = await at(t, dirfd, pathname, flags)
    await vfs(t, "setattr", root, start, path, not flags & AT_SYMLINK_NOFOLLOW, attrs)
    return 0


async def _fsetattr(t: Task, fd: int, attrs: Attrs) -> int:
    await vfs(t, "fsetattr", t.process.fds.handle(fd), attrs)
    return 0


@syscall
async def chmod(t: Task, pathname: Addr, mode: UInt) -> int:
    return await setattr_at(t, AT_FDCWD, pathname, 0, Attrs(mode=mode & 0o7777))


@syscall
async def fchmod(t: Task, fd: Fd, mode: UInt) -> int:
    return await _fsetattr(t, fd, Attrs(mode=mode & 0o7777))


@syscall
async def fchmodat(t: Task, dirfd: Fd, pathname: Addr, mode: UInt) -> int:
    return await setattr_at(t, dirfd, pathname, 0, Attrs(mode=mode & 0o7777))


def _owner(owner: int, group: int) -> Attrs:
    """chown's ids: -1 (as an unsigned 32-bit value) leaves one as it is."""
    owner &= 0xFFFF_FFFF
    group &= 0xFFFF_FFFF
    return Attrs(uid=None if owner == 0xFFFF_FFFF else owner, gid=None if group == 0xFFFF_FFFF else group)


@syscall
async def chown(t: Task, pathname: Addr, owner: UInt, group: UInt) -> int:
    return await setattr_at(t, AT_FDCWD, pathname, 0, _owner(owner, group))


@syscall
async def lchown(t: Task, pathname: Addr, owner: UInt, group: UInt) -> int:
    return await setattr_at(t, AT_FDCWD, pathname, AT_SYMLINK_NOFOLLOW, _owner(owner, group))


@syscall
async def fchown(t: Task, fd: Fd, owner: UInt, group: UInt) -> int:
    return await _fsetattr(t, fd, _owner(owner, group))


@syscall
async def fchownat(t: Task, dirfd: Fd, pathname: Addr, owner: UInt, group: UInt, flags: Int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise Errno(EINVAL)
    return await setattr_at(t, dirfd, pathname, flags, _owner(owner, group))


def _time(sec: int, nsec: int, now: int) -> int | None:
    if nsec == UTIME_OMIT:
        return None
    if nsec == UTIME_NOW:
        return now
    if not 0 <= nsec < _NS:
        raise Errno(EINVAL)
    return clamp_ns(sec * _NS + nsec)


def clamp_ns(value: int) -> int:
    """A timestamp the file systems can hold (signed 64-bit nanoseconds), as Linux clamps."""
    return max(-(1 << 63), min(value, (1 << 63) - 1))


@syscall
async def utimensat(t: Task, dirfd: Fd, pathname: Addr, times: Addr, flags: Int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise Errno(EINVAL)
    now = time.time_ns()
    if times:
        raw = await t.mm.copy_in(times, 2 * TIMESPEC.size)
        (asec, ansec), (msec, mnsec) = TIMESPEC.unpack(raw[:16]), TIMESPEC.unpack(raw[16:])
        attrs = Attrs(atime_ns=_time(asec, ansec, now), mtime_ns=_time(msec, mnsec, now),
                      times_now=ansec == UTIME_NOW and mnsec == UTIME_NOW)
    else:
        attrs = Attrs(atime_ns=now, mtime_ns=now, times_now=True)
    if pathname == 0:  # futimens: the file behind dirfd
        return await _fsetattr(t, dirfd, attrs) if attrs.atime_ns is not None or attrs.mtime_ns is not None else 0
    root, start, path = await at(t, dirfd, pathname, flags)
    if attrs.atime_ns is None and attrs.mtime_ns is None:  # both UTIME_OMIT: the file must exist
        await vfs(t, "stat", root, start, path, not flags & AT_SYMLINK_NOFOLLOW)
        return 0
    await vfs(t, "setattr", root, start, path, not flags & AT_SYMLINK_NOFOLLOW, attrs)
    return 0


@syscall
async def truncate(t: Task, path: Addr, length: Off) -> int:
    name = await read_path(t, path)
    if length < 0:
        raise Errno(EINVAL)
    await resizing(t, vfs(t, "truncate", t.process.root, t.process.cwd, name, length))
    return 0


async def resizing(t: Task, call: Awaitable[None]) -> None:
    """A change of a file's size; EFBIG past RLIMIT_FSIZE comes with SIGXFSZ."""
    try:
        await call
    except Errno as error:
        if error.errno == EFBIG:
            await file_too_big(t)
        raise


@syscall
async def ftruncate(t: Task, fd: Fd, length: Off) -> int:
    handle = t.process.fds.handle(fd)
    if length < 0:
        raise Errno(EINVAL)
    await resizing(t, vfs(t, "ftruncate", handle, length))
    return 0


@syscall
async def fsync(t: Task, fd: Fd) -> int:
    await t.kernel.bus.call("vfs", "fsync", t.process.fds.handle(fd))
    return 0


@syscall
async def fdatasync(t: Task, fd: Fd) -> int:
    return await fsync(t, fd)


@syscall
async def sync(t: Task) -> int:
    return 0


@syscall
async def syncfs(t: Task, fd: Fd) -> int:
    t.process.fds.handle(fd)
    return 0


def _pack_statfs(st: StatFs) -> bytes:
    return STATFS.pack(st.f_type, st.bsize, st.blocks, st.bfree, st.bavail, st.files, st.ffree, 0, 0, st.namelen,
                       st.bsize, st.flags)


@syscall
async def statfs(t: Task, path: Addr, buf: Addr) -> int:
    st = await vfs(t, "statfs", *await at(t, AT_FDCWD, path))
    await t.mm.copy_out(buf, _pack_statfs(st))
    return 0


@syscall
async def fstatfs(t: Task, fd: Fd, buf: Addr) -> int:
    st = await vfs(t, "statfs", t.process.root, t.process.fds.handle(fd), b"")
    await t.mm.copy_out(buf, _pack_statfs(st))
    return 0
