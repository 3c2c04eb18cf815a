"""Calls that move or shape file data: sendfile, copy_file_range, fallocate, memfd_create, flock,
and the older utimes/futimesat."""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING

from kernel.abi.errno import EBADF, EINVAL, ENODEV, ESPIPE
from kernel.abi.linux import (
    FALLOC_FL_KEEP_SIZE,
    FALLOC_FL_PUNCH_HOLE,
    FALLOC_FL_ZERO_RANGE,
    LOCK_EX,
    LOCK_NB,
    LOCK_SH,
    LOCK_UN,
    MFD_ALLOW_SEALING,
    MFD_CLOEXEC,
    MFD_EXEC,
    MFD_NOEXEC_SEAL,
    O_APPEND,
    O_LARGEFILE,
    O_PATH,
    O_RDWR,
)
from kernel.abi.structs import TIMEVAL, U64
from kernel.errors import Errno
from kernel.syscalls.args import Addr, Fd, Int, Off, Size, UInt
from kernel.syscalls.attrs import _setattr, clamp_ns
from kernel.syscalls.fdops import nofile_limit
from kernel.syscalls.paths import lookup_at
from kernel.syscalls.signals import raising_sigpipe
from kernel.syscalls.table import syscall
from services.vfs.file import RegularFile
from services.vfs.inode import Filesystem, RegularInode

if TYPE_CHECKING:
    from kernel.task import Task
    from services.vfs.file import File

_CHUNK = 1 << 20
#: Where memfd_create's files live: nowhere in the tree.
_MEMFD_FS = Filesystem(name=b"memfd")
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


async def _copy(source: File, source_offset: int | None, sink: File, sink_offset: int | None,
                count: int) -> tuple[int, int | None, int | None]:
    """Move up to ``count`` bytes; an offset of None uses (and moves) the description's own."""
    done = 0
    buffer = bytearray(min(count, _CHUNK))
    while done < count:
        view = memoryview(buffer)[:min(count - done, _CHUNK)]
        n = await (source.read([view]) if source_offset is None else source.pread([view], source_offset))
        if n == 0:
            break
        if source_offset is not None:
            source_offset += n
        chunk = view[:n]
        written = await (sink.write([chunk]) if sink_offset is None else sink.pwrite([chunk], sink_offset))
        if sink_offset is not None:
            sink_offset += written
        done += written
        if written < n:
            break
    return done, source_offset, sink_offset


async def _offset(t: Task, addr: int) -> int | None:
    if addr == 0:
        return None
    (value,) = await t.mm.read_struct(U64, addr)
    value = value - (1 << 64) if value >> 63 else value
    if value < 0:
        raise Errno(EINVAL)
    return value


@syscall
async def sendfile(t: Task, out_fd: Fd, in_fd: Fd, offset: Addr, count: Size) -> int:
    source = t.process.fds.get(in_fd)
    sink = t.process.fds.get(out_fd)
    if not source.readable or not sink.writable:
        raise Errno(EBADF)
    if sink.flags & O_APPEND:
        raise Errno(EINVAL)
    start = await _offset(t, offset)
    done, end, _ = await raising_sigpipe(t, _copy(source, start, sink, None, min(count, 0x7FFF_F000)))
    if offset:
        await t.mm.write_struct(U64, offset, end)
    return done


@syscall
async def copy_file_range(t: Task, fd_in: Fd, off_in: Addr, fd_out: Fd, off_out: Addr, length: Size,
                          flags: UInt) -> int:
    if flags:
        raise Errno(EINVAL)
    source = t.process.fds.get(fd_in)
    sink = t.process.fds.get(fd_out)
    if not source.readable or not sink.writable or sink.flags & O_APPEND:
        raise Errno(EBADF)
    for file in (source, sink):
        if file.inode is None or file.inode.kind != 0o100000:
            raise Errno(EINVAL)
    start_in, start_out = await _offset(t, off_in), await _offset(t, off_out)
    done, end_in, end_out = await _copy(source, start_in, sink, start_out, min(length, 0x7FFF_F000))
    if off_in:
        await t.mm.write_struct(U64, off_in, end_in)
    if off_out:
        await t.mm.write_struct(U64, off_out, end_out)
    return done


@syscall
async def fallocate(t: Task, fd: Fd, mode: Int, offset: Off, length: Off) -> int:
    file = t.process.fds.get(fd)
    if offset < 0 or length <= 0 or mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
        raise Errno(EINVAL)
    if not file.writable:
        raise Errno(EBADF)
    host = file.host_fd()
    if host is None:
        raise Errno(ESPIPE if file.inode is not None and file.inode.kind == 0o010000 else ENODEV)
    if _libc.fallocate(host, mode, offset, length) != 0:
        raise Errno(ctypes.get_errno())
    if file.inode is not None:
        file.inode.modified(os.fstat(host).st_size)
    return 0


@syscall
async def memfd_create(t: Task, name: Addr, flags: UInt) -> int:
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | MFD_EXEC):
        raise Errno(EINVAL)
    label = await t.mm.read_cstring(name, 250) if name else b""
    inode = RegularInode(_MEMFD_FS, 0o777, t.process.creds.euid, t.process.creds.egid)
    inode.nlink = 0
    file = RegularFile(O_RDWR | O_LARGEFILE, inode, await inode.data_fd(O_RDWR))
    file.path = b"/memfd:" + label + b" (deleted)"
    return t.process.fds.install(file, nofile_limit(t), bool(flags & MFD_CLOEXEC))


@syscall
async def flock(t: Task, fd: Fd, operation: Int) -> int:
    """Advisory locks: checked, and always granted (one sandbox, no competing holders yet)."""
    file = t.process.fds.get(fd)
    if file.flags & O_PATH:
        raise Errno(EBADF)
    if operation & ~LOCK_NB not in (LOCK_SH, LOCK_EX, LOCK_UN):
        raise Errno(EINVAL)
    return 0


async def _utimes(t: Task, dirfd: int, filename: int, times: int) -> int:
    import time as _clock

    if times:
        raw = await t.mm.copy_in(times, 2 * TIMEVAL.size)
        stamps = []
        for half in (raw[:16], raw[16:]):
            sec, usec = TIMEVAL.unpack(half)
            if not 0 <= usec < 1_000_000:
                raise Errno(EINVAL)
            stamps.append(clamp_ns(sec * 1_000_000_000 + usec * 1000))
        atime, mtime = stamps
    else:
        atime = mtime = _clock.time_ns()
    inode = await lookup_at(t, dirfd, filename, 0, True)
    return await _setattr(t, inode, atime_ns=atime, mtime_ns=mtime)


@syscall
async def utimes(t: Task, filename: Addr, times: Addr) -> int:
    return await _utimes(t, -100, filename, times)


@syscall
async def futimesat(t: Task, dirfd: Fd, filename: Addr, times: Addr) -> int:
    return await _utimes(t, dirfd, filename, times)
