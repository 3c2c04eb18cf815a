"""The VFS lock tables: ranges split and merge, conflicts, waiters and deadlock detection."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from abi.errno import EAGAIN, EDEADLK
from abi.linux import F_RDLCK, F_UNLCK, F_WRLCK
from abi.errno import Errno
from services.vfs.locks import OFFSET_MAX, LockRegistry, LockTable


def _ranges(table: LockTable) -> list[tuple[int, int, int]]:
    return [(lock.kind, lock.start, lock.end) for lock in table.locks]


def test_unlocking_the_middle_splits_and_same_type_neighbours_merge() -> None:
    table, owner = LockTable(), object()
    table.set(owner, F_WRLCK, 0, 99, 1)
    table.set(owner, F_UNLCK, 10, 19, 1)
    assert _ranges(table) == [(F_WRLCK, 0, 9), (F_WRLCK, 20, 99)]
    table.set(owner, F_WRLCK, 10, 19, 1)
    assert _ranges(table) == [(F_WRLCK, 0, 99)]
    table.set(owner, F_RDLCK, 50, OFFSET_MAX, 1)
    assert _ranges(table) == [(F_WRLCK, 0, 49), (F_RDLCK, 50, OFFSET_MAX)]


def test_conflicts_need_another_owner_an_overlap_and_a_writer() -> None:
    table, a, b = LockTable(), object(), object()
    table.set(a, F_RDLCK, 0, 9, 1)
    assert table.conflict(a, F_WRLCK, 0, 9) is None
    assert table.conflict(b, F_RDLCK, 5, 5) is None
    assert table.conflict(b, F_WRLCK, 10, 20) is None
    assert table.conflict(b, F_WRLCK, 9, 20) is table.locks[0]


async def test_a_waiter_gets_the_lock_when_it_is_released() -> None:
    locks = LockRegistry()
    key, a, b = (-2, 1), object(), object()
    await locks.acquire(key, False, a, F_WRLCK, 0, 0, 1, wait=False)
    with pytest.raises(Errno) as failed:
        await locks.acquire(key, False, b, F_WRLCK, 0, 0, 2, wait=False)
    assert failed.value.errno == EAGAIN
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: locks.acquire(key, False, b, F_WRLCK, 0, 0, 2, wait=True))
        await trio.testing.wait_all_tasks_blocked()
        assert [lock.owner for lock in locks.locks_of(key).records.locks] == [a]
        locks.release(key, a)
    assert [lock.owner for lock in locks.locks_of(key).records.locks] == [b]
    locks.release(key, b)


async def test_two_owners_waiting_for_each_other_deadlock() -> None:
    locks = LockRegistry()
    key, a, b = (-2, 2), object(), object()
    await locks.acquire(key, False, a, F_WRLCK, 0, 0, 1, wait=False)
    await locks.acquire(key, False, b, F_WRLCK, 1, 1, 2, wait=False)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: locks.acquire(key, False, b, F_WRLCK, 0, 0, 2, wait=True,
                                                 posix=True))
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(Errno) as failed:
            await locks.acquire(key, False, a, F_WRLCK, 1, 1, 1, wait=True, posix=True)
        assert failed.value.errno == EDEADLK
        locks.release(key, a)
    locks.release(key, b)
    assert key not in locks._files
