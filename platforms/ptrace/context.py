"""A guest thread on the ptrace platform: run it with PTRACE_SYSEMU until it traps.

This is the system call hot path. :meth:`PtraceContext.switch` writes back only the registers
that changed (usually just ``rax`` with one ``PTRACE_POKEUSER``), resumes the stub thread with
``PTRACE_SYSEMU``, waits for the stop, and reads the registers with one ``PTRACE_GETREGS`` into
a preallocated struct.

A context whose stub thread is gone — killed from outside, or ended by :meth:`release` — is
*dead*: it never names its tid in a ptrace request again (the tid may belong to another process
once reaped), :meth:`switch` returns DIED at once, and the FP state reads as zeros. A death the
Sentry learns of while the guest thread is not running (it sleeps in a system call, or its
signal frame is being built) is told to ``on_death``, which the kernel sets: the guest process
then dies of SIGKILL, as it would have on Linux.
"""

from __future__ import annotations

import ctypes
import errno
import time
from collections.abc import Callable

from platforms import Context, Fault, StopReason
from platforms.ptrace.binding import (
    NT_X86_XSTATE,
    PTRACE_CONT,
    PTRACE_GETREGS,
    PTRACE_GETREGSET,
    PTRACE_GETSIGINFO,
    PTRACE_POKEUSER,
    PTRACE_SETREGS,
    PTRACE_SETREGSET,
    PTRACE_SYSEMU,
    RAX_OFFSET,
    SIGINFO_SIZE,
    Iovec,
    PtraceError,
    decode_siginfo,
    ptrace,
    tgkill,
)
from platforms.ptrace.placement import PIN_AFTER, CpuPlacement
from platforms.ptrace.stub import LAYOUT, VSYSCALL_PAGE
from platforms.ptrace.thread import StubThread
from platforms.ptrace.waiter import ThreadGone

_SYSCALL_STOP = 0x80 | 5  # SIGTRAP | 0x80, thanks to PTRACE_O_TRACESYSGOOD
_CLEAN, _RAX, _ALL = 0, 1, 2
_XSTATE_MAX = 16384
# Scratch space for the ptrace calls that fill a structure or read one: one of each for the whole
# Sentry, which drives every context from one thread and never awaits between filling one and
# reading it (a context used to allocate its own, 16 KiB of them per guest thread).
_SIGINFO = ctypes.create_string_buffer(SIGINFO_SIZE)
_SIGINFO_ADDRESS = ctypes.addressof(_SIGINFO)
_XSTATE = ctypes.create_string_buffer(_XSTATE_MAX)
_XSTATE_ADDRESS = ctypes.addressof(_XSTATE)
_XSTATE_IOV = Iovec(_XSTATE_ADDRESS, _XSTATE_MAX)
_XSTATE_IOV_ADDRESS = ctypes.addressof(_XSTATE_IOV)
_SYS_EXIT = 60
_U64 = 0xFFFF_FFFF_FFFF_FFFF
_SIGSYS = 31
_SYS_SECCOMP = 1
_SI_SYSCALL = 24  # offset of si_syscall in a SIGSYS siginfo (after si_call_addr)


def vsyscall_number(fault: Fault, siginfo: bytes) -> int | None:
    """The system call a guest made by calling into the vsyscall page, if this stop is one.

    The host emulates such a call as a system call made from the page; the stub's filter traps
    it (see :meth:`StubLayout._filter_program`), and the host, as it does for every vsyscall,
    has already "returned" to the caller (rip and rsp as after ``ret``, the arguments still in
    rdi, rsi and rdx). What is left is to serve it as a guest system call, as gVisor does.
    """
    if fault.signo != _SIGSYS or fault.code != _SYS_SECCOMP:
        return None
    if not VSYSCALL_PAGE <= fault.addr < VSYSCALL_PAGE + 4096:
        return None
    return int.from_bytes(siginfo[_SI_SYSCALL:_SI_SYSCALL + 4], "little", signed=True)
#: The host signal that stops a running stub thread for the Sentry (never reaches the guest).
INTERRUPT_SIGNAL = 12  # SIGUSR2


class PtraceContext:
    """Registers and execution of one guest thread, backed by one stub thread."""

    __slots__ = ("_thread", "_process_pid", "_placement", "_pinned", "_quick_stops", "_held", "_recycle",
                 "_cpu_base_ns", "regs", "fault", "_dirty", "dead", "on_death")

    #: The size of this CPU's XSAVE image, read once from the first thread made: what a dead
    #: context's FP state is made of (zeros of exactly this size are a state the kernel takes).
    xstate_size = 512 + 64
    _xstate_learnt = False

    def __init__(self, thread: StubThread, process_pid: int, placement: CpuPlacement,
                 recycle: Callable[[StubThread, bool], bool] | None = None, pinned: bool = False,
                 cpu_base_ns: int = 0) -> None:
        self._thread = thread
        self._process_pid = process_pid
        self._placement = placement
        self._pinned = pinned  # as the stub thread runs now (a recycled one keeps its CPUs)
        self._quick_stops = PIN_AFTER  # a new thread starts next to the Sentry
        #: The stub thread is held in a ptrace stop the Sentry has collected (not running guest
        #: code, not resumed with its stop unread): only such a thread can be handed on.
        self._held = True
        #: Offered the stub thread at release, while it is held: True if it keeps it for the
        #: address space's next guest thread instead of letting it exit (see address_space).
        self._recycle = recycle
        #: The stub thread's CPU time when this guest thread got it (nonzero if recycled).
        self._cpu_base_ns = cpu_base_ns
        self.regs = thread.regs
        self.fault: Fault | None = None
        self._dirty = _ALL  # a new thread's registers are whatever the caller sets first
        self.dead = thread.dead
        #: Called once if the stub thread is found killed while the guest thread is not running.
        self.on_death: Callable[[], None] | None = None
        if not PtraceContext._xstate_learnt and not self.dead:
            self.get_fp_state()

    @classmethod
    def dead_one(cls, thread: StubThread, process_pid: int, placement: CpuPlacement) -> PtraceContext:
        """A context for a thread that could not be made because its stub was killed: its
        first switch reports DIED, so the guest sees the SIGKILL its process got."""
        thread.gone(reaped=True)  # there is no host thread to reap
        return cls(thread, process_pid, placement)

    @property
    def tid(self) -> int:
        """The host thread id (for diagnostics; the guest never sees it)."""
        return self._thread.tid

    def set_return(self, value: int) -> None:
        self.regs.rax = value & _U64
        if self._dirty == _CLEAN:
            self._dirty = _RAX

    def regs_changed(self) -> None:
        self._dirty = _ALL

    @property
    def reaped(self) -> bool:
        """Whether the stub thread's exit has been collected (or handed to the reaper)."""
        return self._thread.reaped

    async def switch(self) -> StopReason:
        if self.dead:
            return StopReason.DIED
        thread = self._thread
        tid = thread.tid
        try:
            # The hot path: three ptrace calls per system call.
            if self._dirty == _RAX:
                ptrace(PTRACE_POKEUSER, tid, RAX_OFFSET, self.regs.rax)
            elif self._dirty == _ALL:
                ptrace(PTRACE_SETREGS, tid, 0, thread.regs_addr)
            self._dirty = _CLEAN
            self._held = False
            ptrace(PTRACE_SYSEMU, tid)
            while True:
                # (Placement as the thread was resumed: an unpinned one was put on another CPU
                # if one was free, pinned ones wait for the Sentry's; a miss may unpin it.)
                pinned = self._pinned
                status = self._placed_wait(tid)
                if status is None:
                    elsewhere = self._on_another_cpu if self._placement.enabled and not pinned else None
                    status = await thread.waiter.park(tid, elsewhere)
                if (status & 0xFF) != 0x7F:  # exited or killed
                    return self._died(reaped=True)
                if status >> 16:  # an event stop we did not ask to handle: carry on
                    ptrace(PTRACE_SYSEMU, tid)
                    continue
                signo = (status >> 8) & 0xFF
                ptrace(PTRACE_GETREGS, tid, 0, thread.regs_addr)
                self._held = True
                if signo == _SYSCALL_STOP:
                    return StopReason.SYSCALL
                ptrace(PTRACE_GETSIGINFO, tid, 0, _SIGINFO_ADDRESS)
                siginfo = _SIGINFO.raw
                self.fault = Fault(*decode_siginfo(siginfo))
                nr = vsyscall_number(self.fault, siginfo)
                if nr is not None:  # resumed without the signal: the host never delivers it
                    self.regs.orig_rax = nr
                    return StopReason.SYSCALL
                return StopReason.FAULT
        except PtraceError:
            return self._died(reaped=False)
        except ThreadGone:
            return self._died(reaped=True)

    def _placed_wait(self, tid: int) -> int | None:
        """Spin for the stop; move the thread by how long it took (see :mod:`placement`). A
        thread on another CPU is not waited for while another task can run (its stop, if not
        there yet, is not a sign of computing: placement is left as it is)."""
        waiter = self._thread.waiter
        busy, status = waiter.stopped_if_busy(tid) if not self._pinned else (False, None)
        if busy and status is None:
            return None
        if not busy:
            status = waiter.poll_for(tid, self._pinned)
        placement = self._placement
        if not placement.enabled:
            return status
        if status is None:
            self._quick_stops = 0
            if self._pinned:
                self._pinned = False
                placement.unpin(tid)
        else:
            self._quick_stops += 1
            if not self._pinned and self._quick_stops >= PIN_AFTER:
                self._pinned = placement.pin(tid)
        return status

    def _on_another_cpu(self) -> bool:
        """Whether the stub thread runs (or waits to run) on a CPU other than the Sentry's."""
        cpu = self._thread.cpu(self._process_pid)
        return cpu is not None and cpu not in self._placement.home

    def _died(self, reaped: bool) -> StopReason:
        self.dead = True
        self._thread.gone(reaped)
        return StopReason.DIED

    def host_died(self) -> None:
        """The stub thread is found killed while the guest thread was not running: never touch
        it again, and tell ``on_death`` (once)."""
        if self.dead:
            return
        self.dead = True
        self._thread.gone()
        callback, self.on_death = self.on_death, None
        if callback is not None:
            callback()

    def reap(self) -> None:
        """Its stub process is being killed: collect the thread's exit in the background."""
        self.dead = True
        self._thread.gone()
        self._thread.reap()

    def _failed(self, error: PtraceError) -> None:
        """A ptrace request on the held thread failed: ESRCH means it was killed; anything else
        is a request the kernel refused, for the caller to judge."""
        if error.errno != errno.ESRCH:
            raise error
        self.host_died()

    def cpu_time_ns(self, whole_process: bool) -> int:
        """The stub thread's (or stub process's) CPU clock: exactly the guest's CPU use.

        The process clock is the kernel's CPU clock of another process (MAKE_PROCESS_CPUCLOCK
        with CPUCLOCK_SCHED). Linux refuses thread clocks of other processes, so a thread's
        time is read from its schedstat, which counts the same nanoseconds.
        """
        if self.dead:
            return 0  # its clock went with it
        if whole_process:
            try:
                return time.clock_gettime_ns((~self._process_pid << 3) | 2)
            except OSError:
                return 0  # the stub is gone; the guest is about to be told
        used = self._thread.cpu_ns(self._process_pid)
        return 0 if used is None else used - self._cpu_base_ns

    def get_fp_state(self) -> bytes:
        """The thread's XSAVE image; zeros of the same size once the thread is dead."""
        if self._read_fp_scratch():
            return ctypes.string_at(_XSTATE_ADDRESS, _XSTATE_IOV.len)
        return bytes(PtraceContext.xstate_size)

    def set_fp_state(self, state: bytes) -> None:
        """Load an XSAVE image; OSError if the kernel refuses it (a guest's garbage frame), or
        if it is larger than any image (it would not fit the scratch buffer all contexts share)."""
        if self.dead:
            return
        if len(state) > _XSTATE_MAX:
            raise OSError(errno.EINVAL, f"an XSAVE image of {len(state)} bytes (at most {_XSTATE_MAX})")
        ctypes.memmove(_XSTATE_ADDRESS, state, len(state))
        _XSTATE_IOV.len = len(state)
        self._write_fp_scratch()

    def copy_fp_state_from(self, other: Context) -> None:
        """Take ``other``'s FP state (clone, fork): read into the scratch buffer and loaded from
        it, with no copy in between (the image is ~11 KiB with AMX's tiles, and a thread starts
        with one)."""
        if not isinstance(other, PtraceContext):
            self.set_fp_state(other.get_fp_state())
        elif self.dead:
            return
        elif other._read_fp_scratch():
            self._write_fp_scratch()
        else:
            self.set_fp_state(bytes(PtraceContext.xstate_size))  # zeros: the other thread is gone

    def _read_fp_scratch(self) -> bool:
        """Read the thread's XSAVE image into the shared scratch buffer (``_XSTATE_IOV.len``
        its size); False if the thread is dead."""
        if self.dead:
            return False
        _XSTATE_IOV.len = _XSTATE_MAX
        try:
            ptrace(PTRACE_GETREGSET, self._thread.tid, NT_X86_XSTATE, _XSTATE_IOV_ADDRESS)
        except PtraceError as error:
            self._failed(error)
            return False
        if not PtraceContext._xstate_learnt:
            PtraceContext.xstate_size, PtraceContext._xstate_learnt = _XSTATE_IOV.len, True
        return True

    def _write_fp_scratch(self) -> None:
        """Load the image in the scratch buffer (``_XSTATE_IOV.len`` bytes) into the thread."""
        try:
            ptrace(PTRACE_SETREGSET, self._thread.tid, NT_X86_XSTATE, _XSTATE_IOV_ADDRESS)
        except PtraceError as error:
            self._failed(error)

    def interrupt(self) -> None:
        """Stop the guest thread soon, wherever it is: the Sentry has a signal for it.

        A host signal makes the traced thread stop; :meth:`switch` reports it as a FAULT with a
        non-positive si_code (not the guest's own fault), and the thread is resumed with the
        host signal suppressed.
        """
        if not self.dead:
            tgkill(self._process_pid, self._thread.tid, INTERRUPT_SIGNAL)

    def release(self) -> None:
        """End the stub thread: hand it back to its address space for the next guest thread if
        it is held in a stop and wanted, else make it call exit(0) through the gadget; reaped in
        the background. (A dead context's thread is reaped by its address space's release.)"""
        if self.dead:
            return
        self.dead = True
        thread = self._thread
        recycle = self._recycle
        if recycle is not None and self._held and recycle(thread, self._pinned):
            return
        regs = thread.regs
        regs.rax = _SYS_EXIT
        regs.orig_rax = _U64
        regs.rdi = 0
        regs.rip = LAYOUT.gadget
        try:
            thread.set_regs()
            ptrace(PTRACE_CONT, thread.tid)
        except PtraceError:
            pass  # already gone (its address space was killed)
        thread.gone()
        thread.reap()

