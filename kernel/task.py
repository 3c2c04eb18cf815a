"""A guest thread: one trio task running the loop switch -> dispatch -> signal check.

This is gVisor's ``Task.run`` in miniature. :meth:`Task.run` resumes the thread on the platform
until it traps; a system call goes to the syscall table and its result into ``rax``; a fault
becomes the signal Linux would send; before the thread runs again, pending signals are acted on.
"""

from __future__ import annotations

import ctypes
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from kernel.abi.linux import CORE_DUMPING_SIGNALS, Signal, exit_status_code, signal_status
from kernel.bus import current_caller
from platforms import Context, Fault, StopReason

if TYPE_CHECKING:
    from kernel.kernel import Kernel
    from kernel.memory import MemoryClient
    from kernel.process import ThreadGroup

T = TypeVar("T")

#: A task that traps quickly never waits on trio, so it yields every this many system calls to
#: let other guest threads and actors run (a checkpoint costs a scheduler pass, ~3 µs).
YIELD_EVERY = 16

#: Signals the host raises for a guest's own faults; with a positive si_code they are synchronous.
_FAULT_SIGNALS = frozenset({Signal.SIGSEGV, Signal.SIGBUS, Signal.SIGFPE, Signal.SIGILL, Signal.SIGTRAP})


class TaskExit(BaseException):
    """Raised by exit/exit_group handlers (and fatal signals) to end the task's loop."""


class Task:
    """One guest thread."""

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
        self._cancel_scope: trio.CancelScope | None = None
        self._trio_task: trio.lowlevel.Task | None = None
        #: Set when the task's loop has ended and its stub thread is released.
        self.done = trio.Event()
        process.tasks.append(self)
        kernel.threads[tid] = self

    @property
    def name(self) -> str:
        return f"task {self.tid}"

    async def run(self) -> None:
        """Run the thread until it exits or its process ends."""
        current_caller.set(self.name)
        self._trio_task = trio.lowlevel.current_task()
        context = self.context
        regs = self.regs
        dispatch = self.kernel.syscalls.dispatch
        checkpoint = trio.lowlevel.checkpoint
        calls = 0
        with trio.CancelScope() as self._cancel_scope:
            try:
                while not self.exited:
                    reason = await context.switch()
                    if reason == StopReason.SYSCALL:
                        result = await dispatch(self, regs.orig_rax)
                        if self.context is not context:  # execve gave the thread a new stub thread
                            context, regs = self.context, self.regs
                        context.set_return(result)
                        calls += 1
                        if calls % YIELD_EVERY == 0:
                            await checkpoint()
                    elif reason == StopReason.FAULT:
                        await self._fault(context.fault)
                    else:  # the host thread is gone: someone killed the stub from outside
                        await self.process.exit(signal_status(Signal.SIGKILL))
            except TaskExit:
                pass
            finally:
                self.exited = True
                if self.kernel.threads.get(self.tid) is self:
                    del self.kernel.threads[self.tid]
                self.context.release()
                self.done.set()

    async def _fault(self, fault: Fault | None) -> None:
        """Act on a fault or host signal of the stub thread.

        A synchronous fault (SIGSEGV from a bad access, SIGFPE, ...) is the guest's: with no
        handler installed its default action ends the process with a core-dump status, as
        Linux's does. Signals sent to the stub from outside the sandbox are not the guest's
        business and are dropped.
        """
        if fault is None or fault.signo not in _FAULT_SIGNALS or fault.code <= 0:
            return
        await self.process.exit(signal_status(fault.signo, fault.signo in CORE_DUMPING_SIGNALS))
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

    async def blocking(self, awaitable: Awaitable[T]) -> T:
        """Await a system call's sleep (a futex wait, a child wait ...).

        The one place a sleeping thread is woken early: the signals part makes it end the
        sleep with EINTR (or a restart) when a signal must be delivered.
        """
        return await awaitable

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
            self.tid = process.pid
            self.kernel.threads[self.tid] = self

    def switch_context(self, context: Context, mm: MemoryClient) -> None:
        """execve: run on a stub thread of the new address space from now on."""
        self.context.release()
        self.context = context
        self.regs = context.regs
        self.mm = mm

    def exec_reset(self) -> None:
        """Per-thread state execve resets (handled signals go back to their defaults)."""

    def copy_registers_from(self, parent: Task) -> None:
        """Start with ``parent``'s registers and FP state (clone and fork); rax = 0."""
        ctypes.memmove(ctypes.addressof(self.regs), ctypes.addressof(parent.regs), ctypes.sizeof(self.regs))
        self.regs.rax = 0
        self.regs.orig_rax = 0xFFFF_FFFF_FFFF_FFFF  # no system call in progress
        self.context.set_fp_state(parent.context.get_fp_state())
        self.context.regs_changed()

    def stop(self) -> None:
        """Make the task's loop end (its process is exiting).

        Another task's loop is cancelled wherever it waits; the calling task ends by itself
        when the handler that stopped it raises :class:`TaskExit`.
        """
        self.exited = True
        if self._cancel_scope is not None and trio.lowlevel.current_task() is not self._trio_task:
            self._cancel_scope.cancel()
