"""Private mappings of a file the VFS vouches for (an identity) share one copy-on-write copy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from abi.linux import MAP_FIXED, MAP_PRIVATE, PAGE_SIZE, PROT_READ
from services.mm import filecopies
from tests.unit.test_mm import RW, Harness

P = PAGE_SIZE
IMAGE_FILE = ("image", 1, 77)


@pytest.fixture
def fd(tmp_path: Path) -> Iterator[int]:
    path = tmp_path / "library"
    path.write_bytes(bytes(range(256)) * (3 * P // 256) + b"end")  # three pages and a bit
    descriptor = os.open(path, os.O_RDONLY)
    yield descriptor
    os.close(descriptor)


async def test_mappings_share_the_copy_until_one_writes(h: Harness, fd: int) -> None:
    a = await h.mm.mmap_file(h.asid, 0, 4 * P, RW, MAP_PRIVATE, fd, 0, "", None, IMAGE_FILE)
    other = await h.mm.create()
    b = await h.mm.mmap_file(other, 0, 2 * P, PROT_READ, MAP_PRIVATE, fd, P, "", None, IMAGE_FILE)
    usage = await h.mm.usage()
    assert (usage["file_copies"], usage["buffers"]) == (4 * P, 0)  # counted once: its pages are allocated
    c = await h.mm.mmap_file(h.asid, 0, P, PROT_READ, MAP_PRIVATE, fd, P, "", None, IMAGE_FILE)
    assert await h.mm.translate(h.asid, c) == await h.mm.translate(other, b)  # one page, two mappings
    assert (await h.mm.usage())["file_copies"] == 4 * P
    await h.mm.copy_out(h.asid, a + P, b"mine")
    assert await h.mm.translate(h.asid, a + P) != await h.mm.translate(other, b)
    assert await h.mm.copy_in(h.asid, a + P, 4) == b"mine"
    assert await h.mm.copy_in(other, b, 4) == bytes(range(4))
    assert await h.mm.copy_in(h.asid, a + 3 * P, 5) == b"end\0\0"  # zeros after the file's end
    await h.mm.destroy(other)
    await h.mm.munmap(h.asid, a, 4 * P)
    again = await h.mm.mmap_file(h.asid, 0, P, PROT_READ, MAP_PRIVATE, fd, P, "", None, IMAGE_FILE)
    assert await h.mm.copy_in(h.asid, again, 4) == bytes(range(4))  # the copy kept the file's bytes


async def test_a_mapping_without_an_identity_is_a_copy_of_its_own(h: Harness, fd: int) -> None:
    await h.mm.mmap_file(h.asid, 0, P, PROT_READ, MAP_PRIVATE, fd, 0)
    assert (await h.mm.usage())["file_copies"] == 0


async def test_pages_past_the_end_and_a_fixed_mapping_over_the_copy(h: Harness, fd: int) -> None:
    span = await h.mm.mmap_file(h.asid, 0, 6 * P, PROT_READ, MAP_PRIVATE, fd, 0, "", None, IMAGE_FILE)
    assert await h.mm.fault(h.asid, span + 5 * P, False) is not None  # past the end: SIGBUS, as Linux
    fixed = await h.mm.mmap_file(h.asid, span + P, P, RW, MAP_PRIVATE | MAP_FIXED, fd, 2 * P, "", None,
                                 IMAGE_FILE)
    assert fixed == span + P
    assert await h.mm.copy_in(h.asid, fixed, 2) == bytes(range(2))
    await h.mm.destroy(h.asid)
    assert (await h.mm.usage())["file_copies"] == 4 * P  # kept for the next mapping


async def test_the_oldest_copies_go_past_the_bound_and_their_pages_with_the_last_mapping(h: Harness, fd: int) -> None:
    h.mm._copies.bound = 8 * P
    a = await h.mm.mmap_file(h.asid, 0, 4 * P, PROT_READ, MAP_PRIVATE, fd, 0, "", None, ("image", 1, 1))
    await h.mm.mmap_file(h.asid, 0, P, PROT_READ, MAP_PRIVATE, fd, 0, "", None, ("image", 1, 2))
    held = (await h.mm.usage())["allocated"]
    await h.mm.mmap_file(h.asid, 0, P, PROT_READ, MAP_PRIVATE, fd, 0, "", None, ("image", 1, 3))
    assert (await h.mm.usage())["file_copies"] == 8 * P  # the first went; its mapping keeps its pages
    assert await h.mm.copy_in(h.asid, a + 3 * P, 3) == b"end"
    await h.mm.munmap(h.asid, a, 4 * P)
    assert (await h.mm.usage())["allocated"] <= held  # and now they are free


async def test_a_memory_limit_bounds_the_copies_to_an_eighth_of_it(fd: int) -> None:
    harness = Harness(limit=16 * P)
    try:
        assert harness.mm._copies.bound == 2 * P < filecopies.FILE_COPIES_MOST
        asid = await harness.mm.create()
        await harness.mm.mmap_file(asid, 0, P, PROT_READ, MAP_PRIVATE, fd, 0, "", None, IMAGE_FILE)
        usage = await harness.mm.usage()
        assert (usage["file_copies"], usage["buffers"]) == (0, 0)  # four pages: more than the bound
    finally:
        harness.memfile.close()
