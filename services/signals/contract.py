"""The ``signals`` service's contract: signal actions, masks, queues and delivery, and futexes.

Every operation the signals service offers, with its arguments, reply and errnos. Our actor
(:class:`services.signals.actor.SignalsActor`) and any replacement subclass
:class:`SignalsContract` and implement every operation; ``tests/contracts/test_signals.py`` is
the behaviour they must show.

Processes are named by pid and threads by tid, as the kernel announces them (``new_process``,
``new_thread``); an operation on one the service does not know fails with ESRCH. A signal
action is the tuple (handler, flags, restorer, mask) of struct sigaction, an alternate stack
the tuple (ss_sp, ss_flags, ss_size), a signal set an int with bit ``signo - 1`` set for each
signal, and a siginfo the 128 bytes of ``siginfo_t``.

Besides its replies the service has one effect outside the bus: when a signal becomes
deliverable to a thread (pending for it or its process, and not blocked by it), it rings the
doorbell it was built with, the kernel's ``signal_arrived(tid)``, so the thread stops sleeping
and takes the signal with ``dequeue`` before it next runs guest code.

Futex words are named by (asid, guest address) and whether the operation is FUTEX_PRIVATE:
the service asks the ``mm`` service for the word's ``futex_key``, so a futex in MAP_SHARED
memory is one futex in every address space that maps it (unless private), and any other futex
is its address space's own, as on Linux.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from kernel.bus import Contract, operation

#: struct sigaction as the service keeps it: (handler, flags, restorer, mask).
SigAction = tuple[int, int, int, int]
#: stack_t: (ss_sp, ss_flags, ss_size).
AltStack = tuple[int, int, int]


class PendingView(Protocol):
    """What ``watch`` replies: a read-only view of pending signals that the service keeps
    current, for files whose readiness depends on them (signalfd's poll cannot await a reply).
    """

    #: Grows each time some pending queue changes.
    count: int

    def pending(self, tid: int) -> int:
        """The signals pending for thread ``tid`` or its process (0 for an unknown thread)."""
        ...

    def changed(self) -> None:
        """Wake every waiter (signalfd calls it when its mask changes)."""
        ...

    async def wait(self) -> None:
        """Return after the next change."""
        ...


class SignalsContract(Contract):
    """The ``signals`` service."""

    service: ClassVar[str] = "signals"

    # --- processes and threads ----------------------------------------------------------------

    @operation
    async def new_process(self, pid: int, parent: int | None) -> None:
        """Process ``pid`` appears. A fork (``parent`` known) copies the parent's actions;
        otherwise every action is SIG_DFL."""
        raise NotImplementedError

    @operation
    async def new_thread(self, tid: int, pid: int, creator: int | None, keep_altstack: bool) -> None:
        """Thread ``tid`` of process ``pid`` appears, with the mask of thread ``creator`` (none:
        empty) and, if ``keep_altstack`` (fork), its alternate stack; else none. ESRCH for an
        unknown ``pid``."""
        raise NotImplementedError

    @operation
    async def retid(self, old: int, new: int) -> None:
        """execve from a non-leader thread: thread ``old`` is now thread ``new`` (the pid),
        with its mask and pending signals."""
        raise NotImplementedError

    @operation
    async def exit_thread(self, tid: int) -> None:
        """Thread ``tid`` is gone; an unknown tid is no error."""
        raise NotImplementedError

    @operation
    async def exit_process(self, pid: int) -> None:
        """Process ``pid`` and its threads are gone; an unknown pid is no error."""
        raise NotImplementedError

    @operation
    async def exec(self, pid: int, tid: int) -> None:
        """execve by thread ``tid``: caught signals go back to SIG_DFL, ignored ones stay
        ignored, the thread's alternate stack goes. ESRCH for an unknown ``pid``."""
        raise NotImplementedError

    # --- actions, masks, alternate stacks ----------------------------------------------------

    @operation
    async def sigaction(self, pid: int, signo: int, new: SigAction | None) -> SigAction:
        """rt_sigaction(2): install ``new`` for ``signo`` (None: only ask); replies the old
        action. SIGKILL and SIGSTOP are never in an action's mask. Making a signal ignored
        discards its pending instances. EINVAL for ``signo`` outside 1..64 or a new action for
        SIGKILL or SIGSTOP; ESRCH for an unknown ``pid``."""
        raise NotImplementedError

    @operation
    async def sigprocmask(self, tid: int, how: int, change: int | None) -> int:
        """rt_sigprocmask(2): SIG_BLOCK, SIG_UNBLOCK or SIG_SETMASK ``change`` (None: only
        ask); replies the old mask. SIGKILL and SIGSTOP stay unblocked. EINVAL for an unknown
        ``how`` (only with a ``change``); ESRCH for an unknown ``tid``."""
        raise NotImplementedError

    @operation
    async def set_mask(self, tid: int, mask: int) -> int:
        """Set the thread's mask outright (sigreturn, sigsuspend, pselect); replies the old
        one. ESRCH for an unknown ``tid``."""
        raise NotImplementedError

    @operation
    async def pending(self, tid: int) -> int:
        """rt_sigpending(2): the signals pending for the thread or its process, blocked or
        not. ESRCH for an unknown ``tid``."""
        raise NotImplementedError

    @operation
    async def status(self, tid: int) -> tuple[int, int, int, int, int]:
        """/proc/PID/status's signal lines for thread ``tid``, as bit masks: pending for the
        thread (SigPnd), for its process (ShdPnd), blocked (SigBlk), ignored (SigIgn) and
        caught (SigCgt). ESRCH for an unknown ``tid``."""
        raise NotImplementedError

    @operation
    async def watch(self) -> PendingView:
        """The service's :class:`PendingView` (the same one every time)."""
        raise NotImplementedError

    @operation
    async def sigaltstack(self, tid: int, new: AltStack | None, sp: int) -> AltStack:
        """sigaltstack(2) for a thread whose stack pointer is ``sp``: install ``new`` (None:
        only ask); replies the old stack, its flags SS_DISABLE when there is none and
        SS_ONSTACK when ``sp`` is on it. Errnos: EPERM (changing it while on it), EINVAL (flags
        other than SS_ONSTACK, SS_DISABLE and SS_AUTODISARM), ENOMEM (smaller than
        MINSIGSTKSZ), ESRCH (unknown ``tid``)."""
        raise NotImplementedError

    @operation
    async def altstack_of(self, tid: int) -> AltStack:
        """The thread's alternate stack as stored (for building a signal frame). ESRCH for an
        unknown ``tid``."""
        raise NotImplementedError

    @operation
    async def set_altstack(self, tid: int, altstack: AltStack) -> None:
        """rt_sigreturn restores the alternate stack saved in the frame; an invalid one is
        ignored, as Linux ignores it. ESRCH for an unknown ``tid``."""
        raise NotImplementedError

    # --- sending and taking --------------------------------------------------------------------

    @operation
    async def send(self, pid: int, tid: int | None, signo: int, info: bytes,
                   bound: tuple[int, int] | None = None) -> bool:
        """Send ``signo`` with siginfo ``info`` to process ``pid``, or only to its thread
        ``tid``; replies False if the signal was dropped.

        ``signo`` 0 only checks that the target exists. A signal is dropped when it is ignored
        (explicitly or by default) and not blocked by every candidate thread, nobody waits for
        it with ``take``, and it is not SIGKILL; in pid 1 (the sandbox's init) a signal whose
        action is SIG_DFL is dropped, SIGKILL included. Stop signals discard a pending SIGCONT
        and SIGCONT the pending stop signals. Standard signals (1-31) are pending at most once,
        real-time ones queue every instance. ESRCH for an unknown ``pid``, or a ``tid`` that is
        not a thread of ``pid``.

        ``bound`` (the receiver's real uid, its RLIMIT_SIGPENDING) bounds the real-time
        instances queued for that user: past it EAGAIN, except for kill(2)'s (si_code SI_USER),
        which then stays pending once, without its siginfo, as Linux's does.
        """
        raise NotImplementedError

    @operation
    async def dequeue(self, tid: int) -> tuple[int, bytes, SigAction, int] | None:
        """The next signal thread ``tid`` must act on, taken off its queue: (signo, siginfo,
        the action at that moment, the mask before delivery); None if none is deliverable.

        Synchronous faults (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS) come first, then
        the lowest signal. For a caught signal the thread's mask gains the action's mask and
        the signal itself (unless SA_NODEFER), and SA_RESETHAND puts SIG_DFL back, as delivery
        does. ESRCH for an unknown ``tid``.
        """
        raise NotImplementedError

    @operation
    async def take(self, tid: int, wanted: int, timeout: float | None) -> tuple[int, bytes] | None:
        """sigtimedwait(2): take a signal of ``wanted`` pending for the thread or its process
        (blocked or not), waiting up to ``timeout`` seconds (None: forever) for one to be sent;
        replies (signo, siginfo), or None if none came. Cancelling the call (a signal for
        the waiting thread) leaves nothing taken. ESRCH for an unknown ``tid``."""
        raise NotImplementedError

    @operation
    async def set_traced(self, pid: int, traced: bool) -> None:
        """A tracer attached to (or left) process ``pid``: while traced, a signal it ignores
        is queued all the same, for its tracer's signal-delivery-stop. ESRCH for an unknown
        ``pid``."""
        raise NotImplementedError

    @operation
    async def child_state(self, parent: int, info: bytes) -> None:
        """A child of ``parent`` stopped or continued: SIGCHLD to the parent unless its action
        has SA_NOCLDSTOP. An unknown ``parent`` is no error."""
        raise NotImplementedError

    @operation
    async def child_exited(self, parent: int, signo: int, info: bytes) -> bool:
        """A child of ``parent`` ended: send it ``signo`` (0: none). Replies whether the child
        stays a zombie for wait(2): False when the parent ignores SIGCHLD or set SA_NOCLDWAIT,
        and the child is reaped at once. An unknown ``parent`` replies True."""
        raise NotImplementedError

    # --- futexes -------------------------------------------------------------------------------

    @operation
    async def futex_wait(self, asid: int, addr: int, expected: int, bitset: int, timeout: float | None,
                         private: bool = False, tid: int | None = None) -> int:
        """FUTEX_WAIT_BITSET: if the word at ``addr`` still holds ``expected`` (compared as
        the checking and the queueing were one step), sleep until a wake whose bitset meets
        ``bitset``; replies 0. Errnos: EAGAIN (the word differs), ETIMEDOUT (``timeout``
        seconds passed; None: never), EINVAL (``bitset`` 0, ``addr`` not 4-aligned), EFAULT
        (``addr`` not readable), ERESTARTSYS (``tid``, the sleeping thread, given: a signal
        became deliverable to it — not blocked by its mask, pending for it or its process —
        while it slept, or already was; the caller then needs no cancel scope of its own)."""
        raise NotImplementedError

    @operation
    async def futex_wake(self, asid: int, addr: int, count: int, bitset: int, private: bool = False) -> int:
        """FUTEX_WAKE_BITSET: wake up to ``count`` waiters of the futex whose bitset meets
        ``bitset``, oldest first; replies how many woke. EINVAL (``bitset`` 0, ``addr`` not
        4-aligned), EFAULT (``addr`` not readable)."""
        raise NotImplementedError

    @operation
    async def futex_requeue(self, asid: int, addr: int, addr2: int, wake: int, move: int,
                            expected: int | None, private: bool = False) -> int:
        """FUTEX_REQUEUE / FUTEX_CMP_REQUEUE (``expected`` given): wake ``wake`` waiters of
        ``addr`` and move up to ``move`` more to ``addr2``; replies woken + moved. EAGAIN (the
        word differs from ``expected``), EINVAL (a negative count, an address not 4-aligned),
        EFAULT."""
        raise NotImplementedError

    @operation
    async def futex_wake_op(self, asid: int, addr: int, addr2: int, wake1: int, wake2: int, op: int,
                            private: bool = False) -> int:
        """FUTEX_WAKE_OP: apply the encoded operation ``op`` to the word at ``addr2``, wake
        ``wake1`` waiters of ``addr`` and, if the old word passes ``op``'s comparison,
        ``wake2`` of ``addr2``; replies how many woke. EFAULT (``addr2`` not writable), EINVAL
        (an address not 4-aligned), ENOSYS (an unknown operation or comparison)."""
        raise NotImplementedError

    @operation
    async def futex_interrupt(self, tid: int) -> None:
        """End thread ``tid``'s futex sleep (one begun with its tid), as a deliverable signal
        does: the wait fails with ERESTARTSYS. For the kernel's own interruptions of a sleeping
        thread (its process stopping, a tracer's PTRACE_INTERRUPT). No-op if it does not sleep."""
        raise NotImplementedError

    @operation
    async def futex_waiters(self, asid: int, addr: int, private: bool = False) -> int:
        """How many threads sleep on the futex at ``addr`` (for tests and diagnostics)."""
        raise NotImplementedError
