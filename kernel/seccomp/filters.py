"""A thread's seccomp state, and what it makes of each system call before the handler runs.

As on Linux, the state is the thread's (``Task.seccomp``): ``None`` for mode 0, else a
:class:`SeccompState`, an immutable value: strict mode, or a stack of filters, newest first.
Installing a filter replaces the thread's state with a longer stack (the filters already
installed are shared, never changed), so a child made by fork or clone takes its parent's state
by reference, execve keeps it, and TSYNC hands the caller's state to its siblings.

Every filter of the stack runs on every call; the action that wins is the one of lowest
precedence value (KILL_PROCESS, KILL_THREAD, TRAP, ERRNO, USER_NOTIF, TRACE, LOG, ALLOW), its
data from the filter that returned it first. A filter that, for some number, reads nothing but
``nr`` and ``arch`` always decides that number the same way; the state remembers such verdicts,
so a deny-list costs one dictionary lookup per call after its first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from abi import structs
from abi.errno import ENOSYS
from abi.linux import Signal
from abi.seccomp import (
    AUDIT_ARCH_X86_64,
    MAX_ERRNO,
    SECCOMP_DATA,
    SECCOMP_MODE_FILTER,
    SECCOMP_MODE_STRICT,
    SECCOMP_RET_ACTION_FULL,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_DATA,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_THREAD,
    SECCOMP_RET_LOG,
    SECCOMP_RET_TRACE,
    SECCOMP_RET_TRAP,
    SECCOMP_RET_USER_NOTIF,
    SYS_SECCOMP,
)
from kernel.seccomp.bpf import Insn, run

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from kernel.task import Task

_U64 = 0xFFFF_FFFF_FFFF_FFFF
#: Verdicts are remembered for numbers below this (every x86-64 system call, and some room).
_REMEMBERED = 1024
#: The only calls strict mode allows: read, write, exit (of the thread), rt_sigreturn.
STRICT_ALLOWED = frozenset({0, 1, 60, 15})


@dataclass(frozen=True, slots=True, eq=False)
class Filter:
    """One installed program (checked), and whether its kills are logged (FLAG_LOG)."""

    program: tuple[Insn, ...]
    log: bool = False


def _precedence(action: int) -> int:
    """Linux's ACTION_ONLY: the action as a signed 32-bit number, lower wins."""
    action &= SECCOMP_RET_ACTION_FULL
    return action - (1 << 32) if action & 0x8000_0000 else action


@dataclass(frozen=True, slots=True, eq=False)
class SeccompState:
    """A thread's seccomp mode and filters (newest first); shared by reference."""

    mode: int
    filters: tuple[Filter, ...] = ()
    #: Number -> the stack's whole verdict, for numbers every filter decides by number alone.
    verdicts: dict[int, int] = field(default_factory=dict, compare=False)

    def with_filter(self, new: Filter) -> SeccompState:
        return SeccompState(SECCOMP_MODE_FILTER, (new, *self.filters))

    @property
    def instructions(self) -> int:
        """What Linux counts against MAX_INSNS_PER_PATH: each program's length plus 4."""
        return sum(len(f.program) + 4 for f in self.filters)

    def decide(self, nr: int, ip: int, args: tuple[int, ...]) -> int:
        """The return value (action | data) the stack gives this call."""
        cached = self.verdicts.get(nr)
        if cached is not None:
            return cached
        data = SECCOMP_DATA.pack(_signed32(nr), AUDIT_ARCH_X86_64, ip & _U64, *args)
        best = SECCOMP_RET_ALLOW
        cacheable = True
        for one in self.filters:
            value, wide = run(one.program, data)
            cacheable = cacheable and not wide
            if _precedence(value) < _precedence(best):
                best = value
        if cacheable and nr < _REMEMBERED:  # (a bounded table, whatever numbers a guest tries)
            self.verdicts[nr] = best
        return best


def _signed32(nr: int) -> int:
    nr &= 0xFFFF_FFFF
    return nr - (1 << 32) if nr & 0x8000_0000 else nr


async def filtered_dispatch(task: Task, nr: int, dispatch: Callable[[Task, int], Awaitable[int]]) -> int:
    """Serve system call ``nr`` of a thread that has a seccomp state: as its filters say.

    Called from the syscall loop instead of ``dispatch`` only when ``task.seccomp`` is set.
    Returns the value for ``rax``, or ends the thread or process (TaskExit).
    """
    state = task.seccomp
    assert state is not None
    if state.mode == SECCOMP_MODE_STRICT:
        if nr in STRICT_ALLOWED:
            return await dispatch(task, nr)
        await kill_thread(task, Signal.SIGKILL)
    regs = task.regs
    verdict = state.decide(nr, regs.rip, (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9))
    action, data = verdict & SECCOMP_RET_ACTION_FULL, verdict & SECCOMP_RET_DATA
    if action == SECCOMP_RET_ALLOW or action == SECCOMP_RET_LOG:
        return await dispatch(task, nr)
    if action == SECCOMP_RET_ERRNO:
        return -min(data, MAX_ERRNO)
    if action in (SECCOMP_RET_TRACE, SECCOMP_RET_USER_NOTIF):
        return -ENOSYS  # no tracer, no listener: Linux fails the call with ENOSYS
    if action == SECCOMP_RET_TRAP:
        # The handler sees the call as it was made (rax = the number, Linux's rollback).
        await task.force_signal(Signal.SIGSYS, sigsys_info(nr, regs.rip, data))
        return nr
    if action == SECCOMP_RET_KILL_THREAD and len(task.process.live_tasks) > 1:
        await kill_thread(task, Signal.SIGSYS)
    # KILL_PROCESS, KILL_THREAD of the last thread, and any action Linux does not know.
    await task.process.exit(task.process.killed_status(Signal.SIGSYS))
    from kernel.task import TaskExit
    raise TaskExit


def sigsys_info(nr: int, ip: int, data: int) -> bytes:
    """The siginfo of SECCOMP_RET_TRAP: si_errno the filter's data, SYS_SECCOMP, the address
    after the ``syscall`` instruction, the call's number and architecture."""
    head = structs.SIGINFO_HEAD.pack(Signal.SIGSYS, data, SYS_SECCOMP)
    return (head + structs.SIGINFO_SYS.pack(ip & _U64, _signed32(nr), AUDIT_ARCH_X86_64)).ljust(
        structs.SIGINFO_SIZE, b"\0")


async def kill_thread(task: Task, signo: int) -> None:
    """End only this thread if others live (Linux's do_exit), else the process dies of ``signo``."""
    from kernel.task import TaskExit

    if len(task.process.live_tasks) > 1:
        await task.exit_thread(0)
    await task.process.exit(task.process.killed_status(signo))
    raise TaskExit
