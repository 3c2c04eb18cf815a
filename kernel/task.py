"""A guest thread: one trio task running the loop switch -> dispatch -> signal check.

This is gVisor's ``Task.run`` in miniature. :meth:`Task.run` resumes the thread on the platform
until it traps; a system call goes to the syscall table and its result into ``rax``; a fault
becomes the signal Linux would send; before the thread runs again, pending signals are acted on.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from abi import structs
from abi.creds import Caller
from abi.errno import EINTR, ERESTART_RESTARTBLOCK, ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS
from abi.linux import (
    IGNORED_BY_DEFAULT,
    RLIMIT_FSIZE,
    SA_RESTART,
    SI_KERNEL,
    SIG_BLOCK,
    SIG_DFL,
    SIG_IGN,
    STOP_SIGNALS,
    Signal,
    exit_status_code,
    sigbit,
    signal_status,
)
from kernel import interrupts
from kernel.bus import call_now, current_caller
from kernel.errors import Interrupted
from kernel.seccomp import SeccompState, filtered_dispatch
from kernel.tracee import attach_child
from abi.errno import Errno
from platforms import Context, Fault, StopReason

if TYPE_CHECKING:
    from kernel.kernel import Kernel
    from kernel.memory import MemoryClient
    from kernel.process import ThreadGroup
    from kernel.tracee import Tracee


log = logging.getLogger("sentrio.task")

T = TypeVar("T")

#: A task that traps quickly never waits on trio, so it yields every this many system calls to
#: let other guest threads and actors run (a checkpoint costs a scheduler pass, ~3 µs).
YIELD_EVERY = 16

#: Signals the host raises for a guest's own faults; with a positive si_code they are synchronous.
_FAULT_SIGNALS = frozenset({Signal.SIGSEGV, Signal.SIGBUS, Signal.SIGFPE, Signal.SIGILL, Signal.SIGTRAP})


_RESTART_CODES = frozenset({-ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK})
_SYS_RESTART_SYSCALL = 219
_U64 = (1 << 64) - 1
#: The x86 trap numbers of fault signals, for the sigcontext's trapno.
_TRAP_NUMBERS = {Signal.SIGSEGV: 14, Signal.SIGBUS: 14, Signal.SIGFPE: 0, Signal.SIGILL: 6, Signal.SIGTRAP: 3}


class _EndedBySignals:
    """In :attr:`Task._blocking`'s place during a sleep the signals actor ends itself."""


class _Interruptible:
    """In :attr:`Task._blocking`'s place during a sleep a signal interrupts (kernel.interrupts)."""


_ENDED_BY_SIGNALS = _EndedBySignals()
_INTERRUPTIBLE = _Interruptible()


class TaskExit(BaseException):
    """Raised by exit/exit_group handlers (and fatal signals) to end the task's loop."""


class Task:
    """One guest thread."""

    #: System calls served by every task that has ended, for benchmarks (``bench/cpu.py``):
    #: each task adds its own count once, when its loop ends, so the hot path pays nothing.
    served = 0

    def __init__(self, kernel: Kernel, process: ThreadGroup, tid: int, context: Context) -> None:
        self.kernel = kernel
        self.process = process
        self.tid = tid
        self.context = context
        #: The guest's registers (a ctypes user_regs_struct owned by the platform context).
        self.regs: Any = context.regs
        self.mm = process.mm
        #: set_tid_address / CLONE_CHILD_CLEARTID: where to write 0 and wake on exit.
        self.clear_child_tid = 0
        self.robust_list = (0, 0)
        self.exited = False
        #: A signal may be deliverable: check before running guest code again.
        self.signal_pending = False
        #: rt_sigsuspend's caller's mask, restored by the handler's sigreturn.
        self.saved_mask: int | None = None
        #: (trapno, error code, address) of the fault being delivered, for the sigcontext.
        self.fault_info: tuple[int, int, int] | None = None
        #: Address of the last fault the MM resolved (copy-on-write): the same fault again at
        #: once is a real violation, not a stale one.
        self._resolved_fault: int | None = None
        #: What restart_syscall continues (nanosleep's remaining sleep).
        self.restart_block: Callable[[], Awaitable[int]] | None = None
        self._blocking: trio.CancelScope | _EndedBySignals | _Interruptible | None = None
        #: How many interruptible sleeps the thread began (tells one from the next).
        self._sleeps = 0
        self._in_guest = False
        self._cancel_scope: trio.CancelScope | None = None
        self._trio_task: trio.lowlevel.Task | None = None
        #: Set when the task's loop has ended and its stub thread is released.
        self.done = trio.Event()
        self._caller: Caller | None = None
        #: The thread's seccomp mode and filters (None: mode 0, no check on the syscall path).
        self.seccomp: SeccompState | None = None
        #: sched_setscheduler/sched_setattr: (policy | SCHED_RESET_ON_FORK, real-time priority).
        self.sched: tuple[int, int] = (0, 0)
        #: sched_setaffinity's CPU mask (None: every CPU of the sandbox).
        self.affinity: int | None = None
        #: The thread's ptrace state while a tracer traces it (kernel.tracee), else None.
        self.ptrace: Tracee | None = None
        process.tasks.append(self)
        kernel.threads[tid] = self
        _on_host_death(context, self._host_thread_killed)

    @property
    def name(self) -> str:
        return f"task {self.tid}"

    @property
    def caller(self) -> Caller:
        """Who this thread is, as messages to actors carry it; rebuilt only when the process's
        credentials, pid (execve moves a thread to the leader's pid) or file size limit change."""
        caller = self._caller
        process = self.process
        fsize = process.rlimits[RLIMIT_FSIZE][0]
        if caller is None or caller.creds is not process.creds or caller.pid != process.pid \
                or caller.file_size_limit != fsize:
            caller = self._caller = Caller(process.pid, self.tid, process.creds, fsize)
        return caller

    async def run(self, scope: trio.CancelScope) -> None:
        """Run the thread until it exits or its process ends. ``scope`` is the runner's cancel
        scope (:mod:`kernel.runners`): :meth:`stop` cancels it while this thread runs in it."""
        current_caller.set(self.name)
        self._trio_task = trio.lowlevel.current_task()
        context = self.context
        regs = self.regs
        dispatch = self.kernel.syscalls.dispatch
        checkpoint = trio.lowlevel.checkpoint
        calls = 0
        scheduler = self.kernel.scheduler  # --deterministic: one guest thread at a time
        self._cancel_scope = scope
        try:
            if scheduler is not None:
                await scheduler.enter(self)
            if self.ptrace is not None:
                await self.ptrace.started(self)
            while not self.exited:
                self._in_guest = True
                reason = await context.switch()
                self._in_guest = False
                if reason == StopReason.SYSCALL:
                    if scheduler is not None:
                        await scheduler.syscall_point(self)
                    if self.ptrace is not None:
                        result = await self.ptrace.syscall(self, dispatch)
                    elif self.seccomp is None:
                        result = await dispatch(self, regs.orig_rax)
                    else:
                        result = await filtered_dispatch(self, regs.orig_rax, dispatch)
                    if self.context is not context:  # execve gave the thread a new stub thread
                        context, regs = self.context, self.regs
                    if self.signal_pending or result in _RESTART_CODES:
                        result = await self.handle_signals(result)
                    context.set_return(result)
                    calls += 1
                    if calls % YIELD_EVERY == 0:
                        await checkpoint()
                elif reason == StopReason.FAULT:
                    await self._fault(context.fault)
                    if self.signal_pending:
                        await self.handle_signals(None)
                else:  # the host thread is gone: someone killed the stub from outside
                    await self.process.exit(signal_status(Signal.SIGKILL))
        except TaskExit:
            pass
        except Exception:
            if self.process.exit_status is None:
                raise
            # Another task ended the process while this one was inside a handler: the stub
            # thread went away under it, and the guest can no longer see how the call ended.
            log.debug("task %d: handler ended by its process's exit", self.tid, exc_info=True)
        finally:
            Task.served += calls
            self.exited = True
            self._in_guest = False
            if self.ptrace is not None:
                self.ptrace.ended(self)
            if scheduler is not None:
                scheduler.leave(self)
            if self.kernel.threads.get(self.tid) is self:
                del self.kernel.threads[self.tid]
            if self in self.process.tasks:  # a process keeps only its live threads
                self.process.tasks.remove(self)
            self.context.release()
            self._cancel_scope = None  # the runner may go on to run another thread in it
            self.done.set()
            call_now(self.kernel.bus, "signals", "exit_thread", self.tid)  # no await: no shield to build

    async def _fault(self, fault: Fault | None) -> None:
        """Act on a fault or host signal of the stub thread.

        A synchronous fault (SIGSEGV from a bad access, SIGFPE, ...) is the guest's: it goes
        to the handler the guest installed, with si_code and si_addr; with none (or with the
        signal blocked or ignored, as Linux's force_sig does) the default action ends the
        process with a core-dump status. Signals sent to the stub from outside the sandbox (and
        the Sentry's own interruptions) are not the guest's business and are dropped.
        """
        if fault is None or fault.signo not in _FAULT_SIGNALS or fault.code <= 0:
            return
        if fault.signo == Signal.SIGSEGV:  # the MM knows what a bad access really was
            may_be_stale = fault.addr != self._resolved_fault
            try:
                verdict = await self.kernel.bus.call("mm", "fault", self.process.mm.asid, fault.addr, False,
                                                     may_be_stale)
            except Errno:  # no verdict (a crashed actor, already logged): a plain bad access
                verdict = (Signal.SIGSEGV, fault.code)
            if verdict is None:  # resolved (a copy-on-write page, a file grown): run the access again
                self._resolved_fault = fault.addr
                return
            self._resolved_fault = None
            fault = dataclasses.replace(fault, signo=verdict[0], code=verdict[1])
        info = structs.SIGINFO_FAULT.pack(fault.signo, 0, fault.code, fault.addr)
        self.fault_info = (_TRAP_NUMBERS.get(fault.signo, 0), 0, fault.addr)
        await self.force_signal(fault.signo, info)

    async def force_signal(self, signo: int, info: bytes | None = None) -> None:
        """Linux's ``force_sig``: a signal the thread cannot refuse (its own fault, a frame
        that does not fit). Caught, it is queued for this thread; blocked, ignored or left to
        its default action, it ends the process with that signal (SIGSEGV dumps core).

        ``info`` defaults to what force_sig sends: si_code SI_KERNEL, no address.
        """
        if info is None:
            info = structs.SIGINFO_FAULT.pack(signo, 0, SI_KERNEL, 0)
        bus = self.kernel.bus
        handler = (await bus.call("signals", "sigaction", self.process.pid, signo, None))[0]
        mask = await bus.call("signals", "sigprocmask", self.tid, SIG_BLOCK, None)
        if self.ptrace is not None:  # the tracer sees it first
            await self.ptrace.forced(self, signo, handler, mask)
        elif handler in (SIG_DFL, SIG_IGN) or mask & sigbit(signo):
            await self.process.exit(self.process.killed_status(signo))
            raise TaskExit
        await bus.call("signals", "send", self.process.pid, self.tid, signo, info)
        self.signal_pending = True

    # --- signals ----------------------------------------------------------------------------

    def signal_arrived(self) -> None:
        """The signals actor says a signal awaits this thread: stop sleeping, or stop the guest."""
        self.signal_pending = True
        if self._blocking is _INTERRUPTIBLE:
            assert self._trio_task is not None
            sleep = self._sleeps
            interrupts.interrupt_sleep(self._trio_task,
                                       lambda: self._blocking is _INTERRUPTIBLE and self._sleeps == sleep)
        elif self._blocking is _ENDED_BY_SIGNALS:  # (a no-op if the signals actor ended it already)
            call_now(self.kernel.bus, "signals", "futex_interrupt", self.tid)
        elif isinstance(self._blocking, trio.CancelScope):
            self._blocking.cancel()
        elif self._in_guest:
            interrupt = getattr(self.context, "interrupt", None)
            if interrupt is not None:
                interrupt()

    async def handle_signals(self, result: int | None) -> int:
        """Act on pending signals before the thread runs again; returns the value for ``rax``.

        ``result`` is the system call's result (None after a fault). A caught signal gets a
        frame and the thread enters its handler; a restart code becomes EINTR or a restart of
        the call, by Linux's rules (SA_RESTART for ERESTARTSYS; ERESTARTNOINTR always
        restarts; ERESTARTNOHAND and ERESTART_RESTARTBLOCK restart only if no handler ran).
        A frame that does not fit is Linux's ``force_sigsegv``: the signal is not delivered
        (its mask is undone) and SIGSEGV is forced instead, fatally if it was SIGSEGV's frame.
        """
        regs = self.regs
        bus = self.kernel.bus
        while True:
            self.signal_pending = False
            await self.process.wait_while_stopped()
            if self.ptrace is not None:
                await self.ptrace.before_signals(self)
            taken = await bus.call("signals", "dequeue", self.tid)
            if taken is None:
                break
            if self.ptrace is not None and taken[0] != Signal.SIGKILL:
                taken = await self.ptrace.signal_stop(self, taken)
                if taken is None:
                    continue
            signo, info, action, old_mask = taken
            handler, flags = action[0], action[1]
            if handler == SIG_IGN:
                continue
            if handler == SIG_DFL:
                await self._default_action(signo)
                continue
            if result is not None and result in _RESTART_CODES:
                result = self._restart_for_handler(result, flags)
            if result is not None:
                regs.rax = result & _U64
            delivered_mask = old_mask if self.saved_mask is None else self.saved_mask
            new_altstack = await self._push_frame(signo, info, action, delivered_mask)
            if new_altstack is False:  # no frame: the signal is not delivered, SIGSEGV comes instead
                await bus.call("signals", "set_mask", self.tid, old_mask)
                if signo == Signal.SIGSEGV:
                    await self._die_of(signo)
                await self.force_signal(Signal.SIGSEGV)
                continue
            self.saved_mask = None
            if new_altstack is not None:
                await bus.call("signals", "set_altstack", self.tid, new_altstack)
            self.fault_info = None
            result = None  # the frame holds the call's result; the handler starts with rax 0
        # (A sigsuspend woken by a signal with no handler restarts, its saved mask kept.)
        if result is not None and result in _RESTART_CODES:
            result = self._restart_without_handler(result)
        return regs.rax if result is None else result

    async def _push_frame(self, signo: int, info: bytes, action: tuple[int, int, int, int],
                          old_mask: int) -> tuple[int, int, int] | None | bool:
        """Write the signal's frame; False when it cannot be (see :func:`kernel.sigframe.push_frame`).

        A Sentry bug while building it is logged with the thread's stack state and treated
        as a frame that does not fit: the guest gets SIGSEGV, the Sentry stays up.
        """
        from kernel.sigframe import push_frame

        altstack = await self.kernel.bus.call("signals", "altstack_of", self.tid)
        try:
            return await push_frame(self, signo, info, action, old_mask, altstack)
        except Errno:
            return False
        except Exception as error:
            if self.kernel.config.strict:
                raise
            log.error("Sentry bug delivering signal %d to task %d (rsp=%#x, action=%r, altstack=%r): %s",
                      signo, self.tid, self.regs.rsp, action, altstack, error, exc_info=error)
            return False

    async def _die_of(self, signo: int) -> None:
        """The signal's own frame failed for SIGSEGV itself: nothing can catch it any more."""
        self.fault_info = None
        await self.process.exit(self.process.killed_status(signo))
        raise TaskExit

    def _restart_for_handler(self, result: int, flags: int) -> int:
        if result == -ERESTARTNOINTR or (result == -ERESTARTSYS and flags & SA_RESTART):
            return self._restart(self.regs.orig_rax)
        return -EINTR

    def _restart_without_handler(self, result: int) -> int:
        if result == -ERESTART_RESTARTBLOCK:
            return self._restart(_SYS_RESTART_SYSCALL)
        return self._restart(self.regs.orig_rax)

    def _restart(self, nr: int) -> int:
        """Make the thread execute its ``syscall`` instruction again (as number ``nr``)."""
        self.regs.rip -= 2
        self.context.regs_changed()
        return nr

    async def _default_action(self, signo: int) -> None:
        if signo in IGNORED_BY_DEFAULT:
            return
        if signo in STOP_SIGNALS:
            if self.ptrace is not None:
                await self.ptrace.group_stop(self, signo)
                return
            await self.process.stop(signo)
            return
        await self.process.exit(self.process.killed_status(signo))
        raise TaskExit

    async def exit_thread(self, code: int) -> None:
        """exit(2): end this thread; the last thread out ends the process with ``code``.

        Robust futexes the thread holds are marked owner-died, and its clear-child-tid word is
        zeroed with a futex wake (how pthread_join learns the thread is gone).
        """
        from kernel.syscalls.futex import clear_child_tid, exit_robust_list

        await exit_robust_list(self)
        await clear_child_tid(self)
        self.exited = True
        if not self.process.live_tasks:
            await self.process.exit(exit_status_code(code))
        raise TaskExit

    @property
    def sleeping(self) -> bool:
        """Whether the thread sleeps in an interruptible system call (state S, not R). A thread
        asking about itself is running, whatever call it is in (as /proc/self/stat reads R)."""
        return self._blocking is not None and trio.lowlevel.current_task() is not self._trio_task

    async def blocking(self, awaitable: Awaitable[T], interrupted: int = ERESTARTSYS) -> T:
        """Await a system call's sleep (a futex wait, a child wait ...), which a signal for
        the thread ends early: the call then fails with ``interrupted`` (a restart code, which
        becomes EINTR or a restart when the signal is handled). The signal throws
        :class:`~kernel.interrupts.Interrupted` in where the sleep is parked (see
        :mod:`kernel.interrupts`: the hot path of every sleeping read, write and wait enters
        no cancel scope)."""
        if self.signal_pending:
            getattr(awaitable, "close", lambda: None)()
            raise Errno(interrupted)
        scheduler = self.kernel.scheduler
        if scheduler is not None and scheduler.holder is self:  # sleep without the baton
            return await scheduler.off_cpu(self, self.blocking(awaitable, interrupted))
        if not interrupts.AVAILABLE:
            return await self._blocking_in_scope(awaitable, interrupted)
        self._blocking = _INTERRUPTIBLE
        self._sleeps += 1
        try:
            return await awaitable
        except Interrupted:
            raise Errno(interrupted) from None
        except BaseExceptionGroup as group:  # a nursery in the sleep, its wait interrupted
            if not interrupts.was_interrupted(group):
                raise
            raise Errno(interrupted) from None
        finally:
            self._blocking = None

    async def _blocking_in_scope(self, awaitable: Awaitable[T], interrupted: int) -> T:
        """:meth:`blocking` where trio has no abort hook to interrupt with: a cancel scope
        around the sleep, which a signal cancels."""
        with trio.CancelScope() as scope:
            self._blocking = scope
            try:
                return await awaitable
            finally:
                self._blocking = None
        raise Errno(interrupted)  # only a signal's cancel ends the scope without a return

    async def sleep_ended_by_signals(self, awaitable: Awaitable[T]) -> T:
        """Await a sleep that the signals actor itself ends when a signal comes for the thread
        (a futex wait given its tid fails with ERESTARTSYS): :meth:`blocking` without the
        interruption. The thread shows as sleeping all the same."""
        scheduler = self.kernel.scheduler
        if scheduler is not None and scheduler.holder is self:  # sleep without the baton
            return await scheduler.off_cpu(self, self.sleep_ended_by_signals(awaitable))
        self._blocking = _ENDED_BY_SIGNALS
        try:
            return await awaitable
        finally:
            self._blocking = None

    async def dethread(self) -> None:
        """execve: end every other thread of the process; this one takes the process's pid."""
        process = self.process
        others = [task for task in process.tasks if task is not self]
        for task in others:
            task.stop()
        for task in others:
            if task._trio_task is not None:
                await task.done.wait()
            elif self.kernel.threads.get(task.tid) is task:  # never started
                del self.kernel.threads[task.tid]
        process.tasks = [self]
        if self.tid != process.pid:
            if self.kernel.threads.get(self.tid) is self:
                del self.kernel.threads[self.tid]
            await self.kernel.bus.call("signals", "retid", self.tid, process.pid)
            self.tid = process.pid
            self.kernel.threads[self.tid] = self

    def switch_context(self, context: Context, mm: MemoryClient) -> None:
        """execve: run on a stub thread of the new address space from now on."""
        self.context.release()
        _on_host_death(context, self._host_thread_killed)
        self.context = context
        self.regs = context.regs
        self.mm = mm

    async def exec_reset(self) -> None:
        """Per-thread state execve resets: caught signals go back to their defaults."""
        await self.kernel.bus.call("signals", "exec", self.process.pid, self.tid)

    def copy_registers_from(self, parent: Task) -> None:
        """Start with ``parent``'s registers and FP state (clone and fork); rax = 0."""
        ctypes.memmove(ctypes.addressof(self.regs), ctypes.addressof(parent.regs), ctypes.sizeof(self.regs))
        self.regs.rax = 0
        self.regs.orig_rax = 0xFFFF_FFFF_FFFF_FFFF  # no system call in progress
        self.context.copy_fp_state_from(parent.context)
        self.context.regs_changed()
        if parent.ptrace is not None:
            attach_child(parent, self)

    def _host_thread_killed(self) -> None:
        """The host killed the stub thread while the guest thread was not running (its OOM
        killer, an administrator's kill -9): the process dies of SIGKILL now, wherever its
        threads are, as an OOM kill ends a process on Linux."""
        if not self.process.zombie:
            self.kernel.spawn(self.process.exit, signal_status(Signal.SIGKILL))

    def stop(self) -> None:
        """Make the task's loop end (its process is exiting).

        Another task's loop is cancelled wherever it waits; the calling task ends by itself
        when the handler that stopped it raises :class:`TaskExit`.
        """
        self.exited = True
        if self._cancel_scope is not None and trio.lowlevel.current_task() is not self._trio_task:
            self._cancel_scope.cancel()


def _on_host_death(context: Context, callback: Callable[[], None]) -> None:
    """Ask the platform to call ``callback`` if the host thread behind ``context`` is killed
    while the guest thread is not running (a platform without the hook reports the death at the
    thread's next switch)."""
    if hasattr(context, "on_death"):
        context.on_death = callback
