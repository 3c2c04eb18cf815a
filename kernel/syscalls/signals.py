"""Signals: actions, masks, sending, waiting, alternate stacks, and rt_sigreturn.

The signals actor keeps the state (see :mod:`services.signals.actor`); the task loop delivers
(:meth:`kernel.task.Task.handle_signals`, frames in :mod:`kernel.sigframe`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from abi import structs
from abi.encoding import c_int, c_uint
from abi.errno import EAGAIN, EFAULT, EINTR, EINVAL, EPERM, ERESTART_RESTARTBLOCK, ERESTARTNOHAND, ESRCH
from abi.linux import (
    NSEC_PER_SEC,
    NSIG,
    O_NONBLOCK,
    RLIMIT_SIGPENDING,
    SFD_CLOEXEC,
    SFD_NONBLOCK,
    SI_TKILL,
    SI_USER,
    UNBLOCKABLE,
    Signal,
)
from abi.errno import Errno
from kernel.creds import may_signal
from kernel.syscalls.args import Addr, Int, Size
from kernel.syscalls.sigmasks import SIGSET_SIZE, read_sigset, replace_mask
from kernel.files import install, vfs
from kernel.syscalls.table import syscall
from services.vfs.contract import Opened

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task



def _check_signal(sig: int) -> None:
    if not 0 <= sig <= NSIG:
        raise Errno(EINVAL)


def _user_info(t: Task, sig: int, code: int = SI_USER) -> bytes:
    return structs.SIGINFO_KILL.pack(sig, 0, code, t.process.pid, t.process.creds.uid, 0)


async def send_to_process(t: Task, process: ThreadGroup, sig: int, info: bytes) -> None:
    """Send ``sig`` to a whole process; a zombie takes (and ignores) it."""
    if process.zombie:
        return
    if sig == Signal.SIGCONT:
        await process.resume()
    elif sig == Signal.SIGKILL:
        process.wake_for_kill()
    if sig:
        await t.kernel.bus.call("signals", "send", process.pid, None, sig, info, _bound(process))


def _bound(process: ThreadGroup) -> tuple[int, int]:
    """Whose real-time signal queue a signal to ``process`` lengthens, and how far it may."""
    return process.creds.uid, process.rlimits[RLIMIT_SIGPENDING][0]


def check_kill_permission(t: Task, target: ThreadGroup, sig: int) -> None:
    """EPERM unless the caller may send ``sig`` to ``target`` (``check_kill_permission``):
    its own process, a process of the same real or effective user (:func:`kernel.creds.
    may_signal`), anyone with CAP_KILL, and with SIGCONT anyone in the caller's session."""
    if target is t.process or may_signal(t.process.creds, target.creds):
        return
    if sig == Signal.SIGCONT and target.sid == t.process.sid:
        return
    raise Errno(EPERM)


async def _send_permitted(t: Task, process: ThreadGroup, sig: int, info: bytes) -> None:
    check_kill_permission(t, process, sig)
    await send_to_process(t, process, sig, info)


@syscall
async def kill(t: Task, pid: Int, sig: Int) -> int:
    """Send ``sig`` to process ``pid``; 0: our group; -1: everyone but init and us; < -1: group -pid.

    A group succeeds if any member could be signalled, else it fails as its last member did;
    -1 succeeds if there was anyone at all to try, whatever permission said (Linux's rules)."""
    _check_signal(sig)
    processes = t.kernel.processes
    info = _user_info(t, sig)
    if pid > 0:
        if pid not in processes:
            raise Errno(ESRCH)
        await _send_permitted(t, processes[pid], sig, info)
        return 0
    if pid == -1:
        targets = [p for p in processes.values() if p.pid != 1 and p is not t.process]
        if not targets:
            raise Errno(ESRCH)
        for process in targets:
            try:
                await _send_permitted(t, process, sig, info)
            except Errno as error:
                if error.errno != EPERM:
                    raise
        return 0
    await send_to_group(t, t.process.pgid if pid == 0 else -pid, sig, info)
    return 0


async def send_to_group(t: Task, group: int, sig: int, info: bytes) -> None:
    """Send ``sig`` to every process of process group ``group``: done if any member could be
    signalled, else the last member's error (ESRCH for an empty group)."""
    error = Errno(ESRCH)
    sent = False
    for process in [p for p in t.kernel.processes.values() if p.pgid == group]:
        try:
            await _send_permitted(t, process, sig, info)
            sent = True
        except Errno as refused:
            error = refused
    if not sent:
        raise error


async def _send_to_thread(t: Task, tgid: int | None, tid: int, sig: int, info: bytes) -> int:
    _check_signal(sig)
    if tid <= 0 or (tgid is not None and tgid <= 0):
        raise Errno(EINVAL)
    task = t.kernel.threads.get(tid)
    if task is None or task.exited or (tgid is not None and task.process.pid != tgid):
        raise Errno(ESRCH)
    check_kill_permission(t, task.process, sig)
    await send_to_thread(t, task, sig, info)
    return 0


async def send_to_thread(t: Task, task: Task, sig: int, info: bytes) -> None:
    """Send ``sig`` to one thread (permission already checked)."""
    if sig == Signal.SIGCONT:
        await task.process.resume()
    elif sig == Signal.SIGKILL:
        task.process.wake_for_kill()
    if sig:
        await t.kernel.bus.call("signals", "send", task.process.pid, task.tid, sig, info, _bound(task.process))


@syscall
async def tgkill(t: Task, tgid: Int, tid: Int, sig: Int) -> int:
    return await _send_to_thread(t, tgid, tid, sig, _user_info(t, sig, SI_TKILL))


@syscall
async def tkill(t: Task, tid: Int, sig: Int) -> int:
    return await _send_to_thread(t, None, tid, sig, _user_info(t, sig, SI_TKILL))


async def _queued_info(t: Task, target_pid: int, sig: int, uinfo: int) -> bytes:
    info = bytearray(await t.mm.copy_in(uinfo, structs.SIGINFO_SIZE))
    _signo, _errno, code = structs.SIGINFO_HEAD.unpack_from(info)
    if (code >= 0 or code == SI_TKILL) and target_pid != t.process.pid:
        raise Errno(EPERM)
    structs.I32.pack_into(info, 0, sig)
    return bytes(info)


@syscall
async def rt_sigqueueinfo(t: Task, tgid: Int, sig: Int, uinfo: Addr) -> int:
    _check_signal(sig)
    info = await _queued_info(t, tgid, sig, uinfo)
    process = t.kernel.processes.get(tgid)
    if process is None:
        raise Errno(ESRCH)
    await _send_permitted(t, process, sig, info)
    return 0


@syscall
async def rt_tgsigqueueinfo(t: Task, tgid: Int, tid: Int, sig: Int, uinfo: Addr) -> int:
    _check_signal(sig)
    info = await _queued_info(t, tgid, sig, uinfo)
    return await _send_to_thread(t, tgid, tid, sig, info)


@syscall
async def rt_sigaction(t: Task, sig: Int, act: Addr, oact: Addr, sigsetsize: Size) -> int:
    """Examine and change the action for ``sig`` (struct kernel_sigaction)."""
    if sigsetsize != SIGSET_SIZE:
        raise Errno(EINVAL)
    new = await t.mm.read_struct(structs.SIGACTION, act) if act else None
    old = await t.kernel.bus.call("signals", "sigaction", t.process.pid, sig, new)
    if oact:
        await t.mm.write_struct(structs.SIGACTION, oact, *old)
    return 0


@syscall
async def rt_sigprocmask(t: Task, how: Int, set: Addr, oldset: Addr, sigsetsize: Size) -> int:
    """Examine and change the calling thread's blocked signals."""
    if sigsetsize != SIGSET_SIZE:
        raise Errno(EINVAL)
    change = await read_sigset(t, set, sigsetsize) if set else None
    old = await t.kernel.bus.call("signals", "sigprocmask", t.tid, how, change)
    if oldset:
        await t.mm.write_struct(structs.U64, oldset, old)
    return 0


@syscall
async def rt_sigpending(t: Task, set: Addr, sigsetsize: Size) -> int:
    """The blocked signals that are pending for the thread or its process."""
    if sigsetsize > SIGSET_SIZE:
        raise Errno(EINVAL)
    bus = t.kernel.bus
    pending = await bus.call("signals", "pending", t.tid)
    mask = await bus.call("signals", "sigprocmask", t.tid, 0, None)
    await t.mm.copy_out(set, (pending & mask).to_bytes(8, "little")[:sigsetsize])
    return 0


@syscall
async def rt_sigsuspend(t: Task, mask: Addr, sigsetsize: Size) -> int:
    """Wait for a signal with ``mask`` in place; the old mask comes back when the handler returns."""
    await replace_mask(t, await read_sigset(t, mask, sigsetsize))
    await t.blocking(trio.sleep_forever(), ERESTARTNOHAND)
    raise AssertionError("unreachable")


@syscall
async def pause(t: Task) -> int:
    await t.blocking(trio.sleep_forever(), ERESTARTNOHAND)
    raise AssertionError("unreachable")


@syscall
async def rt_sigtimedwait(t: Task, set: Addr, info: Addr, timeout: Addr, sigsetsize: Size) -> int:
    """Take one of the signals in ``set`` (normally blocked), waiting up to ``timeout``."""
    wanted = await read_sigset(t, set, sigsetsize) & ~UNBLOCKABLE
    seconds = None
    if timeout:
        sec, nsec = await t.mm.read_struct(structs.TIMESPEC, timeout)
        if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
            raise Errno(EINVAL)
        seconds = sec + nsec / NSEC_PER_SEC
    taken = await t.blocking(t.kernel.bus.call("signals", "take", t.tid, wanted, seconds), EINTR)
    if taken is None:
        raise Errno(EAGAIN)
    signo, siginfo = taken
    if info:
        await t.mm.copy_out(info, siginfo.ljust(structs.SIGINFO_SIZE, b"\0"))
    return signo


@syscall
async def signalfd4(t: Task, fd: Int, mask: Addr, sizemask: Size, flags: Int) -> int:
    """A file reading the signals in ``mask`` (normally blocked); fd != -1 changes its mask."""
    if flags & ~(SFD_CLOEXEC | SFD_NONBLOCK):
        raise Errno(EINVAL)
    wanted = await read_sigset(t, mask, sizemask) & ~UNBLOCKABLE
    if fd != -1:
        await vfs(t, "signalfd", t.process.fds.handle(fd), wanted, 0)
        return fd
    handle = await vfs(t, "signalfd", None, wanted, flags & O_NONBLOCK)
    return await install(t, Opened(handle), bool(flags & SFD_CLOEXEC))


@syscall
async def signalfd(t: Task, fd: Int, mask: Addr, sizemask: Size) -> int:
    return await signalfd4(t, fd, mask, sizemask, 0)


@syscall
async def sigaltstack(t: Task, ss: Addr, old_ss: Addr) -> int:
    """Set and/or get the alternate signal stack. ``ss_flags`` is a C int holding bit 31
    (SS_AUTODISARM): read and written as the 32-bit word it is."""
    new = None
    if ss:
        sp, flags, size = await t.mm.read_struct(structs.STACK_T, ss)
        new = (sp, c_uint(flags), size)
    old = await t.kernel.bus.call("signals", "sigaltstack", t.tid, new, t.regs.rsp)
    if old_ss:
        sp, flags, size = old
        await t.mm.write_struct(structs.STACK_T, old_ss, sp, c_int(flags), size)
    return 0


@syscall
async def rt_sigreturn(t: Task) -> int:
    """Return from a signal handler: mask, registers, FP state and alternate stack come back.

    A frame that cannot be restored is Linux's ``signal_fault``: SIGSEGV is forced on the
    thread (caught if the guest has a handler for it, else fatal) and the call returns 0.
    """
    from kernel.sigframe import BadFrame, sigreturn

    try:
        return await sigreturn(t)
    except BadFrame:
        await t.force_signal(Signal.SIGSEGV)
        return 0


@syscall
async def restart_syscall(t: Task) -> int:
    """Continue a system call a signal interrupted (nanosleep's remaining sleep)."""
    block, t.restart_block = t.restart_block, None
    if block is None:
        raise Errno(EINTR)
    return await block()


async def sleep_until(t: Task, deadline: float, rem: int = 0) -> int:
    """An interruptible sleep to ``deadline`` (trio time), as nanosleep does it: when a signal
    comes, the remaining time goes to ``rem`` and restart_syscall sleeps the rest."""
    try:
        await t.blocking(trio.sleep_until(deadline), ERESTART_RESTARTBLOCK)
    except Errno:
        left = max(deadline - trio.current_time(), 0.0)
        if rem:
            ns = int(left * NSEC_PER_SEC)
            try:
                await t.mm.write_struct(structs.TIMESPEC, rem, ns // NSEC_PER_SEC, ns % NSEC_PER_SEC)
            except Errno:
                raise Errno(EFAULT) from None

        async def resume() -> int:
            return await sleep_until(t, deadline, rem)

        t.restart_block = resume
        raise
    return 0


async def signal_self(t: Task, sig: int) -> None:
    """Send ``sig`` to the calling thread as the kernel does for its own reasons (SIGPIPE on a
    write to a pipe or socket with no reader: si_code SI_USER, from the caller itself)."""
    await t.kernel.bus.call("signals", "send", t.process.pid, t.tid, sig, _user_info(t, sig))
