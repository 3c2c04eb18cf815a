"""Moving bytes through file descriptions: read/write and their vectored and positional forms,
lseek, and the ioctls every file has (FIONREAD, FIOCLEX, FIONCLEX, FIONBIO) or terminals have."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EFAULT, EFBIG, EINVAL, EOPNOTSUPP, EPIPE, ERESTARTSYS, Errno
from abi.linux import (
    FIOCLEX,
    FIOASYNC,
    FIONBIO,
    FIONCLEX,
    FIONREAD,
    MAX_RW_COUNT,
    O_NONBLOCK,
    RLIM_INFINITY,
    RLIMIT_FSIZE,
    RWF_NOWAIT,
    RWF_SUPPORTED,
    TASK_SIZE,
    TCGETS,
    TIOCGWINSZ,
    Signal,
)
from abi.socket import SOCK_STREAM
from abi import structs
from abi.linux import IOV_MAX
from abi.structs import I32
from kernel.syscalls.args import Addr, Fd, Int, Off, Size, UInt, ULong
from kernel.ptys import MASTER_IOCTLS, master_ioctl, send_input_signals
from kernel.syscalls.net import socket_ioctl
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
    from collections.abc import Awaitable

    from kernel.task import Task
    from services.vfs.contract import Opened

_SSIZE_MAX = (1 << 63) - 1


async def _buffers(t: Task, addr: int, count: int, write: bool) -> list[memoryview]:
    """Guest memory [addr, addr+count) as memoryviews; ``write`` means the host writes into it."""
    if count == 0:
        return []
    return await t.mm.iovecs(addr, min(count, MAX_RW_COUNT), write)


async def iovec_buffers(t: Task, iov: int, iovcnt: int, write: bool) -> list[memoryview]:
    """The memory an iovec array describes, validated as readv(2)/writev(2) do."""
    if not 0 <= iovcnt <= IOV_MAX:
        raise Errno(EINVAL)
    raw = await t.mm.copy_in(iov, structs.IOVEC.size * iovcnt)
    buffers: list[memoryview] = []
    total = 0
    for base, length in structs.IOVEC.iter_unpack(raw):
        total += length
        if length > _SSIZE_MAX or total > _SSIZE_MAX:
            raise Errno(EINVAL)
        if length:
            buffers.extend(await t.mm.iovecs(base, min(length, MAX_RW_COUNT), write))
    return buffers


async def read_into(t: Task, opened: Opened, buffers: list[memoryview]) -> int:
    """A read at the description's offset: at once when it need not wait (one VFS call), else
    as an interruptible sleep."""
    if opened.terminal:
        await check_background_read(t, opened)
    call, caller = t.kernel.bus.call, t.caller
    done = await call("vfs", "read", caller, opened.handle, buffers, True)
    if done is None:
        done = await _sleeping(t, opened, call("vfs", "read", caller, opened.handle, buffers, False), False)
    return done


async def _sleeping(t: Task, opened: Opened, call: Awaitable[int], sending: bool) -> int:
    """A read or write that waits, as an interruptible sleep; on a socket, a signal gives what
    the netstack says (EINTR with a timeout set, else a restart), as sock_intr_errno does."""
    try:
        return await t.blocking(call)
    except Errno as error:
        if error.errno != ERESTARTSYS or opened.socket is None:
            raise
        raise Errno(await t.kernel.bus.call("netstack", "interrupted", opened.socket.sid, sending)) from None


async def write_from(t: Task, opened: Opened, buffers: list[memoryview]) -> int:
    """A write at the description's offset, as write(2): SIGPIPE with a stream's EPIPE, SIGXFSZ
    with EFBIG, a terminal's job control and input signals."""
    if opened.terminal:
        await check_background_write(t, opened)
    call, caller = t.kernel.bus.call, t.caller
    try:
        done = await call("vfs", "write", caller, opened.handle, buffers, True)
        if done is None:
            done = await _sleeping(t, opened, call("vfs", "write", caller, opened.handle, buffers, False), True)
    except Errno as error:
        if error.errno == EPIPE and (opened.socket is None or opened.socket.type == SOCK_STREAM):
            await broken_pipe(t)  # a datagram socket's EPIPE comes alone
        elif error.errno == EFBIG:
            await file_too_big(t)
        raise
    if opened.pts is not None and not opened.terminal:
        await send_input_signals(t, opened)
    return done


async def _pread(t: Task, opened: Opened, buffers: list[memoryview], offset: int) -> int:
    return await t.kernel.bus.call("vfs", "pread", t.caller, opened.handle, buffers, offset)


async def _pwrite(t: Task, opened: Opened, buffers: list[memoryview], offset: int) -> int:
    try:
        return await t.kernel.bus.call("vfs", "pwrite", t.caller, opened.handle, buffers, offset)
    except Errno as error:
        if error.errno == EFBIG:
            await file_too_big(t)
        raise


async def broken_pipe(t: Task) -> None:
    """EPIPE comes with SIGPIPE for the writing thread, as Linux's pipe_write sends it."""
    await signal_self(t, Signal.SIGPIPE)


async def file_too_big(t: Task) -> None:
    """EFBIG from RLIMIT_FSIZE comes with SIGXFSZ, as Linux's generic_write_checks sends it (an
    unlimited process's EFBIG is a file system's own maximum: no signal)."""
    if t.process.rlimits[RLIMIT_FSIZE][0] != RLIM_INFINITY:
        await signal_self(t, Signal.SIGXFSZ)


@syscall
async def read(t: Task, fd: Fd, buf: Addr, count: Size) -> int:
    opened = t.process.fds.get(fd)
    try:
        buffers = await _buffers(t, buf, count, write=True)
    except Errno as error:
        if error.errno != EFAULT or buf + min(count, MAX_RW_COUNT) > TASK_SIZE:
            raise
        return await _read_through_bounce(t, opened, buf, count)
    return await read_into(t, opened, buffers)


async def _read_through_bounce(t: Task, opened: Opened, buf: int, count: int) -> int:
    """read(2) into a buffer that is not (all) mapped but lies below TASK_SIZE (Linux's
    access_ok): like Linux, the fault shows only when data is copied, so a read at end of file
    still returns 0. Rare, so a bounce copy is fine."""
    bounce = bytearray(min(count, 1 << 16))
    n = await read_into(t, opened, [memoryview(bounce)])
    if n:
        await t.mm.copy_out(buf, bytes(bounce[:n]))
    return n


@syscall
async def write(t: Task, fd: Fd, buf: Addr, count: Size) -> int:
    opened = t.process.fds.get(fd)
    return await write_from(t, opened, await _buffers(t, buf, count, write=False))


@syscall
async def readv(t: Task, fd: Fd, iov: Addr, iovcnt: Int) -> int:
    opened = t.process.fds.get(fd)
    return await read_into(t, opened, await iovec_buffers(t, iov, iovcnt, write=True))


@syscall
async def writev(t: Task, fd: Fd, iov: Addr, iovcnt: Int) -> int:
    opened = t.process.fds.get(fd)
    return await write_from(t, opened, await iovec_buffers(t, iov, iovcnt, write=False))


@syscall
async def pread64(t: Task, fd: Fd, buf: Addr, count: Size, offset: Off) -> int:
    opened = t.process.fds.get(fd)
    if offset < 0:
        raise Errno(EINVAL)
    return await _pread(t, opened, await _buffers(t, buf, count, write=True), offset)


@syscall
async def pwrite64(t: Task, fd: Fd, buf: Addr, count: Size, offset: Off) -> int:
    opened = t.process.fds.get(fd)
    if offset < 0:
        raise Errno(EINVAL)
    return await _pwrite(t, opened, await _buffers(t, buf, count, write=False), offset)


def _pos(low: int) -> int:
    """preadv's offset (x86-64 passes it whole in pos_l; pos_h is unused)."""
    return low - (1 << 64) if low >> 63 else low


async def _preadv(t: Task, fd: int, iov: int, iovcnt: int, offset: int, flags: int, positional: bool) -> int:
    """preadv/preadv2; for preadv2 an offset of -1 reads at (and moves) the file offset."""
    if flags & ~RWF_SUPPORTED:
        raise Errno(EOPNOTSUPP)
    opened = t.process.fds.get(fd)
    if positional and offset < 0 or offset < -1:
        raise Errno(EINVAL)
    if flags & RWF_NOWAIT and offset == -1:
        raise Errno(EOPNOTSUPP)
    buffers = await iovec_buffers(t, iov, iovcnt, write=True)
    return await (read_into(t, opened, buffers) if offset == -1 else _pread(t, opened, buffers, offset))


async def _pwritev(t: Task, fd: int, iov: int, iovcnt: int, offset: int, flags: int, positional: bool) -> int:
    if flags & ~RWF_SUPPORTED:
        raise Errno(EOPNOTSUPP)
    opened = t.process.fds.get(fd)
    if positional and offset < 0 or offset < -1:
        raise Errno(EINVAL)
    buffers = await iovec_buffers(t, iov, iovcnt, write=False)
    return await (write_from(t, opened, buffers) if offset == -1 else _pwrite(t, opened, buffers, offset))


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
    return await t.kernel.bus.call("vfs", "seek", t.process.fds.handle(fd), offset, whence)


@syscall
async def ioctl(t: Task, fd: Fd, request: UInt, arg: ULong) -> int:
    """The generic file ioctls, terminal queries on terminals, and settings on the sandbox's own."""
    fds = t.process.fds
    opened = fds.get(fd)
    if request in (FIOCLEX, FIONCLEX):
        fds.set_cloexec(fd, request == FIOCLEX)
        return 0
    if opened.socket is not None and request not in (FIONBIO, FIOASYNC):  # a socket's own: SIOC*, FIONREAD ...
        return await socket_ioctl(t, opened, request, arg)
    call = t.kernel.bus.call
    if request == FIOASYNC:
        (on,) = await t.mm.read_struct(I32, arg)
        await call("vfs", "set_async", opened.handle, bool(on), fd)
        return 0
    if request == FIONBIO:
        (on,) = await t.mm.read_struct(I32, arg)
        flags = await call("vfs", "get_flags", opened.handle)
        await call("vfs", "set_flags", opened.handle, flags | O_NONBLOCK if on else flags & ~O_NONBLOCK)
        return 0
    if request == FIONREAD:
        ready = await call("vfs", "ioctl", t.caller, opened.handle, FIONREAD, 0)
        await t.mm.write_struct(I32, arg, min(ready, 0x7FFF_FFFF))
        return 0
    if request in JOB_CONTROL_IOCTLS:
        return await job_control_ioctl(t, opened, request, arg)
    if request in MASTER_IOCTLS:
        return await master_ioctl(t, opened, request, arg)
    if request in TERMINAL_SET_IOCTLS:
        return await terminal_set_ioctl(t, opened, request, arg)
    if request in (TCGETS, TIOCGWINSZ):
        state = await call("vfs", "ioctl", t.caller, opened.handle, request, 0)
        if arg == 0:
            raise Errno(EFAULT)
        await t.mm.copy_out(arg, state)
        return 0
    return await call("vfs", "ioctl", t.caller, opened.handle, request, arg)  # EBADF or ENOTTY
