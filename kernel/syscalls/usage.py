"""CPU usage and scheduling as a process sees it: getrusage, times, priorities, affinity."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from abi import structs
from abi.creds import CAP_SYS_NICE
from abi.errno import EACCES, EINVAL, EPERM, ESRCH
from abi.linux import (
    NSEC_PER_SEC,
    PRIO_PGRP,
    PRIO_PROCESS,
    PRIO_USER,
    RLIMIT_NICE,
    RUSAGE_CHILDREN,
    RUSAGE_SELF,
    RUSAGE_THREAD,
    USER_HZ,
)
from abi.errno import Errno
from kernel.process import Usage
from kernel.syscalls.args import Addr, Int, Size
from kernel.syscalls.table import syscall
from kernel.syscalls.wait import pack_rusage

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task


@syscall
async def getrusage(t: Task, who: Int, usage: Addr) -> int:
    if who == RUSAGE_SELF:
        used = Usage(t.process.cpu_time_ns())
    elif who == RUSAGE_CHILDREN:
        used = t.process.children_usage
    elif who == RUSAGE_THREAD:
        used = Usage(t.context.cpu_time_ns(whole_process=False))
    else:
        raise Errno(EINVAL)
    await t.mm.copy_out(usage, pack_rusage(used))
    return 0


def _ticks(ns: int) -> int:
    return ns * USER_HZ // NSEC_PER_SEC


@syscall
async def times(t: Task, buf: Addr) -> int:
    """CPU times in clock ticks; returns ticks since the sandbox booted."""
    if buf:
        children = t.process.children_usage
        await t.mm.write_struct(structs.TMS, buf, _ticks(t.process.cpu_time_ns()), 0,
                                _ticks(children.user_ns), _ticks(children.system_ns))
    return int((time.monotonic() - t.kernel.boot_time) * USER_HZ)


def _targets(t: Task, which: int, who: int) -> list[ThreadGroup]:
    processes = [p for p in t.kernel.processes.values() if not p.zombie]
    if which == PRIO_PROCESS:
        if who == 0:
            return [t.process]
        task = t.kernel.threads.get(who)
        return [task.process] if task is not None else []
    if which == PRIO_PGRP:
        group = who or t.process.pgid
        return [p for p in processes if p.pgid == group]
    if which == PRIO_USER:
        uid = who or t.process.creds.uid
        return [p for p in processes if p.creds.uid == uid]
    raise Errno(EINVAL)


@syscall
async def getpriority(t: Task, which: Int, who: Int) -> int:
    """The highest priority among the targets, as 20 - nice (the raw system call's form)."""
    targets = _targets(t, which, who)
    if not targets:
        raise Errno(ESRCH)
    return 20 - min(p.nice for p in targets)


@syscall
async def setpriority(t: Task, which: Int, who: Int, prio: Int) -> int:
    """Set the nice value of every target that may be changed; the error of the last one that
    may not is the result (``set_one_prio``), ESRCH if there is no target at all."""
    targets = _targets(t, which, who)
    if not targets:
        raise Errno(ESRCH)
    nice = max(-20, min(19, prio))
    error = 0
    for process in targets:
        try:
            _check_nice(t, process, nice)
        except Errno as refused:
            error = refused.errno
            continue
        process.nice = nice
    if error:
        raise Errno(error)
    return 0


def _check_nice(t: Task, process: ThreadGroup, nice: int) -> None:
    """Who may renice whom: the target's real or effective uid is the caller's effective uid,
    or CAP_SYS_NICE (EPERM); lowering the nice value needs RLIMIT_NICE's room (20 - nice at
    most the limit) or CAP_SYS_NICE (EACCES)."""
    creds, target = t.process.creds, process.creds
    privileged = creds.has_cap(CAP_SYS_NICE)
    if creds.euid not in (target.uid, target.euid) and not privileged:
        raise Errno(EPERM)
    if nice < process.nice and 20 - nice > process.rlimits[RLIMIT_NICE][0] and not privileged:
        raise Errno(EACCES)


@syscall
async def sched_setaffinity(t: Task, pid: Int, cpusetsize: Size, mask: Addr) -> int:
    """The thread's CPU mask, cut to the sandbox's CPUs (EINVAL if none is left); kept and
    reported by sched_getaffinity and inherited, while the Sentry places the host threads."""
    target = affinity_target(t, pid)
    raw = await t.mm.copy_in(mask, min(cpusetsize, 128))
    creds, owner = t.process.creds, target.process.creds
    if creds.euid not in (owner.uid, owner.euid) and not creds.has_cap(CAP_SYS_NICE):
        raise Errno(EPERM)
    every = (1 << t.kernel.online_cpus) - 1
    bits = int.from_bytes(raw, "little") & every
    if not bits:
        raise Errno(EINVAL)
    target.affinity = None if bits == every else bits
    return 0


def affinity_target(t: Task, pid: int) -> Task:
    """The thread sched_{get,set}affinity name (0: the caller); ESRCH for no such thread."""
    if pid == 0:
        return t
    target = t.kernel.threads.get(pid) if pid > 0 else None
    if target is None:
        raise Errno(ESRCH)
    return target
