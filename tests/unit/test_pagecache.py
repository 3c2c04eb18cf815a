"""MAP_SHARED file mappings: one set of cached pages per file, written back by msync, munmap and exit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from abi.errno import EFAULT
from abi.linux import BUS_ADRERR, MAP_PRIVATE, MAP_SHARED, MS_SYNC, PAGE_SIZE, PROT_READ, Signal
from tests.unit.test_mm import RW, Harness, errno_of

P = PAGE_SIZE


@pytest.fixture
def backing_file(tmp_path: Path) -> Path:
    path = tmp_path / "file"
    path.write_bytes(b"abcdefgh" + bytes(P + 100 - 8))
    return path


async def test_two_spaces_share_pages_and_msync_writes_only_within_the_file(h: Harness, backing_file: Path) -> None:
    fd = os.open(backing_file, os.O_RDWR)
    a = await h.mm.mmap_file(h.asid, 0, 2 * P, RW, MAP_SHARED, fd, 0)
    other = await h.mm.create()
    b = await h.mm.mmap_file(other, 0, 2 * P, RW, MAP_SHARED, fd, 0)
    os.close(fd)  # the cache keeps its own fd
    assert await h.mm.translate(h.asid, a + P) == await h.mm.translate(other, b + P)
    assert await h.mm.copy_in(other, b, 8) == b"abcdefgh"
    await h.mm.copy_out(h.asid, a, b"XY")
    await h.mm.copy_out(h.asid, a + 2 * P - 4, b"tail")  # past the end of the file: never written
    await h.mm.msync(h.asid, a, 2 * P, MS_SYNC)
    assert backing_file.read_bytes()[:8] == b"XYcdefgh"
    assert backing_file.stat().st_size == P + 100
    await h.mm.munmap(h.asid, a, 2 * P)
    await h.mm.copy_out(other, b + 4, b"Z")
    await h.mm.destroy(other)  # the last mapping: written back, pages freed
    assert backing_file.read_bytes()[:8] == b"XYcdZfgh"
    assert h.mm._cache._files == {}


async def test_a_write_to_the_file_is_not_undone_by_a_clean_page(h: Harness, backing_file: Path) -> None:
    fd = os.open(backing_file, os.O_RDWR)
    a = await h.mm.mmap_file(h.asid, 0, P, RW, MAP_SHARED, fd, 0)
    await h.mm.copy_out(h.asid, a + 100, b"!")
    os.pwrite(fd, b"ABCD", 0)
    await h.mm.munmap(h.asid, a, P)
    os.close(fd)
    assert backing_file.read_bytes()[:4] == b"ABCD"
    assert backing_file.read_bytes()[100:101] == b"!"


async def test_private_mappings_are_copies(h: Harness, backing_file: Path) -> None:
    fd = os.open(backing_file, os.O_RDWR)
    a = await h.mm.mmap_file(h.asid, 0, P, RW, MAP_PRIVATE, fd, 0)
    await h.mm.copy_out(h.asid, a, b"private")
    await h.mm.munmap(h.asid, a, P)
    os.close(fd)
    assert backing_file.read_bytes()[:8] == b"abcdefgh"


async def test_sync_and_reload_keep_the_file_and_the_pages_in_step(h: Harness, backing_file: Path) -> None:
    fd = os.open(backing_file, os.O_RDWR)
    a = await h.mm.mmap_file(h.asid, 0, P, RW, MAP_SHARED, fd, 0)
    await h.mm.copy_out(h.asid, a + 1, b"1")
    await h.mm.sync_file(h.asid, fd)
    assert os.pread(fd, 3, 0) == b"a1c"
    os.pwrite(fd, b"W", 5)
    await h.mm.reload_file(h.asid, fd)
    assert await h.mm.copy_in(h.asid, a, 8) == b"a1cdeWgh"
    await h.mm.munmap(h.asid, a, P)
    os.close(fd)


async def test_pages_past_the_end_of_the_file_are_sigbus_until_it_grows(h: Harness, backing_file: Path) -> None:
    fd = os.open(backing_file, os.O_RDWR)  # P + 100 bytes: pages 0 and 1 hold the file
    shared = await h.mm.mmap_file(h.asid, 0, 4 * P, RW, MAP_SHARED, fd, 0)
    sigbus = (Signal.SIGBUS, BUS_ADRERR)
    assert await h.mm.fault(h.asid, shared + 2 * P, False) == sigbus
    assert await errno_of(h.mm.copy_in(h.asid, shared + 2 * P, 1)) == EFAULT  # a system call's access
    assert await h.mm.copy_in(h.asid, shared + P + 100, 1) == b"\0"  # the rest of the last page: zeros
    h.check()  # the stub maps the pages past the end PROT_NONE
    os.ftruncate(fd, 3 * P)
    assert await h.mm.fault(h.asid, shared + 2 * P, False) is None  # grown: mapped, the access runs again
    assert await h.mm.copy_in(h.asid, shared + 2 * P, 1) == b"\0"
    assert await h.mm.fault(h.asid, shared + 3 * P, False) == sigbus
    private = await h.mm.mmap_file(h.asid, 0, 4 * P, RW, MAP_PRIVATE, fd, 0)
    assert await h.mm.fault(h.asid, private + 3 * P, False) == sigbus
    await h.mm.mprotect(h.asid, private, 4 * P, PROT_READ)  # no access past the end, whatever prot says
    assert [prot for start, _, prot, *_ in await h.mm.maps(h.asid) if start == private] == [PROT_READ]
    h.check()
    child = await h.mm.fork(h.asid)
    assert await h.mm.fault(child, private + 3 * P, False) == sigbus
    assert await h.mm.copy_in(child, private + 2 * P, 1) == b"\0"
    await h.mm.destroy(child)
    os.close(fd)
