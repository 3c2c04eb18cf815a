"""Memory system calls: each is one operation of the memory manager on the caller's address space."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from abi.errno import EINVAL, ENOMEM
from abi.linux import MAP_ANONYMOUS, PAGE_SIZE
from abi.ranges import user_range
from abi.errno import Errno
from kernel.syscalls.args import Addr, Fd, Int, Off, Size
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

#: mincore answers for at most this many pages per step (one page of answers, as Linux).
_MINCORE_BLOCK = PAGE_SIZE


@syscall
async def mmap(t: Task, addr: Addr, length: Size, prot: Int, flags: Int, fd: Fd, offset: Off) -> int:
    if offset % PAGE_SIZE:
        raise Errno(EINVAL)
    if not flags & MAP_ANONYMOUS:
        from kernel.syscalls.mmapfile import map_file

        return await map_file(t, addr, length, prot, flags, fd, offset)
    return await t.mm.call("mmap", addr, length, prot, flags)


@syscall
async def munmap(t: Task, addr: Addr, length: Size) -> int:
    await t.mm.call("munmap", addr, length)
    return 0


@syscall
async def mprotect(t: Task, addr: Addr, length: Size, prot: Int) -> int:
    await t.mm.call("mprotect", addr, length, prot)
    return 0


@syscall
async def mremap(t: Task, old_address: Addr, old_size: Size, new_size: Size, flags: Int, new_address: Addr) -> int:
    return await t.mm.call("mremap", old_address, old_size, new_size, flags, new_address)


@syscall
async def brk(t: Task, addr: Addr) -> int:
    return await t.mm.call("brk", addr)


@syscall
async def madvise(t: Task, addr: Addr, length: Size, advice: Int) -> int:
    await t.mm.call("madvise", addr, length, advice)
    return 0


@syscall
async def msync(t: Task, addr: Addr, length: Size, flags: Int) -> int:
    await t.mm.call("msync", addr, length, flags)
    return 0


@syscall
async def mincore(t: Task, addr: Addr, length: Size, vec: Addr) -> int:
    """Which pages of [addr, addr+length) are resident, one byte per page into ``vec``.

    As Linux does it, a block of at most a page of answers at a time: the work of one step is
    bounded whatever length the guest names, and the answers written so far stay written when
    a later block fails.
    """
    if addr % PAGE_SIZE:
        raise Errno(EINVAL)
    user_range(addr, length, error=ENOMEM)
    pages = (length + PAGE_SIZE - 1) // PAGE_SIZE
    user_range(vec, pages)
    for done in range(0, pages, _MINCORE_BLOCK):
        block = min(_MINCORE_BLOCK, pages - done)
        residency = await t.mm.call("mincore", addr + done * PAGE_SIZE, block * PAGE_SIZE)
        await t.mm.copy_out(vec + done, residency)
        await trio.lowlevel.checkpoint()
    return 0
