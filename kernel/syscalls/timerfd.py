"""timerfd_create, timerfd_settime, timerfd_gettime: the checks of fs/timerfd.c, in its order;
the timer itself is a file of the VFS (``services/vfs/timerfd.py``)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from abi import structs
from abi.creds import CAP_WAKE_ALARM
from abi.encoding import timespec, timespec_to_ns
from abi.errno import EINVAL, EPERM, Errno
from abi.events import TFD_CLOEXEC, TFD_NONBLOCK, TFD_SETTIME_FLAGS, TFD_TIMER_ABSTIME
from abi.linux import CLOCK_BOOTTIME, CLOCK_BOOTTIME_ALARM, CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_REALTIME_ALARM
from kernel import determinism
from kernel.files import install, vfs
from kernel.syscalls.args import Addr, Fd, Int
from kernel.syscalls.table import syscall
from services.vfs.contract import Opened

if TYPE_CHECKING:
    from kernel.task import Task

_CLOCKS = frozenset({CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM})
_ALARMS = frozenset({CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM})


@syscall
async def timerfd_create(t: Task, clockid: Int, flags: Int) -> int:
    """A disarmed timer on ``clockid``; an alarm clock needs CAP_WAKE_ALARM."""
    if flags & ~(TFD_CLOEXEC | TFD_NONBLOCK) or clockid not in _CLOCKS:
        raise Errno(EINVAL)
    if clockid in _ALARMS and not t.process.creds.has_cap(CAP_WAKE_ALARM):
        raise Errno(EPERM)
    clock = functools.partial(determinism.clock_ns, clockid)
    handle = await vfs(t, "timerfd_create", clock, flags & TFD_NONBLOCK)
    return await install(t, Opened(handle), bool(flags & TFD_CLOEXEC))


@syscall
async def timerfd_settime(t: Task, fd: Fd, flags: Int, new_value: Addr, old_value: Addr) -> int:
    """Arm (a zero it_value disarms) the timer, relative or at an absolute time of its clock;
    the old setting goes to ``old_value`` if given."""
    if flags & ~TFD_SETTIME_FLAGS:
        raise Errno(EINVAL)
    isec, insec, vsec, vnsec = await t.mm.read_struct(structs.ITIMERSPEC, new_value)
    interval, value = timespec_to_ns(isec, insec), timespec_to_ns(vsec, vnsec)
    handle = t.process.fds.handle(fd)
    left, old_interval = await vfs(t, "timerfd_settime", handle, value, interval, bool(flags & TFD_TIMER_ABSTIME))
    if old_value:
        await t.mm.write_struct(structs.ITIMERSPEC, old_value, *timespec(old_interval), *timespec(left))
    return 0


@syscall
async def timerfd_gettime(t: Task, fd: Fd, curr_value: Addr) -> int:
    left, interval = await vfs(t, "timerfd_gettime", t.process.fds.handle(fd))
    await t.mm.write_struct(structs.ITIMERSPEC, curr_value, *timespec(interval), *timespec(left))
    return 0
