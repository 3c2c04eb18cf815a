"""The ``mm`` service's contract (services/mm/contract.py), through the bus.

Every test talks to whatever actor serves ``mm`` (ours, or ``--service mm=...``) only with
operations, as the kernel's system call handlers do. Placement is the actor's policy: a test
that lets the MM choose an address checks only that the address is usable and free.
"""

from __future__ import annotations

import os

import pytest

from abi.errno import EEXIST, EFAULT, EINVAL, ENAMETOOLONG, ENOMEM, EPERM
from abi.linux import (
    BUS_ADRERR,
    MADV_DONTNEED,
    MADV_HWPOISON,
    MADV_NORMAL,
    MADV_REMOVE,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    MS_ASYNC,
    MS_SYNC,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    SEGV_ACCERR,
    SEGV_MAPERR,
    Signal,
)
from tests.contracts.conftest import OpenSandbox, Sandbox

SERVICES = ("mm",)

P = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
SHARED_ANON = MAP_SHARED | MAP_ANONYMOUS
FIXED = ANON | MAP_FIXED
#: Fixed mappings go here: far from the stack, the break and any placement policy's start.
BASE = 0x1000_0000
#: A mapping flag Linux does not know (MAP_SHARED_VALIDATE must refuse it).
UNKNOWN_MAP_FLAG = 0x800000


class Space:
    """One address space of the MM under test: ``await space.mmap(...)`` is ``mm.mmap(asid, ...)``."""

    def __init__(self, sandbox: Sandbox, asid: int) -> None:
        self.sandbox = sandbox
        self.asid = asid

    async def __call__(self, op: str, *args: object) -> object:
        return await self.sandbox.call("mm", op, self.asid, *args)

    async def errno(self, op: str, *args: object) -> int:
        return await self.sandbox.errno("mm", op, self.asid, *args)

    async def map(self, addr: int, pages: int, prot: int = RW, flags: int = FIXED, name: str = "") -> int:
        start = await self("mmap", addr, pages * P, prot, flags, name)
        assert isinstance(start, int)
        return start

    async def read(self, addr: int, length: int) -> bytes:
        data = await self("copy_in", addr, length)
        assert isinstance(data, bytes)
        return data

    async def write(self, addr: int, data: bytes, force: bool = False) -> None:
        await self("copy_out", addr, data, force)

    async def rows(self) -> list[tuple[int, int, int, int, int, str]]:
        rows = await self("maps")
        assert isinstance(rows, list)
        return rows


async def new_space(sandbox: Sandbox) -> Space:
    asid = await sandbox.call("mm", "create")
    assert isinstance(asid, int)
    return Space(sandbox, asid)


@pytest.fixture
async def space(sandbox: Sandbox) -> Space:
    return await new_space(sandbox)


def covered(rows: list[tuple[int, int, int, int, int, str]], start: int, end: int) -> bool:
    """Whether the VMAs ``rows`` cover [start, end) without a hole."""
    position = start
    for row_start, row_end, *_ in rows:
        if row_start <= position < row_end:
            position = row_end
    return position >= end


# --- address spaces ---------------------------------------------------------------------------


async def test_address_spaces_are_distinct_and_start_empty(sandbox: Sandbox) -> None:
    one, two = await new_space(sandbox), await new_space(sandbox)
    assert one.asid != two.asid
    assert await one.rows() == [] and await two.rows() == []
    await one.map(BASE, 1)
    await one.write(BASE, b"one")
    assert await two.errno("copy_in", BASE, 3) == EFAULT


async def test_a_destroyed_space_is_unknown_and_destroying_twice_is_no_error(sandbox: Sandbox) -> None:
    space = await new_space(sandbox)
    await space.map(BASE, 2)
    await space("destroy")
    assert await space.errno("copy_in", BASE, 1) == EFAULT
    assert await space.errno("mmap", BASE, P, RW, FIXED) == EFAULT
    await space("destroy")


async def test_operations_on_an_unknown_space_fail_with_efault(sandbox: Sandbox) -> None:
    unknown = Space(sandbox, 987654)
    assert await unknown.errno("new_thread") == EFAULT
    assert await unknown.errno("fork") == EFAULT
    assert await unknown.errno("maps") == EFAULT
    assert await unknown.errno("brk", 0) == EFAULT


async def test_a_new_thread_is_a_context_with_registers(space: Space) -> None:
    context = await space("new_thread")
    assert hasattr(context, "regs") and hasattr(context, "switch")
    context.release()  # type: ignore[attr-defined]


# --- mmap -----------------------------------------------------------------------------------------


async def test_fresh_memory_reads_as_zeroes_and_keeps_what_is_written(space: Space) -> None:
    start = await space.map(0, 3, flags=ANON)
    assert start % P == 0 and start >= 0x10000
    assert await space.read(start, 3 * P) == bytes(3 * P)
    await space.write(start + P - 2, b"across")
    assert await space.read(start + P - 2, 6) == b"across"


async def test_the_mm_places_mappings_apart(space: Space) -> None:
    starts = [await space.map(0, pages, flags=ANON) for pages in (1, 3, 2, 5)]
    rows = await space.rows()
    for start, pages in zip(starts, (1, 3, 2, 5)):
        assert covered(rows, start, start + pages * P)
    spans = sorted((start, start + pages * P) for start, pages in zip(starts, (1, 3, 2, 5)))
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))


async def test_a_free_hint_is_honoured(space: Space) -> None:
    assert await space.map(BASE + 7 * P, 2, flags=ANON) == BASE + 7 * P


async def test_a_taken_hint_is_not_replaced(space: Space) -> None:
    await space.map(BASE, 2)
    await space.write(BASE, b"keep")
    start = await space.map(BASE, 2, flags=ANON)
    assert start != BASE
    assert await space.read(BASE, 4) == b"keep"


async def test_map_fixed_replaces_and_noreplace_refuses(space: Space) -> None:
    await space.map(BASE, 4)
    await space.write(BASE + P, b"old")
    assert await space.map(BASE + P, 1) == BASE + P
    assert await space.read(BASE + P, 3) == bytes(3)
    assert await space.errno("mmap", BASE + 2 * P, P, RW, ANON | MAP_FIXED_NOREPLACE) == EEXIST
    assert await space.map(BASE + 8 * P, 1, flags=ANON | MAP_FIXED_NOREPLACE) == BASE + 8 * P


@pytest.mark.parametrize(("addr", "length", "flags", "errno"), [
    (BASE, 0, ANON, EINVAL),                                        # nothing to map
    (BASE, P, MAP_ANONYMOUS, EINVAL),                               # no mapping type
    (BASE, P, 0x0F | MAP_ANONYMOUS, EINVAL),                        # a bad mapping type
    (BASE, P, MAP_PRIVATE, EINVAL),                                 # a file mapping without a file
    (BASE + 1, P, FIXED, EINVAL),                                   # a fixed address off a page
    (0x1000, P, FIXED, EPERM),                                      # below vm.mmap_min_addr
    (0, 1 << 48, ANON, ENOMEM),                                     # longer than the address space
    (0, P, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | UNKNOWN_MAP_FLAG, EINVAL),  # validated for files only
])
async def test_mmap_errors(space: Space, addr: int, length: int, flags: int, errno: int) -> None:
    assert await space.errno("mmap", addr, length, RW, flags) == errno


async def test_maps_lists_each_vma_with_its_protection_and_name(space: Space) -> None:
    await space.map(BASE, 3, name="[anon:mine]")
    await space.map(BASE + 8 * P, 1, PROT_READ)
    await space("mprotect", BASE + P, P, PROT_READ)
    rows = await space.rows()
    assert [(start, end, prot) for start, end, prot, *_ in rows] == [
        (BASE, BASE + P, RW), (BASE + P, BASE + 2 * P, PROT_READ), (BASE + 2 * P, BASE + 3 * P, RW),
        (BASE + 8 * P, BASE + 9 * P, PROT_READ),
    ]
    assert [name for *_, name in rows][:3] == ["[anon:mine]"] * 3
    assert all(flags & MAP_PRIVATE for _, _, _, flags, _, _ in rows)


async def test_a_growsdown_mapping_is_named_stack(space: Space) -> None:
    await space.map(BASE, 2, flags=FIXED | MAP_GROWSDOWN)
    assert [name for *_, name in await space.rows()] == ["[stack]"]


# --- guest memory -----------------------------------------------------------------------------------


async def test_copy_in_and_out_fault_on_unmapped_or_protected_pages(space: Space) -> None:
    await space.map(BASE, 1)
    await space.map(BASE + P, 1, PROT_READ)
    await space.map(BASE + 2 * P, 1, PROT_NONE)
    assert await space.errno("copy_in", BASE + 4 * P, 1) == EFAULT
    assert await space.errno("copy_in", BASE + P - 1, 3 * P) == EFAULT      # runs into PROT_NONE
    assert await space.errno("copy_in", BASE + 2 * P, 1) == EFAULT
    assert await space.errno("copy_out", BASE + P - 2, b"four") == EFAULT  # runs into read-only
    assert await space.read(BASE + P - 2, 4) == b"fo\0\0"               # up to the fault, as Linux
    await space.write(BASE + P, b"text", force=True)                      # the loader may
    assert await space.read(BASE + P, 4) == b"text"
    assert await space.read(BASE, 0) == b""


async def test_iovecs_are_views_of_guest_memory(space: Space) -> None:
    await space.map(BASE, 2)
    await space.map(BASE + 2 * P, 1, PROT_READ)
    views = await space("iovecs", BASE + P - 3, 6, True)
    assert isinstance(views, list) and sum(len(v) for v in views) == 6
    data = memoryview(b"viewed")
    position = 0
    for view in views:
        view[:] = data[position:position + len(view)]
        position += len(view)
    assert await space.read(BASE + P - 3, 6) == b"viewed"
    readable = await space("iovecs", BASE + 2 * P, 4, False)
    assert b"".join(bytes(v) for v in readable) == bytes(4)
    assert await space.errno("iovecs", BASE + 2 * P, 4, True) == EFAULT
    assert await space.errno("iovecs", BASE + 3 * P, 4, False) == EFAULT


async def test_read_cstring_stops_at_the_nul_or_fails(space: Space) -> None:
    await space.map(BASE, 1)
    await space.map(BASE + P, 1)  # a separate mapping right after: strings may cross into it
    await space.write(BASE + P - 3, b"abcdef\0rest")
    assert await space("read_cstring", BASE + P - 3, 100) == b"abcdef"
    assert await space.errno("read_cstring", BASE + P - 3, 4) == ENAMETOOLONG
    await space.write(BASE + 2 * P - 2, b"xy")
    assert await space.errno("read_cstring", BASE + 2 * P - 2, 100) == EFAULT
    assert await space.errno("read_cstring", BASE + 5 * P, 100) == EFAULT


# --- munmap, mprotect ----------------------------------------------------------------------------------


async def test_munmap_removes_whole_pages_and_tolerates_holes(space: Space) -> None:
    await space.map(BASE, 4)
    await space("munmap", BASE + P, P + 1)  # rounds up to two pages
    assert await space.errno("copy_in", BASE + P, 1) == EFAULT
    assert await space.errno("copy_in", BASE + 2 * P, 1) == EFAULT
    assert await space.read(BASE + 3 * P, 1) == b"\0"
    await space("munmap", BASE, 16 * P)
    assert await space.rows() == []
    await space("munmap", BASE, P)


@pytest.mark.parametrize(("addr", "length"), [(BASE + 1, P), (BASE, 0), (0x7FFF_FFFF_F000, 1 << 47)])
async def test_munmap_errors(space: Space, addr: int, length: int) -> None:
    assert await space.errno("munmap", addr, length) == EINVAL


async def test_mprotect_changes_what_copy_out_may_do(space: Space) -> None:
    await space.map(BASE, 2)
    await space("mprotect", BASE, P, PROT_READ)
    assert await space.errno("copy_out", BASE, b"x") == EFAULT
    await space("mprotect", BASE, P, RW)
    await space.write(BASE, b"x")
    await space("mprotect", BASE, 2 * P, PROT_NONE)
    assert await space.errno("copy_in", BASE + P, 1) == EFAULT
    await space("mprotect", BASE, 0, PROT_READ)  # an empty range is no error


async def test_mprotect_errors(space: Space) -> None:
    await space.map(BASE, 2)
    assert await space.errno("mprotect", BASE + 1, P, PROT_READ) == EINVAL
    assert await space.errno("mprotect", BASE, P, 0x100) == EINVAL
    assert await space.errno("mprotect", BASE, 3 * P, PROT_READ) == ENOMEM  # runs past the mapping
    assert await space.errno("mprotect", BASE + 8 * P, P, PROT_READ) == ENOMEM


# --- mremap --------------------------------------------------------------------------------------


async def test_mremap_grows_in_place_when_it_can_and_shrinks(space: Space) -> None:
    await space.map(BASE, 2)
    await space.write(BASE, b"grown")
    assert await space("mremap", BASE, 2 * P, 4 * P, 0, 0) == BASE
    assert await space.read(BASE, 5) == b"grown"
    assert await space.read(BASE + 3 * P, 1) == b"\0"
    assert await space("mremap", BASE, 4 * P, P, 0, 0) == BASE
    assert await space.errno("copy_in", BASE + P, 1) == EFAULT


async def test_mremap_moves_the_contents_only_with_maymove(space: Space) -> None:
    await space.map(BASE, 2)
    await space.map(BASE + 2 * P, 1)  # in the way
    await space.write(BASE + P, b"moving")
    assert await space.errno("mremap", BASE, 2 * P, 4 * P, 0, 0) == ENOMEM
    moved = await space("mremap", BASE, 2 * P, 4 * P, MREMAP_MAYMOVE, 0)
    assert moved != BASE
    assert await space.read(moved + P, 6) == b"moving"
    assert await space.errno("copy_in", BASE, 1) == EFAULT
    assert await space.read(BASE + 2 * P, 1) == b"\0"


async def test_mremap_fixed_and_dontunmap(space: Space) -> None:
    await space.map(BASE, 2)
    await space.write(BASE, b"fixed")
    target = BASE + 16 * P
    assert await space("mremap", BASE, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, target) == target
    assert await space.read(target, 5) == b"fixed"
    assert await space.errno("copy_in", BASE, 1) == EFAULT
    kept = await space("mremap", target, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0)
    assert kept != target and await space.read(kept, 5) == b"fixed"
    assert await space.read(target, 5) == bytes(5)  # still mapped, fresh


async def test_mremap_of_size_zero_duplicates_shared_memory(space: Space) -> None:
    await space.map(BASE, 1, flags=SHARED_ANON | MAP_FIXED)
    twin = await space("mremap", BASE, 0, P, MREMAP_MAYMOVE, 0)
    assert twin != BASE
    await space.write(twin, b"twin")
    assert await space.read(BASE, 4) == b"twin"


async def test_mremap_errors(space: Space) -> None:
    await space.map(BASE, 2)
    await space.map(BASE + 4 * P, 1)
    assert await space.errno("mremap", BASE + 1, P, 2 * P, MREMAP_MAYMOVE, 0) == EINVAL
    assert await space.errno("mremap", BASE, P, 2 * P, MREMAP_FIXED, BASE + 8 * P) == EINVAL
    assert await space.errno("mremap", BASE, P, 2 * P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0) == EINVAL
    assert await space.errno("mremap", BASE, P, 0, MREMAP_MAYMOVE, 0) == EINVAL
    assert await space.errno("mremap", BASE, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + P) == EINVAL
    assert await space.errno("mremap", BASE, P, P, 0x80, 0) == EINVAL
    assert await space.errno("mremap", BASE + 8 * P, P, 2 * P, MREMAP_MAYMOVE, 0) == EFAULT
    assert await space.errno("mremap", BASE, 3 * P, 4 * P, MREMAP_MAYMOVE, 0) == EFAULT  # crosses a hole
    assert await space.errno("mremap", BASE, 0, P, MREMAP_MAYMOVE, 0) == EINVAL  # private: nothing to share


# --- the break ---------------------------------------------------------------------------------


async def test_brk_grows_and_shrinks_the_heap(space: Space) -> None:
    await space("set_brk_base", BASE + 0x123)
    base = BASE + P
    assert await space("brk", 0) == base
    assert await space("brk", base + 3 * P) == base + 3 * P
    await space.write(base + 3 * P - 4, b"heap")
    assert [name for *_, name in await space.rows()] == ["[heap]"]
    assert await space("brk", base + P) == base + P
    assert await space.errno("copy_in", base + 2 * P, 1) == EFAULT
    assert await space("brk", base - P) == base + P  # below the base: the break stays


async def test_brk_never_grows_over_another_mapping(space: Space) -> None:
    await space("set_brk_base", BASE)
    await space.map(BASE + 2 * P, 1)
    assert await space("brk", BASE + 4 * P) == BASE
    assert await space("brk", BASE + 2 * P) == BASE + 2 * P


# --- advice, msync, mincore ---------------------------------------------------------------------


async def test_madvise_dontneed_zeroes_private_memory_and_keeps_shared(space: Space) -> None:
    await space.map(BASE, 2)
    await space.map(BASE + 4 * P, 1, flags=SHARED_ANON | MAP_FIXED)
    await space.write(BASE, b"gone")
    await space.write(BASE + 4 * P, b"kept")
    await space("madvise", BASE, 2 * P, MADV_DONTNEED)
    await space("madvise", BASE + 4 * P, P, MADV_DONTNEED)
    assert await space.read(BASE, 4) == bytes(4)
    assert await space.read(BASE + 4 * P, 4) == b"kept"
    await space("madvise", BASE, P, MADV_NORMAL)
    await space("madvise", BASE + 4 * P, P, MADV_REMOVE)
    assert await space.read(BASE + 4 * P, 4) == bytes(4)


async def test_madvise_errors(space: Space) -> None:
    await space.map(BASE, 2)
    assert await space.errno("madvise", BASE + 1, P, MADV_NORMAL) == EINVAL
    assert await space.errno("madvise", BASE, P, 999) == EINVAL
    assert await space.errno("madvise", BASE, P, MADV_REMOVE) == EINVAL  # private memory
    assert await space.errno("madvise", BASE, P, MADV_HWPOISON) == EINVAL  # no CONFIG_MEMORY_FAILURE
    assert await space.errno("madvise", BASE, 3 * P, MADV_NORMAL) == ENOMEM


async def test_msync_and_mincore_errors(space: Space) -> None:
    await space.map(BASE, 2)
    await space("msync", BASE, 2 * P, MS_SYNC)
    assert await space.errno("msync", BASE + 1, P, MS_SYNC) == EINVAL
    assert await space.errno("msync", BASE, P, MS_SYNC | MS_ASYNC) == EINVAL
    assert await space.errno("msync", BASE, P, 0x100) == EINVAL
    assert await space.errno("msync", BASE, 3 * P, MS_SYNC) == ENOMEM
    assert await space.errno("mincore", BASE + 1, P) == EINVAL
    assert await space.errno("mincore", BASE, 3 * P) == ENOMEM


async def test_mincore_has_a_byte_per_page_and_sees_touched_pages(space: Space) -> None:
    await space.map(BASE, 3)
    await space.write(BASE + P, b"touch")
    residency = await space("mincore", BASE, 3 * P - 1)
    assert isinstance(residency, bytes) and len(residency) == 3
    assert residency[1] & 1


# --- fork and translate --------------------------------------------------------------------------


async def test_fork_copies_private_memory_and_shares_shared_memory(space: Space) -> None:
    await space.map(BASE, 1)
    await space.map(BASE + P, 1, flags=SHARED_ANON | MAP_FIXED)
    await space("set_brk_base", BASE + 8 * P)
    await space("brk", BASE + 10 * P)
    await space.write(BASE, b"before")
    child = Space(space.sandbox, await space("fork"))  # type: ignore[arg-type]
    assert child.asid != space.asid
    assert await child.read(BASE, 6) == b"before"
    await space.write(BASE, b"parent")
    await child.write(BASE + P, b"shared")
    assert await child.read(BASE, 6) == b"before"
    assert await space.read(BASE + P, 6) == b"shared"
    assert await child("brk", 0) == BASE + 10 * P
    assert [row[:3] for row in await child.rows()] == [row[:3] for row in await space.rows()]


async def test_translate_names_shared_pages_alike_in_every_space(space: Space) -> None:
    await space.map(BASE, 1, flags=SHARED_ANON | MAP_FIXED)
    await space.map(BASE + P, 1)
    await space.map(BASE + 2 * P, 1, PROT_READ)
    child = Space(space.sandbox, await space("fork"))  # type: ignore[arg-type]
    assert await space("translate", BASE + 8) == await child("translate", BASE + 8)
    assert await space("translate", BASE + P) != await child("translate", BASE + P)
    assert await space("translate", BASE + 2 * P, False) >= 0  # type: ignore[operator]
    assert await space.errno("translate", BASE + 2 * P, True) == EFAULT
    assert await space.errno("translate", BASE + 8 * P) == EFAULT


async def test_futex_keys_follow_linux(space: Space) -> None:
    """A word of shared memory is one futex in every space unless the operation is private;
    any other word is (space, address), whatever page is behind it."""
    await space.map(BASE, 1, flags=SHARED_ANON | MAP_FIXED)
    await space.map(BASE + P, 1)
    child = Space(space.sandbox, await space("fork"))  # type: ignore[arg-type]
    shared, offset = await space("futex_key", BASE + 8, False)  # type: ignore[misc]
    assert (shared, offset) == await child("futex_key", BASE + 8, False)
    assert offset == await space("translate", BASE + 8)
    assert await space("futex_key", BASE + 8, True) != await child("futex_key", BASE + 8, True)
    assert (await space("futex_key", BASE + P, False))[0] != (await child("futex_key", BASE + P, False))[0]  # type: ignore[index]
    assert await space.errno("futex_key", BASE + 8 * P, False) == EFAULT


# --- faults ---------------------------------------------------------------------------------------


async def test_fault_tells_segv_maperr_from_accerr(space: Space) -> None:
    await space.map(BASE, 1, PROT_NONE)
    await space.map(BASE + P, 1, PROT_READ | PROT_EXEC)
    assert tuple(await space("fault", BASE + 8 * P, False)) == (Signal.SIGSEGV, SEGV_MAPERR)  # type: ignore[arg-type]
    assert tuple(await space("fault", BASE, False)) == (Signal.SIGSEGV, SEGV_ACCERR)  # type: ignore[arg-type]
    assert tuple(await space("fault", BASE + P, True)) == (Signal.SIGSEGV, SEGV_ACCERR)  # type: ignore[arg-type]


# --- file mappings ----------------------------------------------------------------------------


def host_file(sandbox: Sandbox, contents: bytes, writable: bool = False) -> int:
    path = sandbox.workdir / "mapped"
    path.write_bytes(contents)
    return os.open(path, os.O_RDWR if writable else os.O_RDONLY)


async def test_a_private_file_mapping_is_a_copy(sandbox: Sandbox, space: Space) -> None:
    fd = host_file(sandbox, b"0123456789" * 500, writable=True)  # 5000 bytes: two pages
    try:
        start = await space("mmap_file", BASE, 2 * P, RW, MAP_PRIVATE | MAP_FIXED, fd, 0)
        assert start == BASE
        assert await space.read(BASE + 4990, 10) == b"0123456789"
        assert await space.read(BASE + 5000, 8) == bytes(8)  # the rest of the last page
        await space.write(BASE, b"private")
        assert os.pread(fd, 7, 0) == b"0123456"
        await space("sync_file", fd)
        assert os.pread(fd, 7, 0) == b"0123456"
    finally:
        os.close(fd)


async def test_pages_past_the_end_of_the_file_fault_with_sigbus(sandbox: Sandbox, space: Space) -> None:
    fd = host_file(sandbox, b"short")
    try:
        await space("mmap_file", BASE, 3 * P, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0)
        assert await space.read(BASE, 5) == b"short"
        assert await space.errno("copy_in", BASE + P, 1) == EFAULT
        assert tuple(await space("fault", BASE + 2 * P, False)) == (Signal.SIGBUS, BUS_ADRERR)  # type: ignore[arg-type]
        assert [row[:2] for row in await space.rows()][0][0] == BASE
    finally:
        os.close(fd)


async def test_a_shared_file_mapping_reaches_the_file_and_sees_it_change(sandbox: Sandbox, space: Space) -> None:
    fd = host_file(sandbox, bytes(P) + b"second page", writable=True)
    try:
        await space("mmap_file", BASE, 2 * P, RW, MAP_SHARED | MAP_FIXED, fd, 0)
        await space.write(BASE + 10, b"stored")
        await space("msync", BASE, 2 * P, MS_SYNC)
        assert os.pread(fd, 6, 10) == b"stored"
        os.pwrite(fd, b"written", P)
        await space("reload_file", fd)
        assert await space.read(BASE + P, 11) == b"writtenpage"
        await space.write(BASE + 20, b"synced")
        await space("sync_file", fd)
        assert os.pread(fd, 6, 20) == b"synced"
    finally:
        os.close(fd)


async def test_a_shared_file_that_grows_resolves_the_fault(sandbox: Sandbox, space: Space) -> None:
    fd = host_file(sandbox, b"one page at most", writable=True)
    try:
        await space("mmap_file", BASE, 2 * P, RW, MAP_SHARED | MAP_FIXED, fd, 0)
        assert tuple(await space("fault", BASE + P, True)) == (Signal.SIGBUS, BUS_ADRERR)  # type: ignore[arg-type]
        os.ftruncate(fd, 2 * P)
        assert await space("fault", BASE + P, True) is None
        await space.write(BASE + P, b"grown")
        await space("sync_file", fd)
        assert os.pread(fd, 5, P) == b"grown"
    finally:
        os.close(fd)


async def test_mmap_file_errors(sandbox: Sandbox, space: Space) -> None:
    fd = host_file(sandbox, b"x" * 3 * P)
    try:
        assert await space.errno("mmap_file", BASE, P, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 100) == EINVAL
        assert await space.errno("mmap_file", BASE, P, PROT_READ, MAP_ANONYMOUS, fd, 0) == EINVAL
        assert await space.errno("mmap_file", BASE, 0, PROT_READ, MAP_PRIVATE, fd, 0) == EINVAL
    finally:
        os.close(fd)


# --- accounting ----------------------------------------------------------------------------------


async def test_usage_counts_committed_writable_memory(sandbox: Sandbox, space: Space) -> None:
    before = await sandbox.call("mm", "usage")
    assert isinstance(before, dict) and {"allocated", "committed"} <= set(before)
    await space.map(BASE, 16)
    await space.map(BASE + 32 * P, 16, PROT_READ)
    await space.write(BASE, bytes(range(256)) * 64)
    after = await sandbox.call("mm", "usage")
    assert after["committed"] - before["committed"] == 16 * P
    assert after["allocated"] > before["allocated"]
    await space("munmap", BASE, 64 * P)
    assert (await sandbox.call("mm", "usage"))["committed"] == before["committed"]


async def test_the_memory_limit_refuses_commitments_past_it(open_sandbox: OpenSandbox) -> None:
    async with open_sandbox(memory_limit=64 * P) as sandbox:
        space = await new_space(sandbox)
        assert await space.errno("mmap", BASE, 65 * P, RW, FIXED) == ENOMEM
        await space.map(BASE, 128, PROT_READ)  # read-only private memory is not committed
        assert await space.errno("mprotect", BASE, 128 * P, RW) == ENOMEM
        await space.map(BASE + 256 * P, 40)
        assert await space.errno("fork") == ENOMEM  # the copy would commit 40 more pages
        await space("set_brk_base", BASE + 512 * P)
        assert await space("brk", BASE + 512 * P + 30 * P) == BASE + 512 * P  # refused: the old break
