"""A traced guest thread: its ptrace-stops, as Sentry states (the guest never touches host ptrace).

A thread gets a :class:`Tracee` when a tracer attaches (PTRACE_TRACEME, ATTACH, SEIZE, or an
auto-attach by TRACEFORK/VFORK/CLONE). The thread's own trio task then stops where Linux's
would — at system call entry and exit (PTRACE_SYSCALL), before a signal is delivered, at the
PTRACE_EVENT_* points, at a group-stop — by parking on an event the tracer's request sets. While
it is parked its registers (the platform context's ``regs``) and memory are the tracer's to read
and change through :mod:`kernel.syscalls.ptrace`; the tracer learns of each stop from wait4 or
waitid (:mod:`kernel.syscalls.wait`), which report the stop's status once.

The system call loop pays one attribute test (``task.ptrace is not None``) when nothing traces it.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from abi import structs
from abi.errno import ENOSYS, Errno
from abi.linux import (
    CLD_TRAPPED,
    CLONE_PTRACE,
    CLONE_UNTRACED,
    CLONE_VFORK,
    CSIGNAL,
    SI_USER,
    SIG_DFL,
    SIG_IGN,
    Signal,
    signal_status,
)
from abi.ptrace import (
    EVENT_OPTIONS,
    PTRACE_EVENT_CLONE,
    PTRACE_EVENT_EXEC,
    PTRACE_EVENT_EXIT,
    PTRACE_EVENT_FORK,
    PTRACE_EVENT_STOP,
    PTRACE_EVENT_VFORK,
    PTRACE_O_EXITKILL,
    PTRACE_O_TRACEEXEC,
    PTRACE_O_TRACESYSGOOD,
    SYSCALL_TRAP,
)

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task

_U64 = (1 << 64) - 1
_NR_CLONE, _NR_FORK, _NR_VFORK, _NR_EXECVE, _NR_EXIT, _NR_EXIT_GROUP, _NR_EXECVEAT, _NR_CLONE3 = (
    56, 57, 58, 59, 60, 231, 322, 435)
_EXECS = (_NR_EXECVE, _NR_EXECVEAT)
_CLONE3_HEAD = struct.Struct("<QQQQQ")  # flags, pidfd, child_tid, parent_tid, exit_signal
#: The x86 trap flag of eflags: single-step.
EFLAGS_TF = 0x100
#: What PTRACE_GETEVENTMSG says at a syscall-enter and syscall-exit stop (Linux's
#: PTRACE_EVENTMSG_SYSCALL_ENTRY/EXIT, which PTRACE_GET_SYSCALL_INFO reads).
EVENTMSG_SYSCALL_ENTRY = 1
EVENTMSG_SYSCALL_EXIT = 2

#: How the tracer last resumed the tracee (LISTEN: left in its group-stop, not running).
RUN, SYSCALL, STEP, LISTEN = 0, 1, 2, 3

Dispatch = Callable[["Task", int], Awaitable[int]]


def stopped_status(signo: int, event: int = 0) -> int:
    """The wait status of a ptrace-stop: WIFSTOPPED, ``status >> 8`` = signo | event << 8."""
    return (((event << 8) | signo) << 8) | 0x7F


def siginfo(signo: int, code: int, pid: int = 0, uid: int = 0) -> bytes:
    return structs.SIGINFO_KILL.pack(signo, 0, code, pid, uid, 0).ljust(structs.SIGINFO_SIZE, b"\0")


class Tracee:
    """The ptrace state of one traced thread: who traces it, how, and the stop it is in."""

    __slots__ = ("task", "tracer", "options", "seized", "mode", "stopped", "report", "siginfo", "event_msg",
                 "_resume", "resume_signal", "killed", "detached", "start_stop", "interrupt", "inject",
                 "clone_event", "exec_tid", "exit_status", "forced_tf", "parked", "last")

    def __init__(self, task: Task, tracer: ThreadGroup, options: int = 0, seized: bool = False) -> None:
        self.task = task
        self.tracer = tracer
        self.options = options
        self.seized = seized
        self.mode = RUN
        #: In a ptrace-stop (the tracer's requests act only then).
        self.stopped = False
        #: The wait status the tracer has yet to collect, if any.
        self.report: int | None = None
        self.siginfo = b""
        self.event_msg = 0
        self._resume = trio.Event()
        self.resume_signal = 0
        self.killed = False
        self.detached = False
        #: A thread auto-attached at clone (or by PTRACE_ATTACH of a new task) stops before it runs.
        self.start_stop = False
        #: PTRACE_INTERRUPT asked for a PTRACE_EVENT_STOP.
        self.interrupt = False
        #: A signal the tracer chose at a signal-delivery-stop: delivered without another stop.
        self.inject = 0
        #: The PTRACE_EVENT_* the system call in progress reports if it makes a thread.
        self.clone_event = 0
        self.exec_tid = 0
        #: The thread's end, for a tracer that is not the process's parent (its wait4 reports it).
        self.exit_status: int | None = None
        #: We set eflags.TF for PTRACE_SINGLESTEP (the tracer must not see it).
        self.forced_tf = False
        #: In a stop its task did not enter itself: attached while its process was group-stopped
        #: (the task waits for SIGCONT, not for the tracer).
        self.parked = False
        #: The status of the stop it is in (or was last in).
        self.last = 0
        tracer.tracees.append(task)

    # --- the stop itself ---------------------------------------------------------------------

    async def stop(self, status: int, info: bytes, event_msg: int | None = None) -> int:
        """Enter a ptrace-stop reported to the tracer as ``status``; return the signal the
        tracer resumed with. PTRACE_KILL or SIGKILL ends the process from here."""
        task = self.task
        if self.forced_tf:
            task.regs.eflags &= ~EFLAGS_TF
            task.context.regs_changed()
            self.forced_tf = False
        self.siginfo = info
        if event_msg is not None:
            self.event_msg = event_msg
        self._resume = trio.Event()
        self.resume_signal = 0
        await self._report(status)
        try:
            await self._resume.wait()
        finally:
            self.stopped = False
            self.report = None
        task.context.regs_changed()  # the tracer may have changed any register
        if self.killed:
            from kernel.task import TaskExit

            await task.process.exit(signal_status(Signal.SIGKILL))
            raise TaskExit
        if self.detached:
            task.ptrace = None
        if self.mode == STEP and not task.regs.eflags & EFLAGS_TF:
            task.regs.eflags |= EFLAGS_TF
            self.forced_tf = True
        return self.resume_signal

    async def _report(self, status: int) -> None:
        """The tracer's wait may now collect ``status``; it gets a SIGCHLD (CLD_TRAPPED)."""
        task = self.task
        self.stopped = True
        self.report = self.last = status
        tracer = self.tracer
        tracer.child_events.unpark_all()
        signo = (status >> 8) & 0x7F
        chld = structs.SIGINFO_CHLD.pack(int(Signal.SIGCHLD), 0, CLD_TRAPPED, task.tid, task.process.creds.uid,
                                         signo, 0, 0)
        try:
            await task.kernel.bus.call("signals", "child_state", tracer.pid, chld)
        except Errno:
            pass

    async def attached_in_group_stop(self, signo: int) -> None:
        """Attached to a thread of a group-stopped process: the tracer sees the group-stop at
        once (PTRACE_EVENT_STOP for a seize), while the thread itself waits for SIGCONT."""
        self.parked = True
        self.siginfo = siginfo(signo, 0)
        await self._report(stopped_status(signo, PTRACE_EVENT_STOP if self.seized else 0))

    def resume(self, mode: int, signo: int) -> None:
        """The tracer's PTRACE_CONT/SYSCALL/SINGLESTEP/DETACH: leave the stop."""
        self.mode = mode
        self.resume_signal = signo
        if self.parked:  # its task never entered the stop: it goes on waiting for SIGCONT
            self.parked = self.stopped = False
            self.report = None
        self._resume.set()

    def kill(self) -> None:
        """PTRACE_KILL, or SIGKILL reaching a stopped tracee: it wakes to die."""
        self.killed = True
        self._resume.set()

    def detach(self) -> None:
        """Forget the tracer (the tracee's own task drops its ``ptrace`` when it wakes)."""
        self.detached = True
        if self.task in self.tracer.tracees:
            self.tracer.tracees.remove(self.task)
        if not self.stopped:
            self.task.ptrace = None

    async def event_stop(self, event: int, msg: int) -> None:
        """A PTRACE_EVENT_* stop, if the tracer asked for ``event``."""
        if self.options & EVENT_OPTIONS.get(event, 0):
            signo = await self.stop(stopped_status(int(Signal.SIGTRAP), event),
                                    siginfo(int(Signal.SIGTRAP), int(Signal.SIGTRAP) | event << 8), msg)
            await self._inject(signo)

    async def _inject(self, signo: int) -> None:
        """A signal the tracer resumed a non-signal stop with is sent to the thread (Linux
        delivers it as if it had just arrived)."""
        if signo and not self.detached:
            self.inject = signo
        if signo:
            task = self.task
            try:
                await task.kernel.bus.call("signals", "send", task.process.pid, task.tid, signo,
                                           siginfo(signo, SI_USER))
            except Errno:
                pass

    # --- where the stops happen -------------------------------------------------------------

    async def started(self, task: Task) -> None:
        """A thread auto-attached at its creation stops before its first instruction."""
        await mark_traced(task, True)
        if self.start_stop:
            self.start_stop = False
            stop_signal = int(Signal.SIGSTOP)
            if self.seized:  # Linux's JOBCTL_TRAP_STOP: PTRACE_EVENT_STOP with SIGTRAP
                trap = int(Signal.SIGTRAP)
                status, info = stopped_status(trap, PTRACE_EVENT_STOP), siginfo(trap, 0)
            else:
                status, info = stopped_status(stop_signal), siginfo(stop_signal, SI_USER)
            signo = await self.stop(status, info)
            if signo != stop_signal:
                await self._inject(signo)

    async def syscall(self, task: Task, dispatch: Dispatch) -> int:
        """Serve the trapped system call with the stops a tracer asked for around it."""
        regs = task.regs
        if self.mode == SYSCALL:
            regs.rax = -ENOSYS & _U64
            await self._syscall_stop(EVENTMSG_SYSCALL_ENTRY)
            regs = task.regs
        nr = regs.orig_rax
        if nr in (_NR_EXIT, _NR_EXIT_GROUP):
            await self.event_stop(PTRACE_EVENT_EXIT, (regs.rdi & 0xFF) << 8)
        self.clone_event = await self._clone_event(task, nr)
        self.exec_tid = task.tid
        result: int
        if nr >= 1 << 63:  # -1: the tracer skipped the call; rax is what it left there
            result = regs.rax - (1 << 64) if regs.rax >> 63 else regs.rax
        elif task.seccomp is None:
            result = await dispatch(task, nr)
        else:
            from kernel.seccomp import filtered_dispatch

            result = await filtered_dispatch(task, nr, dispatch)
        if task.ptrace is not self:
            return result
        if self.clone_event and result > 0:
            await self.event_stop(self.clone_event, result)
        self.clone_event = 0
        if nr in _EXECS and result == 0:
            await self._exec_stop(task)
        if self.mode == SYSCALL and task.ptrace is self:
            regs = task.regs
            regs.rax = result & _U64
            await self._syscall_stop(EVENTMSG_SYSCALL_EXIT)
            rax: int = task.regs.rax
            result = rax - (1 << 64) if rax >> 63 else rax
        return result

    async def _syscall_stop(self, where: int) -> None:
        trap = int(Signal.SIGTRAP)
        signo = trap | 0x80 if self.options & PTRACE_O_TRACESYSGOOD else trap
        info = siginfo(trap, SYSCALL_TRAP if self.options & PTRACE_O_TRACESYSGOOD else trap | 0x80)
        await self._inject(await self.stop(stopped_status(signo), info, where))

    async def _clone_event(self, task: Task, nr: int) -> int:
        """The event a clone, fork or vfork reports (Linux's rule: CLONE_VFORK is a vfork, an
        exit signal other than SIGCHLD a clone, anything else a fork); 0 if not asked for."""
        if nr == _NR_FORK:
            flags, exit_signal = 0, int(Signal.SIGCHLD)
        elif nr == _NR_VFORK:
            flags, exit_signal = CLONE_VFORK, int(Signal.SIGCHLD)
        elif nr == _NR_CLONE:
            flags = task.regs.rdi
            exit_signal = flags & CSIGNAL
        elif nr == _NR_CLONE3:
            try:
                flags, _, _, _, exit_signal = await task.mm.read_struct(_CLONE3_HEAD, task.regs.rdi)
            except Errno:
                return 0
        else:
            return 0
        if flags & CLONE_UNTRACED:
            return 0
        if flags & CLONE_VFORK:
            event = PTRACE_EVENT_VFORK
        elif exit_signal != Signal.SIGCHLD:
            event = PTRACE_EVENT_CLONE
        else:
            event = PTRACE_EVENT_FORK
        if self.options & EVENT_OPTIONS[event] or flags & CLONE_PTRACE:
            return event
        return 0

    async def _exec_stop(self, task: Task) -> None:
        """After a successful execve: PTRACE_EVENT_EXEC, or for a tracee attached the old way
        without that option, a SIGTRAP."""
        if self.options & PTRACE_O_TRACEEXEC:
            await self.event_stop(PTRACE_EVENT_EXEC, self.exec_tid)
        elif not self.seized:
            try:
                await task.kernel.bus.call("signals", "send", task.process.pid, task.tid, int(Signal.SIGTRAP),
                                           siginfo(int(Signal.SIGTRAP), SI_USER))
            except Errno:
                pass

    async def forced(self, task: Task, signo: int, handler: int, mask: int) -> None:
        """Linux's ``force_sig`` for a traced thread: the signal goes to the tracer's
        signal-delivery-stop, so it is unblocked, and an ignored one gets its default action
        (after the stop it then ends the process, as it would untraced)."""
        bus = task.kernel.bus
        bit = 1 << (signo - 1)
        if mask & bit:
            await bus.call("signals", "set_mask", task.tid, mask & ~bit)
        if handler == SIG_IGN:
            await bus.call("signals", "sigaction", task.process.pid, signo, (SIG_DFL, 0, 0, 0))

    async def before_signals(self, task: Task) -> None:
        """PTRACE_INTERRUPT's stop, when the thread next looks at its signals."""
        if self.interrupt:
            self.interrupt = False
            trap = int(Signal.SIGTRAP)
            await self._inject(await self.stop(stopped_status(trap, PTRACE_EVENT_STOP), siginfo(trap, 0)))

    async def signal_stop(self, task: Task, taken: tuple[int, bytes, tuple[int, int, int, int], int]
                          ) -> tuple[int, bytes, tuple[int, int, int, int], int] | None:
        """Signal-delivery-stop: the tracer sees the signal first and may cancel or change it.
        Returns what to deliver, or None (the thread's mask, which the dequeue changed for a
        handler, is put back)."""
        signo, info, action, old_mask = taken
        if self.inject == signo:  # the tracer already saw it
            self.inject = 0
            return taken
        chosen = await self.stop(stopped_status(signo), info.ljust(structs.SIGINFO_SIZE, b"\0"))
        if chosen == signo:
            return signo, self.siginfo[: len(info)] if len(self.siginfo) >= len(info) else info, action, old_mask
        await task.kernel.bus.call("signals", "set_mask", task.tid, old_mask)
        if chosen:
            self.inject = chosen
            new_info = struct.pack("<i", chosen) + self.siginfo[4:]
            await task.kernel.bus.call("signals", "send", task.process.pid, task.tid, chosen, new_info)
        return None

    async def group_stop(self, task: Task, signo: int) -> None:
        """A stop signal's default action in a traced thread: a group-stop the tracer sees
        (as PTRACE_EVENT_STOP when it seized the thread) and ends with its restart request."""
        status = stopped_status(signo, PTRACE_EVENT_STOP) if self.seized else stopped_status(signo)
        await self._inject(await self.stop(status, siginfo(signo, 0)))
        if self.mode == LISTEN:  # stopped until a signal comes (SIGCONT), which it then reports
            self.mode = RUN
            try:
                await task.blocking(trio.sleep_forever())
            except Errno:
                pass

    def ended(self, task: Task) -> None:
        """The thread has ended: a tracer that is not the process's parent, or that traces a
        thread other than the leader, collects the end with wait (its parent the process's)."""
        if task not in self.tracer.tracees:
            return
        process = task.process
        if task.tid == process.pid and process.parent is self.tracer:
            self.tracer.tracees.remove(task)
            return
        self.exit_status = process.exit_status if process.exit_status is not None else 0
        if task.tid == process.pid:  # Linux tells the tracer first; the parent hears once it has
            process.exit_held_by_tracer = True
        self.tracer.child_events.unpark_all()


async def mark_traced(task: Task, traced: bool) -> None:
    """Tell the signals actor whether the thread's process is traced (ignored signals are then
    queued, for the tracer to see)."""
    try:
        await task.kernel.bus.call("signals", "set_traced", task.process.pid, traced)
    except Errno:
        pass


def attach_child(parent: Task, child: Task) -> None:
    """clone: a child of a tracee that the event options (or CLONE_PTRACE) name is traced by
    the same tracer, with the same options, and stops before it runs."""
    tracee = parent.ptrace
    if tracee is None or not tracee.clone_event:
        return
    new = Tracee(child, tracee.tracer, tracee.options, tracee.seized)
    new.start_stop = True
    child.ptrace = new


async def tracer_exited(tracer: ThreadGroup) -> None:
    """A tracer's end detaches its tracees (PTRACE_O_EXITKILL: kills them)."""
    for task in list(tracer.tracees):
        tracee = task.ptrace
        tracer.tracees.remove(task)
        process = task.process
        if process.exit_held_by_tracer:  # an end it never collected: the parent's to reap now
            process.exit_held_by_tracer = False
            if process.parent is not None:
                process.parent.child_events.unpark_all()
        if tracee is None:
            continue
        if tracee.options & PTRACE_O_EXITKILL:
            tracee.kill()
            if not tracee.stopped and not task.process.zombie:
                task.kernel.spawn(task.process.exit, signal_status(Signal.SIGKILL))
        else:
            tracee.detach()
            await mark_traced(task, False)
            if tracee.stopped:
                tracee.resume(RUN, 0)


def wake_for_kill(process: ThreadGroup) -> None:
    """SIGKILL reaches a thread in a ptrace-stop: it wakes to die."""
    for task in process.tasks:
        tracee = task.ptrace
        if tracee is not None and tracee.stopped:
            tracee.kill()
