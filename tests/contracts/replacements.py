"""Replacements that cannot serve, for the boot-time checks of ``--service`` (test_swapping.py)."""

from __future__ import annotations

from typing import Any

from kernel.bus import Actor, operation
from kernel.kernel import DEFAULT_SERVICES
from services.mm.contract import MemoryContract

#: Not a factory at all.
NOT_CALLABLE = 42


def not_an_actor(kernel: Any) -> object:
    """A factory returning something that is not an actor."""
    return {"mmap": None}


def failing(kernel: Any) -> Actor:
    """A factory with a bug."""
    raise KeyError("no such setting")


class HalfAnMM(Actor):
    """Duck-typed, without the contract: offers one operation of the MM's."""

    @operation
    async def mmap(self, asid: int, addr: int, length: int, prot: int, flags: int, name: str = "") -> int:
        return addr


def half_an_mm(kernel: Any) -> Actor:
    return HalfAnMM()


class ForgetfulMM(MemoryContract):
    """Subclasses the contract but implements only ``brk``: the rest are the declarations."""

    @operation
    async def brk(self, asid: int, addr: int) -> int:
        return addr


def forgetful_mm(kernel: Any) -> Actor:
    return ForgetfulMM()


def signals_as_mm(kernel: Any) -> Actor:
    """Our signals actor, offered as the MM."""
    return DEFAULT_SERVICES["signals"](kernel)
