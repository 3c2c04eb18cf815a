"""The ``signals`` actor: futexes (and, as they arrive, signal queues).

Futex operations take an address space and a guest address; the MM translates the address to
its memory-file offset, which is the futex's key (see :mod:`services.signals.futex`).
"""

from __future__ import annotations

from kernel.abi.errno import EINVAL
from kernel.bus import Actor, Bus, operation
from kernel.errors import Errno
from services.signals.futex import FutexTable


class SignalsActor(Actor):
    """The ``signals`` service."""

    service = "signals"

    def __init__(self, bus: Bus, memfile_view: memoryview) -> None:
        self._bus = bus
        self.futexes = FutexTable(memfile_view)

    async def _key(self, asid: int, addr: int, write: bool = False) -> int:
        if addr % 4:
            raise Errno(EINVAL)
        return await self._bus.call("mm", "translate", asid, addr, write)

    @operation
    async def futex_wait(self, asid: int, addr: int, expected: int, bitset: int, timeout: float | None) -> int:
        """Sleep while the word at ``addr`` holds ``expected``: 0 when woken, else an errno."""
        if bitset == 0:
            raise Errno(EINVAL)
        key = await self._key(asid, addr)
        await self.futexes.wait(key, expected, bitset, timeout)
        return 0

    @operation
    async def futex_wake(self, asid: int, addr: int, count: int, bitset: int) -> int:
        if bitset == 0:
            raise Errno(EINVAL)
        return self.futexes.wake(await self._key(asid, addr), count, bitset)

    @operation
    async def futex_requeue(self, asid: int, addr: int, addr2: int, wake: int, move: int,
                            expected: int | None) -> int:
        if wake < 0 or move < 0:
            raise Errno(EINVAL)
        key = await self._key(asid, addr)
        target = await self._key(asid, addr2)
        return self.futexes.requeue(key, target, wake, move, expected)

    @operation
    async def futex_wake_op(self, asid: int, addr: int, addr2: int, wake1: int, wake2: int, op: int) -> int:
        key = await self._key(asid, addr)
        key2 = await self._key(asid, addr2, write=True)
        return self.futexes.wake_op(key, key2, wake1, wake2, op)

    @operation
    async def futex_waiters(self, asid: int, addr: int) -> int:
        """How many threads sleep on the futex at ``addr``."""
        return self.futexes.waiters(await self._key(asid, addr))
