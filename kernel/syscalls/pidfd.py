"""pidfd_open, pidfd_send_signal, pidfd_getfd (kernel/pid.c, kernel/signal.c).

A pidfd is a file of the VFS naming one process by its exit event; here it is turned back into
the process behind its pid, and a pid now held by another process (or by none) is ESRCH.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.creds import CAP_SYS_PTRACE
from abi.errno import EBADF, EINVAL, EPERM, ESRCH, Errno
from abi.events import PIDFD_NONBLOCK, PIDFD_THREAD
from abi.linux import NSIG, SI_TKILL, SI_USER
from kernel.files import duplicate, install, vfs
from kernel.syscalls.args import Addr, Fd, Int, UInt
from kernel.syscalls.signals import check_kill_permission, send_to_process
from kernel.syscalls.table import syscall
from services.vfs.contract import Opened, PidFdTarget

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task


async def pidfd_target(t: Task, fd: int) -> PidFdTarget:
    """What pidfd ``fd`` names; EBADF for an fd that is not a pidfd."""
    return await t.kernel.bus.call("vfs", "pidfd_target", t.process.fds.handle(fd))


def live_process(t: Task, target: PidFdTarget) -> ThreadGroup | None:
    """The process a pidfd names while its pid is still its own (a zombie too), else None."""
    process = t.kernel.processes.get(target.pid)
    return process if process is not None and process.exited is target.exited else None


@syscall
async def pidfd_open(t: Task, pid: Int, flags: UInt) -> int:
    """A close-on-exec pidfd for process ``pid`` (a thread group leader, or with PIDFD_THREAD any
    thread, whose process it then names)."""
    if flags & ~(PIDFD_NONBLOCK | PIDFD_THREAD) or pid <= 0:
        raise Errno(EINVAL)
    process = t.kernel.processes.get(pid)
    if process is None:
        task = t.kernel.threads.get(pid)
        if task is None:
            raise Errno(ESRCH)
        if not flags & PIDFD_THREAD:
            raise Errno(EINVAL)
        process = task.process
    handle = await vfs(t, "pidfd_open", pid, process.exited, flags & PIDFD_NONBLOCK)
    return await install(t, Opened(handle), True)


@syscall
async def pidfd_send_signal(t: Task, pidfd: Fd, sig: Int, info: Addr, flags: UInt) -> int:
    """kill(2) through a pidfd; ``info`` as rt_sigqueueinfo's, whose signal must be ``sig``."""
    if flags:
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
    if info:
        raw = bytearray(await t.mm.copy_in(info, structs.SIGINFO_SIZE))
        signo, _errno, code = structs.SIGINFO_HEAD.unpack_from(raw)
        if signo != sig:
            raise Errno(EINVAL)
        if (code >= 0 or code == SI_TKILL) and target.pid != t.process.pid:
            raise Errno(EPERM)
        data = bytes(raw)
    else:
        data = structs.SIGINFO_KILL.pack(sig, 0, SI_USER, t.process.pid, t.process.creds.uid, 0)
    process = live_process(t, target)
    if process is None:
        raise Errno(ESRCH)
    if not 0 <= sig <= NSIG:
        raise Errno(EINVAL)
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
