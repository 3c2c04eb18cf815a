"""Platforms: how guest code runs on the CPU and how the Sentry regains control.

A platform offers three things, as in gVisor's ``pkg/sentry/platform``:

* :class:`Platform` makes address spaces;
* :class:`AddressSpace` is a guest address space whose pages are mappings of the memory file;
* :class:`Context` is one guest thread's register state plus a way to run it until it traps.

The only platform today is ``platforms.ptrace`` (stub processes under ``PTRACE_SYSEMU``). The
package is called ``platforms`` because a top-level ``platform`` would shadow Python's
standard-library module of that name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol


class StopReason(enum.IntEnum):
    """Why :meth:`Context.switch` returned."""

    #: The thread executed ``syscall``; the number is in ``regs.orig_rax``.
    SYSCALL = 1
    #: The thread took a fault or a signal from the host; see :attr:`Context.fault`.
    FAULT = 2
    #: The host thread is gone (killed from outside); the context is dead.
    DIED = 3


@dataclass(slots=True)
class Fault:
    """A synchronous fault of a guest thread, as Linux's siginfo describes it."""

    signo: int
    code: int
    #: Faulting address for SIGSEGV/SIGBUS/SIGFPE/SIGILL, else 0.
    addr: int


class Context(Protocol):
    """One guest thread: its registers and a way to run it.

    ``regs`` is a ctypes ``user_regs_struct`` valid after every stop. Handlers may change it;
    the platform writes back only what changed (:meth:`set_return` for ``rax`` alone,
    :meth:`regs_changed` for anything else) when the thread next runs.
    """

    regs: Any
    fault: Fault | None

    async def switch(self) -> StopReason:
        """Run the guest thread until it traps, faults or dies."""
        ...

    def set_return(self, value: int) -> None:
        """Set the system call's return value (``rax``), written back at the next switch."""
        ...

    def regs_changed(self) -> None:
        """Write all of ``regs`` back at the next switch."""
        ...

    def get_fp_state(self) -> bytes:
        """The thread's FP/SSE/AVX state in XSAVE layout."""
        ...

    def set_fp_state(self, state: bytes) -> None:
        ...

    def copy_fp_state_from(self, other: Context) -> None:
        """Take ``other``'s FP state, as a new thread or process does from its creator."""
        ...

    def cpu_time_ns(self, whole_process: bool) -> int:
        """CPU time the guest thread (or its whole address space's threads) has used."""
        ...

    def interrupt(self) -> None:
        """Make a running guest thread stop soon (a signal awaits it); :meth:`switch` then
        returns FAULT with a non-positive si_code. Harmless if the thread is not running."""
        ...

    def release(self) -> None:
        """End the host thread behind this context."""
        ...


class AddressSpace(Protocol):
    """A guest address space: mappings of the memory file, and the threads that run in it."""

    async def map(self, addr: int, length: int, prot: int, offset: int, populate: bool = False) -> None:
        """Map ``length`` bytes of the memory file at ``offset`` to ``addr``, replacing what was there."""
        ...

    async def unmap(self, addr: int, length: int) -> None:
        ...

    async def protect(self, addr: int, length: int, prot: int) -> None:
        ...

    async def new_context(self) -> Context:
        """A new thread running in this address space (registers to be set by the caller)."""
        ...

    def release(self) -> None:
        """Kill every thread of the address space."""
        ...


@dataclass(frozen=True)
class Vdso:
    """A vDSO present at the same place in every address space the platform makes.

    Its clock functions read the time without a system call, as on Linux; a clock they cannot
    read that way falls back to a ``syscall`` instruction, which traps to the Sentry as any
    other does. The guest learns ``base`` from AT_SYSINFO_EHDR."""

    #: The vDSO's ELF image: AT_SYSINFO_EHDR.
    base: int
    #: Its mappings as /proc/PID/maps names them: (start, end, prot, name), in address order.
    mappings: tuple[tuple[int, int, int, str], ...]


class Platform(Protocol):
    """Makes address spaces. One platform serves the whole sandbox."""

    #: The highest guest address + 1 the platform can map (the stub lives above it).
    max_user_address: int
    #: The vDSO every address space has, once :meth:`serve` has started; None without one.
    vdso: Vdso | None

    async def new_address_space(self) -> AddressSpace:
        ...

    async def serve(self, task_status: Any = None) -> None:
        """Run the platform's own background work (e.g. the stop reaper)."""
        ...

    def close(self) -> None:
        """Kill every stub; safe to call more than once."""
        ...
