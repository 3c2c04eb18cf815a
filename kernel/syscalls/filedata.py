"""Calls that move or shape file data: sendfile, copy_file_range, fallocate, memfd_create, flock,
and the older utimes/futimesat."""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING

from abi.errno import EAGAIN, EBADF, EINVAL, ENODEV, EPIPE, ESPIPE
from abi.linux import (
    F_RDLCK,
    F_UNLCK,
    F_WRLCK,
    AT_FDCWD,
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
    O_NONBLOCK,
    O_PATH,
    O_RDWR,
    POLLIN,
    SPLICE_F_GIFT,
    SPLICE_F_MORE,
    SPLICE_F_MOVE,
    SPLICE_F_NONBLOCK,
)
from abi.structs import TIMEVAL, U64
from abi.errno import Errno
from kernel.syscalls.args import Addr, Fd, Int, Off, Size, UInt
from kernel.syscalls.attrs import _setattr, clamp_ns
from kernel.syscalls.fdops import nofile_limit
from kernel.syscalls.paths import lookup_at
from kernel.syscalls.readwrite import broken_pipe, coherent_mappings
from kernel.syscalls.table import syscall
from services.vfs import locks
from services.vfs.file import RegularFile
from services.vfs.inode import Filesystem, RegularInode
from services.vfs.pipe import PipeFile

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from kernel.task import Task
    from services.vfs.file import File
    from services.vfs.pipe import Pipe

_CHUNK = 1 << 20
_SPLICE_FLAGS = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT
#: Where memfd_create's files live: nowhere in the tree.
_MEMFD_FS = Filesystem(name=b"memfd")
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


async def _copy(source: File, source_offset: int | None, sink: File, sink_offset: int | None,
                count: int, blocking: Callable[[Awaitable[int]], Awaitable[int]] | None = None,
                ) -> tuple[int, int | None, int | None]:
    """Move up to ``count`` bytes; an offset of None uses (and moves) the description's own.

    Once some bytes moved, a source with nothing more ready (a pipe, a terminal) ends the copy;
    ``blocking`` (the task's) lets a signal end the wait for the first bytes.
    """
    done = 0
    buffer = bytearray(min(count, _CHUNK))
    while done < count:
        if done and not source.poll() & POLLIN:
            break
        view = memoryview(buffer)[:min(count - done, _CHUNK)]
        read = source.read([view]) if source_offset is None else source.pread([view], source_offset)
        n = await (blocking(read) if blocking is not None and not done else read)
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
    try:
        async with coherent_mappings(t, source, sink):
            done, end, _ = await _copy(source, start, sink, None, min(count, 0x7FFF_F000), t.blocking)
    except Errno as error:
        if error.errno == EPIPE:
            await broken_pipe(t)
        raise
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
    async with coherent_mappings(t, source, sink):
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
    """A whole-file advisory lock owned by the open file description. Changing its type
    drops the old lock first (not atomic, as on Linux); LOCK_NB: EWOULDBLOCK, not a wait."""
    file = t.process.fds.get(fd)
    if file.flags & O_PATH:
        raise Errno(EBADF)
    kind = {LOCK_SH: F_RDLCK, LOCK_EX: F_WRLCK, LOCK_UN: F_UNLCK}.get(operation & ~LOCK_NB)
    if kind is None:
        raise Errno(EINVAL)
    if kind != F_UNLCK:
        locks.locks_of(file.lock_key).flocks.set(file, F_UNLCK, 0, locks.OFFSET_MAX, -1)
    await locks.acquire(file.lock_key, True, file, kind, 0, locks.OFFSET_MAX, -1,
                        wait=not operation & LOCK_NB, sleep=t.blocking)
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
    return await _utimes(t, AT_FDCWD, filename, times)


@syscall
async def futimesat(t: Task, dirfd: Fd, filename: Addr, times: Addr) -> int:
    return await _utimes(t, dirfd, filename, times)


async def _pipe_of(file: File) -> Pipe | None:
    return file.pipe if isinstance(file, PipeFile) else None


@syscall
async def splice(t: Task, fd_in: Fd, off_in: Addr, fd_out: Fd, off_out: Addr, length: Size, flags: UInt) -> int:
    """Move data between a pipe and another file (one of the two must be a pipe).

    Done as one read and one write through a buffer of at most 64 KiB: a short count is
    allowed, as Linux's splice may return one.
    """
    source = t.process.fds.get(fd_in)
    sink = t.process.fds.get(fd_out)
    if not source.readable or not sink.writable:
        raise Errno(EBADF)
    source_pipe, sink_pipe = await _pipe_of(source), await _pipe_of(sink)
    if source_pipe is None and sink_pipe is None or flags & ~_SPLICE_FLAGS:
        raise Errno(EINVAL)
    if source_pipe is not None and off_in or sink_pipe is not None and off_out:
        raise Errno(ESPIPE)
    if source_pipe is not None and source_pipe is sink_pipe:
        raise Errno(EINVAL)
    if sink.flags & O_APPEND and off_out:
        raise Errno(EINVAL)
    start_in, start_out = await _offset(t, off_in), await _offset(t, off_out)
    if length == 0:
        return 0
    nonblock = bool(flags & SPLICE_F_NONBLOCK)
    async with coherent_mappings(t, source, sink):
        view = memoryview(bytearray(min(length, 1 << 16)))
        if source_pipe is not None:
            n = await t.blocking(source_pipe.read([view], nonblock or bool(source.flags & O_NONBLOCK)))
        elif start_in is not None:
            n = await source.pread([view], start_in)
        else:
            n = await source.read([view])
        if n == 0:
            return 0
        try:
            if sink_pipe is not None:
                written = await t.blocking(sink_pipe.write([view[:n]], nonblock or bool(sink.flags & O_NONBLOCK)))
            elif start_out is not None:
                written = await sink.pwrite([view[:n]], start_out)
            else:
                written = await sink.write([view[:n]])
        except Errno as error:
            if error.errno == EPIPE:
                await broken_pipe(t)
            raise
    if off_in and start_in is not None:
        await t.mm.write_struct(U64, off_in, start_in + n)
    if off_out and start_out is not None:
        await t.mm.write_struct(U64, off_out, start_out + written)
    return written


@syscall
async def tee(t: Task, fd_in: Fd, fd_out: Fd, length: Size, flags: UInt) -> int:
    """Copy data from one pipe into another, leaving it in the first."""
    source = t.process.fds.get(fd_in)
    sink = t.process.fds.get(fd_out)
    source_pipe, sink_pipe = await _pipe_of(source), await _pipe_of(sink)
    if source_pipe is None or sink_pipe is None or source_pipe is sink_pipe or flags & ~_SPLICE_FLAGS:
        raise Errno(EINVAL)
    if not source.readable or not sink.writable:
        raise Errno(EBADF)
    if length == 0:
        return 0
    nonblock = bool(flags & SPLICE_F_NONBLOCK)
    while not source_pipe.buffer:
        if source_pipe.writers == 0:
            return 0
        if nonblock or source.flags & O_NONBLOCK:
            raise Errno(EAGAIN)
        await t.blocking(source_pipe.wait())
    data = source_pipe.peek(min(length, 1 << 16))
    return await t.blocking(sink_pipe.write([memoryview(data)], nonblock or bool(sink.flags & O_NONBLOCK)))
