"""Copy-on-write fork in the MM, against the model of the stub of tests/unit/test_mm.py.

A guest access is simulated as the hardware would do it: through the stub's page table (which
memory-file page, which protection), faulting to the MM when the stub's protection forbids it.
Every test also checks that each stub maps exactly what its MM table says.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from abi.errno import EFAULT, Errno
from abi.linux import (
    MADV_DONTNEED,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_SHARED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PROT_READ,
    PROT_WRITE,
    SEGV_ACCERR,
    Signal,
)
from services.mm import actor
from services.mm.refcount import SharedRanges
from tests.unit.test_mm import ANON, RW, FakeStub, Harness, P

BASE = 0x10_0000_0000


class Guest:
    """Guest memory accesses of several address spaces of one MM, made through their stubs."""

    def __init__(self, harness: Harness) -> None:
        self.h = harness
        self.mm = harness.mm
        self.faults = 0

    def stub(self, asid: int) -> FakeStub:
        return self.mm._spaces[asid].platform  # type: ignore[return-value]

    async def write(self, asid: int, addr: int, data: bytes) -> None:
        """Store ``data`` page by page as a CPU would: a page the stub maps read-only faults."""
        for i, byte in enumerate(data):
            page = (addr + i) & ~(P - 1)
            offset, prot = self.stub(asid).pages[page]
            if not prot & PROT_WRITE:
                self.faults += 1
                verdict = await self.mm.fault(asid, addr + i, True)
                if verdict is not None:
                    raise PermissionError(verdict)
                offset, prot = self.stub(asid).pages[page]
                assert prot & PROT_WRITE, "a resolved write fault left the page read-only"
            self.h.memfile.view[offset + (addr + i - page)] = byte

    def read(self, asid: int, addr: int, length: int) -> bytes:
        out = bytearray()
        for i in range(length):
            page = (addr + i) & ~(P - 1)
            offset, prot = self.stub(asid).pages[page]
            assert prot & PROT_READ
            out.append(self.h.memfile.view[offset + (addr + i - page)])
        return bytes(out)

    def check(self, *asids: int) -> None:
        """Each stub maps what its table says, and no page is writable in two stubs' private
        mappings at once."""
        writable: dict[int, int] = {}
        for asid in asids:
            self.h.asid = asid
            self.h.platform.stubs.append(self.stub(asid))
            try:
                self.h.check()
            finally:
                self.h.platform.stubs.pop()
            for mapping in self.mm._spaces[asid].table:
                if mapping.shared or not mapping.stub_prot & PROT_WRITE:
                    continue
                for addr in range(mapping.start, mapping.end, P):
                    offset = mapping.file_offset(addr)
                    assert writable.setdefault(offset, asid) == asid, "one private page writable in two spaces"


@pytest.fixture
async def g(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Guest]:
    monkeypatch.setattr(actor, "_EAGER_COPY_BUDGET", 0)  # every private page copy-on-write
    harness = Harness()
    harness.asid = await harness.mm.create()
    yield Guest(harness)
    for asid in list(harness.mm._spaces):
        await harness.mm.destroy(asid)
    assert not harness.mm._shared, "references left behind"
    harness.memfile.close()


async def test_shared_ranges_count_per_range_and_merge() -> None:
    ranges = SharedRanges()
    ranges.add(0, 10 * P, 1)
    ranges.add(2 * P, 4 * P, 1)
    assert list(ranges.segments(0, 12 * P)) == [(0, 2 * P, 1), (2 * P, 4 * P, 2), (4 * P, 10 * P, 1),
                                                 (10 * P, 12 * P, 0)]
    ranges.add(2 * P, 4 * P, -1)
    assert len(ranges) == 1 and ranges.extra_at(3 * P) == 1
    ranges.add(0, 5 * P, -1)
    assert list(ranges.segments(0, 10 * P)) == [(0, 5 * P, 0), (5 * P, 10 * P, 1)]
    assert ranges.shared_bytes(0, 10 * P) == 5 * P
    ranges.add(0, 10 * P, -1)
    assert len(ranges) == 0


async def test_fork_copies_nothing_and_each_side_writes_its_own(g: Guest) -> None:
    parent = g.h.asid
    base = await g.h.mmap(BASE, 64 * P)
    await g.write(parent, base, b"parent")
    allocated = g.h.memfile.allocated_bytes()
    child = await g.mm.fork(parent)
    assert g.h.memfile.allocated_bytes() == allocated  # nothing copied
    g.check(parent, child)
    assert g.read(child, base, 6) == b"parent"
    await g.write(child, base, b"child!")
    assert g.read(parent, base, 6) == b"parent" and g.read(child, base, 6) == b"child!"
    await g.write(parent, base + 3, b"PAR")
    assert g.read(parent, base, 6) == b"parPAR" and g.read(child, base, 6) == b"child!"
    g.check(parent, child)
    # A write fault copies a window of pages: writing 16 pages in order faults once per window.
    g.faults = 0
    await g.write(child, base + 16 * P, bytes(1) * 16 * P)
    assert g.faults == 1


async def test_the_last_holder_takes_pages_over_without_copying(g: Guest) -> None:
    parent = g.h.asid
    base = await g.h.mmap(BASE, 32 * P)
    await g.write(parent, base, b"x")
    offset = g.mm._spaces[parent].table.find(base).file_offset(base)  # type: ignore[union-attr]
    child = await g.mm.fork(parent)
    await g.mm.destroy(child)
    g.faults = 0
    await g.write(parent, base, b"z")
    await g.write(parent, base + 20 * P, b"y")
    assert g.faults == 1  # a whole window became writable at once
    assert g.mm._spaces[parent].table.find(base).file_offset(base) == offset  # type: ignore[union-attr]
    assert len(g.mm._spaces[parent].table) == 1  # and the pieces split for it joined again
    g.check(parent)


async def test_the_sentry_unshares_before_it_writes(g: Guest) -> None:
    parent = g.h.asid
    base = await g.h.mmap(BASE, 4 * P)
    await g.write(parent, base, b"before")
    child = await g.mm.fork(parent)
    await g.mm.copy_out(child, base + P - 2, b"read()")  # straddles two pages
    assert g.read(parent, base + P - 2, 6) == bytes(6) and g.read(parent, base, 6) == b"before"
    assert g.read(child, base + P - 2, 6) == b"read()"
    views = await g.mm.iovecs(parent, base, 8, True)
    views[0][:8] = b"readv-in"
    assert g.read(parent, base, 8) == b"readv-in" and g.read(child, base, 6) == b"before"
    key = await g.mm.translate(child, base + 2 * P, True)  # a futex key stays put once taken
    await g.write(child, base + 2 * P, b"w")
    assert await g.mm.translate(child, base + 2 * P, True) == key
    g.check(parent, child)


async def test_read_only_stays_read_only_and_mprotect_write_keeps_copy_on_write(g: Guest) -> None:
    parent = g.h.asid
    base = await g.h.mmap(BASE, 4 * P)
    await g.write(parent, base, b"data")
    await g.mm.mprotect(parent, base, P, PROT_READ)
    child = await g.mm.fork(parent)
    with pytest.raises(PermissionError) as denied:
        await g.write(child, base, b"no")
    assert denied.value.args[0] == (Signal.SIGSEGV, SEGV_ACCERR)
    await g.mm.mprotect(child, base, 2 * P, RW)
    g.check(parent, child)  # PROT_WRITE given back, yet the stub still maps the shared pages read-only
    await g.write(child, base, b"DATA")
    assert g.read(parent, base, 4) == b"data" and g.read(child, base, 4) == b"DATA"
    await g.write(child, base + P, b"2")  # the copied page stays writable after mprotect too
    await g.mm.mprotect(child, base, 4 * P, PROT_READ)
    assert await g.mm.fault(child, base, True) == (Signal.SIGSEGV, SEGV_ACCERR)
    with pytest.raises(Errno) as failure:
        await g.mm.copy_out(child, base + 3 * P, b"x")
    assert failure.value.errno == EFAULT
    g.check(parent, child)


async def test_madvise_dontneed_after_fork_zeroes_one_side_only(g: Guest) -> None:
    parent = g.h.asid
    base = await g.h.mmap(BASE, 4 * P)
    await g.write(parent, base, b"keep")
    await g.write(parent, base + 3 * P, b"keep")
    child = await g.mm.fork(parent)
    await g.mm.madvise(child, base, 4 * P, MADV_DONTNEED)
    assert g.read(child, base, 4) == bytes(4) and g.read(parent, base, 4) == b"keep"
    await g.mm.madvise(parent, base, P, MADV_DONTNEED)  # held alone now: punched in place
    assert g.read(parent, base, 4) == bytes(4) and g.read(parent, base + 3 * P, 4) == b"keep"
    await g.write(child, base, b"new")
    assert g.read(parent, base + 3 * P, 4) == b"keep"
    g.check(parent, child)


async def test_munmap_mremap_and_shared_memory_across_fork(g: Guest) -> None:
    parent = g.h.asid
    base = await g.h.mmap(BASE, 8 * P)
    shared = await g.h.mmap(BASE + 64 * P, P, flags=MAP_SHARED | MAP_ANONYMOUS)
    await g.write(parent, base + 4 * P, b"moved")
    child = await g.mm.fork(parent)
    await g.write(child, shared, b"from child")
    assert g.read(parent, shared, 10) == b"from child"  # shared memory is never copy-on-write
    moved = await g.mm.mremap(child, base + 4 * P, 4 * P, 8 * P, MREMAP_MAYMOVE | MREMAP_FIXED, BASE + 128 * P)
    assert g.read(child, moved, 5) == b"moved"
    await g.write(child, moved, b"MOVED")
    assert g.read(parent, base + 4 * P, 5) == b"moved"
    await g.mm.munmap(parent, base, 8 * P)
    assert g.read(child, moved, 5) == b"MOVED"
    g.check(parent, child)
    grandchild = await g.mm.fork(child)  # a chain: three spaces on the same pages
    await g.write(grandchild, moved + P, b"g")
    await g.write(child, moved + P, b"c")
    assert g.read(grandchild, moved, 5) == b"MOVED" and g.read(grandchild, moved + P, 1) == b"g"
    assert g.read(child, moved + P, 1) == b"c"
    g.check(parent, child, grandchild)


async def test_a_thousand_forks_leave_the_memory_file_bounded(g: Guest) -> None:
    parent = g.h.asid
    base = await g.h.mmap(BASE, 64 * P)
    await g.write(parent, base, b"x" * 64)
    ends = []
    for round_ in range(1000):
        child = await g.mm.fork(parent)
        await g.write(child, base + (round_ % 64) * P, b"child")
        await g.write(parent, base + ((round_ + 7) % 64) * P, b"parent")
        await g.mm.mmap(child, BASE + 256 * P, 4 * P, RW, ANON | MAP_FIXED)
        await g.mm.destroy(child)
        ends.append((await g.mm.usage())["file_end"])
    # Ranges part-copied by the parent stay allocated until its last piece of them goes, so
    # the high-water mark may pass the parent's size for a while: never past a window a page.
    assert max(ends) <= 64 * 16 * P
    assert ends[-1] == ends[500] <= 128 * P  # and it settles
    assert g.h.memfile.allocated_bytes() <= 64 * P
    assert (await g.mm.usage())["cow_ranges"] == 0
    g.check(parent)


async def test_fork_copies_small_writable_mappings_at_once(g: Guest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actor, "_EAGER_COPY_BUDGET", 4 * P)
    parent = g.h.asid
    small = await g.h.mmap(BASE, 64 * P)
    big = await g.h.mmap(BASE + 128 * P, 64 * P)
    await g.write(parent, small, b"s" * 2 * P)  # two pages of data: within the budget
    await g.write(parent, big, b"b" * 8 * P)  # eight: copy-on-write
    allocated = g.h.memfile.allocated_bytes()
    child = await g.mm.fork(parent)
    assert g.h.memfile.allocated_bytes() == allocated + 2 * P
    g.faults = 0
    await g.write(child, small, b"child")
    await g.write(parent, small + P, b"parent")
    assert g.faults == 0
    assert g.read(parent, small, 5) == b"sssss" and g.read(child, small + P, 6) == b"ssssss"
    await g.write(child, big, b"child")
    assert g.faults == 1 and g.read(parent, big, 5) == b"bbbbb"
    g.check(parent, child)


async def test_a_stale_fault_runs_again_once(g: Guest) -> None:
    parent = g.h.asid
    base = await g.h.mmap(BASE, 4 * P)
    await g.mm.mprotect(parent, base + 3 * P, P, PROT_READ)
    child = await g.mm.fork(parent)
    await g.write(child, base, b"x")  # one thread's write fault copies the page ...
    # ... and another thread's, raised before that, comes in late: the access runs again.
    assert await g.mm.fault(child, base + 1, True, True) is None
    # The same fault once more (an instruction fetch from the page) is a real violation.
    assert await g.mm.fault(child, base + 1, True, False) == (Signal.SIGSEGV, SEGV_ACCERR)
    assert await g.mm.fault(child, base + 3 * P, True, True) == (Signal.SIGSEGV, SEGV_ACCERR)
    g.check(parent, child)
