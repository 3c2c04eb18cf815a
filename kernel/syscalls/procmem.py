"""Calls on another process's memory through a pidfd: process_mrelease (mm/oom_kill.c).

process_mrelease asks the kernel to free a dying process's memory at once rather than as its
last thread exits. Here a process's memory goes as its exit begins, so there is nothing to
hasten, and none to find: a process that has begun to exit (a zombie too) is ESRCH, as Linux
answers once no thread holds the memory; a live one is EINVAL (Linux's "not dying").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EINVAL, ESRCH, Errno
from kernel.syscalls.args import Fd, UInt
from kernel.syscalls.pidfd import live_process, pidfd_target
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task


@syscall
async def process_mrelease(t: Task, pidfd: Fd, flags: UInt) -> int:
    """Reap the memory of the dying process ``pidfd`` names: EINVAL unless it is dying."""
    if flags:
        raise Errno(EINVAL)
    process = live_process(t, await pidfd_target(t, pidfd))
    if process is None or process.zombie:
        raise Errno(ESRCH)  # no memory left to release
    raise Errno(EINVAL)
