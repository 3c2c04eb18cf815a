"""futex(2) and futex2's calls (futex_wake, futex_wait, futex_waitv, futex_requeue), and what a
thread's exit does to futexes: clear-child-tid and robust lists.

The wait queues belong to the ``signals`` actor; this module decodes the call as the man page
describes it and turns timeouts into seconds from now.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import trio

from abi import structs
from abi.encoding import timespec_to_ns
from abi.errno import EINVAL, ENOSYS, ETIMEDOUT
from abi.linux import (
    CLOCK_MONOTONIC,
    CLOCK_REALTIME,
    FUTEX2_NUMA,
    FUTEX2_PRIVATE,
    FUTEX2_SIZE_MASK,
    FUTEX2_SIZE_U32,
    FUTEX2_VALID_FLAGS,
    FUTEX_BITSET_MATCH_ANY,
    FUTEX_CLOCK_REALTIME,
    FUTEX_CMD_MASK,
    FUTEX_PRIVATE_FLAG,
    FUTEX_CMP_REQUEUE,
    FUTEX_OWNER_DIED,
    FUTEX_REQUEUE,
    FUTEX_TID_MASK,
    FUTEX_WAIT,
    FUTEX_WAIT_BITSET,
    FUTEX_WAITERS,
    FUTEX_WAKE,
    FUTEX_WAKE_BITSET,
    FUTEX_WAITV_MAX,
    FUTEX_WAKE_OP,
    NSEC_PER_SEC,
    ROBUST_LIST_LIMIT,
)
from abi.errno import Errno
from kernel.syscalls.args import Addr, Int, UInt, ULong
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

_INT_MAX = 0x7FFF_FFFF


async def _timeout(t: Task, addr: int, absolute: bool, clock: int) -> float | None:
    """Seconds from now until the guest's timespec at ``addr`` runs out; None for no timeout."""
    if not addr:
        return None
    seconds, nanoseconds = await t.mm.read_struct(structs.TIMESPEC, addr)
    ns = timespec_to_ns(seconds, nanoseconds)  # EINVAL unless valid; 2^63 seconds is 292 years
    if absolute:
        ns -= time.clock_gettime_ns(clock)
    return max(ns, 0) / NSEC_PER_SEC


@syscall
async def futex(t: Task, uaddr: Addr, futex_op: Int, val: UInt, timeout: ULong, uaddr2: Addr, val3: UInt) -> int:
    """Wait on, wake, requeue or operate on the futex word at ``uaddr``."""
    cmd = futex_op & FUTEX_CMD_MASK
    realtime = bool(futex_op & FUTEX_CLOCK_REALTIME)
    if realtime and cmd not in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        raise Errno(ENOSYS)
    signals = t.kernel.bus
    asid = t.mm.asid
    private = bool(futex_op & FUTEX_PRIVATE_FLAG)
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAIT else val3
        clock = CLOCK_REALTIME if realtime else CLOCK_MONOTONIC
        seconds = await _timeout(t, timeout, absolute=cmd == FUTEX_WAIT_BITSET, clock=clock)
        return await t.sleep_ended_by_signals(signals.call("signals", "futex_wait", asid, uaddr, val, bitset,
                                                            seconds, private, t.tid))
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bitset = FUTEX_BITSET_MATCH_ANY if cmd == FUTEX_WAKE else val3
        return await signals.call("signals", "futex_wake", asid, uaddr, min(val, _INT_MAX), bitset, private)
    if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        move = timeout & 0xFFFF_FFFF
        expected = val3 if cmd == FUTEX_CMP_REQUEUE else None
        return await signals.call("signals", "futex_requeue", asid, uaddr, uaddr2,
                                  _as_int(val), _as_int(move), expected, private)
    if cmd == FUTEX_WAKE_OP:
        return await signals.call("signals", "futex_wake_op", asid, uaddr, uaddr2,
                                  _as_int(val), _as_int(timeout & 0xFFFF_FFFF), val3, private)
    raise Errno(ENOSYS)  # PI futexes and FUTEX_FD


def _as_int(value: int) -> int:
    """A u32 count as the kernel's signed int (a "negative" count is EINVAL)."""
    return value - (1 << 32) if value >> 31 else value


async def wake_futex(t: Task, addr: int, count: int) -> None:
    """Wake ``count`` waiters of the futex at ``addr``, ignoring a bad address."""
    try:
        await t.kernel.bus.call("signals", "futex_wake", t.mm.asid, addr, count, FUTEX_BITSET_MATCH_ANY)
    except Errno:
        pass


async def clear_child_tid(t: Task) -> None:
    """CLONE_CHILD_CLEARTID / set_tid_address at thread exit: write 0 there and wake one waiter
    (pthread_join sleeps on that word)."""
    addr, t.clear_child_tid = t.clear_child_tid, 0
    if not addr:
        return
    try:
        await t.mm.write_struct(structs.U32, addr, 0)
    except Errno:
        return
    await wake_futex(t, addr, 1)


async def exit_robust_list(t: Task) -> None:
    """Mark every robust mutex the exiting thread holds as FUTEX_OWNER_DIED and wake a waiter.

    Walks the list as Linux's exit_robust_list does: at most ROBUST_LIST_LIMIT entries, then
    the entry the thread was in the middle of adding or removing (list_op_pending).
    """
    head, _length = t.robust_list
    t.robust_list = (0, 0)
    if not head:
        return
    try:
        entry, offset, pending = await t.mm.read_struct(structs.ROBUST_LIST_HEAD, head)
        entry, pending = entry & ~1, pending & ~1  # bit 0 marks PI futexes
        seen = 0
        while entry != head and entry and seen < ROBUST_LIST_LIMIT:
            (following,) = await t.mm.read_struct(structs.U64, entry)
            following &= ~1
            if entry != pending:
                await _owner_died(t, entry + offset)
            entry = following
            seen += 1
        if pending:
            await _owner_died(t, pending + offset)
    except Errno:
        return


async def _owner_died(t: Task, addr: int) -> None:
    (word,) = await t.mm.read_struct(structs.U32, addr)
    if word & FUTEX_TID_MASK != t.tid:
        return
    await t.mm.write_struct(structs.U32, addr, (word & FUTEX_WAITERS) | FUTEX_OWNER_DIED)
    if word & FUTEX_WAITERS:
        await wake_futex(t, addr, 1)


def _futex2_flags(flags: int) -> bool:
    """The futex2 flags as futex_wake/futex_wait check them: a 32-bit word only (the other sizes
    and FUTEX2_NUMA are EINVAL, as on a kernel without them); whether the futex is private."""
    if flags & ~FUTEX2_VALID_FLAGS or flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32 or flags & FUTEX2_NUMA:
        raise Errno(EINVAL)
    return bool(flags & FUTEX2_PRIVATE)


@syscall
async def futex_wake(t: Task, uaddr: Addr, mask: ULong, nr: Int, flags: UInt) -> int:
    """futex2's wake: up to ``nr`` waiters on the word whose bitset meets ``mask``."""
    private = _futex2_flags(flags)
    if not 0 < mask <= 0xFFFF_FFFF or uaddr % 4:  # (futex_validate_input: a u32's values only)
        raise Errno(EINVAL)
    return await t.kernel.bus.call("signals", "futex_wake", t.mm.asid, uaddr, max(0, min(nr, _INT_MAX)), mask,
                                   private)


@syscall
async def futex_wait(t: Task, uaddr: Addr, val: ULong, mask: ULong, flags: UInt, timeout: Addr, clockid: Int) -> int:
    """futex2's wait: sleep while the word is ``val``, until woken through ``mask`` or the absolute
    ``timeout`` on ``clockid`` (CLOCK_MONOTONIC or CLOCK_REALTIME) passes."""
    private = _futex2_flags(flags)
    if val > 0xFFFF_FFFF or not 0 < mask <= 0xFFFF_FFFF or uaddr % 4:
        raise Errno(EINVAL)
    if timeout and clockid not in (CLOCK_MONOTONIC, CLOCK_REALTIME):
        raise Errno(EINVAL)
    seconds = await _timeout(t, timeout, absolute=True, clock=clockid) if timeout else None
    return await t.sleep_ended_by_signals(t.kernel.bus.call("signals", "futex_wait", t.mm.asid, uaddr, val, mask,
                                                            seconds, private, t.tid))


async def _read_waitv(t: Task, addr: int, count: int) -> list[tuple[int, int, bool]]:
    """``count`` struct futex_waitv at ``addr`` as (val, uaddr, private), checked as Linux's
    futex_parse_waitv: EINVAL for a reserved field set, bad flags, or a val past 32 bits."""
    raw = await t.mm.copy_in(addr, count * structs.FUTEX_WAITV.size)
    entries = []
    for val, uaddr, flags, reserved in structs.FUTEX_WAITV.iter_unpack(raw):
        if reserved:
            raise Errno(EINVAL)
        private = _futex2_flags(flags)
        if val > 0xFFFF_FFFF:
            raise Errno(EINVAL)
        entries.append((val, uaddr, private))
    return entries


@syscall
async def futex_requeue(t: Task, waiters: Addr, flags: UInt, nr_wake: Int, nr_requeue: Int) -> int:
    """futex2's FUTEX_CMP_REQUEUE: ``waiters`` is two struct futex_waitv, the futex to wake
    ``nr_wake`` of (while its word is still its ``val``) and where up to ``nr_requeue`` more move."""
    if flags:
        raise Errno(EINVAL)
    (val, uaddr, private), (_, uaddr2, private2) = await _read_waitv(t, waiters, 2)
    if private != private2:
        raise Errno(EINVAL)  # Linux mandates the same flags for both, for now
    return await t.kernel.bus.call("signals", "futex_requeue", t.mm.asid, uaddr, uaddr2, nr_wake, nr_requeue, val,
                                   private)


@syscall
async def futex_waitv(t: Task, waiters: Addr, nr_futexes: UInt, flags: UInt, timeout: Addr, clockid: Int) -> int:
    """Sleep on up to 128 futexes at once (each while its word is its ``val``) until one is woken,
    whose index is returned, or the absolute ``timeout`` on ``clockid`` passes."""
    if flags or not 0 < nr_futexes <= FUTEX_WAITV_MAX or not waiters:
        raise Errno(EINVAL)
    if timeout and clockid not in (CLOCK_MONOTONIC, CLOCK_REALTIME):
        raise Errno(EINVAL)
    seconds = await _timeout(t, timeout, absolute=True, clock=clockid) if timeout else None
    entries = await _read_waitv(t, waiters, nr_futexes)
    return await t.blocking(_wait_any(t, entries, seconds))


async def _wait_any(t: Task, entries: list[tuple[int, int, bool]], seconds: float | None) -> int:
    """One wait per futex; the first to end (woken, or its word differs: EAGAIN) ends the rest,
    whose cancelled waits leave their queues."""
    bus, asid = t.kernel.bus, t.mm.asid
    woken: list[int] = []
    failed: list[Errno] = []

    async def wait_one(index: int, val: int, uaddr: int, private: bool, done: trio.CancelScope) -> None:
        try:
            await bus.call("signals", "futex_wait", asid, uaddr, val, FUTEX_BITSET_MATCH_ANY, None, private)
            woken.append(index)
        except Errno as error:
            failed.append(error)
        done.cancel()

    with trio.move_on_after(math.inf if seconds is None else seconds):
        async with trio.open_nursery() as nursery:
            for index, (val, uaddr, private) in enumerate(entries):
                nursery.start_soon(wait_one, index, val, uaddr, private, nursery.cancel_scope)
    if woken:
        return woken[0]
    if failed:
        raise failed[0]
    raise Errno(ETIMEDOUT)
