"""A guest address space on the ptrace platform: one stub process.

The stub process's first thread is the *control* thread: it never runs guest code, and every
host system call that changes the address space (mmap/munmap/mprotect of the memory file, clone
of a new guest thread) is injected into it. Guest threads are further threads of the process.
"""

from __future__ import annotations

import os
import signal

from abi.linux import MAP_FIXED, MAP_POPULATE, MAP_SHARED
from platforms.ptrace.context import PtraceContext
from platforms.ptrace.placement import CpuPlacement
from platforms.ptrace.stub import MEMFILE_FD
from platforms.ptrace.thread import StubThread

SYS_MMAP = 9
SYS_MPROTECT = 10
SYS_MUNMAP = 11
SYS_CLONE = 56

#: A guest thread is a host thread sharing everything of the stub process but its registers.
_THREAD_CLONE_FLAGS = (
    0x00000100    # CLONE_VM
    | 0x00000200  # CLONE_FS
    | 0x00000400  # CLONE_FILES
    | 0x00000800  # CLONE_SIGHAND
    | 0x00010000  # CLONE_THREAD
    | 0x00040000  # CLONE_SYSVSEM
)


class PtraceAddressSpace:
    """Mappings of the memory file in one stub process, and the guest threads running in it."""

    def __init__(self, control: StubThread, placement: CpuPlacement) -> None:
        self._control = control
        self._placement = placement
        self.pid = control.tid
        self._contexts: list[PtraceContext] = []
        self.released = False

    async def map(self, addr: int, length: int, prot: int, offset: int, populate: bool = False) -> None:
        flags = MAP_SHARED | MAP_FIXED | (MAP_POPULATE if populate else 0)
        result = await self._control.checked_syscall(SYS_MMAP, addr, length, prot, flags, MEMFILE_FD, offset)
        if result != addr:
            raise OSError(f"stub mapped {length:#x} bytes at {result:#x}, not {addr:#x}")

    async def unmap(self, addr: int, length: int) -> None:
        await self._control.checked_syscall(SYS_MUNMAP, addr, length)

    async def protect(self, addr: int, length: int, prot: int) -> None:
        await self._control.checked_syscall(SYS_MPROTECT, addr, length, prot)

    async def new_context(self) -> PtraceContext:
        tid = await self._control.checked_syscall(SYS_CLONE, _THREAD_CLONE_FLAGS, 0, 0, 0, 0)
        thread = StubThread(tid, self._control.waiter)
        await thread.wait_initial_stop()
        context = PtraceContext(thread, self.pid, self._placement)
        self._contexts = [known for known in self._contexts if not known.dead]  # ended threads go
        self._contexts.append(context)
        return context

    def release(self) -> None:
        """Kill the stub process; its threads' exits are collected in the background."""
        if self.released:
            return
        self.released = True
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        waiter = self._control.waiter
        for context in self._contexts:
            context.dead = True
            waiter.reap_later(context.tid)  # a no-op for threads already reaped
        waiter.reap_later(self.pid)
