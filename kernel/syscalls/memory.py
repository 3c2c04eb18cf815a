"""Memory system calls: each is one operation of the memory manager on the caller's address space."""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from abi.errno import EINVAL, ENOMEM
from abi.linux import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_HUGETLB,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_TYPE,
    PAGE_SIZE,
    RLIMIT_AS,
    RLIM_INFINITY,
    TASK_SIZE,
)
from abi.ranges import page_align, user_range
from abi.errno import Errno
from kernel.syscalls.args import Addr, Fd, Int, Off, Size, ULong
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

#: MAP_HUGETLB's page size is log2(size) in bits 26-31 (0: the default, 2 MiB); x86-64 has
#: 2 MiB and 1 GiB pages.
_MAP_HUGE_SHIFT = 26
_HUGE_PAGE_SHIFTS = frozenset({0, 21, 30})
#: Mapping types: shared, private, or (anonymous only) droppable, or (files only) validated.
_ANONYMOUS_TYPES = frozenset({0x01, 0x02, 0x08})
_FILE_TYPES = frozenset({0x01, 0x02, 0x03})
#: mincore answers for at most this many pages per step (one page of answers, as Linux).
_MINCORE_BLOCK = PAGE_SIZE


@syscall
async def mmap(t: Task, addr: Addr, length: Size, prot: ULong, flags: ULong, fd: Fd, offset: Off) -> int:
    """prot and flags are unsigned longs: bits above 31 count (MAP_SHARED_VALIDATE refuses them)."""
    if offset % PAGE_SIZE:
        raise Errno(EINVAL)
    if flags & MAP_ANONYMOUS and flags & MAP_HUGETLB:
        # Huge pages of a size the machine has (else EINVAL), of which the sandbox has none to
        # give: ENOMEM once the mapping itself is valid.
        if (flags >> _MAP_HUGE_SHIFT) & 0x3F not in _HUGE_PAGE_SHIFTS or not length \
                or flags & MAP_TYPE not in (MAP_SHARED, MAP_PRIVATE):
            raise Errno(EINVAL)
        raise Errno(ENOMEM)
    if _plausible(addr, length, flags):  # (Linux counts the address space after its other checks)
        await _within_address_space_limit(t, page_align(length))
    if not flags & MAP_ANONYMOUS:
        from kernel.syscalls.mmapfile import map_file

        return await map_file(t, addr, length, prot, flags, fd, offset)
    return await t.mm.call("mmap", addr, length, prot, flags)


@syscall
async def munmap(t: Task, addr: Addr, length: Size) -> int:
    await t.mm.call("munmap", addr, length)
    return 0


@syscall
async def mprotect(t: Task, addr: Addr, length: Size, prot: ULong) -> int:
    await t.mm.call("mprotect", addr, length, prot)
    return 0


def _plausible(addr: int, length: int, flags: int) -> bool:
    """Whether mmap's arguments pass the checks do_mmap makes before may_expand_vm (a length,
    a type, a fixed place that fits): only then is RLIMIT_AS the answer to give."""
    size = page_align(length)
    types = _ANONYMOUS_TYPES if flags & MAP_ANONYMOUS else _FILE_TYPES
    if not length or not size or size > TASK_SIZE or flags & MAP_TYPE not in types:
        return False
    return not flags & MAP_FIXED or (addr % PAGE_SIZE == 0 and addr <= TASK_SIZE - size)


async def _within_address_space_limit(t: Task, growth: int) -> None:
    """ENOMEM if the address space would grow past RLIMIT_AS (may_expand_vm). Only a finite
    limit costs a look at the mappings."""
    limit = t.process.rlimits[RLIMIT_AS][0]
    if limit == RLIM_INFINITY or not growth:
        return
    mapped = sum(end - start for start, end, *_ in await t.mm.call("maps"))
    if mapped + growth > limit:
        raise Errno(ENOMEM)


@syscall
async def mremap(t: Task, old_address: Addr, old_size: Size, new_size: Size, flags: ULong,
                 new_address: Addr) -> int:
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

    As Linux does it: a step covers at most a page of answers and one mapping (ENOMEM when the
    step starts where nothing is mapped), and its answers are written before the next step, so
    the work of a step is bounded whatever length the guest names, and the answers written so
    far stay written when a later step fails.
    """
    if addr % PAGE_SIZE:
        raise Errno(EINVAL)
    user_range(addr, length, error=ENOMEM)
    pages = (length + PAGE_SIZE - 1) // PAGE_SIZE
    user_range(vec, pages)
    mapped = [(start, end) for start, end, *_ in await t.mm.call("maps")]
    done = 0
    while done < pages:
        position = addr + done * PAGE_SIZE
        vma_end = next((end for start, end in mapped if start <= position < end), None)
        if vma_end is None:
            raise Errno(ENOMEM)
        block = min(_MINCORE_BLOCK, pages - done, (vma_end - position) // PAGE_SIZE)
        residency = await t.mm.call("mincore", position, block * PAGE_SIZE)
        await t.mm.copy_out(vec + done, residency)
        done += block
        await trio.lowlevel.checkpoint()
    return 0
