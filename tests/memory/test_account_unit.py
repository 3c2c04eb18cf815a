"""The sandbox's memory account (services/mm/account.py) and what charges it: tmpfs/memfd files
(services/vfs/inode.py) and pipe buffers (services/vfs/pipe.py). pytest-trio, no guest."""

from __future__ import annotations

import gc

import pytest
import trio

from abi.creds import KERNEL_CALLER
from abi.errno import ENOMEM, ENOSPC, Errno
from abi.linux import O_RDWR
from services.mm.account import PAGE, MemoryAccount
from services.vfs.inode import Filesystem, RegularInode
from services.vfs.pipe import new_pipe

MIB = 1 << 20


def test_charges_share_one_limit() -> None:
    account = MemoryAccount(4 * MIB)
    account.anon += 2 * MIB  # what the MM commits
    account.charge_shmem(MIB)
    assert account.room() == MIB
    assert account.try_charge_buffers(MIB)
    assert not account.try_charge_buffers(PAGE)
    assert not account.fits(PAGE)
    account.uncharge_buffers(MIB)
    account.charge_shmem(-MIB)
    assert account.usage().used == 2 * MIB and account.room() == 2 * MIB


def test_no_limit_refuses_nothing() -> None:
    account = MemoryAccount(None)
    assert account.try_charge_buffers(1 << 40)
    assert account.fits(1 << 40)


def _tmpfs(account: MemoryAccount) -> Filesystem:
    fs = Filesystem(capacity=1 << 30)  # the file system's own size is not what stops it
    fs.account = account
    return fs


async def test_a_tmpfs_write_stops_at_the_sandbox_memory_and_rm_gives_it_back() -> None:
    account = MemoryAccount(MIB)
    inode = RegularInode(_tmpfs(account), 0o600)
    file = await inode.open(O_RDWR, KERNEL_CALLER)
    chunk = memoryview(bytes(256 * 1024))
    written = 0
    with pytest.raises(Errno) as refused:
        while True:
            written += await file.pwrite([chunk], written)
    assert refused.value.errno == ENOSPC
    assert written == MIB and account.shmem == MIB
    await inode.truncate(MIB // 2)  # truncating down frees the pages past the end
    assert account.shmem == MIB // 2
    await inode.truncate(1 << 30)  # and truncating up reserves nothing: the file is sparse
    assert account.shmem == MIB // 2
    file.release()
    del file, inode, refused  # (the refusal's traceback holds the writer's frame)
    gc.collect()
    assert account.shmem == 0


async def test_concurrent_writers_never_pass_the_limit() -> None:
    account = MemoryAccount(2 * MIB)
    fs = _tmpfs(account)
    inodes = [RegularInode(fs, 0o600) for _ in range(4)]
    totals: list[int] = []

    async def writer(inode: RegularInode) -> None:
        file = await inode.open(O_RDWR, KERNEL_CALLER)
        done = 0
        try:
            while True:
                done += await file.pwrite([memoryview(bytes(64 * 1024))], done)
                assert account.used <= 2 * MIB
                await trio.sleep(0)
        except Errno as error:
            assert error.errno == ENOSPC
        totals.append(done)
        file.release()

    async with trio.open_nursery() as nursery:
        for inode in inodes:
            nursery.start_soon(writer, inode)
    assert sum(totals) == 2 * MIB == account.shmem
    del inodes, inode
    gc.collect()
    assert account.shmem == 0


async def test_a_pipe_charges_what_it_buffers_and_uncharges_what_is_read() -> None:
    account = MemoryAccount(3 * PAGE)
    reader, writer = new_pipe(account=account)
    assert await writer.write([memoryview(bytes(2 * PAGE + 1))]) == 2 * PAGE + 1
    assert account.buffers == 3 * PAGE
    with pytest.raises(Errno) as refused:  # not one more page: Linux's pipe_write gives ENOMEM
        await writer.write([memoryview(bytes(PAGE))])
    assert refused.value.errno == ENOMEM
    into = bytearray(2 * PAGE)
    assert await reader.read([memoryview(into)]) == 2 * PAGE
    assert account.buffers == PAGE
    assert await writer.write([memoryview(bytes(PAGE))]) == PAGE


async def test_closing_both_ends_of_a_full_pipe_gives_its_memory_back() -> None:
    account = MemoryAccount(MIB)
    reader, writer = new_pipe(account=account)
    await writer.write([memoryview(bytes(10 * PAGE))])
    assert account.buffers == 10 * PAGE
    writer.release()
    assert account.buffers == 10 * PAGE  # still readable
    reader.release()
    assert account.buffers == 0
