"""A traced host thread of a stub, and host system calls injected into it.

To make the stub issue a host system call (mmap of the memory file, clone, fork...), the
platform points ``rip`` at the stub's ``syscall; int3`` gadget with the call's registers,
continues the thread, and reads ``rax`` when the ``int3`` stops it. Only *control* threads —
one per address space, never running guest code — take injections, so their registers need
no saving and restoring.

A stub thread can vanish at any moment: the host's OOM killer or an administrator may SIGKILL
its process. Every ptrace request and wait here turns that into :class:`StubDied`, an
``Errno(EAGAIN)``: whoever asked the platform for something through a dead thread (a fork of
the template, a clone) fails as Linux fails a fork it has no resources for, and the Sentry goes
on. A dead thread is never touched again; its zombie is reaped only by whoever releases it, so
its tid cannot be reused by another process while the Sentry still holds it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal

import trio

from abi.errno import EAGAIN, Errno
from platforms.ptrace.binding import (
    PTRACE_CONT,
    PTRACE_GETREGS,
    PTRACE_SETREGS,
    PtraceError,
    ptrace,
    user_regs_struct,
)
from platforms.ptrace.stub import LAYOUT
from platforms.ptrace.waiter import StopWaiter, ThreadGone

_U64 = 0xFFFF_FFFF_FFFF_FFFF
_SIGTRAP = signal.SIGTRAP
_SIGSTOP = signal.SIGSTOP
#: /proc/PID/stat's field 39 (processor), counted from the state field (3) after the name.
_STAT_PROCESSOR = 39 - 3


class StubDied(Errno):
    """A stub thread exited or was killed while the platform was using it (EAGAIN to a guest)."""

    def __init__(self, tid: int, doing: str) -> None:
        super().__init__(EAGAIN)
        self.tid = tid
        self.doing = doing

    def __str__(self) -> str:
        return f"stub thread {self.tid} is gone ({self.doing})"


def to_signed(value: int) -> int:
    """A 64-bit register value as the signed integer a system call returned."""
    return value - (1 << 64) if value >> 63 else value


class StubThread:
    """One traced host thread: its preallocated register buffer and its waiter."""

    __slots__ = ("tid", "waiter", "regs", "regs_addr", "dead", "reaped", "_regs_loaded", "_injecting", "_schedstat",
                 "_stat")

    def __init__(self, tid: int, waiter: StopWaiter) -> None:
        self.tid = tid
        self.waiter = waiter
        self.regs = user_regs_struct()
        self.regs_addr = ctypes.addressof(self.regs)
        #: The host thread is gone (or going): no ptrace request may name it any more.
        self.dead = False
        #: Its exit status has been collected (by a wait here, or handed to the reaper): its
        #: tid may already belong to another process.
        self.reaped = False
        self._regs_loaded = False  # segment registers must be valid before any SETREGS
        #: One injection at a time: guest threads of one address space share its control thread.
        self._injecting = trio.Lock()
        #: The thread's /proc schedstat and stat, open once first read (:meth:`cpu_ns`, :meth:`cpu`).
        self._schedstat: int | None = None
        self._stat: int | None = None

    def cpu_ns(self, pid: int) -> int | None:
        """The CPU time the thread has used (it is a thread of process ``pid``), from its
        schedstat (Linux refuses the thread clocks of other processes); None if it cannot be
        read (it is gone). The file stays open for the thread's life: a recycled stub thread's
        time is read at every hand-over, on the path of every pthread_create, and a pread costs
        one system call where open, read and close cost three."""
        fd = self._schedstat
        try:
            if fd is None:
                fd = self._schedstat = os.open(f"/proc/{pid}/task/{self.tid}/schedstat", os.O_RDONLY | os.O_CLOEXEC)
            return int(os.pread(fd, 128, 0).split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def cpu(self, pid: int) -> int | None:
        """The CPU the thread last ran on, or is queued on (field 39 of its /proc stat; the
        fields are counted after the command name, which may hold spaces and parentheses);
        None if it cannot be read."""
        fd = self._stat
        try:
            if fd is None:
                fd = self._stat = os.open(f"/proc/{pid}/task/{self.tid}/stat", os.O_RDONLY | os.O_CLOEXEC)
            stat = os.pread(fd, 1024, 0)
            return int(stat[stat.rfind(b")") + 2:].split()[_STAT_PROCESSOR])
        except (OSError, ValueError, IndexError):
            return None

    def get_regs(self) -> None:
        ptrace(PTRACE_GETREGS, self.tid, 0, self.regs_addr)

    def set_regs(self) -> None:
        ptrace(PTRACE_SETREGS, self.tid, 0, self.regs_addr)

    def gone(self, reaped: bool = False) -> None:
        """The host thread has exited or been killed (``reaped``: and its status collected)."""
        self.dead = True
        self.reaped = self.reaped or reaped
        for fd in (self._schedstat, self._stat):
            if fd is not None:
                os.close(fd)
        self._schedstat = self._stat = None

    def reap(self) -> None:
        """Let the reaper collect the thread's exit; call once it is (or is being) killed."""
        if not self.reaped:
            self.reaped = True
            self.waiter.reap_later(self.tid)

    def died(self, doing: str, error: BaseException | None = None) -> StubDied:
        """The StubDied to raise after ``error`` (a failed request or wait) or an exit status;
        any other failure of ptrace is re-raised, as it is a Sentry bug, not a death."""
        if isinstance(error, PtraceError) and error.errno != errno.ESRCH:
            raise error
        self.gone(reaped=error is None or isinstance(error, ThreadGone))
        return StubDied(self.tid, doing)

    async def syscall(self, nr: int, *args: int) -> int:
        """Run host system call ``nr(*args)`` in this (stopped) thread; returns the raw result.

        Negative results are ``-errno``, as the kernel returns them. The lock is taken without
        a trip through trio's scheduler when it is free (the usual case: ``Lock.acquire``
        always yields, which was half the cost of an injected mmap).
        """
        lock = self._injecting
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
            return await self._inject(nr, args)
        finally:
            lock.release()

    async def _inject(self, nr: int, args: tuple[int, ...]) -> int:
        doing = f"injected system call {nr}"
        if self.dead:
            raise StubDied(self.tid, doing)
        regs = self.regs
        try:
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
                    raise self.died(doing)
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
        except (PtraceError, ThreadGone) as error:
            raise self.died(doing, error) from None

    async def checked_syscall(self, nr: int, *args: int) -> int:
        """:meth:`syscall`, raising OSError for an error result."""
        result = await self.syscall(nr, *args)
        if -4096 < result < 0:
            raise OSError(-result, f"injected syscall {nr}{args}: {os.strerror(-result)}")
        return result

    async def wait_initial_stop(self) -> None:
        """Wait for the SIGSTOP a newly forked or cloned traced thread starts with. If it was
        killed before that, nobody will hold it: its exit goes to the reaper at once."""
        doing = "starting"
        try:
            while True:
                status = await self.waiter.wait(self.tid)
                if not os.WIFSTOPPED(status):
                    raise self.died(doing)
                if os.WSTOPSIG(status) == _SIGSTOP:
                    self.get_regs()
                    self._regs_loaded = True
                    return
                ptrace(PTRACE_CONT, self.tid)
        except (PtraceError, ThreadGone) as error:
            died = self.died(doing, error)
            self.reap()
            raise died from None
