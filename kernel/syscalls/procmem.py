"""Calls on a process's memory through a pidfd: process_madvise (mm/madvise.c) and
process_mrelease (mm/oom_kill.c).

process_madvise is madvise over an iovec of ranges, of the caller's own memory (any advice) or
of another process's (only the advice that cannot change what it sees: MADV_COLD, PAGEOUT,
WILLNEED, COLLAPSE; and CAP_SYS_NICE, which a container lacks). Like Linux it returns how many
bytes were advised before a range failed, the error only when none were.

process_mrelease asks the kernel to free a dying process's memory at once rather than as its
last thread exits. Here a process's memory goes as its exit begins, so there is nothing to
hasten, and none to find: a process that has begun to exit (a zombie too) is ESRCH, as Linux
answers once no thread holds the memory; a live one is EINVAL (Linux's "not dying").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.creds import CAP_SYS_NICE
from abi.errno import EINVAL, EPERM, ESRCH, Errno
from abi.linux import IOV_MAX, MADV_COLD, MADV_COLLAPSE, MADV_PAGEOUT, MADV_WILLNEED
from kernel.syscalls.args import Addr, Fd, Int, UInt, ULong
from kernel.syscalls.pidfd import live_process, may_access, pidfd_target
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task


#: The advice another process's memory may be given (process_madvise_remote_valid).
_REMOTE_ADVICE = frozenset({MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED, MADV_COLLAPSE})


@syscall
async def process_madvise(t: Task, pidfd: Fd, vec: Addr, vlen: ULong, advice: Int, flags: UInt) -> int:
    """madvise(``advice``) of each range of the iovec ``vec`` in the process ``pidfd`` names."""
    if flags or vlen > IOV_MAX:
        raise Errno(EINVAL)
    ranges = list(structs.IOVEC.iter_unpack(await t.mm.copy_in(vec, structs.IOVEC.size * vlen)))
    process = live_process(t, await pidfd_target(t, pidfd))
    if process is None or process.zombie:
        raise Errno(ESRCH)
    if process.mm.asid != t.mm.asid:
        if not may_access(t, process):
            raise Errno(EPERM)
        if advice not in _REMOTE_ADVICE:
            raise Errno(EINVAL)
        if not t.process.creds.has_cap(CAP_SYS_NICE):
            raise Errno(EPERM)
    done = 0
    for base, length in ranges:
        try:
            await process.mm.call("madvise", base, length, advice)
        except Errno:
            if done:
                return done
            raise
        done += length
    return done


@syscall
async def process_mrelease(t: Task, pidfd: Fd, flags: UInt) -> int:
    """Reap the memory of the dying process ``pidfd`` names: EINVAL unless it is dying."""
    if flags:
        raise Errno(EINVAL)
    process = live_process(t, await pidfd_target(t, pidfd))
    if process is None or process.zombie:
        raise Errno(ESRCH)  # no memory left to release
    raise Errno(EINVAL)
