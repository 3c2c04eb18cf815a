"""Moving bytes through file descriptions: read/write and their vectored and positional forms,
lseek, and the ioctls every file has (FIONREAD, FIOCLEX, FIONCLEX, FIONBIO) or terminals have."""

from __future__ import annotations

import contextlib
import struct
from typing import TYPE_CHECKING, TypeVar

from abi.errno import EBADF, EFAULT, EINVAL, ENOTTY, EOPNOTSUPP, EPIPE
from abi.linux import (
    FIOCLEX,
    FIONBIO,
    FIONCLEX,
    FIONREAD,
    KERNEL_TERMIOS_SIZE,
    O_NONBLOCK,
    O_PATH,
    RWF_NOWAIT,
    RWF_SUPPORTED,
    TASK_SIZE,
    TCGETS,
    TIOCGWINSZ,
    WINSIZE_SIZE,
    Signal,
)
from abi.structs import I32
from abi.errno import Errno
from kernel.syscalls.args import Addr, Fd, Int, Off, Size, UInt, ULong
from kernel.syscalls.signals import signal_self
from kernel.syscalls.table import syscall
from kernel.tty import (
    JOB_CONTROL_IOCTLS,
    check_background_read,
    check_background_write,
    job_control_ioctl,
)
from kernel.ttymodes import TERMINAL_SET_IOCTLS, terminal_set_ioctl

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from kernel.task import Task
    from services.vfs.file import File

T = TypeVar("T")

#: Linux caps one read or write at INT_MAX rounded down to a page.
MAX_RW_COUNT = 0x7FFF_F000
IOV_MAX = 1024
_IOVEC = struct.Struct("<QQ")
_SSIZE_MAX = (1 << 63) - 1


async def _buffers(t: Task, addr: int, count: int, write: bool) -> list[memoryview]:
    """Guest memory [addr, addr+count) as memoryviews; ``write`` means the host writes into it."""
    if count == 0:
        return []
    return await t.mm.iovecs(addr, min(count, MAX_RW_COUNT), write)


async def _iovec_buffers(t: Task, iov: int, iovcnt: int, write: bool) -> list[memoryview]:
    """The memory an iovec array describes, validated as readv(2)/writev(2) do."""
    if not 0 <= iovcnt <= IOV_MAX:
        raise Errno(EINVAL)
    raw = await t.mm.copy_in(iov, _IOVEC.size * iovcnt)
    buffers: list[memoryview] = []
    total = 0
    for base, length in _IOVEC.iter_unpack(raw):
        total += length
        if length > _SSIZE_MAX or total > _SSIZE_MAX:
            raise Errno(EINVAL)
        if length:
            buffers.extend(await t.mm.iovecs(base, min(length, MAX_RW_COUNT), write))
    return buffers


async def _sync_mappings(t: Task, file: File, wrote: bool) -> None:
    """For a file mapped MAP_SHARED: before a read or write, the stores made through the
    mappings are written back; after a write, the mapped pages read the file again."""
    if file.inode is not None and file.inode.mapped_shared and (host_fd := file.host_fd()) is not None:
        await t.mm.call("reload_file" if wrote else "sync_file", host_fd)


@contextlib.asynccontextmanager
async def coherent_mappings(t: Task, source: File, sink: File) -> AsyncIterator[None]:
    """Around a copy between files (sendfile, splice, copy_file_range): stores made through
    MAP_SHARED mappings of either reach the files first; the sink's mapped pages read it after."""
    await _sync_mappings(t, source, wrote=False)
    await _sync_mappings(t, sink, wrote=False)
    try:
        yield
    finally:
        await _sync_mappings(t, sink, wrote=True)


async def _read(t: Task, file: File, buffers: list[memoryview]) -> int:
    await check_background_read(t, file)
    await _sync_mappings(t, file, wrote=False)
    if not file.may_block:
        return await file.read(buffers)
    done = file.read_nowait(buffers)
    return done if done is not None else await t.blocking(file.read(buffers))


async def _pread(t: Task, file: File, buffers: list[memoryview], offset: int) -> int:
    await _sync_mappings(t, file, wrote=False)
    return await file.pread(buffers, offset)


async def _write(t: Task, file: File, buffers: list[memoryview]) -> int:
    await check_background_write(t, file)
    await _sync_mappings(t, file, wrote=False)
    try:
        if not file.may_block:
            return await file.write(buffers)
        done = file.write_nowait(buffers)
        return done if done is not None else await t.blocking(file.write(buffers))
    except Errno as error:
        if error.errno == EPIPE:
            await broken_pipe(t)
        raise
    finally:
        await _sync_mappings(t, file, wrote=True)


async def _pwrite(t: Task, file: File, buffers: list[memoryview], offset: int) -> int:
    await _sync_mappings(t, file, wrote=False)
    try:
        return await file.pwrite(buffers, offset)
    finally:
        await _sync_mappings(t, file, wrote=True)


async def broken_pipe(t: Task) -> None:
    """EPIPE comes with SIGPIPE for the writing thread, as Linux's pipe_write sends it."""
    await signal_self(t, Signal.SIGPIPE)


def _readable(t: Task, fd: int) -> File:
    file = t.process.fds.get(fd)
    if not file.readable:
        raise Errno(EBADF)
    return file


def _writable(t: Task, fd: int) -> File:
    file = t.process.fds.get(fd)
    if not file.writable:
        raise Errno(EBADF)
    return file


@syscall
async def read(t: Task, fd: Fd, buf: Addr, count: Size) -> int:
    file = _readable(t, fd)
    try:
        buffers = await _buffers(t, buf, count, write=True)
    except Errno as error:
        if error.errno != EFAULT or buf + min(count, MAX_RW_COUNT) > TASK_SIZE:
            raise
        return await _read_through_bounce(t, file, buf, count)
    return await _read(t, file, buffers)


async def _read_through_bounce(t: Task, file: File, buf: int, count: int) -> int:
    """read(2) into a buffer that is not (all) mapped but lies below TASK_SIZE (Linux's
    access_ok): like Linux, the fault shows only when data is copied, so a read at end of file
    still returns 0. Rare, so a bounce copy is fine."""
    bounce = bytearray(min(count, 1 << 16))
    n = await _read(t, file, [memoryview(bounce)])
    if n:
        await t.mm.copy_out(buf, bytes(bounce[:n]))
    return n


@syscall
async def write(t: Task, fd: Fd, buf: Addr, count: Size) -> int:
    file = _writable(t, fd)
    return await _write(t, file, await _buffers(t, buf, count, write=False))


@syscall
async def readv(t: Task, fd: Fd, iov: Addr, iovcnt: Int) -> int:
    file = _readable(t, fd)
    return await _read(t, file, await _iovec_buffers(t, iov, iovcnt, write=True))


@syscall
async def writev(t: Task, fd: Fd, iov: Addr, iovcnt: Int) -> int:
    file = _writable(t, fd)
    return await _write(t, file, await _iovec_buffers(t, iov, iovcnt, write=False))


@syscall
async def pread64(t: Task, fd: Fd, buf: Addr, count: Size, offset: Off) -> int:
    file = _readable(t, fd)
    if offset < 0:
        raise Errno(EINVAL)
    return await _pread(t, file, await _buffers(t, buf, count, write=True), offset)


@syscall
async def pwrite64(t: Task, fd: Fd, buf: Addr, count: Size, offset: Off) -> int:
    file = _writable(t, fd)
    if offset < 0:
        raise Errno(EINVAL)
    return await _pwrite(t, file, await _buffers(t, buf, count, write=False), offset)


def _pos(low: int) -> int:
    """preadv's offset (x86-64 passes it whole in pos_l; pos_h is unused)."""
    return low - (1 << 64) if low >> 63 else low


async def _preadv(t: Task, fd: int, iov: int, iovcnt: int, offset: int, flags: int, positional: bool) -> int:
    """preadv/preadv2; for preadv2 an offset of -1 reads at (and moves) the file offset."""
    if flags & ~RWF_SUPPORTED:
        raise Errno(EOPNOTSUPP)
    file = _readable(t, fd)
    if positional and offset < 0 or offset < -1:
        raise Errno(EINVAL)
    if flags & RWF_NOWAIT and offset == -1:
        raise Errno(EOPNOTSUPP)
    buffers = await _iovec_buffers(t, iov, iovcnt, write=True)
    return await (_read(t, file, buffers) if offset == -1 else _pread(t, file, buffers, offset))


async def _pwritev(t: Task, fd: int, iov: int, iovcnt: int, offset: int, flags: int, positional: bool) -> int:
    if flags & ~RWF_SUPPORTED:
        raise Errno(EOPNOTSUPP)
    file = _writable(t, fd)
    if positional and offset < 0 or offset < -1:
        raise Errno(EINVAL)
    buffers = await _iovec_buffers(t, iov, iovcnt, write=False)
    return await (_write(t, file, buffers) if offset == -1 else _pwrite(t, file, buffers, offset))


@syscall
async def preadv(t: Task, fd: Fd, iov: Addr, iovcnt: Int, pos_l: ULong, pos_h: ULong) -> int:
    return await _preadv(t, fd, iov, iovcnt, _pos(pos_l), 0, positional=True)


@syscall
async def pwritev(t: Task, fd: Fd, iov: Addr, iovcnt: Int, pos_l: ULong, pos_h: ULong) -> int:
    return await _pwritev(t, fd, iov, iovcnt, _pos(pos_l), 0, positional=True)


@syscall
async def preadv2(t: Task, fd: Fd, iov: Addr, iovcnt: Int, pos_l: ULong, pos_h: ULong, flags: Int) -> int:
    return await _preadv(t, fd, iov, iovcnt, _pos(pos_l), flags, positional=False)


@syscall
async def pwritev2(t: Task, fd: Fd, iov: Addr, iovcnt: Int, pos_l: ULong, pos_h: ULong, flags: Int) -> int:
    return await _pwritev(t, fd, iov, iovcnt, _pos(pos_l), flags, positional=False)


@syscall
async def lseek(t: Task, fd: Fd, offset: Off, whence: UInt) -> int:
    file = t.process.fds.get(fd)
    if file.flags & O_PATH:
        raise Errno(EBADF)
    return await file.seek(offset, whence)


@syscall
async def ioctl(t: Task, fd: Fd, request: UInt, arg: ULong) -> int:
    """The generic file ioctls, terminal queries on terminals, and settings on the sandbox's own."""
    file = t.process.fds.get(fd)
    if request in (FIOCLEX, FIONCLEX):
        t.process.fds.set_cloexec(fd, request == FIOCLEX)
        return 0
    if file.flags & O_PATH:
        raise Errno(EBADF)
    if request == FIONBIO:
        (on,) = await t.mm.read_struct(I32, arg)
        file.flags = file.flags | O_NONBLOCK if on else file.flags & ~O_NONBLOCK
        return 0
    if request == FIONREAD:
        await t.mm.write_struct(I32, arg, min(file.readable_bytes(), 0x7FFF_FFFF))
        return 0
    if request in JOB_CONTROL_IOCTLS:
        return await job_control_ioctl(t, file, request, arg)
    if request in TERMINAL_SET_IOCTLS:
        return await terminal_set_ioctl(t, file, request, arg)
    sizes = {TCGETS: KERNEL_TERMIOS_SIZE, TIOCGWINSZ: WINSIZE_SIZE}
    if request not in sizes or not hasattr(file, "ioctl_read"):
        raise Errno(ENOTTY)
    state = file.ioctl_read(request, sizes[request])
    if arg == 0:
        raise Errno(EFAULT)
    await t.mm.copy_out(arg, state)
    return 0
