"""seccomp(2) and prctl(PR_SET_SECCOMP / PR_GET_SECCOMP): guests confining themselves.

A thread enters strict mode, or stacks a classic BPF filter, checked as Linux checks it. A
filter needs no_new_privs or CAP_SYS_ADMIN (EACCES otherwise), so that a set-id program can
never run under a filter its unprivileged caller wrote. The filters are run by
:func:`kernel.seccomp.filtered_dispatch`, before each handler.

Not supported: user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER fails with EINVAL; a filter
returning SECCOMP_RET_USER_NOTIF gets ENOSYS, as on Linux with no listener, and
SECCOMP_GET_ACTION_AVAIL says EOPNOTSUPP of it), and SECCOMP_RET_TRACE has no guest tracer to
stop for, so it gives ENOSYS as Linux does without one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.confine import PR_GET_SECCOMP, PR_SET_SECCOMP
from abi.creds import CAP_SYS_ADMIN
from abi.errno import EACCES, EFAULT, EINVAL, ENOMEM, EOPNOTSUPP, ESRCH, Errno
from abi.seccomp import (
    MAX_INSNS_PER_PATH,
    SECCOMP_ACTIONS,
    SECCOMP_DATA,
    SECCOMP_FILTER_FLAG_LOG,
    SECCOMP_FILTER_FLAG_MASK,
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_TSYNC,
    SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
    SECCOMP_GET_ACTION_AVAIL,
    SECCOMP_GET_NOTIF_SIZES,
    SECCOMP_MODE_DISABLED,
    SECCOMP_MODE_FILTER,
    SECCOMP_MODE_STRICT,
    SECCOMP_NOTIF_RESP_SIZE,
    SECCOMP_NOTIF_SIZE,
    SECCOMP_NOTIF_SIZES,
    SECCOMP_RET_USER_NOTIF,
    SECCOMP_SET_MODE_FILTER,
    SECCOMP_SET_MODE_STRICT,
    SOCK_FILTER,
    SOCK_FPROG,
)
from kernel.seccomp import Filter, SeccompState
from kernel.seccomp.bpf import check, decode
from kernel.syscalls.args import Addr, UInt
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

_STRICT = SeccompState(SECCOMP_MODE_STRICT)


@syscall
async def seccomp(t: Task, operation: UInt, flags: UInt, args: Addr) -> int:
    """Set the thread's seccomp mode, or ask what seccomp supports."""
    if operation == SECCOMP_SET_MODE_STRICT:
        if flags or args:
            raise Errno(EINVAL)
        return _set_strict(t)
    if operation == SECCOMP_SET_MODE_FILTER:
        return await _set_filter(t, flags, args)
    if operation == SECCOMP_GET_ACTION_AVAIL:
        if flags:
            raise Errno(EINVAL)
        action = (await t.mm.read_struct(structs.U32, args))[0]
        if action not in SECCOMP_ACTIONS or action == SECCOMP_RET_USER_NOTIF:
            raise Errno(EOPNOTSUPP)
        return 0
    if operation == SECCOMP_GET_NOTIF_SIZES:
        if flags:
            raise Errno(EINVAL)
        await t.mm.copy_out(args, SECCOMP_NOTIF_SIZES.pack(SECCOMP_NOTIF_SIZE, SECCOMP_NOTIF_RESP_SIZE,
                                                           SECCOMP_DATA.size))
        return 0
    raise Errno(EINVAL)


def mode_of(t: Task) -> int:
    """PR_GET_SECCOMP's answer: 0, strict (1) or filter (2)."""
    return SECCOMP_MODE_DISABLED if t.seccomp is None else t.seccomp.mode


async def prctl_seccomp(t: Task, option: int, mode: int, filter_addr: int) -> int:
    """prctl's PR_GET_SECCOMP and PR_SET_SECCOMP (a strict thread never gets here: prctl kills it)."""
    if option == PR_GET_SECCOMP:
        return mode_of(t)
    if mode == SECCOMP_MODE_STRICT:
        return _set_strict(t)
    if mode == SECCOMP_MODE_FILTER:
        return await _set_filter(t, 0, filter_addr)
    raise Errno(EINVAL)


PRCTL_OPTIONS = frozenset({PR_GET_SECCOMP, PR_SET_SECCOMP})


def _set_strict(t: Task) -> int:
    if t.seccomp is not None:  # a filtered thread cannot switch modes
        raise Errno(EINVAL)
    t.seccomp = _STRICT
    return 0


async def _set_filter(t: Task, flags: int, args: int) -> int:
    """SECCOMP_SET_MODE_FILTER: check the program, then stack it on the thread (or, with TSYNC,
    on every thread of the process)."""
    if flags & ~SECCOMP_FILTER_FLAG_MASK:
        raise Errno(EINVAL)
    if flags & SECCOMP_FILTER_FLAG_TSYNC and flags & SECCOMP_FILTER_FLAG_NEW_LISTENER \
            and not flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH:
        raise Errno(EINVAL)
    if flags & SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV and not flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        raise Errno(EINVAL)
    new = await _read_filter(t, args, bool(flags & SECCOMP_FILTER_FLAG_LOG))
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER:
        raise Errno(EINVAL)  # no user notification here (see the module's docstring)
    current = t.seccomp
    if current is not None and current.mode != SECCOMP_MODE_FILTER:
        raise Errno(EINVAL)
    base = current if current is not None else SeccompState(SECCOMP_MODE_FILTER)
    if base.instructions + len(new.program) + 4 > MAX_INSNS_PER_PATH:
        raise Errno(ENOMEM)
    state = base.with_filter(new)
    if flags & SECCOMP_FILTER_FLAG_TSYNC:
        siblings = [task for task in t.process.live_tasks if task is not t]
        for task in siblings:
            if not _can_sync(task.seccomp, base):
                if flags & SECCOMP_FILTER_FLAG_TSYNC_ESRCH:
                    raise Errno(ESRCH)
                return task.tid  # Linux names the thread that stands in the way
        for task in siblings:
            task.seccomp = state
    t.seccomp = state
    return 0


def _can_sync(theirs: SeccompState | None, ours: SeccompState) -> bool:
    """TSYNC may replace a sibling's filters only by a stack that already contains them."""
    if theirs is None:
        return True
    if theirs.mode != SECCOMP_MODE_FILTER:
        return False
    count = len(theirs.filters)
    return count <= len(ours.filters) and theirs.filters == ours.filters[len(ours.filters) - count:]


async def _read_filter(t: Task, args: int, log: bool) -> Filter:
    """The ``struct sock_fprog`` at ``args``, checked: EFAULT, EINVAL for a bad program, and
    EACCES without no_new_privs or CAP_SYS_ADMIN (checked between the length and the program,
    where Linux checks it)."""
    try:
        length, address = SOCK_FPROG.unpack(await t.mm.copy_in(args, SOCK_FPROG.size))
    except Errno:
        raise Errno(EFAULT) from None
    if length == 0 or length > 4096:
        raise Errno(EINVAL)
    process = t.process
    if not process.no_new_privs and not process.creds.has_cap(CAP_SYS_ADMIN):
        raise Errno(EACCES)
    raw = await t.mm.copy_in(address, length * SOCK_FILTER.size)
    return Filter(check(decode(raw)), log)


