"""Memory released by one operation is handed out again only once no stub maps it: another
operation finishing meanwhile must not free it while the releasing one waits on its stub."""

from __future__ import annotations

import trio

from abi.linux import MAP_ANONYMOUS, MAP_PRIVATE, PAGE_SIZE
from tests.unit.test_mm import RW, Harness

P = PAGE_SIZE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


async def test_a_range_being_unmapped_is_not_reused_by_another_space_meanwhile() -> None:
    h = Harness()
    try:
        mm = h.mm
        a = await mm.create()
        b = await mm.create()
        stub_a = h.platform.stubs[0]
        addr = await mm.mmap(a, 0, 4 * P, RW, ANON)
        held = stub_a.pages[addr][0]  # the memory-file offset a's stub maps
        unmapping = trio.Event()
        finish = trio.Event()
        original_unmap = stub_a.unmap

        async def slow_unmap(start: int, length: int) -> None:
            unmapping.set()
            await finish.wait()  # the injection into a's stub is still in flight
            await original_unmap(start, length)

        stub_a.unmap = slow_unmap  # type: ignore[method-assign]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(mm.munmap, a, addr, 4 * P)
            await unmapping.wait()
            await mm.mmap(b, 0, P, RW, ANON)  # ends with freeing what was released
            other = await mm.mmap(b, 0, 4 * P, RW, ANON)
            assert h.platform.stubs[1].pages[other][0] != held, "a's pages went to b while a's stub maps them"
            finish.set()
        again = await mm.mmap(b, 0, 4 * P, RW, ANON)
        assert again  # and once a's stub let go, the range is free again
    finally:
        h.memfile.close()
