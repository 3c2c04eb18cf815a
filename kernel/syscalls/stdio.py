"""read/write and friends on the sandbox's standard streams, plus their terminal ioctls."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from kernel.abi.errno import EFAULT, EINVAL, ENOTTY
from kernel.abi.linux import KERNEL_TERMIOS_SIZE, TASK_SIZE, TCGETS, TIOCGWINSZ, WINSIZE_SIZE
from kernel.errors import Errno
from kernel.syscalls.args import Addr, Fd, Int, Off, Size, UInt, ULong
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.stdio import HostFile
    from kernel.task import Task

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
            buffers.extend(await t.mm.iovecs(base, length, write))
    return buffers


def _positional_file(t: Task, fd: int, offset: int) -> HostFile:
    """The file for pread/pwrite, checked in Linux's order: offset, fd, then seekability."""
    if offset < 0:
        raise Errno(EINVAL)
    file = t.kernel.stdio.get(fd)
    file.require_seekable()
    return file


@syscall
async def read(t: Task, fd: Fd, buf: Addr, count: Size) -> int:
    file = t.kernel.stdio.get(fd)
    try:
        buffers = await _buffers(t, buf, count, write=True)
    except Errno as error:
        if error.errno != EFAULT or not _user_range(buf, count):
            raise
        return await _read_through_bounce(t, file, buf, count)
    return await file.readv(buffers)


def _user_range(addr: int, count: int) -> bool:
    """Linux's access_ok: the range lies below TASK_SIZE (mapped or not)."""
    return addr + min(count, MAX_RW_COUNT) <= TASK_SIZE


async def _read_through_bounce(t: Task, file: HostFile, buf: int, count: int) -> int:
    """read(2) into a buffer that is not (all) mapped: like Linux, the fault shows only when
    data is copied, so a read at end of file still returns 0. Rare, so a bounce copy is fine."""
    bounce = bytearray(min(count, 1 << 16))
    n = await file.readv([memoryview(bounce)])
    if n:
        await t.mm.copy_out(buf, bytes(bounce[:n]))
    return n


@syscall
async def write(t: Task, fd: Fd, buf: Addr, count: Size) -> int:
    file = t.kernel.stdio.get(fd)
    return await file.writev(await _buffers(t, buf, count, write=False))


@syscall
async def readv(t: Task, fd: Fd, iov: Addr, iovcnt: Int) -> int:
    file = t.kernel.stdio.get(fd)
    return await file.readv(await _iovec_buffers(t, iov, iovcnt, write=True))


@syscall
async def writev(t: Task, fd: Fd, iov: Addr, iovcnt: Int) -> int:
    file = t.kernel.stdio.get(fd)
    return await file.writev(await _iovec_buffers(t, iov, iovcnt, write=False))


@syscall
async def pread64(t: Task, fd: Fd, buf: Addr, count: Size, offset: Off) -> int:
    file = _positional_file(t, fd, offset)
    return file.preadv(await _buffers(t, buf, count, write=True), offset)


@syscall
async def pwrite64(t: Task, fd: Fd, buf: Addr, count: Size, offset: Off) -> int:
    file = _positional_file(t, fd, offset)
    return file.pwritev(await _buffers(t, buf, count, write=False), offset)


@syscall
async def ioctl(t: Task, fd: Fd, request: UInt, arg: ULong) -> int:
    """Terminal queries on the standard streams; other requests are not for these files."""
    file = t.kernel.stdio.get(fd)
    sizes = {TCGETS: KERNEL_TERMIOS_SIZE, TIOCGWINSZ: WINSIZE_SIZE}
    if request not in sizes:
        raise Errno(ENOTTY)
    state = file.ioctl_read(request, sizes[request])
    if arg == 0:
        raise Errno(EFAULT)
    await t.mm.copy_out(arg, state)
    return 0
