"""pidfd_open, pidfd_send_signal, pidfd_getfd (kernel/pid.c, kernel/signal.c).

A pidfd is a file of the VFS naming one process by its exit event (a PIDFD_THREAD one, one
thread by the event of its end); here it is turned back into the process or thread behind its
pid, and a pid now held by another (or by none) is ESRCH.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.creds import CAP_SYS_PTRACE
from abi.errno import EBADF, EINVAL, ENOENT, EPERM, ESRCH, Errno
from abi.events import PIDFD_NONBLOCK, PIDFD_THREAD
from abi.linux import NSIG, SI_TKILL, SI_USER
from kernel.files import duplicate, install, vfs
from kernel.syscalls.args import Addr, Fd, Int, UInt
from kernel.syscalls.signals import check_kill_permission, send_to_group, send_to_process, send_to_thread
from kernel.syscalls.table import syscall
from services.vfs.contract import Opened, PidFdTarget

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task


async def pidfd_target(t: Task, fd: int) -> PidFdTarget:
    """What pidfd ``fd`` names; EBADF for an fd that is not a pidfd."""
    return await t.kernel.bus.call("vfs", "pidfd_target", t.process.fds.handle(fd))


def live_process(t: Task, target: PidFdTarget) -> ThreadGroup | None:
    """The process a pidfd names while its pid is still its own (a zombie too), else None;
    for a thread's pidfd, the thread's process while the thread lives."""
    if target.thread:
        task = live_thread(t, target)
        return task.process if task is not None else None
    process = t.kernel.processes.get(target.pid)
    return process if process is not None and process.exited is target.exited else None


def live_thread(t: Task, target: PidFdTarget) -> Task | None:
    """The thread a PIDFD_THREAD pidfd names, while it lives."""
    task = t.kernel.threads.get(target.pid)
    return task if task is not None and task.done is target.exited and not task.exited else None


@syscall
async def pidfd_open(t: Task, pid: Int, flags: UInt) -> int:
    """A close-on-exec pidfd for process ``pid``, or with PIDFD_THREAD for thread ``pid`` (any
    thread, the leader too: readable when that thread ends, its signals that thread's)."""
    if flags & ~(PIDFD_NONBLOCK | PIDFD_THREAD) or pid <= 0:
        raise Errno(EINVAL)
    process = t.kernel.processes.get(pid)
    task = t.kernel.threads.get(pid)
    if process is None and task is None:
        raise Errno(ESRCH)
    if process is None and not flags & PIDFD_THREAD:
        raise Errno(ENOENT)  # a thread's tid names no process (Linux 6.18; 6.9 said EINVAL)
    if flags & PIDFD_THREAD and task is not None:
        ended = task.done  # the thread's own end
    else:
        assert process is not None
        ended = process.exited
    handle = await vfs(t, "pidfd_open", pid, ended, flags & (PIDFD_NONBLOCK | PIDFD_THREAD))
    return await install(t, Opened(handle), True)


#: pidfd_send_signal's scopes (Linux 6.9): the thread, its process, its process group.
PIDFD_SIGNAL_THREAD = 1 << 0
PIDFD_SIGNAL_THREAD_GROUP = 1 << 1
PIDFD_SIGNAL_PROCESS_GROUP = 1 << 2
_SIGNAL_SCOPES = PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP


@syscall
async def pidfd_send_signal(t: Task, pidfd: Fd, sig: Int, info: Addr, flags: UInt) -> int:
    """kill(2) through a pidfd, to the thread, process or process group ``flags`` names (by
    default what the pidfd names); ``info`` as rt_sigqueueinfo's, whose signal must be ``sig``."""
    if flags & ~_SIGNAL_SCOPES or flags.bit_count() > 1:
        raise Errno(EINVAL)
    try:
        target = await pidfd_target(t, pidfd)
    except Errno as error:  # an fd of /proc/PID names that process too (tgid_pidfd_to_pid)
        if error.errno != EBADF:
            raise
        pid = await t.kernel.bus.call("vfs", "proc_pid", t.process.fds.handle(pidfd))
        process = t.kernel.processes.get(pid)
        if process is None:
            raise Errno(ESRCH) from None
        target = PidFdTarget(pid, process.exited, False)
    scope = flags or (PIDFD_SIGNAL_THREAD if target.thread else PIDFD_SIGNAL_THREAD_GROUP)
    if info:
        raw = bytearray(await t.mm.copy_in(info, structs.SIGINFO_SIZE))
        signo, _errno, code = structs.SIGINFO_HEAD.unpack_from(raw)
        if signo != sig:
            raise Errno(EINVAL)
        # only to oneself (the calling thread's own pid) may a signal claim to come from the kernel
        if (code >= 0 or code == SI_TKILL) and (target.pid != t.tid or scope == PIDFD_SIGNAL_PROCESS_GROUP):
            raise Errno(EPERM)
        data = bytes(raw)
    else:
        code = SI_TKILL if scope == PIDFD_SIGNAL_THREAD else SI_USER
        data = structs.SIGINFO_KILL.pack(sig, 0, code, t.process.pid, t.process.creds.uid, 0)
    process = live_process(t, target)
    if process is None:
        raise Errno(ESRCH)
    if not 0 <= sig <= NSIG:
        raise Errno(EINVAL)
    if scope == PIDFD_SIGNAL_THREAD:
        task = live_thread(t, target) if target.thread else t.kernel.threads.get(target.pid)
        if task is None or task.exited:
            raise Errno(ESRCH)
        check_kill_permission(t, process, sig)
        await send_to_thread(t, task, sig, data)
    elif scope == PIDFD_SIGNAL_PROCESS_GROUP:
        await send_to_group(t, target.pid, sig, data)
    else:
        check_kill_permission(t, process, sig)
        await send_to_process(t, process, sig, data)
    return 0


def may_access(t: Task, process: ThreadGroup) -> bool:
    """``ptrace_may_access`` with PTRACE_MODE_ATTACH_REALCREDS: the caller's own process, or one
    whose real, effective and saved ids all are the caller's real ones, or CAP_SYS_PTRACE."""
    mine, theirs = t.process.creds, process.creds
    if process is t.process or mine.has_cap(CAP_SYS_PTRACE):
        return True
    return ({theirs.uid, theirs.euid, theirs.suid} == {mine.uid}
            and {theirs.gid, theirs.egid, theirs.sgid} == {mine.gid})


@syscall
async def pidfd_getfd(t: Task, pidfd: Fd, targetfd: Int, flags: UInt) -> int:
    """A close-on-exec duplicate, in the caller's table, of fd ``targetfd`` of the process the
    pidfd names."""
    if flags:
        raise Errno(EINVAL)
    process = live_process(t, await pidfd_target(t, pidfd))
    if process is None or process.zombie:
        raise Errno(ESRCH)
    if not may_access(t, process):
        raise Errno(EPERM)
    if targetfd < 0 or targetfd not in process.fds:
        raise Errno(EBADF)
    return await duplicate(t, process.fds.get(targetfd), cloexec=True)
