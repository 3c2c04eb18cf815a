"""Argument types of system call handlers.

Registers are unsigned 64-bit. A handler says how to read each argument with an annotation from
this module, and the table decodes the registers accordingly before the call::

    @syscall
    async def write(t: Task, fd: Fd, buf: Addr, count: Size) -> int: ...

An unannotated argument (or ``int``) is the raw register value.
"""

from __future__ import annotations

from typing import Annotated


def _signed32(value: int) -> int:
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value >> 31 else value


def _unsigned32(value: int) -> int:
    return value & 0xFFFF_FFFF


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value


class Decoder:
    """Marks an annotation with the function that turns a register into the argument."""

    __slots__ = ("convert", "c_type")

    def __init__(self, convert: object, c_type: str) -> None:
        self.convert = convert
        self.c_type = c_type


#: C ``int``: file descriptors, flags, clock ids, signal numbers.
Int = Annotated[int, Decoder(_signed32, "int")]
Fd = Annotated[int, Decoder(_signed32, "int")]
#: C ``unsigned int``.
UInt = Annotated[int, Decoder(_unsigned32, "unsigned int")]
#: C ``long`` / ``off_t`` / ``ssize_t``.
Long = Annotated[int, Decoder(_signed64, "long")]
Off = Annotated[int, Decoder(_signed64, "off_t")]
#: C ``unsigned long`` / ``size_t``: the register as it is.
ULong = Annotated[int, Decoder(None, "unsigned long")]
Size = Annotated[int, Decoder(None, "size_t")]
#: A guest pointer: the register as it is, to be passed to the MM, never dereferenced here.
Addr = Annotated[int, Decoder(None, "void *")]

__all__ = ["Addr", "Decoder", "Fd", "Int", "Long", "Off", "Size", "UInt", "ULong"]
