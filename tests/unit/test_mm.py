"""The memory manager against a model of the stub: every test also checks that the stub would see
exactly the mappings the MM believes in (same file pages, same protections, nothing else)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abi.errno import EEXIST, EFAULT, EINVAL, ENAMETOOLONG, ENOMEM, EPERM
from abi.linux import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_NORESERVE,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_SIZE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    SEGV_ACCERR,
    SEGV_MAPERR,
    Signal,
)
from abi.errno import Errno
from services.mm.actor import MemoryManager
from services.mm.memfile import MemoryFile

P = PAGE_SIZE
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
TOP = 0x7FFF_FFFF_E000


class FakeStub:
    """A stub's page table: page address -> (memory-file offset, prot)."""

    def __init__(self, memfile: MemoryFile) -> None:
        self.memfile = memfile
        self.pages: dict[int, tuple[int, int]] = {}
        self.released = False
        self.calls = 0  # map, unmap and protect requests (each an injected call on the host)

    async def map(self, addr: int, length: int, prot: int, offset: int, populate: bool = False) -> None:
        self.calls += 1
        for i in range(0, length, P):
            self.pages[addr + i] = (offset + i, prot)

    async def unmap(self, addr: int, length: int) -> None:
        self.calls += 1
        for i in range(0, length, P):
            self.pages.pop(addr + i, None)

    async def protect(self, addr: int, length: int, prot: int) -> None:
        self.calls += 1
        for i in range(0, length, P):
            offset, _ = self.pages[addr + i]  # mprotect of an unmapped page would fail on the host
            self.pages[addr + i] = (offset, prot)

    async def new_context(self) -> object:
        return object()

    def release(self) -> None:
        self.released = True


class FakePlatform:
    max_user_address = TOP

    def __init__(self, memfile: MemoryFile) -> None:
        self.memfile = memfile
        self.stubs: list[FakeStub] = []

    async def new_address_space(self) -> FakeStub:
        self.stubs.append(FakeStub(self.memfile))
        return self.stubs[-1]


class Harness:
    def __init__(self, limit: int | None = None, memory_file_size: int = 1 << 32) -> None:
        self.memfile = MemoryFile(size=memory_file_size)
        self.platform = FakePlatform(self.memfile)
        self.mm = MemoryManager(self.platform, self.memfile, limit)  # type: ignore[arg-type]
        self.asid = 0

    @property
    def stub(self) -> FakeStub:
        return self.platform.stubs[-1]

    def check(self) -> None:
        """The stub maps exactly what the MM's table says, page for page, and the heap slack
        (pages above the break it keeps mapped, never where the table has a mapping)."""
        expected = {}
        space = self.mm._spaces[self.asid]
        for mapping in space.table:
            for addr in range(mapping.start, mapping.end, P):
                expected[addr] = (mapping.file_offset(addr), mapping.stub_prot)
        for piece in space.slack:
            for addr in range(piece.start, piece.end, P):
                assert addr not in expected
                expected[addr] = (piece.file_offset(addr), RW)
        assert self.stub.pages == expected
        starts = [m.start for m in self.mm._spaces[self.asid].table]
        assert starts == sorted(starts)
        ends = [m.end for m in self.mm._spaces[self.asid].table]
        assert all(end <= start for end, start in zip(ends, starts[1:]))

    async def mmap(self, addr: int, length: int, prot: int = RW, flags: int = ANON) -> int:
        return await self.mm.mmap(self.asid, addr, length, prot, flags)


@pytest.fixture
async def h() -> AsyncIterator[Harness]:
    harness = Harness()
    harness.asid = await harness.mm.create()
    yield harness
    await harness.mm.destroy(harness.asid)
    assert harness.stub.released
    harness.memfile.close()


async def errno_of(awaitable) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(Errno) as failure:
        await awaitable
    return failure.value.errno


# --- the memory file --------------------------------------------------------------------------

def test_memory_file_allocator_reuses_and_coalesces() -> None:
    memfile = MemoryFile(size=1 << 30)
    a, b, c = memfile.allocate(P), memfile.allocate(2 * P), memfile.allocate(P)
    assert (a, b, c) == (0, P, 3 * P)
    memfile.free(b, 2 * P)
    assert memfile.allocate(P) == b  # first fit
    memfile.free(a, P)
    memfile.free(b, P)
    assert memfile.allocate(2 * P) == 0  # a and b merged
    memfile.free(0, 2 * P)
    memfile.free(c, P)
    assert memfile.allocate(4 * P) == 0  # everything merged back into the free tail
    memfile.close()


def test_memory_file_punch_releases_pages() -> None:
    memfile = MemoryFile(size=1 << 30)
    offset = memfile.allocate(16 * P)
    memfile.view[offset:offset + 16 * P] = b"x" * (16 * P)
    assert memfile.resident(offset, 16 * P) == b"\x01" * 16
    before = memfile.allocated_bytes()
    memfile.punch(offset + 4 * P, 8 * P)
    assert memfile.allocated_bytes() == before - 8 * P
    assert memfile.resident(offset, 16 * P) == b"\x01" * 4 + b"\x00" * 8 + b"\x01" * 4
    assert bytes(memfile.view[offset + 4 * P:offset + 5 * P]) == bytes(P)
    memfile.close()


# --- placement ---------------------------------------------------------------------------------

async def test_mmap_places_top_down_honours_free_hints_and_fixed(h: Harness) -> None:
    first = await h.mmap(0, 3 * P)
    second = await h.mmap(0, P)
    assert second == first - P  # top-down, right below
    hinted = await h.mmap(0x10_0000_0000, 2 * P)
    assert hinted == 0x10_0000_0000
    assert await h.mmap(0x10_0000_0000, P) != hinted  # hint taken: search elsewhere
    assert await h.mmap(0x20_0000_0000, P, flags=ANON | MAP_FIXED) == 0x20_0000_0000
    h.check()


async def test_mmap_rejects_what_linux_rejects(h: Harness) -> None:
    assert await errno_of(h.mmap(0, 0)) == EINVAL
    assert await errno_of(h.mmap(0, P, flags=MAP_ANONYMOUS)) == EINVAL  # no type
    assert await errno_of(h.mmap(0x10_0000_0800, P, flags=ANON | MAP_FIXED)) == EINVAL
    assert await errno_of(h.mmap(0x1000, P, flags=ANON | MAP_FIXED)) == EPERM  # below mmap_min_addr
    assert await errno_of(h.mmap(TOP, P, flags=ANON | MAP_FIXED)) == ENOMEM
    assert await errno_of(h.mmap(0, 1 << 62)) == ENOMEM
    h.check()


async def test_fixed_replaces_and_noreplace_refuses(h: Harness) -> None:
    base = await h.mmap(0x10_0000_0000, 4 * P)
    await h.mm.copy_out(h.asid, base, b"old" * 10)
    assert await errno_of(h.mmap(base + P, P, flags=ANON | MAP_FIXED_NOREPLACE)) == EEXIST
    assert await errno_of(h.mmap(base + P, P, flags=ANON | MAP_FIXED | MAP_FIXED_NOREPLACE)) == EEXIST
    await h.mmap(base, P, flags=ANON | MAP_FIXED)
    assert await h.mm.copy_in(h.asid, base, 3) == b"\0\0\0"  # fresh memory replaced the old
    h.check()


# --- munmap, mprotect --------------------------------------------------------------------------

async def test_munmap_punches_a_hole_and_the_listing_shows_two_vmas(h: Harness) -> None:
    base = await h.mmap(0x10_0000_0000, 3 * P)
    await h.mm.munmap(h.asid, base + P, P)
    assert [(s, e) for s, e, *_ in await h.mm.maps(h.asid)] == [(base, base + P), (base + 2 * P, base + 3 * P)]
    assert await errno_of(h.mm.copy_in(h.asid, base + P, 1)) == EFAULT
    await h.mm.munmap(h.asid, base + 10 * P, P)  # unmapping nothing is fine
    assert await errno_of(h.mm.munmap(h.asid, base + 1, P)) == EINVAL
    assert await errno_of(h.mm.munmap(h.asid, base, 0)) == EINVAL
    h.check()


async def test_mprotect_splits_checks_holes_and_is_enforced_on_access(h: Harness) -> None:
    base = await h.mmap(0x10_0000_0000, 3 * P)
    await h.mm.mprotect(h.asid, base + P, P, PROT_READ)
    assert [p for _, _, p, *_ in await h.mm.maps(h.asid)] == [RW, PROT_READ, RW]
    assert await errno_of(h.mm.copy_out(h.asid, base + P, b"x")) == EFAULT
    await h.mm.copy_out(h.asid, base + P, b"x", force=True)  # the loader writes read-only text
    assert await h.mm.copy_in(h.asid, base + P, 1) == b"x"
    await h.mm.mprotect(h.asid, base, P, PROT_NONE)
    assert await errno_of(h.mm.copy_in(h.asid, base, 1)) == EFAULT
    await h.mm.munmap(h.asid, base + 2 * P, P)
    assert await errno_of(h.mm.mprotect(h.asid, base, 3 * P, RW)) == ENOMEM
    assert await errno_of(h.mm.mprotect(h.asid, base + 1, P, RW)) == EINVAL
    assert await h.mm.fault(h.asid, base, True) == (Signal.SIGSEGV, SEGV_ACCERR)
    assert await h.mm.fault(h.asid, base + 2 * P, True) == (Signal.SIGSEGV, SEGV_MAPERR)
    h.check()


# --- mremap ------------------------------------------------------------------------------------

async def test_mremap_moves_without_copying(h: Harness) -> None:
    base = await h.mmap(0x10_0000_0000, 2 * P)
    await h.mmap(base + 2 * P, P)  # a neighbour: no room to grow in place
    await h.mm.copy_out(h.asid, base, b"payload")
    offset = h.mm._spaces[h.asid].table.find(base).file_offset(base)  # type: ignore[union-attr]
    with pytest.raises(Errno) as failure:
        await h.mm.mremap(h.asid, base, 2 * P, 4 * P, 0, 0)
    assert failure.value.errno == ENOMEM
    moved = await h.mm.mremap(h.asid, base, 2 * P, 4 * P, MREMAP_MAYMOVE, 0)
    assert moved != base
    assert await h.mm.copy_in(h.asid, moved, 7) == b"payload"
    assert h.mm._spaces[h.asid].table.find(moved).file_offset(moved) == offset  # type: ignore[union-attr]
    assert await errno_of(h.mm.copy_in(h.asid, base, 1)) == EFAULT
    assert await h.mm.copy_in(h.asid, moved + 3 * P, 4) == bytes(4)  # the extension is zeroed
    h.check()


async def test_mremap_grows_in_place_shrinks_and_moves_to_a_fixed_address(h: Harness) -> None:
    base = await h.mmap(0x10_0000_0000, P)
    assert await h.mm.mremap(h.asid, base, P, 3 * P, 0, 0) == base
    await h.mm.copy_out(h.asid, base + 2 * P, b"end")
    assert await h.mm.mremap(h.asid, base, 3 * P, P, 0, 0) == base
    assert await errno_of(h.mm.copy_in(h.asid, base + P, 1)) == EFAULT
    target = 0x20_0000_0000
    assert await h.mm.mremap(h.asid, base, P, P, MREMAP_MAYMOVE | MREMAP_FIXED, target) == target
    assert await errno_of(h.mm.mremap(h.asid, base, P, P, MREMAP_MAYMOVE, 0)) == EFAULT
    assert await errno_of(h.mm.mremap(h.asid, target, P, P, MREMAP_FIXED, target + P)) == EINVAL
    h.check()


async def test_mremap_dontunmap_leaves_fresh_memory_behind(h: Harness) -> None:
    base = await h.mmap(0x10_0000_0000, P)
    await h.mm.copy_out(h.asid, base, b"data")
    moved = await h.mm.mremap(h.asid, base, P, P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0)
    assert await h.mm.copy_in(h.asid, moved, 4) == b"data"
    assert await h.mm.copy_in(h.asid, base, 4) == bytes(4)
    h.check()


# --- brk, madvise, mincore ---------------------------------------------------------------------

async def test_brk_grows_shrinks_and_refuses_below_its_start(h: Harness) -> None:
    await h.mm.set_brk_base(h.asid, 0x40_1234)
    start = await h.mm.brk(h.asid, 0)
    assert start == 0x40_2000
    assert await h.mm.brk(h.asid, start + 3 * P + 5) == start + 3 * P + 5
    await h.mm.copy_out(h.asid, start + 3 * P, b"heap")
    assert [n for *_, n in await h.mm.maps(h.asid)] == ["[heap]"]
    assert await h.mm.brk(h.asid, start + P) == start + P
    assert await errno_of(h.mm.copy_in(h.asid, start + 2 * P, 1)) == EFAULT
    assert await h.mm.brk(h.asid, start - P) == start + P  # failure returns the old break
    await h.mmap(start + 2 * P, P, flags=ANON | MAP_FIXED)
    assert await h.mm.brk(h.asid, start + 4 * P) == start + P  # would run into a mapping
    h.check()


async def _heap(h: Harness, pages: int) -> int:
    """A break ``pages`` pages above its start; returns the start."""
    await h.mm.set_brk_base(h.asid, 0x40_0000)
    start = await h.mm.brk(h.asid, 0)
    assert await h.mm.brk(h.asid, start + pages * P) == start + pages * P
    return start


async def test_the_break_moves_down_and_up_without_asking_the_stub(h: Harness) -> None:
    start = await _heap(h, 64)
    await h.mm.copy_out(h.asid, start + 63 * P, b"old")
    allocated, calls = h.memfile.allocated_bytes(), h.stub.calls
    for _ in range(3):  # malloc's trim and regrow
        assert await h.mm.brk(h.asid, start + 8 * P) == start + 8 * P
        assert await errno_of(h.mm.copy_in(h.asid, start + 8 * P, 1)) == EFAULT  # the guest's view
        h.check()
        assert await h.mm.brk(h.asid, start + 64 * P) == start + 64 * P
        assert await h.mm.copy_in(h.asid, start + 63 * P, 3) == bytes(3)  # grown memory reads zeros
        h.check()
    assert h.stub.calls == calls and h.memfile.allocated_bytes() == allocated
    assert [n for *_, n in await h.mm.maps(h.asid)] == ["[heap]"]


async def test_pages_above_the_break_hold_no_memory_and_come_back_empty(h: Harness) -> None:
    start = await _heap(h, 16)
    await h.mm.copy_out(h.asid, start, b"x" * (16 * P))
    offset = h.stub.pages[start + 8 * P][0]
    assert await h.mm.brk(h.asid, start + 8 * P) == start + 8 * P
    assert h.memfile.data_up_to(offset, offset + 8 * P, 16 * P) == 0  # the host has them back
    h.memfile.view[offset:offset + 5] = b"stray"  # a guest writing above its break
    assert await h.mm.brk(h.asid, start + 16 * P) == start + 16 * P
    assert await h.mm.copy_in(h.asid, start + 8 * P, 5) == bytes(5)
    h.check()


async def test_a_mapping_placed_over_the_slack_releases_it(h: Harness) -> None:
    start = await _heap(h, 8)
    assert await h.mm.brk(h.asid, start + 2 * P) == start + 2 * P
    fixed = await h.mmap(start + 4 * P, 2 * P, flags=ANON | MAP_FIXED)
    h.check()  # the slack keeps [2, 4) and [6, 8); the new mapping has [4, 6)
    assert await h.mm.brk(h.asid, start + 8 * P) == start + 2 * P  # it would run into the mapping
    assert await h.mm.brk(h.asid, start + 4 * P) == start + 4 * P  # up to it is fine
    h.check()
    await h.mm.munmap(h.asid, fixed, 4 * P)  # unmaps [4, 8) in the stub: the rest of the slack goes
    h.check()
    assert await h.mm.brk(h.asid, start + 8 * P) == start + 8 * P  # fresh pages
    h.check()


async def test_the_slack_is_bounded_and_freed_with_its_space() -> None:
    from services.mm.heap import SLACK_MOST
    harness = Harness()
    harness.asid = await harness.mm.create()
    start = await _heap(harness, SLACK_MOST // P + 64)
    assert await harness.mm.brk(harness.asid, start) == start
    assert harness.mm._spaces[harness.asid].slack.size == SLACK_MOST
    harness.check()
    await harness.mm.destroy(harness.asid)
    assert harness.memfile.allocated_bytes() == 0


async def test_fork_leaves_the_slack_to_the_parent_and_shared_heap_is_not_kept(h: Harness) -> None:
    start = await _heap(h, 256)
    assert await h.mm.brk(h.asid, start + 128 * P) == start + 128 * P
    await h.mm.copy_out(h.asid, start, b"x" * (128 * P))  # too much for fork to copy: shared
    parent_stub = h.stub
    child = await h.mm.fork(h.asid)
    child_stub = h.stub
    assert not h.mm._spaces[child].slack
    assert max(a for a in child_stub.pages if a >= start) == start + 127 * P
    # The heap is copy-on-write now: giving it back releases it (unmapped), never into the slack.
    assert await h.mm.brk(child, start + 64 * P) == start + 64 * P
    assert not h.mm._spaces[child].slack and start + 64 * P not in child_stub.pages
    assert await h.mm.copy_in(h.asid, start + 100 * P, 1) == b"x"  # the parent's pages stay
    h.platform.stubs[-1] = parent_stub
    h.check()
    assert await h.mm.brk(h.asid, start + 256 * P) == start + 256 * P  # the parent's slack comes back
    assert await h.mm.copy_in(h.asid, start + 200 * P, 1) == bytes(1)
    h.check()
    await h.mm.destroy(child)


async def test_under_a_memory_limit_the_break_comes_down_as_on_linux() -> None:
    """Pages a guest could write above its break would escape --memory's account: no slack."""
    harness = Harness(limit=64 << 20)
    harness.asid = await harness.mm.create()
    start = await _heap(harness, 8)
    calls = harness.stub.calls
    assert await harness.mm.brk(harness.asid, start + 2 * P) == start + 2 * P
    assert not harness.mm._spaces[harness.asid].slack and harness.stub.calls == calls + 1
    assert start + 2 * P not in harness.stub.pages  # unmapped in the stub: a touch faults
    harness.check()


async def test_a_break_that_cannot_grow_keeps_its_slack() -> None:
    harness = Harness(memory_file_size=64 * P)
    harness.asid = await harness.mm.create()
    start = await _heap(harness, 8)
    assert await harness.mm.brk(harness.asid, start + 4 * P) == start + 4 * P
    assert await harness.mm.brk(harness.asid, start + 200 * P) == start + 4 * P  # the file has no room
    assert harness.mm._spaces[harness.asid].slack.size == 4 * P
    harness.check()
    assert await harness.mm.brk(harness.asid, start + 8 * P) == start + 8 * P
    harness.check()


async def test_more_than_the_memory_file_holds_is_enomem_and_leaves_no_trace() -> None:
    harness = Harness(memory_file_size=16 * P)
    asid = harness.asid = await harness.mm.create()
    await harness.mm.set_brk_base(asid, 0x40_0000)
    start = await harness.mm.brk(asid, 0)
    assert await harness.mm.brk(asid, start + 32 * P) == start  # brk fails by returning the old break
    assert await errno_of(harness.mmap(0, 32 * P)) == ENOMEM
    data = await harness.mmap(0, 10 * P)
    await harness.mm.copy_out(asid, data, b"kept")
    allocated = harness.memfile.allocated_bytes()
    # fork refuses when the memory file could not hold a full copy of the private memory
    assert await errno_of(harness.mm.fork(asid)) == ENOMEM
    assert harness.memfile.allocated_bytes() == allocated
    assert list(harness.mm._spaces) == [asid] and harness.stub.released  # the child's stub went
    harness.platform.stubs.pop()
    assert await harness.mm.copy_in(asid, data, 4) == b"kept"
    harness.check()
    await harness.mm.destroy(asid)
    harness.memfile.close()


async def test_madvise_dontneed_zeroes_private_memory_but_not_shared(h: Harness) -> None:
    private = await h.mmap(0, 2 * P)
    shared = await h.mmap(0, P, flags=MAP_SHARED | MAP_ANONYMOUS)
    for addr in (private, private + P, shared):
        await h.mm.copy_out(h.asid, addr, b"keep")
    await h.mm.madvise(h.asid, private, P, MADV_DONTNEED)
    await h.mm.madvise(h.asid, shared, P, MADV_DONTNEED)
    assert await h.mm.mincore(h.asid, private, 2 * P) == b"\x00\x01"  # before reading: that touches
    assert await h.mm.copy_in(h.asid, private, 4) == bytes(4)
    assert await h.mm.copy_in(h.asid, private + P, 4) == b"keep"
    assert await h.mm.copy_in(h.asid, shared, 4) == b"keep"
    assert await errno_of(h.mm.madvise(h.asid, private, 8 * P, MADV_DONTNEED)) == ENOMEM
    assert await errno_of(h.mm.madvise(h.asid, private, P, 9999)) == EINVAL
    assert await errno_of(h.mm.mincore(h.asid, private + 1, P)) == EINVAL


# --- copy-in/out ---------------------------------------------------------------------------------

async def test_copies_span_adjacent_mappings_and_fault_on_holes(h: Harness) -> None:
    base = await h.mmap(0x10_0000_0000, P)
    await h.mmap(base + P, P, flags=ANON | MAP_FIXED)
    data = bytes(range(256)) * 8  # 2 KiB across the boundary between the two mappings
    await h.mm.copy_out(h.asid, base + P - 100, data)
    assert await h.mm.copy_in(h.asid, base + P - 100, len(data)) == data
    assert sum(len(v) for v in await h.mm.iovecs(h.asid, base, 2 * P, True)) == 2 * P
    assert await errno_of(h.mm.copy_in(h.asid, base + P, 2 * P)) == EFAULT
    assert await errno_of(h.mm.copy_in(h.asid, (1 << 64) - 2, 4)) == EFAULT
    assert await h.mm.copy_in(h.asid, 0, 0) == b""  # nothing to read: no fault


async def test_read_cstring(h: Harness) -> None:
    base = await h.mmap(0x10_0000_0000, 2 * P)
    await h.mm.copy_out(h.asid, base + P - 3, b"abcdef\0")
    assert await h.mm.read_cstring(h.asid, base + P - 3, 4096) == b"abcdef"
    assert await errno_of(h.mm.read_cstring(h.asid, base + P - 3, 4)) == ENAMETOOLONG
    await h.mm.copy_out(h.asid, base + 2 * P - 2, b"xy")
    assert await errno_of(h.mm.read_cstring(h.asid, base + 2 * P - 2, 4096)) == EFAULT


# --- limits and safety -------------------------------------------------------------------------------

async def test_memory_limit_counts_writable_private_memory() -> None:
    harness = Harness(limit=8 * P)
    harness.asid = await harness.mm.create()
    await harness.mmap(0, 6 * P)
    await harness.mmap(0, 64 * P, prot=PROT_READ)          # read-only: commits nothing
    await harness.mmap(0, 64 * P, flags=ANON | MAP_NORESERVE)
    assert await errno_of(harness.mmap(0, 4 * P)) == ENOMEM
    ro = await harness.mmap(0, 4 * P, prot=PROT_READ)
    assert await errno_of(harness.mm.mprotect(harness.asid, ro, 4 * P, RW)) == ENOMEM
    assert (await harness.mm.usage())["committed"] == 6 * P
    harness.check()


async def test_released_ranges_are_not_reused_while_a_stub_still_maps_them(h: Harness) -> None:
    """Another task could allocate during the await of the unmap injection."""
    base = await h.mmap(0x10_0000_0000, P)
    offset = h.mm._spaces[h.asid].table.find(base).offset  # type: ignore[union-attr]
    unmap = h.stub.unmap
    seen_reusable = []

    async def unmap_checking(addr: int, length: int) -> None:
        seen_reusable.append(h.memfile.allocate(P) == offset)
        await unmap(addr, length)

    h.stub.unmap = unmap_checking  # type: ignore[method-assign]
    await h.mm.munmap(h.asid, base, P)
    assert seen_reusable == [False]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["mmap", "fixed", "munmap", "mprotect", "mremap", "brk"]),
                          st.integers(0, 31), st.integers(1, 8)), max_size=25))
async def test_random_operations_keep_the_stub_and_the_table_in_step(ops: list[tuple[str, int, int]]) -> None:
    harness = Harness()
    harness.asid = await harness.mm.create()
    base = 0x10_0000_0000
    await harness.mm.set_brk_base(harness.asid, base)  # the heap and its slack among the mappings
    for op, page, pages in ops:
        addr, length = base + page * P, pages * P
        try:
            if op == "brk":
                await harness.mm.brk(harness.asid, addr)
            elif op == "mmap":
                await harness.mmap(addr, length)
            elif op == "fixed":
                await harness.mmap(addr, length, flags=ANON | MAP_FIXED)
            elif op == "munmap":
                await harness.mm.munmap(harness.asid, addr, length)
            elif op == "mprotect":
                await harness.mm.mprotect(harness.asid, addr, length, PROT_READ)
            else:
                await harness.mm.mremap(harness.asid, addr, P, length, MREMAP_MAYMOVE, 0)
        except Errno:
            pass
        harness.check()
    await harness.mm.destroy(harness.asid)
    assert harness.memfile.allocated_bytes() == 0
    harness.memfile.close()
