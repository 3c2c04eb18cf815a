"""Waiting for children: wait4 and waitid.

A child that ended stays a zombie until its parent waits for it here (or until the parent says
it does not care, by ignoring SIGCHLD). Stopped and continued children are reported to
WUNTRACED/WCONTINUED waiters once each.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from abi import structs
from abi.encoding import INT_MIN, c_uint
from abi.errno import EAGAIN, ECHILD, EINVAL, ESRCH
from abi.linux import (
    CLD_CONTINUED,
    CLD_DUMPED,
    CLD_EXITED,
    CLD_KILLED,
    CLD_STOPPED,
    CLD_TRAPPED,
    NSEC_PER_SEC,
    P_ALL,
    P_PGID,
    P_PID,
    WALL,
    WCLONE,
    WCONTINUED,
    WEXITED,
    WNOHANG,
    WNOTHREAD,
    WNOWAIT,
    WUNTRACED,
    Signal,
)
from abi.errno import Errno
from kernel.syscalls.args import Addr, Int
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.process import ThreadGroup, Usage
    from kernel.task import Task


class Report:
    """What a wait found: which child, and its state as wait4 and waitid encode it."""

    __slots__ = ("child", "status", "code", "value", "pid", "tracee")

    def __init__(self, child: ThreadGroup, status: int, code: int, value: int, tracee: Task | None = None) -> None:
        self.child = child
        self.status = status
        self.code = code
        self.value = value
        #: A traced thread's stop or end is reported with its thread id.
        self.tracee = tracee
        self.pid = child.pid if tracee is None else tracee.tid


def _selected(child: ThreadGroup, idtype: int, ident: int, options: int) -> bool:
    if idtype == P_PID and child.pid != ident:
        return False
    if idtype == P_PGID and child.pgid != ident:
        return False
    if options & WALL:
        return True
    # A "clone" child is one that signals its parent with something other than SIGCHLD.
    is_clone = child.exit_signal != Signal.SIGCHLD
    return is_clone == bool(options & WCLONE)


def _report(child: ThreadGroup, options: int) -> Report | None:
    """The state change of ``child`` this wait may consume, if any."""
    if child.zombie and options & WEXITED and not child.exit_held_by_tracer:
        code, value = child.wait_code()
        return Report(child, child.exit_status or 0, code, value)
    stop = child.stop_report
    if stop and options & WUNTRACED:
        return Report(child, (stop << 8) | 0x7F, CLD_STOPPED, stop)
    if child.continue_report and options & WCONTINUED:
        return Report(child, 0xFFFF, CLD_CONTINUED, int(Signal.SIGCONT))
    return None


def _selected_tracee(task: Task, idtype: int, ident: int, options: int) -> bool:
    """Whether a wait may report a traced thread: by its thread id, its process group, and
    (unless __WALL) __WCLONE for a thread other than the leader or a non-SIGCHLD child."""
    if idtype == P_PID and task.tid != ident:
        return False
    if idtype == P_PGID and task.process.pgid != ident:
        return False
    if options & WALL:
        return True
    is_clone = task.tid != task.process.pid or task.process.exit_signal != Signal.SIGCHLD
    return is_clone == bool(options & WCLONE)


def _tracee_report(task: Task, options: int) -> Report | None:
    """A ptrace-stop (reported whatever WUNTRACED says) or the end of a traced thread."""
    tracee = task.ptrace
    if tracee is None:
        return None
    if tracee.report is not None:
        signo = (tracee.report >> 8) & 0xFF
        return Report(task.process, tracee.report, CLD_TRAPPED, signo, task)
    if tracee.exit_status is not None and options & WEXITED:
        status = tracee.exit_status
        if status & 0x7F == 0:
            return Report(task.process, status, CLD_EXITED, (status >> 8) & 0xFF, task)
        return Report(task.process, status, CLD_DUMPED if status & 0x80 else CLD_KILLED, status & 0x7F, task)
    return None


async def wait_child(t: Task, idtype: int, ident: int, options: int) -> Report | None:
    """Find (and unless WNOWAIT, consume) a child state change; None under WNOHANG.

    As in Linux's do_wait, the children are looked at before pending signals: a wait cut short
    by a signal (the awaited child's own SIGCHLD, typically) still reports a child that has
    changed state by then, and the signal is handled after the call returns.
    """
    process = t.process
    interrupted: Errno | None = None
    while True:
        children = [c for c in process.children if _selected(c, idtype, ident, options)]
        tracees = [task for task in process.tracees if _selected_tracee(task, idtype, ident, options)]
        if not children and not tracees:
            raise Errno(ECHILD)
        for task in tracees:
            report = _tracee_report(task, options)
            if report is None:
                continue
            if not options & WNOWAIT:
                _consume_tracee(process, report)
            return report
        for child in children:
            report = _report(child, options)
            if report is None:
                continue
            if not options & WNOWAIT:
                _consume(process, report)
            return report
        if not options & WEXITED and not tracees and all(child.zombie for child in children):
            raise Errno(ECHILD)  # a zombie changes state no more: only WEXITED may wait for it
        if options & WNOHANG:
            return None
        if interrupted is not None:
            raise interrupted
        try:
            await t.blocking(process.child_events.park())
        except Errno as error:  # look at the children once more, then give up
            interrupted = error


def _consume_tracee(tracer: ThreadGroup, report: Report) -> None:
    task = report.tracee
    tracee = task.ptrace if task is not None else None
    if tracee is None or task is None:
        return
    if report.code == CLD_TRAPPED:
        tracee.report = None
    elif task in tracer.tracees:  # its end, collected: the tracer is done with it
        tracer.tracees.remove(task)
        task.ptrace = None
        process = task.process
        if process.exit_held_by_tracer:
            process.exit_held_by_tracer = False
            if process.parent is not None:
                process.parent.child_events.unpark_all()


def _consume(parent: ThreadGroup, report: Report) -> None:
    child = report.child
    if report.code == CLD_STOPPED:
        child.stop_report = 0
    elif report.code == CLD_CONTINUED:
        child.continue_report = False
    else:
        parent.reap(child)


def _timeval(ns: int) -> tuple[int, int]:
    seconds, rest = divmod(ns, NSEC_PER_SEC)
    return seconds, rest // 1000


def pack_rusage(usage: Usage) -> bytes:
    """A struct rusage with the CPU times (the other fields are zero, as in gVisor)."""
    return structs.RUSAGE.pack(*_timeval(usage.user_ns), *_timeval(usage.system_ns), *([0] * 14))


@syscall
async def wait4(t: Task, pid: Int, wstatus: Addr, options: Int, rusage: Addr) -> int:
    """Wait for a child: pid > 0 that one, 0 our process group, -1 any, < -1 group -pid."""
    options = c_uint(options)  # __WCLONE is bit 31 of the int
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE):
        raise Errno(EINVAL)
    if pid == INT_MIN:  # -INT_MIN is no process group
        raise Errno(ESRCH)
    if pid > 0:
        idtype, ident = P_PID, pid
    elif pid == 0:
        idtype, ident = P_PGID, t.process.pgid
    elif pid == -1:
        idtype, ident = P_ALL, 0
    else:
        idtype, ident = P_PGID, -pid
    report = await wait_child(t, idtype, ident, options | WEXITED)
    if report is None:
        return 0
    if wstatus:
        await t.mm.write_struct(structs.I32, wstatus, report.status)
    if rusage:
        await t.mm.copy_out(rusage, pack_rusage(_usage_of(report.child)))
    return report.pid


def _usage_of(child: ThreadGroup) -> Usage:
    from kernel.process import Usage

    total = Usage()
    total.add(child.usage)
    total.add(child.children_usage)
    return total


@syscall
async def waitid(t: Task, idtype: Int, id: Int, infop: Addr, options: Int, rusage: Addr) -> int:
    """Wait for a child state change and describe it in a siginfo.

    As Linux does it: whatever the wait found, or failed with, the siginfo's first fields
    (signo, errno, code, pid, uid, status) are written, zeros when no child is reported, and
    a siginfo that cannot be written is EFAULT, whatever the wait's own answer was.
    """
    error: Errno | None = None
    report = None
    try:
        report = await _waitid(t, idtype, id, c_uint(options))
    except Errno as failed:
        error = failed
    if rusage and report is not None:
        await t.mm.copy_out(rusage, pack_rusage(_usage_of(report.child)))
    if infop:
        if report is None:
            head, tail = (0, 0, 0), (0, 0, 0)
        else:
            head, tail = (int(Signal.SIGCHLD), 0, report.code), (report.pid, report.child.creds.uid,
                                                                  report.value)
        await t.mm.write_struct(_SIGINFO_HEAD, infop, *head)  # (the padding between is left alone)
        await t.mm.write_struct(_SIGINFO_CHILD, infop + _SIGINFO_CHILD_OFFSET, *tail)
    if error is not None:
        raise error
    return 0


#: The siginfo fields waitid writes: si_signo, si_errno, si_code; then si_pid, si_uid, si_status.
_SIGINFO_HEAD = struct.Struct("<iii")
_SIGINFO_CHILD = struct.Struct("<iIi")
_SIGINFO_CHILD_OFFSET = 16
_P_PIDFD = 3


async def _waitid(t: Task, idtype: int, id: int, options: int) -> Report | None:
    if options & ~(WNOHANG | WNOWAIT | WEXITED | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE):
        raise Errno(EINVAL)
    if not options & (WEXITED | WUNTRACED | WCONTINUED):
        raise Errno(EINVAL)
    if idtype == P_ALL:
        ident = 0
    elif idtype in (P_PID, P_PGID):
        if id < 0 or (idtype == P_PID and id == 0):
            raise Errno(EINVAL)
        ident = id if id or idtype == P_PID else t.process.pgid
    elif idtype == _P_PIDFD:
        return await _waitid_pidfd(t, id, options)
    else:
        raise Errno(EINVAL)
    return await wait_child(t, idtype, ident, options)


async def _waitid_pidfd(t: Task, fd: int, options: int) -> Report | None:
    """waitid(P_PIDFD): the child a pidfd names (ECHILD once its pid is another's); a
    non-blocking pidfd does not wait, and EAGAIN says the child has not changed state."""
    from kernel.syscalls.pidfd import live_process, pidfd_target

    if fd < 0:
        raise Errno(EINVAL)
    target = await pidfd_target(t, fd)
    if live_process(t, target) is None:
        raise Errno(ECHILD)
    report = await wait_child(t, P_PID, target.pid, options | (WNOHANG if target.nonblocking else 0))
    if report is None and target.nonblocking and not options & WNOHANG:
        raise Errno(EAGAIN)
    return report
