"""Clocks and sleeps: clock_gettime, clock_getres, gettimeofday, time, nanosleep, clock_nanosleep.

Wall and monotonic clocks are the host's (the guest runs on the host's CPU and timebase, as in
gVisor); the CPU-time clocks measure the guest thread's own stub thread. Sleeps are trio sleeps,
so a sleeping guest thread costs nothing while it waits.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import trio

from abi import structs
from abi.errno import EFAULT, EINVAL
from abi.linux import (
    CLOCK_BOOTTIME,
    CLOCK_BOOTTIME_ALARM,
    CLOCK_MONOTONIC,
    CLOCK_MONOTONIC_COARSE,
    CLOCK_MONOTONIC_RAW,
    CLOCK_PROCESS_CPUTIME_ID,
    CLOCK_REALTIME,
    CLOCK_REALTIME_ALARM,
    CLOCK_REALTIME_COARSE,
    CLOCK_TAI,
    CLOCK_THREAD_CPUTIME_ID,
    NSEC_PER_SEC,
    TIMER_ABSTIME,
)
from abi.errno import Errno
from kernel.syscalls.args import Addr, Int
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

#: Clocks read straight from the host.
_HOST_CLOCKS = frozenset({
    CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE,
    CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME, CLOCK_TAI, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM,
})
_CPU_CLOCKS = frozenset({CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID})
#: Clocks a thread may sleep on (the alarm clocks sleep like their plain twins here).
_SLEEP_CLOCKS = frozenset({
    CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM,
})


def read_clock(t: Task, clockid: int) -> int:
    """Clock ``clockid`` in nanoseconds as ``t`` sees it; EINVAL for a clock Linux lacks."""
    if clockid in _HOST_CLOCKS:
        try:
            return time.clock_gettime_ns(clockid)
        except OSError:
            raise Errno(EINVAL) from None
    if clockid in _CPU_CLOCKS:
        return t.context.cpu_time_ns(whole_process=clockid == CLOCK_PROCESS_CPUTIME_ID)
    raise Errno(EINVAL)


def _split(ns: int) -> tuple[int, int]:
    return divmod(ns, NSEC_PER_SEC)


async def _read_timespec(t: Task, addr: int) -> int:
    """A guest timespec in nanoseconds; EINVAL unless 0 <= tv_nsec < 1e9 and tv_sec >= 0."""
    seconds, nanoseconds = await t.mm.read_struct(structs.TIMESPEC, addr)
    if seconds < 0 or not 0 <= nanoseconds < NSEC_PER_SEC:
        raise Errno(EINVAL)
    return seconds * NSEC_PER_SEC + nanoseconds


@syscall
async def clock_gettime(t: Task, clockid: Int, tp: Addr) -> int:
    now = read_clock(t, clockid)
    await t.mm.write_struct(structs.TIMESPEC, tp, *_split(now))
    return 0


@syscall
async def clock_getres(t: Task, clockid: Int, res: Addr) -> int:
    if clockid in _HOST_CLOCKS:
        try:
            resolution = round(time.clock_getres(clockid) * NSEC_PER_SEC)
        except OSError:
            raise Errno(EINVAL) from None
    elif clockid in _CPU_CLOCKS:
        resolution = 1
    else:
        raise Errno(EINVAL)
    if res:
        await t.mm.write_struct(structs.TIMESPEC, res, *_split(resolution))
    return 0


@syscall
async def gettimeofday(t: Task, tv: Addr, tz: Addr) -> int:
    if tv:
        seconds, nanoseconds = _split(time.time_ns())
        await t.mm.write_struct(structs.TIMEVAL, tv, seconds, nanoseconds // 1000)
    if tz:
        await t.mm.write_struct(structs.TIMEZONE, tz, 0, 0)  # the kernel's sys_tz: UTC
    return 0


@syscall("time")
async def time_(t: Task, tloc: Addr) -> int:
    seconds = time.time_ns() // NSEC_PER_SEC
    if tloc:
        await t.mm.write_struct(structs.U64, tloc, seconds)
    return seconds


@syscall
async def nanosleep(t: Task, req: Addr, rem: Addr) -> int:
    from kernel.syscalls.signals import sleep_until

    duration = await _read_timespec(t, req)
    return await sleep_until(t, trio.current_time() + duration / NSEC_PER_SEC, rem)


@syscall
async def clock_nanosleep(t: Task, clockid: Int, flags: Int, req: Addr, rem: Addr) -> int:
    if clockid not in _SLEEP_CLOCKS:
        raise Errno(EINVAL)
    if req == 0:
        raise Errno(EFAULT)
    request = await _read_timespec(t, req)
    if flags & TIMER_ABSTIME:
        request -= read_clock(t, clockid)
    if request > 0:
        from kernel.syscalls.signals import sleep_until

        return await sleep_until(t, trio.current_time() + request / NSEC_PER_SEC,
                                 0 if flags & TIMER_ABSTIME else rem)
    return 0
