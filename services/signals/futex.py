"""Futex wait queues, keyed by the futex's identity as the MM names it.

A futex is a 32-bit word of guest memory. The MM's ``futex_key`` gives each word two things: its
identity (the page's place in the memory file for a word of MAP_SHARED memory, so processes
sharing the page share the futex; (address space, address) for any other word, as Linux's
private futexes and anonymous private memory are keyed) and its memory-file offset now, where
the word is read. Queues are keyed by identity; the offset is used only at the moment of a read.

Everything runs on the Sentry's one trio thread, so reading the word and queueing the waiter
happen with no checkpoint between them: a waker (which must go through this table) can never
slip in between, and no wake-up is lost.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

import trio

from abi.errno import EAGAIN, ENOSYS, ERESTARTSYS, ETIMEDOUT
from abi.linux import (
    FUTEX_OP_ADD,
    FUTEX_OP_ANDN,
    FUTEX_OP_CMP_EQ,
    FUTEX_OP_CMP_GE,
    FUTEX_OP_CMP_GT,
    FUTEX_OP_CMP_LE,
    FUTEX_OP_CMP_LT,
    FUTEX_OP_CMP_NE,
    FUTEX_OP_OPARG_SHIFT,
    FUTEX_OP_OR,
    FUTEX_OP_SET,
    FUTEX_OP_XOR,
)
from abi.errno import Errno

_WORD = struct.Struct("<I")


@dataclass(eq=False, slots=True)
class Waiter:
    """One thread sleeping on a futex."""

    key: Hashable
    bitset: int
    event: trio.Event = field(default_factory=trio.Event)
    #: Woken by a signal for the thread (:meth:`FutexTable.interrupt`), not by a futex wake.
    interrupted: bool = False


class FutexTable:
    """Wait queues of every futex in the sandbox, over the memory file's view."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._queues: dict[Hashable, deque[Waiter]] = {}
        #: The waiters of the threads whose sleep a signal ends here (see :meth:`interrupt`).
        self._sleepers: dict[int, Waiter] = {}

    def word(self, offset: int) -> int:
        """The word at memory-file ``offset``."""
        return _WORD.unpack_from(self._view, offset)[0]

    def waiters(self, key: Hashable) -> int:
        """How many threads sleep on ``key`` (for tests and diagnostics)."""
        return len(self._queues.get(key, ()))

    async def wait(self, key: Hashable, offset: int, expected: int, bitset: int, timeout: float | None,
                   tid: int | None = None) -> None:
        """Sleep on ``key`` if its word (at ``offset``) still holds ``expected``; EAGAIN if
        not, ETIMEDOUT. With ``tid``, the sleeping thread's: :meth:`interrupt` may end the
        sleep, which then fails with ERESTARTSYS."""
        if self.word(offset) != expected & 0xFFFF_FFFF:
            raise Errno(EAGAIN)
        waiter = Waiter(key, bitset)
        self._queues.setdefault(key, deque()).append(waiter)
        if tid is not None:
            self._sleepers[tid] = waiter
        try:
            if timeout is None:  # no cancel scope to build: ~5 us here, and most waits are these
                await waiter.event.wait()
            else:
                with trio.move_on_after(timeout):
                    await waiter.event.wait()
        finally:
            if tid is not None and self._sleepers.get(tid) is waiter:
                del self._sleepers[tid]
            if not waiter.event.is_set():
                self._remove(waiter)
        if waiter.interrupted:
            raise Errno(ERESTARTSYS)
        if not waiter.event.is_set():
            raise Errno(ETIMEDOUT)

    def interrupt(self, tid: int) -> None:
        """A signal awaits thread ``tid``: end its futex sleep, if it sleeps here (a wake that
        came first stands)."""
        waiter = self._sleepers.pop(tid, None)
        if waiter is not None and not waiter.event.is_set():
            self._remove(waiter)
            waiter.interrupted = True
            waiter.event.set()

    def _remove(self, waiter: Waiter) -> None:
        queue = self._queues.get(waiter.key)
        if queue is not None:
            try:
                queue.remove(waiter)
            except ValueError:
                pass
            if not queue:
                del self._queues[waiter.key]

    def wake(self, key: Hashable, count: int, bitset: int = 0xFFFF_FFFF) -> int:
        """Wake up to ``count`` waiters of ``key`` whose bitset meets ``bitset``; how many woke."""
        queue = self._queues.get(key)
        if not queue or count <= 0:
            return 0
        woken = []
        for waiter in queue:
            if len(woken) >= count:
                break
            if waiter.bitset & bitset:
                woken.append(waiter)
        for waiter in woken:
            queue.remove(waiter)
            waiter.event.set()
        if not queue:
            del self._queues[key]
        return len(woken)

    def requeue(self, key: Hashable, target: Hashable, wake: int, move: int, expected: int | None,
                offset: int = 0) -> int:
        """Wake ``wake`` waiters of ``key`` and move up to ``move`` more to ``target``.

        With ``expected`` (FUTEX_CMP_REQUEUE) the word (at ``offset``) must still hold it,
        else EAGAIN.
        Returns woken + moved, as Linux does for CMP_REQUEUE.
        """
        if expected is not None and self.word(offset) != expected & 0xFFFF_FFFF:
            raise Errno(EAGAIN)
        done = self.wake(key, wake)
        queue = self._queues.get(key)
        if not queue or move <= 0:
            return done
        if key == target:  # Linux "moves" them onto the same queue, and counts them
            return done + min(len(queue), move)
        moved = 0
        destination = self._queues.setdefault(target, deque())
        while queue and moved < move:
            waiter = queue.popleft()
            waiter.key = target
            destination.append(waiter)
            moved += 1
        if not queue:
            del self._queues[key]
        return done + moved

    def wake_op(self, key1: Hashable, key2: Hashable, offset2: int, wake1: int, wake2: int, op: int) -> int:
        """FUTEX_WAKE_OP: change the word of ``key2`` (at ``offset2``), wake on ``key1`` and,
        if the old word passes the comparison, on ``key2`` too."""
        old = self.word(offset2)
        new = apply_op(old, op)
        _WORD.pack_into(self._view, offset2, new)
        woken = self.wake(key1, wake1)
        if compare_op(old, op):
            woken += self.wake(key2, wake2)
        return woken


def _sign_extend12(value: int) -> int:
    return value - (1 << 12) if value & 0x800 else value


def apply_op(old: int, encoded: int) -> int:
    """The new word FUTEX_WAKE_OP's operation makes of ``old``."""
    op = (encoded >> 28) & 0xF
    oparg = _sign_extend12((encoded >> 12) & 0xFFF)
    if op & FUTEX_OP_OPARG_SHIFT:
        op &= ~FUTEX_OP_OPARG_SHIFT
        if not 0 <= oparg <= 31:
            oparg &= 31  # Linux warns and masks
        oparg = 1 << oparg
    if op == FUTEX_OP_SET:
        new = oparg
    elif op == FUTEX_OP_ADD:
        new = old + oparg
    elif op == FUTEX_OP_OR:
        new = old | oparg
    elif op == FUTEX_OP_ANDN:
        new = old & ~oparg
    elif op == FUTEX_OP_XOR:
        new = old ^ oparg
    else:
        raise Errno(ENOSYS)
    return new & 0xFFFF_FFFF


def compare_op(old: int, encoded: int) -> bool:
    """Whether ``old`` passes FUTEX_WAKE_OP's comparison (signed, as Linux compares)."""
    cmp = (encoded >> 24) & 0xF
    cmparg = _sign_extend12(encoded & 0xFFF)
    value = old - (1 << 32) if old >> 31 else old
    if cmp == FUTEX_OP_CMP_EQ:
        return value == cmparg
    if cmp == FUTEX_OP_CMP_NE:
        return value != cmparg
    if cmp == FUTEX_OP_CMP_LT:
        return value < cmparg
    if cmp == FUTEX_OP_CMP_LE:
        return value <= cmparg
    if cmp == FUTEX_OP_CMP_GT:
        return value > cmparg
    if cmp == FUTEX_OP_CMP_GE:
        return value >= cmparg
    raise Errno(ENOSYS)
