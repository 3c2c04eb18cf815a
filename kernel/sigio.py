"""Sending a description's signal-driven I/O signal to its owner (Linux's send_sigio).

The VFS keeps each description's owner and knows when its file becomes ready; the processes
and their credentials are the kernel's, so the VFS asks the ``proc`` service, which calls
:func:`send_sigio`. SIGIO itself (F_SETSIG 0) comes as the kernel's own signal, without
siginfo; a signal chosen with F_SETSIG carries si_code POLL_IN..POLL_HUP, si_band and si_fd. A
socket's owner also gets SIGURG, plain (reason 0), when urgent data arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.errno import EAGAIN, EINVAL, ESRCH, Errno
from abi.linux import F_OWNER_PGRP, F_OWNER_PID, F_OWNER_TID, POLL_BANDS, RLIMIT_SIGPENDING, SI_KERNEL, SI_SIGIO, Signal
from services.vfs.contract import Opened, SigioOwner

if TYPE_CHECKING:
    from kernel.kernel import Kernel
    from kernel.process import ThreadGroup
    from kernel.task import Task


def may_send_sigio(owner: SigioOwner, target: ThreadGroup) -> bool:
    """sigio_perm: the owner's setter was root, or one of its uids is one of the target's."""
    return owner.euid == 0 or bool({owner.uid, owner.euid} & {target.creds.uid, target.creds.suid})


#: Signals whose si_code values mean something of their own (sig_specific_sicodes): sent for
#: I/O, they say SI_SIGIO rather than an ambiguous POLL_*.
_OWN_CODES = frozenset({Signal.SIGILL, Signal.SIGFPE, Signal.SIGSEGV, Signal.SIGBUS, Signal.SIGTRAP, Signal.SIGCHLD,
                        Signal.SIGSYS})
#: Plain SIGIO, as the kernel sends it (SEND_SIG_PRIV): F_SETSIG 0, or a chosen signal that could
#: not be queued.
_PLAIN_SIGIO = Signal.SIGIO, structs.SIGINFO_KILL.pack(Signal.SIGIO, 0, SI_KERNEL, 0, 0, 0)


def sigio_info(signo: int, fd: int, reason: int) -> tuple[int, bytes]:
    """The signal and siginfo for ``reason`` (POLL_IN ...) on ``fd``; reason 0 is ``signo``
    plain, as the kernel sends it (SIGURG for urgent data)."""
    if signo == 0:
        return _PLAIN_SIGIO
    if reason == 0:
        return signo, structs.SIGINFO_KILL.pack(signo, 0, SI_KERNEL, 0, 0, 0)
    code = SI_SIGIO if signo in _OWN_CODES else reason
    return signo, structs.SIGINFO_HEAD.pack(signo, 0, code) + structs.SIGINFO_POLL.pack(POLL_BANDS[reason], fd)


async def send_sigio(kernel: Kernel, owner: SigioOwner, signo: int, fd: int, reason: int) -> None:
    """Send the owner its signal: one thread (F_OWNER_TID), one process, or every process of a
    group; targets its setter may not signal, zombies and processes gone are skipped."""
    sig, info = sigio_info(signo, fd, reason)
    targets: list[tuple[ThreadGroup, int | None]]  # (process, its thread for F_OWNER_TID)
    if owner.kind == F_OWNER_TID:
        task = kernel.threads.get(owner.id)
        targets = [] if task is None else [(task.process, task.tid)]
    elif owner.kind == F_OWNER_PGRP:
        targets = [(process, None) for process in kernel.processes.values() if process.pgid == owner.id]
    else:
        process = kernel.processes.get(owner.id)
        targets = [] if process is None else [(process, None)]
    for process, tid in targets:
        if process.zombie or not may_send_sigio(owner, process):
            continue
        if sig == Signal.SIGCONT:
            await process.resume()
        elif sig == Signal.SIGKILL:
            process.wake_for_kill()
        bound = process.creds.uid, process.rlimits[RLIMIT_SIGPENDING][0]
        try:
            await kernel.bus.call("signals", "send", process.pid, tid, sig, info, bound)
        except Errno as error:  # a real-time signal past RLIMIT_SIGPENDING: plain SIGIO instead
            if error.errno != EAGAIN:
                raise
            await kernel.bus.call("signals", "send", process.pid, tid, *_PLAIN_SIGIO, bound)


# --- the owner, as fcntl and the socket ioctls set and read it ---------------------------------


def _exists(kernel: Kernel, kind: int, who: int) -> bool:
    """find_vpid: ``who`` names a thread, a process, or (for a group) a process group."""
    if who in kernel.threads or who in kernel.processes:
        return True
    return kind == F_OWNER_PGRP and any(process.pgid == who for process in kernel.processes.values())


def _alive(kernel: Kernel, owner: SigioOwner) -> bool:
    """pid_task: the owner still has a task of its kind (F_GETOWN says 0 once it has none)."""
    if owner.kind == F_OWNER_TID:
        return owner.id in kernel.threads
    if owner.kind == F_OWNER_PGRP:
        return any(p.pgid == owner.id and not p.zombie for p in kernel.processes.values())
    process = kernel.processes.get(owner.id)
    return process is not None and not process.zombie


async def set_owner(t: Task, opened: Opened, kind: int, who: int) -> None:
    """f_setown / f_setown_ex: ESRCH for an id nobody has; 0 leaves the description unowned."""
    if who and not _exists(t.kernel, kind, who):
        raise Errno(ESRCH)
    creds = t.process.creds
    await t.kernel.bus.call("vfs", "set_owner", opened.handle, SigioOwner(kind, who, creds.uid, creds.euid))


async def owner_of(t: Task, opened: Opened) -> tuple[int, int]:
    """f_getown_ex: (F_OWNER_*, id), the id 0 once its task is gone; (F_OWNER_PID, 0) unowned."""
    owner = await t.kernel.bus.call("vfs", "owner", opened.handle)
    if owner is None:
        return F_OWNER_PID, 0
    return owner.kind, owner.id if _alive(t.kernel, owner) else 0


async def getown(t: Task, opened: Opened) -> int:
    """F_GETOWN: a process's or thread's id, or a process group's negated."""
    kind, who = await owner_of(t, opened)
    return -who if kind == F_OWNER_PGRP else who


async def setown(t: Task, opened: Opened, who: int) -> None:
    """F_SETOWN: a process (who > 0), a process group (who < 0), nobody (0)."""
    if who == -(1 << 31):
        raise Errno(EINVAL)
    await set_owner(t, opened, F_OWNER_PGRP if who < 0 else F_OWNER_PID, abs(who))
