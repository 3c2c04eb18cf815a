"""Address ranges built from guest numbers, checked once, the way Linux checks them.

A guest hands the kernel an address and a length as two unsigned 64-bit registers. Adding them
can wrap past 2^64, rounding a length up to whole pages can wrap it to zero, and the end can
pass the top of the user address space: each of those is a distinct answer in Linux (EINVAL,
ENOMEM or EFAULT depending on the call), and none of them may ever reach a loop, a slice or a
struct. Every range the Sentry builds from guest values goes through :func:`page_range` (calls
that work on whole pages: mmap and friends) or :func:`user_range` (``access_ok``: byte ranges
that are read or written), which return plain ``(start, end)`` integers with
``start <= end <= top``, or raise the errno the caller names.
"""

from __future__ import annotations

from abi.errno import EFAULT, EINVAL, Errno
from abi.linux import PAGE_SIZE, TASK_SIZE

#: One past the largest value of a 64-bit register.
U64_LIMIT = 1 << 64
_U64 = U64_LIMIT - 1
_PAGE_MASK = ~(PAGE_SIZE - 1)


def wrapping_add(a: int, b: int) -> int:
    """``a + b`` as the CPU computes it on 64-bit registers (modulo 2^64)."""
    return (a + b) & _U64


def wrapping_sub(a: int, b: int) -> int:
    """``a - b`` on 64-bit registers: a stack pointer moved below 0 wraps to the top."""
    return (a - b) & _U64


def fits(addr: int, length: int, top: int = TASK_SIZE) -> bool:
    """Linux's ``access_ok``: [addr, addr+length) lies wholly below ``top`` without wrapping."""
    return 0 <= addr and 0 <= length and length <= top and addr <= top - length


def user_range(addr: int, length: int, top: int = TASK_SIZE, error: int = EFAULT) -> tuple[int, int]:
    """The byte range [addr, addr+length) if it :func:`fits`; else ``Errno(error)``."""
    if not fits(addr, length, top):
        raise Errno(error)
    return addr, addr + length


def page_align(length: int) -> int:
    """``PAGE_ALIGN(length)`` on a 64-bit register: a length within a page of 2^64 wraps to 0."""
    return (length + PAGE_SIZE - 1) & _PAGE_MASK & _U64


def page_align_length(length: int, error: int = EINVAL) -> int:
    """``PAGE_ALIGN(length)`` for a length from a register; a length that rounds up past 2^64
    (Linux's "small negative rounded up to zero") is ``Errno(error)``."""
    aligned = (length + PAGE_SIZE - 1) & _PAGE_MASK
    if aligned >= U64_LIMIT or (length and not aligned):
        raise Errno(error)
    return aligned


def page_range(addr: int, length: int, top: int, *, misaligned: int = EINVAL, wraps: int = EINVAL,
               beyond: int | None = None) -> tuple[int, int]:
    """The whole pages [addr, addr + PAGE_ALIGN(length)) a memory call works on.

    ``addr`` must be page aligned (else ``misaligned``); a length that wraps when rounded up,
    or an end that wraps past 2^64, is ``wraps``; an end above ``top`` is ``beyond`` (None:
    allowed, for calls like madvise that then find no mapping there and say so themselves).
    The result may be empty (``start == end``).
    """
    if addr % PAGE_SIZE:
        raise Errno(misaligned)
    aligned = page_align_length(length, wraps)
    end = addr + aligned
    if end >= U64_LIMIT:
        raise Errno(wraps)
    if beyond is not None and end > top:
        raise Errno(beyond)
    return addr, end


__all__ = ["U64_LIMIT", "fits", "page_align", "page_align_length", "page_range", "user_range", "wrapping_add",
           "wrapping_sub"]
