"""The futex table on its own: keyed queues, no lost wake-ups, requeue, bitsets, wake-op."""

from __future__ import annotations

import struct

import pytest
import trio
import trio.testing

from abi.errno import EAGAIN, ETIMEDOUT
from abi.errno import Errno
from services.signals.futex import FutexTable, apply_op, compare_op


@pytest.fixture
def memory() -> memoryview:
    return memoryview(bytearray(4096))


def put(memory: memoryview, key: int, value: int) -> None:
    struct.pack_into("<I", memory, key, value)


async def test_wait_needs_the_expected_value(memory: memoryview) -> None:
    table = FutexTable(memory)
    put(memory, 0, 1)
    with pytest.raises(Errno) as error:
        await table.wait(0, 0, 0, 0xFFFF_FFFF, None)
    assert error.value.errno == EAGAIN


async def test_a_wake_right_after_the_check_is_not_lost(memory: memoryview) -> None:
    """The waiter is queued in the same step as the check: a waker that runs at the next
    scheduling point finds it."""
    table = FutexTable(memory)
    woken = []

    async def waiter() -> None:
        await table.wait(0, 0, 0, 0xFFFF_FFFF, None)
        woken.append(True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        put(memory, 0, 1)
        assert table.wake(0, 1) == 1
    assert woken == [True]


async def test_timeout(memory: memoryview, autojump_clock: trio.testing.MockClock) -> None:
    table = FutexTable(memory)
    with pytest.raises(Errno) as error:
        await table.wait(0, 0, 0, 0xFFFF_FFFF, 0.5)
    assert error.value.errno == ETIMEDOUT
    assert table.waiters(0) == 0


async def test_wake_counts_bitsets_and_requeue(memory: memoryview) -> None:
    table = FutexTable(memory)
    async with trio.open_nursery() as nursery:
        for bitset in (1, 2, 1, 1):
            nursery.start_soon(table.wait, 0, 0, 0, bitset, None)
        await trio.testing.wait_all_tasks_blocked()
        assert table.wake(0, 10, 2) == 1
        assert table.requeue(0, 8, 1, 1, expected=0, offset=0) == 2
        assert (table.waiters(0), table.waiters(8)) == (1, 1)
        with pytest.raises(Errno):
            table.requeue(0, 8, 1, 1, expected=5, offset=0)
        assert table.wake(8, 10) + table.wake(0, 10) == 2


async def test_cancelled_waiters_leave_the_queue(memory: memoryview) -> None:
    table = FutexTable(memory)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(table.wait, 0, 0, 0, 0xFFFF_FFFF, None)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert table.waiters(0) == 0


def test_wake_op_encoding() -> None:
    add_one_if_greater_than_4 = (1 << 28) | (4 << 24) | (1 << 12) | 4
    assert apply_op(5, add_one_if_greater_than_4) == 6
    assert compare_op(5, add_one_if_greater_than_4)
    assert not compare_op(4, add_one_if_greater_than_4)
    shift_or = ((2 | 8) << 28) | (3 << 12)  # OR with 1 << 3
    assert apply_op(1, shift_or) == 9
