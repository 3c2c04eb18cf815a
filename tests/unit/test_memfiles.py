"""The memfds of tmpfs files as a budgeted host resource (services/vfs/memfiles.py): past the
budget, idle files are parked (bytes in the heap, no fd) and come back whole when opened.
pytest-trio, no guest."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest

from abi.creds import KERNEL_CALLER
from abi.linux import O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY
from services.mm.account import MemoryAccount
from services.vfs import inode as inode_module
from services.vfs import memfiles
from services.vfs.file import RegularFile
from services.vfs.inode import Filesystem, RegularInode
from services.vfs.memfiles import PARK_MAX, MemoryFiles

BUDGET = 4


@pytest.fixture
def memory_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryFiles]:
    files = MemoryFiles(budget=BUDGET)
    monkeypatch.setattr(inode_module, "MEMORY_FILES", files)
    yield files
    gc.collect()  # the test's files close their memfds against its own account


@pytest.fixture
def fs() -> Filesystem:
    fs = Filesystem(capacity=1 << 30)
    fs.account = MemoryAccount(None)
    return fs


async def _write(inode: RegularInode, data: bytes) -> None:
    file = await inode.open(O_WRONLY, KERNEL_CALLER)
    assert isinstance(file, RegularFile)
    await file.pwrite([memoryview(data)], 0)
    file.release()


async def _read(inode: RegularInode) -> bytes:
    file = await inode.open(O_RDONLY, KERNEL_CALLER)
    assert isinstance(file, RegularFile)
    buffer = bytearray(inode.size() + 1)
    n = await file.pread([memoryview(buffer)], 0)
    file.release()
    return bytes(buffer[:n])


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_files_past_the_budget_are_parked_and_come_back_whole(memory_files: MemoryFiles, fs: Filesystem) -> None:
    fds = _fds()
    inodes = [RegularInode(fs, 0o644) for _ in range(5 * BUDGET)]
    for number, inode in enumerate(inodes):
        await _write(inode, b"file %d\n" % number * (number + 1))
    assert memory_files.held <= BUDGET and _fds() - fds <= BUDGET
    assert memory_files.parked >= 4 * BUDGET
    used = fs.used
    for number, inode in enumerate(inodes):  # sizes are known without a memfd
        assert inode.size() == len(b"file %d\n" % number) * (number + 1)
    for number, inode in enumerate(inodes):  # and the bytes come back, each file in turn
        assert await _read(inode) == b"file %d\n" % number * (number + 1)
    assert memory_files.held <= BUDGET and fs.used == used  # parking frees no tmpfs room


async def test_the_longest_idle_file_is_parked_first(memory_files: MemoryFiles, fs: Filesystem) -> None:
    inodes = [RegularInode(fs, 0o644) for _ in range(BUDGET)]
    await _write(inodes[0], b"touched last")  # inodes[1] is now the longest idle
    RegularInode(fs, 0o644)
    assert inodes[1].memfd is None and inodes[0].memfd is not None


async def test_an_open_file_keeps_its_memfd(memory_files: MemoryFiles, fs: Filesystem) -> None:
    kept = RegularInode(fs, 0o644)
    file = await kept.open(O_RDWR, KERNEL_CALLER)
    others = [RegularInode(fs, 0o644) for _ in range(3 * BUDGET)]
    assert kept.memfd is not None and memory_files.held <= BUDGET + 1
    file.release()  # idle now, the most recently: parked after the files idle before it
    others.extend(RegularInode(fs, 0o644) for _ in range(BUDGET - 1))
    assert kept.memfd is not None
    others.append(RegularInode(fs, 0o644))
    assert kept.memfd is None


async def test_a_mapped_file_is_never_parked(memory_files: MemoryFiles, fs: Filesystem) -> None:
    mapped = RegularInode(fs, 0o644)
    await _write(mapped, b"mapped")
    mapped.mapped_shared = True  # what map_file does for MAP_SHARED before handing out the fd
    others = [RegularInode(fs, 0o644) for _ in range(3 * BUDGET)]
    assert mapped.memfd is not None and len(others) == 3 * BUDGET


async def test_a_file_larger_than_the_parking_limit_keeps_its_memfd(memory_files: MemoryFiles,
                                                                    fs: Filesystem) -> None:
    large = RegularInode(fs, 0o644)
    await large.truncate(PARK_MAX + 1)  # sparse: no copy of a large file either way
    [RegularInode(fs, 0o644) for _ in range(3 * BUDGET)]
    assert large.memfd is not None


async def test_truncate_and_o_trunc_unpark(memory_files: MemoryFiles, fs: Filesystem) -> None:
    first, second = RegularInode(fs, 0o644), RegularInode(fs, 0o644)
    await _write(first, b"0123456789")
    await _write(second, b"abcdef")
    keep = [RegularInode(fs, 0o644) for _ in range(2 * BUDGET)]
    assert first.memfd is None and second.memfd is None
    await first.truncate(4)
    assert first.memfd is not None and await _read(first) == b"0123"
    await first.truncate(2)  # unparked by a truncate alone, it is idle and parkable again
    keep.extend(RegularInode(fs, 0o644) for _ in range(BUDGET))
    assert first.memfd is None and first.size() == 2
    file = await second.open(O_WRONLY | O_TRUNC, KERNEL_CALLER)
    assert second.size() == 0
    file.release()
    assert len(keep) == 3 * BUDGET


async def test_a_parked_file_that_goes_gives_back_its_room(memory_files: MemoryFiles, fs: Filesystem) -> None:
    inodes = [RegularInode(fs, 0o644) for _ in range(3 * BUDGET)]
    for inode in inodes:
        await _write(inode, bytes(8192))
    assert fs.used == 3 * BUDGET * 8192 and memory_files.held <= BUDGET
    del inodes, inode
    gc.collect()
    assert fs.used == 0 and memory_files.held == 0


@pytest.mark.parametrize(("soft", "budget"), [(64, 32), (512, 256), (20_000, 10_000), (1, 1)])
def test_the_budget_is_half_the_fd_limit(monkeypatch: pytest.MonkeyPatch, soft: int, budget: int) -> None:
    monkeypatch.setattr(memfiles.resource, "getrlimit", lambda resource: (soft, soft))
    assert memfiles.budget_now() == budget
