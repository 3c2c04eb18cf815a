"""A guest address space on the ptrace platform: one stub process.

The stub process's first thread is the *control* thread: it never runs guest code, and every
host system call that changes the address space (mmap/munmap/mprotect of the memory file, clone
of a new guest thread) is injected into it. Guest threads are further threads of the process.

The host may kill a stub process at any moment (its OOM killer picks the biggest process, and
a stub's RSS is its guest's memory). The address space then is *dead*: one of its guest threads
is watched for exit (:meth:`StopWaiter.watch_exit`), and when it goes without the Sentry having
ended it, every context of the space is told (``PtraceContext.host_died``), so the kernel kills
the guest process with SIGKILL even while all its threads sleep in system calls. Changes to a
dead address space's mappings succeed without effect (no guest code will ever run in it again),
and a new thread in it is a context that is dead from birth.

Host threads are recycled. A guest thread that ends hands its stub thread, still held in the
ptrace stop of its exit, back to its address space, which keeps up to :data:`IDLE_THREADS`
of them stopped and gives one to the next guest thread instead of injecting a host clone: a
pthread_create + pthread_join then costs no host thread creation or exit, no injection into
the control thread and no reaping (gVisor's ptrace platform keeps its stub threads too). Nothing
of the previous guest thread survives in it: the new one's first switch writes every register
and its FP state is set from its parent's; its CPU clock counts from what the host thread had
used when it was handed on; a host signal left queued for it (an interruption that came too
late) stops it once, as a non-guest signal that is dropped.
"""

from __future__ import annotations

import errno
import os
import signal

from abi.errno import Errno
from abi.linux import MAP_FIXED, MAP_POPULATE, MAP_SHARED
from platforms.ptrace.context import PtraceContext
from platforms.ptrace.placement import CpuPlacement
from platforms.ptrace.stub import MEMFILE_FD
from platforms.ptrace.thread import StubDied, StubThread
from platforms.ptrace.waiter import ThreadGone

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
#: Stopped stub threads an address space keeps for its next guest threads.
IDLE_THREADS = 8
#: Host failures of clone that are the host's shortage, not a Sentry bug: the guest sees them.
_HOST_SHORTAGES = frozenset({errno.EAGAIN, errno.ENOMEM})


class PtraceAddressSpace:
    """Mappings of the memory file in one stub process, and the guest threads running in it."""

    def __init__(self, control: StubThread, placement: CpuPlacement) -> None:
        self._control = control
        self._placement = placement
        self.pid = control.tid
        self._contexts: list[PtraceContext] = []
        self.released = False
        #: The stub process was killed from outside (see the module's docstring).
        self.dead = False
        #: The guest thread whose exit tells us of the process's death.
        self._watched: PtraceContext | None = None
        #: Stub threads of ended guest threads, held stopped for the next ones: (thread, pinned).
        self._idle: list[tuple[StubThread, bool]] = []

    async def _inject(self, nr: int, *args: int) -> int | None:
        """Host system call ``nr`` in the control thread; None if the stub is dead."""
        if self.dead:
            return None
        try:
            return await self._control.checked_syscall(nr, *args)
        except StubDied:
            self._killed()
            return None

    async def map(self, addr: int, length: int, prot: int, offset: int, populate: bool = False) -> None:
        flags = MAP_SHARED | MAP_FIXED | (MAP_POPULATE if populate else 0)
        result = await self._inject(SYS_MMAP, addr, length, prot, flags, MEMFILE_FD, offset)
        if result is not None and result != addr:
            raise OSError(f"stub mapped {length:#x} bytes at {result:#x}, not {addr:#x}")

    async def unmap(self, addr: int, length: int) -> None:
        await self._inject(SYS_MUNMAP, addr, length)

    async def protect(self, addr: int, length: int, prot: int) -> None:
        await self._inject(SYS_MPROTECT, addr, length, prot)

    async def new_context(self) -> PtraceContext:
        """A new guest thread; dead from birth if the stub process was killed. A host that has
        no room for another thread (EAGAIN, ENOMEM) makes the guest's clone fail with that."""
        if self._idle and not self.dead:
            return self._reuse()
        waiter = self._control.waiter
        try:
            tid = await self._inject(SYS_CLONE, _THREAD_CLONE_FLAGS, 0, 0, 0, 0)
        except OSError as error:
            if error.errno in _HOST_SHORTAGES:
                raise Errno(error.errno) from None
            raise
        if tid is None:
            return PtraceContext.dead_one(StubThread(0, waiter), self.pid, self._placement)
        thread = StubThread(tid, waiter)
        try:
            await thread.wait_initial_stop()
        except StubDied:  # killed as it was born: the whole process is going
            self._killed()
            return PtraceContext.dead_one(thread, self.pid, self._placement)
        context = PtraceContext(thread, self.pid, self._placement, self._recycle, self._placement.pinned(tid))
        self._contexts = [known for known in self._contexts if not known.reaped]  # ended threads go
        self._contexts.append(context)
        if self._watched is None:
            self._watch(context)
        return context

    # --- recycled stub threads (see the module's docstring) -------------------------------------

    def _recycle(self, thread: StubThread, pinned: bool) -> bool:
        """A guest thread ended with its stub thread held in a stop: keep the host thread for the
        next guest thread, unless enough are kept already (it then exits)."""
        if self.released or self.dead or len(self._idle) >= IDLE_THREADS:
            return False
        watched = self._watched
        if watched is not None and watched.tid == thread.tid:
            return False  # it tells us of the stub's death; let it go and watch another
        self._contexts = [known for known in self._contexts if known.tid != thread.tid]
        self._idle.append((thread, pinned))
        return True

    def _reuse(self) -> PtraceContext:
        thread, pinned = self._idle.pop()
        context = PtraceContext(thread, self.pid, self._placement, self._recycle, pinned,
                                thread.cpu_ns(self.pid) or 0)
        self._contexts.append(context)
        if self._watched is None:
            self._watch(context)
        return context

    # --- a death from outside -----------------------------------------------------------------

    def _watch(self, context: PtraceContext) -> None:
        """Learn of the stub's death through ``context``'s thread."""
        waiter = self._control.waiter
        try:
            watching = waiter.watch_exit(context.tid, lambda: self._watched_exit(context))
        except ThreadGone:
            self._killed()
            return
        self._watched = context if watching else None

    def _watched_exit(self, context: PtraceContext) -> None:
        """The watched thread is gone. Unless the Sentry ended it, so is the process."""
        if self._watched is context:
            self._watched = None
        if self.released or self.dead:
            return
        if not context.dead:
            self._killed()
            return
        # It was released (or its own switch saw it die): go on watching through another.
        # A thread killed with the rest of the process reports at once.
        for other in reversed(self._contexts):
            if not other.dead:
                self._watch(other)
                return

    def _killed(self) -> None:
        """The stub process was killed from outside: every guest thread of it is told."""
        if self.dead or self.released:
            return
        self.dead = True
        self._control.gone()
        for thread, _pinned in self._idle:
            thread.gone()  # reaped by release()
        for context in list(self._contexts):
            context.host_died()

    # --- the end --------------------------------------------------------------------------------

    def release(self) -> None:
        """Kill the stub process; its threads' exits are collected in the background."""
        if self.released:
            return
        self.released = True
        waiter = self._control.waiter
        if self._watched is not None:
            waiter.unwatch_exit(self._watched.tid)
            self._watched = None
        if not self._control.reaped:  # a killed stub is a zombie until now: its pid is still ours
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for context in self._contexts:
            context.dead = True
            context.reap()
        for thread, _pinned in self._idle:
            thread.gone()
            thread.reap()
        self._idle.clear()
        self._control.reap()
