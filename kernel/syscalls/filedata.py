"""Calls that move or shape file data: sendfile, copy_file_range, splice, tee, fallocate,
memfd_create, flock, and the older utimes/futimesat.

The data itself never passes through the kernel: each handler reads its arguments, asks the VFS
for the one operation, and writes the offsets back. Moves that may wait (a pipe on either side)
run as interruptible sleeps.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from abi.errno import EFBIG, EINVAL, EPIPE, Errno
from abi.linux import (
    AT_FDCWD,
    F_RDLCK,
    F_UNLCK,
    F_WRLCK,
    LOCK_EX,
    LOCK_NB,
    LOCK_SH,
    LOCK_UN,
    MAX_RW_COUNT,
    MFD_ALLOW_SEALING,
    MFD_CLOEXEC,
    MFD_EXEC,
    MFD_NOEXEC_SEAL,
)
from abi.structs import TIMEVAL, U64
from kernel.files import install, vfs
from kernel.syscalls.args import Addr, Fd, Int, Off, Size, UInt
from kernel.syscalls.attrs import resizing, clamp_ns, setattr_at
from kernel.syscalls.readwrite import broken_pipe, file_too_big
from kernel.syscalls.table import syscall
from services.vfs.contract import Attrs, Opened

if TYPE_CHECKING:
    from collections.abc import Awaitable
    from typing import TypeVar

    from kernel.task import Task

    T = TypeVar("T")


async def _offset(t: Task, addr: int) -> int | None:
    """An loff_t argument passed by pointer: None for NULL (use the file's own offset)."""
    if addr == 0:
        return None
    (value,) = await t.mm.read_struct(U64, addr)
    value = value - (1 << 64) if value >> 63 else value
    if value < 0:
        raise Errno(EINVAL)
    return value


async def _moving(t: Task, call: Awaitable[T], sleeps: bool = True) -> T:
    """A move between files, as an interruptible sleep if it ``sleeps``; EPIPE comes with
    SIGPIPE, EFBIG with SIGXFSZ."""
    try:
        return await (t.blocking(call) if sleeps else call)
    except Errno as error:
        await _signal_for(t, error.errno)
        raise


async def _signal_for(t: Task, errno: int) -> None:
    """The signal Linux sends with a write's ``errno``, even when it only cut a copy short."""
    if errno == EPIPE:
        await broken_pipe(t)
    elif errno == EFBIG:
        await file_too_big(t)


@syscall
async def sendfile(t: Task, out_fd: Fd, in_fd: Fd, offset: Addr, count: Size) -> int:
    source, sink = t.process.fds.handle(in_fd), t.process.fds.handle(out_fd)
    start = await _offset(t, offset)
    done, end, cut_short = await _moving(t, vfs(t, "sendfile", sink, source, start, min(count, MAX_RW_COUNT)))
    await _signal_for(t, cut_short)
    if offset:
        await t.mm.write_struct(U64, offset, end)
    return done


@syscall
async def copy_file_range(t: Task, fd_in: Fd, off_in: Addr, fd_out: Fd, off_out: Addr, length: Size,
                          flags: UInt) -> int:
    if flags:
        raise Errno(EINVAL)
    source, sink = t.process.fds.handle(fd_in), t.process.fds.handle(fd_out)
    start_in, start_out = await _offset(t, off_in), await _offset(t, off_out)
    done, end_in, end_out, cut_short = await _moving(
        t, vfs(t, "copy_file_range", source, start_in, sink, start_out, length), sleeps=False)
    await _signal_for(t, cut_short)
    if off_in:
        await t.mm.write_struct(U64, off_in, end_in)
    if off_out:
        await t.mm.write_struct(U64, off_out, end_out)
    return done


@syscall
async def splice(t: Task, fd_in: Fd, off_in: Addr, fd_out: Fd, off_out: Addr, length: Size, flags: UInt) -> int:
    """Move data between a pipe and another file (one of the two must be a pipe); a short count
    is allowed, as Linux's splice may return one."""
    source, sink = t.process.fds.handle(fd_in), t.process.fds.handle(fd_out)
    start_in, start_out = await _offset(t, off_in), await _offset(t, off_out)
    done, end_in, end_out = await _moving(t, vfs(t, "splice", source, start_in, sink, start_out, length, flags))
    if off_in and end_in is not None:
        await t.mm.write_struct(U64, off_in, end_in)
    if off_out and end_out is not None:
        await t.mm.write_struct(U64, off_out, end_out)
    return done


@syscall
async def tee(t: Task, fd_in: Fd, fd_out: Fd, length: Size, flags: UInt) -> int:
    """Copy data from one pipe into another, leaving it in the first."""
    source, sink = t.process.fds.handle(fd_in), t.process.fds.handle(fd_out)
    return await t.blocking(vfs(t, "tee", source, sink, length, flags))


@syscall
async def fallocate(t: Task, fd: Fd, mode: Int, offset: Off, length: Off) -> int:
    await resizing(t, vfs(t, "fallocate", t.process.fds.handle(fd), mode, offset, length))
    return 0


@syscall
async def memfd_create(t: Task, name: Addr, flags: UInt) -> int:
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | MFD_EXEC):
        raise Errno(EINVAL)
    label = await t.mm.read_cstring(name, 250) if name else b""
    handle = await vfs(t, "memfd_create", label, flags)
    return await install(t, Opened(handle), bool(flags & MFD_CLOEXEC))


@syscall
async def flock(t: Task, fd: Fd, operation: Int) -> int:
    """A whole-file advisory lock owned by the open file description; LOCK_NB: EWOULDBLOCK,
    not a wait."""
    handle = t.process.fds.handle(fd)
    kind = {LOCK_SH: F_RDLCK, LOCK_EX: F_WRLCK, LOCK_UN: F_UNLCK}.get(operation & ~LOCK_NB)
    if kind is None:
        raise Errno(EINVAL)
    wait = not operation & LOCK_NB
    locking = vfs(t, "flock", handle, kind, wait)
    await (t.blocking(locking) if wait else locking)
    return 0


async def _utimes(t: Task, dirfd: int, filename: int, times: int) -> int:
    if times:
        raw = await t.mm.copy_in(times, 2 * TIMEVAL.size)
        stamps = []
        for half in (raw[:16], raw[16:]):
            sec, usec = TIMEVAL.unpack(half)
            if not 0 <= usec < 1_000_000:
                raise Errno(EINVAL)
            stamps.append(clamp_ns(sec * 1_000_000_000 + usec * 1000))
        attrs = Attrs(atime_ns=stamps[0], mtime_ns=stamps[1])
    else:
        now = time.time_ns()
        attrs = Attrs(atime_ns=now, mtime_ns=now, times_now=True)
    return await setattr_at(t, dirfd, filename, 0, attrs)


@syscall
async def utimes(t: Task, filename: Addr, times: Addr) -> int:
    return await _utimes(t, AT_FDCWD, filename, times)


@syscall
async def futimesat(t: Task, dirfd: Fd, filename: Addr, times: Addr) -> int:
    return await _utimes(t, dirfd, filename, times)
