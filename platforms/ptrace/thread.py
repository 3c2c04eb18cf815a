"""A traced host thread of a stub, and host system calls injected into it.

To make the stub issue a host system call (mmap of the memory file, clone, fork...), the
platform points ``rip`` at the stub's ``syscall; int3`` gadget with the call's registers,
continues the thread, and reads ``rax`` when the ``int3`` stops it. Only *control* threads —
one per address space, never running guest code — take injections, so their registers need
no saving and restoring.
"""

from __future__ import annotations

import ctypes
import os
import signal

import trio

from platforms.ptrace.binding import (
    PTRACE_CONT,
    PTRACE_GETREGS,
    PTRACE_SETREGS,
    ptrace,
    user_regs_struct,
)
from platforms.ptrace.stub import LAYOUT
from platforms.ptrace.waiter import StopWaiter

_U64 = 0xFFFF_FFFF_FFFF_FFFF
_SIGTRAP = signal.SIGTRAP
_SIGSTOP = signal.SIGSTOP


class StubDied(Exception):
    """A stub thread exited or was killed while the platform was using it."""


def to_signed(value: int) -> int:
    """A 64-bit register value as the signed integer a system call returned."""
    return value - (1 << 64) if value >> 63 else value


class StubThread:
    """One traced host thread: its preallocated register buffer and its waiter."""

    __slots__ = ("tid", "waiter", "regs", "regs_addr", "_regs_loaded", "_injecting")

    def __init__(self, tid: int, waiter: StopWaiter) -> None:
        self.tid = tid
        self.waiter = waiter
        self.regs = user_regs_struct()
        self.regs_addr = ctypes.addressof(self.regs)
        self._regs_loaded = False  # segment registers must be valid before any SETREGS
        #: One injection at a time: guest threads of one address space share its control thread.
        self._injecting = trio.Lock()

    def get_regs(self) -> None:
        ptrace(PTRACE_GETREGS, self.tid, 0, self.regs_addr)

    def set_regs(self) -> None:
        ptrace(PTRACE_SETREGS, self.tid, 0, self.regs_addr)

    async def syscall(self, nr: int, *args: int) -> int:
        """Run host system call ``nr(*args)`` in this (stopped) thread; returns the raw result.

        Negative results are ``-errno``, as the kernel returns them.
        """
        async with self._injecting:
            return await self._inject(nr, args)

    async def _inject(self, nr: int, args: tuple[int, ...]) -> int:
        regs = self.regs
        if not self._regs_loaded:
            self.get_regs()
            self._regs_loaded = True
        regs.rax = nr
        regs.orig_rax = _U64  # -1: no system call to restart
        for name, value in zip(("rdi", "rsi", "rdx", "r10", "r8", "r9"), args):
            setattr(regs, name, value & _U64)
        regs.rip = LAYOUT.gadget
        self.set_regs()
        ptrace(PTRACE_CONT, self.tid)
        while True:
            status = await self.waiter.wait(self.tid)
            if not os.WIFSTOPPED(status):
                raise StubDied(f"stub thread {self.tid} died during injected syscall {nr}")
            if status >> 16:
                # A fork/clone event stop before the call returns; the child is awaited separately.
                ptrace(PTRACE_CONT, self.tid)
                continue
            if os.WSTOPSIG(status) == _SIGTRAP:
                self.get_regs()
                if regs.rip == LAYOUT.after_trap:
                    return to_signed(regs.rax)
            # A stray signal (e.g. SIGSTOP from outside): swallow it and go on.
            ptrace(PTRACE_CONT, self.tid)

    async def checked_syscall(self, nr: int, *args: int) -> int:
        """:meth:`syscall`, raising OSError for an error result."""
        result = await self.syscall(nr, *args)
        if -4096 < result < 0:
            raise OSError(-result, f"injected syscall {nr}{args}: {os.strerror(-result)}")
        return result

    async def wait_initial_stop(self) -> None:
        """Wait for the SIGSTOP a newly forked or cloned traced thread starts with."""
        while True:
            status = await self.waiter.wait(self.tid)
            if not os.WIFSTOPPED(status):
                raise StubDied(f"new stub thread {self.tid} died before starting")
            if os.WSTOPSIG(status) == _SIGSTOP:
                self.get_regs()
                self._regs_loaded = True
                return
            ptrace(PTRACE_CONT, self.tid)
