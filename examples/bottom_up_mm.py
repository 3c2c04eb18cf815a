"""A memory manager with another placement policy: bottom-up, as Linux's legacy layout.

    python -m kernel run --service mm=examples.bottom_up_mm:factory IMAGE -- CMD

Our MM places a mapping the guest gives no (free) address for top-down, below the gap kept for
the stack, as Linux's default layout does. Linux's *legacy* layout (``vm.legacy_va_layout=1``,
or ``setarch -L``) searches bottom-up instead, from ``TASK_UNMAPPED_BASE``, a third of the way up
the address space: successive mmaps climb, and the heap and the mappings grow towards each other.
Some allocators and fuzzers behave differently under it, which makes it a useful experiment.

The policy is a wrapper on :class:`kernel.bus.Delegating`: it changes ``mmap`` and ``mmap_file``
and forwards every other operation of :class:`~services.mm.contract.MemoryContract` to our MM. It
picks the address with the contract's own ``maps`` and hands it to the inner MM as a hint, which
the contract says a free hint is honoured, so the policy works over any MM that keeps the
contract. A free hint from the guest still wins, MAP_FIXED and MAP_32BIT requests are the inner
MM's, and so are moves by mremap; when nothing is free above the base, the inner MM places the
mapping as it would.
"""

from __future__ import annotations

from collections.abc import Hashable

from abi.linux import MAP_32BIT, MAP_FIXED, MAP_FIXED_NOREPLACE, PAGE_SIZE, page_up
from kernel.bus import Actor, Delegating, operation
from kernel.kernel import DEFAULT_SERVICES, Kernel
from services.mm.contract import MapsRow, MemoryContract

#: Lowest address a hint may name (vm.mmap_min_addr's default, as the contract says).
MMAP_MIN_ADDR = 0x10000


def unmapped_base(top: int) -> int:
    """Linux's TASK_UNMAPPED_BASE for an address space ending at ``top``: a third of it."""
    return page_up(top // 3)


class BottomUpMemoryManager(Delegating, MemoryContract):
    """An MM whose mappings without a usable address go to the lowest free range above
    :func:`unmapped_base`; everything else is the inner MM's."""

    def __init__(self, inner: Actor, top: int) -> None:
        super().__init__(inner)
        self.top = top
        self.base = unmapped_base(top)

    @operation
    async def mmap(self, asid: int, addr: int, length: int, prot: int, flags: int, name: str = "") -> int:
        placed = await self._place(asid, addr, length, flags)
        reply: int = await self.forward("mmap", asid, placed, length, prot, flags, name)
        return reply

    @operation
    async def mmap_file(self, asid: int, addr: int, length: int, prot: int, flags: int, fd: int, offset: int,
                        name: str = "", writable: bool | None = None, identity: Hashable | None = None) -> int:
        placed = await self._place(asid, addr, length, flags)
        reply: int = await self.forward("mmap_file", asid, placed, length, prot, flags, fd, offset, name, writable,
                                        identity)
        return reply

    async def _place(self, asid: int, addr: int, length: int, flags: int) -> int:
        """The address to ask the inner MM for: the guest's, if fixed or free, else bottom-up."""
        length = page_up(length)
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_32BIT) or not 0 < length <= self.top:
            return addr  # the inner MM's to place, or to refuse
        rows: list[MapsRow] = await self.forward("maps", asid)
        hint = addr & ~(PAGE_SIZE - 1)
        if hint >= MMAP_MIN_ADDR and _free(rows, hint, hint + length) and hint + length <= self.top:
            return hint
        found = _lowest_free(rows, self.base, length, self.top)
        return addr if found is None else found


def _free(rows: list[MapsRow], start: int, end: int) -> bool:
    return all(row_end <= start or row_start >= end for row_start, row_end, *_ in rows)


def _lowest_free(rows: list[MapsRow], floor: int, length: int, top: int) -> int | None:
    """The lowest ``start >= floor`` with [start, start+length) free and below ``top``."""
    position = floor
    for start, end, *_ in sorted(rows):
        if end <= position:
            continue
        if start >= position + length:
            break
        position = end
    return position if position + length <= top else None


def factory(kernel: Kernel) -> BottomUpMemoryManager:
    """``--service mm=examples.bottom_up_mm:factory``: our MM, placing bottom-up."""
    return BottomUpMemoryManager(DEFAULT_SERVICES["mm"](kernel), kernel.platform.max_user_address)
