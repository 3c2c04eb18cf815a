"""Process and thread identity and exit: exit, exit_group, get*id, set_tid_address, robust
lists, process groups and sessions, prctl."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.creds import (
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAP_AMBIENT_IS_SET,
    PR_CAP_AMBIENT_LOWER,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    PR_CAPBSET_READ,
    PR_GET_KEEPCAPS,
    PR_GET_SECUREBITS,
    PR_SET_KEEPCAPS,
    PR_SET_SECUREBITS,
)
from abi.errno import EACCES, EINVAL, EPERM, ESRCH
from abi.linux import (
    PR_GET_CHILD_SUBREAPER,
    PR_GET_DUMPABLE,
    PR_GET_NAME,
    PR_GET_NO_NEW_PRIVS,
    PR_GET_PDEATHSIG,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_DUMPABLE,
    PR_SET_NAME,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    ROBUST_LIST_HEAD_SIZE,
    TASK_COMM_LEN,
    exit_status_code,
)
from abi.errno import Errno
from kernel import creds as rules
from kernel.syscalls import seccomp
from kernel.syscalls.args import Addr, Int, Size, ULong
from kernel.syscalls.table import syscall
from kernel.task import TaskExit

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task


@syscall("exit")
async def exit_(t: Task, status: Int) -> int:
    """Terminate the calling thread; the last thread out ends the process."""
    await t.exit_thread(status)
    raise AssertionError("unreachable")


@syscall
async def exit_group(t: Task, status: Int) -> int:
    """Terminate every thread of the process."""
    await t.process.exit(exit_status_code(status))
    raise TaskExit


@syscall
async def getpid(t: Task) -> int:
    return t.process.pid


@syscall
async def gettid(t: Task) -> int:
    return t.tid


@syscall
async def getppid(t: Task) -> int:
    return t.process.ppid


@syscall
async def getuid(t: Task) -> int:
    return t.process.creds.uid


@syscall
async def geteuid(t: Task) -> int:
    return t.process.creds.euid


@syscall
async def getgid(t: Task) -> int:
    return t.process.creds.gid


@syscall
async def getegid(t: Task) -> int:
    return t.process.creds.egid


@syscall
async def set_tid_address(t: Task, tidptr: Addr) -> int:
    """Remember where to clear the tid (and wake a futex) when this thread exits."""
    t.clear_child_tid = tidptr
    return t.tid


@syscall
async def set_robust_list(t: Task, head: Addr, length: Size) -> int:
    """Remember the thread's robust futex list, walked when it exits."""
    if length != ROBUST_LIST_HEAD_SIZE:
        raise Errno(EINVAL)
    t.robust_list = (head, length)
    return 0


# --- process groups and sessions ------------------------------------------------------------


def find_process(t: Task, pid: int) -> ThreadGroup:
    """The process ``pid`` names (0: the caller's); ESRCH if there is none."""
    if pid == 0:
        return t.process
    process = t.kernel.processes.get(pid)
    if process is None:
        task = t.kernel.threads.get(pid)
        if task is None:
            raise Errno(ESRCH)
        process = task.process
    return process


@syscall
async def getpgid(t: Task, pid: Int) -> int:
    return find_process(t, pid).pgid


@syscall
async def getpgrp(t: Task) -> int:
    return t.process.pgid


@syscall
async def getsid(t: Task, pid: Int) -> int:
    return find_process(t, pid).sid


@syscall
async def setpgid(t: Task, pid: Int, pgid: Int) -> int:
    """Move process ``pid`` (0: the caller) into group ``pgid`` (0: a group of its own)."""
    caller = t.process
    if pgid < 0:
        raise Errno(EINVAL)
    target = find_process(t, pid)
    if target is not caller and target.parent is not caller:
        raise Errno(ESRCH)
    if target is not caller and target.sid != caller.sid:
        raise Errno(EPERM)
    if target is not caller and target.execed:
        raise Errno(EACCES)
    if target.sid == target.pid:
        raise Errno(EPERM)  # a session leader stays in its group
    pgid = pgid or target.pid
    if pgid != target.pid and not any(p.pgid == pgid and p.sid == caller.sid and not p.zombie
                                      for p in t.kernel.processes.values()):
        raise Errno(EPERM)
    target.pgid = pgid
    return 0


@syscall
async def setsid(t: Task) -> int:
    """Start a new session and process group led by the caller; EPERM for a group leader."""
    process = t.process
    if any(p.pgid == process.pid for p in t.kernel.processes.values()):
        raise Errno(EPERM)
    process.sid = process.pgid = process.pid
    return process.pid


# --- prctl ----------------------------------------------------------------------------------


@syscall
async def prctl(t: Task, option: Int, arg2: ULong, arg3: ULong, arg4: ULong, arg5: ULong) -> int:
    """The process attributes a sandboxed program may set: name, death signal, subreaper,
    no_new_privs, dumpable, and its capabilities (bounding and ambient sets, keepcaps,
    securebits)."""
    if option in _CAPABILITY_OPTIONS:
        return _capability_prctl(t, option, arg2, arg3, arg4, arg5)
    if option in seccomp.PRCTL_OPTIONS:
        return await seccomp.prctl_seccomp(t, option, arg2, arg3)
    process = t.process
    if option == PR_SET_NAME:
        name = await t.mm.copy_in(arg2, TASK_COMM_LEN)
        process.comm = name.split(b"\0", 1)[0][:TASK_COMM_LEN - 1]
        return 0
    if option == PR_GET_NAME:
        await t.mm.copy_out(arg2, process.comm.ljust(TASK_COMM_LEN, b"\0"))
        return 0
    if option == PR_SET_PDEATHSIG:
        if arg2 > 64:
            raise Errno(EINVAL)
        process.pdeathsig = arg2
        return 0
    if option == PR_GET_PDEATHSIG:
        await t.mm.write_struct(structs.I32, arg2, process.pdeathsig)
        return 0
    if option == PR_SET_CHILD_SUBREAPER:
        process.subreaper = bool(arg2)
        return 0
    if option == PR_GET_CHILD_SUBREAPER:
        await t.mm.write_struct(structs.I32, arg2, int(process.subreaper))
        return 0
    if option == PR_SET_NO_NEW_PRIVS:
        if arg2 != 1 or arg3 or arg4 or arg5:
            raise Errno(EINVAL)
        process.no_new_privs = True
        return 0
    if option == PR_GET_NO_NEW_PRIVS:
        if arg2 or arg3 or arg4 or arg5:
            raise Errno(EINVAL)
        return int(process.no_new_privs)
    if option == PR_SET_DUMPABLE:
        if arg2 not in (0, 1):
            raise Errno(EINVAL)
        process.dumpable = arg2
        return 0
    if option == PR_GET_DUMPABLE:
        return process.dumpable
    raise Errno(EINVAL)


_CAPABILITY_OPTIONS = frozenset({PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_GET_KEEPCAPS, PR_SET_KEEPCAPS,
                                 PR_GET_SECUREBITS, PR_SET_SECUREBITS})


def _capability_prctl(t: Task, option: int, arg2: int, arg3: int, arg4: int, arg5: int) -> int:
    """The capability prctls, with Linux's rules (:mod:`kernel.creds`)."""
    creds = t.process.creds
    if option == PR_CAPBSET_READ:
        if not rules.valid_cap(arg2):
            raise Errno(EINVAL)
        return creds.cap_bounding >> arg2 & 1
    if option == PR_GET_KEEPCAPS:
        return int(creds.keep_caps)
    if option == PR_GET_SECUREBITS:
        return creds.securebits
    if option == PR_CAP_AMBIENT:
        if arg2 == PR_CAP_AMBIENT_CLEAR_ALL:
            if arg3 or arg4 or arg5:
                raise Errno(EINVAL)
            new = rules.clear_ambient(creds)
        elif not rules.valid_cap(arg3) or arg4 or arg5:
            raise Errno(EINVAL)
        elif arg2 == PR_CAP_AMBIENT_IS_SET:
            return creds.cap_ambient >> arg3 & 1
        elif arg2 == PR_CAP_AMBIENT_RAISE:
            new = rules.raise_ambient(creds, arg3)
        elif arg2 == PR_CAP_AMBIENT_LOWER:
            new = rules.lower_ambient(creds, arg3)
        else:
            raise Errno(EINVAL)
    elif option == PR_CAPBSET_DROP:
        new = rules.drop_bounding(creds, arg2)
    elif option == PR_SET_KEEPCAPS:
        new = rules.set_keep_caps(creds, arg2)
    else:
        new = rules.set_securebits(creds, arg2)
    rules.commit(t.process, new)
    return 0


@syscall
async def get_robust_list(t: Task, pid: Int, head_ptr: Addr, len_ptr: Addr) -> int:
    """The robust futex list of thread ``pid`` (0: the caller)."""
    task = t if pid == 0 else t.kernel.threads.get(pid)
    if task is None:
        raise Errno(ESRCH)
    head, _length = task.robust_list
    await t.mm.write_struct(structs.U64, head_ptr, head)
    await t.mm.write_struct(structs.U64, len_ptr, ROBUST_LIST_HEAD_SIZE)
    return 0
