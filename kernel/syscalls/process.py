"""Process and thread identity and exit: exit, exit_group, get*id, set_tid_address, robust lists."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.abi.errno import EINVAL
from kernel.abi.linux import ROBUST_LIST_HEAD_SIZE, exit_status_code
from kernel.errors import Errno
from kernel.syscalls.args import Addr, Int, Size
from kernel.syscalls.table import syscall
from kernel.task import TaskExit

if TYPE_CHECKING:
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
