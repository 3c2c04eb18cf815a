"""A process's view of the memory manager: guest memory access as bus operations.

Handlers use ``t.mm`` (a :class:`MemoryClient` bound to the process's address space) instead of
addressing the MM actor by hand. Each method is one bus call — routed through the bus on every
call, so a swapped MM actor or an interceptor sees it — and bulk data travels by reference
(memoryviews of the memory file), never copied into a message.
"""

from __future__ import annotations

import struct
from typing import Any

from kernel.bus import Bus


class MemoryClient:
    """Guest memory of one address space (``asid``), reached through the ``mm`` service."""

    __slots__ = ("_bus", "asid")

    def __init__(self, bus: Bus, asid: int) -> None:
        self._bus = bus
        self.asid = asid

    async def copy_in(self, addr: int, length: int) -> bytes:
        """Read guest memory; Errno(EFAULT) if any byte is unmapped or unreadable."""
        return await self._bus.call("mm", "copy_in", self.asid, addr, length)

    async def copy_out(self, addr: int, data: bytes | bytearray | memoryview, force: bool = False) -> None:
        """Write guest memory; ``force`` ignores page protection (the loader writing text)."""
        await self._bus.call("mm", "copy_out", self.asid, addr, data, force)

    async def iovecs(self, addr: int, length: int, write: bool) -> list[memoryview]:
        """Zero-copy views of a guest range, for host I/O straight into or out of guest memory."""
        return await self._bus.call("mm", "iovecs", self.asid, addr, length, write)

    async def read_cstring(self, addr: int, limit: int) -> bytes:
        """A NUL-terminated string (without the NUL); Errno(ENAMETOOLONG) past ``limit``."""
        return await self._bus.call("mm", "read_cstring", self.asid, addr, limit)

    async def read_struct(self, layout: struct.Struct, addr: int) -> tuple[Any, ...]:
        return layout.unpack(await self.copy_in(addr, layout.size))

    async def write_struct(self, layout: struct.Struct, addr: int, *values: Any) -> None:
        await self.copy_out(addr, layout.pack(*values))

    async def call(self, op: str, *args: Any) -> Any:
        """Any other MM operation on this address space (mmap, brk, mprotect ...)."""
        return await self._bus.call("mm", op, self.asid, *args)
