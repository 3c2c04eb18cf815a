"""File attributes and contents by fd or path: the stat family, statx, getdents64, chmod, chown,
utimensat, truncate, fsync, statfs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EBADF, EINVAL, EISDIR, EPERM
from abi.linux import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_NO_AUTOMOUNT,
    AT_STATX_SYNC_TYPE,
    AT_SYMLINK_NOFOLLOW,
    NAME_MAX,
    O_PATH,
    S_IFMT,
    STATX__RESERVED,
    STATX_BASIC_STATS,
    ST_RDONLY,
    UTIME_NOW,
    UTIME_OMIT,
)
from abi.structs import DIRENT64_HEAD, STAT, STATFS, STATX, TIMESPEC
from abi.errno import Errno
from kernel.syscalls.args import Addr, Fd, Int, Off, UInt
from kernel.syscalls.paths import lookup_at, lookup_path, read_path, start_dir, vfs
from kernel.syscalls.table import syscall
from services.vfs.inode import Dir

if TYPE_CHECKING:
    from kernel.task import Task
    from services.vfs.inode import Inode, Stat

_NS = 1_000_000_000


def pack_stat(st: Stat) -> bytes:
    return STAT.pack(st.dev, st.ino, st.nlink, st.mode, st.uid, st.gid, 0, st.rdev, st.size, st.blksize,
                     st.blocks, st.atime_ns // _NS, st.atime_ns % _NS, st.mtime_ns // _NS, st.mtime_ns % _NS,
                     st.ctime_ns // _NS, st.ctime_ns % _NS)


async def _stat_out(t: Task, inode: Inode, statbuf: int) -> int:
    await t.mm.copy_out(statbuf, pack_stat(await inode.stat()))
    return 0


@syscall
async def stat(t: Task, pathname: Addr, statbuf: Addr) -> int:
    return await _stat_out(t, await lookup_at(t, AT_FDCWD, pathname, 0, follow=True), statbuf)


@syscall
async def lstat(t: Task, pathname: Addr, statbuf: Addr) -> int:
    return await _stat_out(t, await lookup_at(t, AT_FDCWD, pathname, 0, follow=False), statbuf)


@syscall
async def fstat(t: Task, fd: Fd, statbuf: Addr) -> int:
    file = t.process.fds.get(fd)
    await t.mm.copy_out(statbuf, pack_stat(await file.stat()))
    return 0


@syscall
async def newfstatat(t: Task, dirfd: Fd, pathname: Addr, statbuf: Addr, flags: Int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT):
        raise Errno(EINVAL)
    path = await read_path(t, pathname, allow_empty=bool(flags & AT_EMPTY_PATH))
    if not path and dirfd != AT_FDCWD:
        return await fstat(t, dirfd, statbuf)
    return await _stat_out(t, await lookup_path(t, dirfd, path, not flags & AT_SYMLINK_NOFOLLOW), statbuf)


@syscall
async def statx(t: Task, dirfd: Fd, pathname: Addr, flags: Int, mask: UInt, statxbuf: Addr) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE):
        raise Errno(EINVAL)
    if flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE or mask & STATX__RESERVED:
        raise Errno(EINVAL)
    path = await read_path(t, pathname, allow_empty=bool(flags & AT_EMPTY_PATH))
    if not path and dirfd != AT_FDCWD:
        st = await t.process.fds.get(dirfd).stat()
    else:
        st = await (await lookup_path(t, dirfd, path, not flags & AT_SYMLINK_NOFOLLOW)).stat()
    data = STATX.pack(STATX_BASIC_STATS, st.blksize, 0, st.nlink, st.uid, st.gid, st.mode, st.ino, st.size,
                      st.blocks, 0,
                      st.atime_ns // _NS, st.atime_ns % _NS, st.ctime_ns // _NS, st.ctime_ns % _NS,  # btime
                      st.ctime_ns // _NS, st.ctime_ns % _NS, st.mtime_ns // _NS, st.mtime_ns % _NS,
                      st.rdev >> 8, st.rdev & 0xFF, st.dev >> 8, st.dev & 0xFF)
    await t.mm.copy_out(statxbuf, data)
    return 0


@syscall
async def getdents64(t: Task, fd: Fd, dirp: Addr, count: UInt) -> int:
    file = t.process.fds.get(fd)
    if file.flags & O_PATH:
        raise Errno(EBADF)
    entries = await file.getdents()
    out = bytearray()
    used = 0
    for name, ino, dtype in entries:
        reclen = (DIRENT64_HEAD.size + len(name) + 1 + 7) & ~7
        if len(out) + reclen > count:
            break
        record = DIRENT64_HEAD.pack(ino, file.offset + used + 1, reclen, dtype) + name
        out += record + bytes(reclen - len(record))
        used += 1
    if entries and not used:
        raise Errno(EINVAL)
    if out:
        await t.mm.copy_out(dirp, bytes(out))
    file.offset += used
    return len(out)


# --- changing attributes ----------------------------------------------------------------------


async def _setattr(t: Task, inode: Inode, **changes: int | None) -> int:
    await inode.setattr(**changes)  # type: ignore[arg-type]
    return 0


@syscall
async def chmod(t: Task, pathname: Addr, mode: UInt) -> int:
    return await _setattr(t, await lookup_at(t, AT_FDCWD, pathname, 0, True), mode=mode & 0o7777)


@syscall
async def fchmod(t: Task, fd: Fd, mode: UInt) -> int:
    file = t.process.fds.get(fd)
    if file.flags & O_PATH or file.inode is None:
        raise Errno(EBADF)
    return await _setattr(t, file.inode, mode=mode & 0o7777)


@syscall
async def fchmodat(t: Task, dirfd: Fd, pathname: Addr, mode: UInt) -> int:
    return await _setattr(t, await lookup_at(t, dirfd, pathname, 0, True), mode=mode & 0o7777)


def _ids(owner: int, group: int) -> dict[str, int | None]:
    owner &= 0xFFFF_FFFF
    group &= 0xFFFF_FFFF
    return {"uid": None if owner == 0xFFFF_FFFF else owner, "gid": None if group == 0xFFFF_FFFF else group}


def _require_root(t: Task) -> None:
    if t.process.creds.euid != 0:
        raise Errno(EPERM)


@syscall
async def chown(t: Task, pathname: Addr, owner: UInt, group: UInt) -> int:
    inode = await lookup_at(t, AT_FDCWD, pathname, 0, True)
    _require_root(t)
    return await _setattr(t, inode, **_ids(owner, group))


@syscall
async def lchown(t: Task, pathname: Addr, owner: UInt, group: UInt) -> int:
    inode = await lookup_at(t, AT_FDCWD, pathname, 0, False)
    _require_root(t)
    return await _setattr(t, inode, **_ids(owner, group))


@syscall
async def fchown(t: Task, fd: Fd, owner: UInt, group: UInt) -> int:
    file = t.process.fds.get(fd)
    if file.flags & O_PATH or file.inode is None:
        raise Errno(EBADF)
    _require_root(t)
    return await _setattr(t, file.inode, **_ids(owner, group))


@syscall
async def fchownat(t: Task, dirfd: Fd, pathname: Addr, owner: UInt, group: UInt, flags: Int) -> int:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise Errno(EINVAL)
    inode = await lookup_at(t, dirfd, pathname, flags, not flags & AT_SYMLINK_NOFOLLOW)
    _require_root(t)
    return await _setattr(t, inode, **_ids(owner, group))


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
    import time as _clock

    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise Errno(EINVAL)
    now = _clock.time_ns()
    if times:
        raw = await t.mm.copy_in(times, 2 * TIMESPEC.size)
        atime = _time(*TIMESPEC.unpack(raw[:16]), now)
        mtime = _time(*TIMESPEC.unpack(raw[16:]), now)
    else:
        atime = mtime = now
    if pathname == 0:  # futimens: the file behind dirfd
        file = t.process.fds.get(dirfd)
        inode = file.inode
        if inode is None:
            raise Errno(EBADF)
    else:
        inode = await lookup_at(t, dirfd, pathname, flags, not flags & AT_SYMLINK_NOFOLLOW)
    if atime is None and mtime is None:
        return 0
    return await _setattr(t, inode, atime_ns=atime, mtime_ns=mtime)


@syscall
async def truncate(t: Task, path: Addr, length: Off) -> int:
    inode = await lookup_at(t, AT_FDCWD, path, 0, True)
    if isinstance(inode, Dir):
        raise Errno(EISDIR)
    if length < 0 or inode.kind != 0o100000:
        raise Errno(EINVAL)
    await inode.truncate(length)
    return 0


@syscall
async def ftruncate(t: Task, fd: Fd, length: Off) -> int:
    file = t.process.fds.get(fd)
    if length < 0:
        raise Errno(EINVAL)
    if file.flags & O_PATH:
        raise Errno(EBADF)
    if not file.writable or file.inode is None or file.inode.kind != 0o100000:
        raise Errno(EINVAL)
    await file.inode.truncate(length)
    return 0


@syscall
async def fsync(t: Task, fd: Fd) -> int:
    t.process.fds.get(fd)
    return 0


@syscall
async def fdatasync(t: Task, fd: Fd) -> int:
    t.process.fds.get(fd)
    return 0


@syscall
async def sync(t: Task) -> int:
    return 0


@syscall
async def syncfs(t: Task, fd: Fd) -> int:
    t.process.fds.get(fd)
    return 0


async def _statfs_out(t: Task, inode: Inode, buf: int) -> int:
    magic, bsize, blocks, bfree, bavail, files, ffree, read_only = await vfs(t, "statfs", inode)
    await t.mm.copy_out(buf, STATFS.pack(magic, bsize, blocks, bfree, bavail, files, ffree, 0, 0, NAME_MAX,
                                         bsize, ST_RDONLY if read_only else 0))
    return 0


@syscall
async def statfs(t: Task, path: Addr, buf: Addr) -> int:
    return await _statfs_out(t, await lookup_at(t, AT_FDCWD, path, 0, True), buf)


@syscall
async def fstatfs(t: Task, fd: Fd, buf: Addr) -> int:
    file = t.process.fds.get(fd)
    if file.inode is None:
        raise Errno(EINVAL)
    return await _statfs_out(t, file.inode, buf)


__all__ = ["pack_stat", "start_dir", "S_IFMT"]
