"""POSIX per-process timers: timer_create, timer_settime, timer_gettime, timer_getoverrun,
timer_delete.

A timer counts on a wall or monotonic clock and, on expiry, sends its signal to the process
(SIGEV_SIGNAL) or to one of its threads (SIGEV_THREAD_ID, which glibc's SIGEV_THREAD is built
on), with si_code SI_TIMER, the timer id and the sigevent's value; SIGEV_NONE only counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abi import structs
from abi.errno import EAGAIN, EINVAL
from abi.linux import (
    CLOCK_BOOTTIME,
    CLOCK_MONOTONIC,
    CLOCK_REALTIME,
    CLOCK_TAI,
    NSEC_PER_SEC,
    NSIG,
    SI_TIMER,
    SIGEV_NONE,
    SIGEV_SIGNAL,
    SIGEV_THREAD_ID,
    TIMER_ABSTIME,
    Signal,
)
from abi.errno import Errno
from kernel.syscalls.args import Addr, Int
from kernel.syscalls.itimer import IntervalTimer
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task

_CLOCKS = frozenset({CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI})
#: Timers one process may hold (Linux bounds them by RLIMIT_SIGPENDING; this is simpler).
MAX_TIMERS = 4096


@dataclass
class PosixTimer:
    clock: int
    notify: int
    signo: int
    value: int
    tid: int
    countdown: IntervalTimer | None = None


def _timers(process: ThreadGroup) -> dict[int, PosixTimer]:
    return process.posix_timers


def _timer(t: Task, timerid: int) -> PosixTimer:
    timer = _timers(t.process).get(timerid)
    if timer is None:
        raise Errno(EINVAL)
    return timer


@syscall
async def timer_create(t: Task, clockid: Int, sevp: Addr, timerid: Addr) -> int:
    if clockid not in _CLOCKS:
        raise Errno(EINVAL)
    timers = _timers(t.process)
    if len(timers) >= MAX_TIMERS:
        raise Errno(EAGAIN)
    ident = next(i for i in range(MAX_TIMERS + 1) if i not in timers)
    if sevp:
        value, signo, notify, tid = await t.mm.read_struct(structs.SIGEVENT, sevp)
    else:
        value, signo, notify, tid = ident, int(Signal.SIGALRM), SIGEV_SIGNAL, 0
    if notify not in (SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID):
        raise Errno(EINVAL)
    if notify != SIGEV_NONE and not 1 <= signo <= NSIG:
        raise Errno(EINVAL)
    if notify == SIGEV_THREAD_ID:
        target = t.kernel.threads.get(tid)
        if target is None or target.process is not t.process:
            raise Errno(EINVAL)
    timer = PosixTimer(clockid, notify, signo, value, tid)
    process, kernel = t.process, t.kernel

    async def expired() -> bool:
        if timer.notify == SIGEV_NONE:
            return True
        info = structs.SIGINFO_TIMER.pack(timer.signo, 0, SI_TIMER, ident, 0, timer.value)
        target = timer.tid if timer.notify == SIGEV_THREAD_ID else None
        try:
            await kernel.bus.call("signals", "send", process.pid, target, timer.signo, info)
        except Errno:
            return False
        return True

    timer.countdown = IntervalTimer(kernel, process, expired)
    await t.mm.write_struct(structs.I32, timerid, ident)
    timers[ident] = timer
    return 0


def _seconds(sec: int, nsec: int) -> float:
    if sec < 0 or not 0 <= nsec < NSEC_PER_SEC:
        raise Errno(EINVAL)
    return sec + nsec / NSEC_PER_SEC


def _timespec(seconds: float) -> tuple[int, int]:
    ns = round(seconds * NSEC_PER_SEC)
    return ns // NSEC_PER_SEC, ns % NSEC_PER_SEC


async def _write_current(t: Task, timer: PosixTimer, addr: int) -> None:
    assert timer.countdown is not None
    value, interval = timer.countdown.remaining()
    await t.mm.write_struct(structs.ITIMERSPEC, addr, *_timespec(interval), *_timespec(value))


@syscall
async def timer_settime(t: Task, timerid: Int, flags: Int, new_value: Addr, old_value: Addr) -> int:
    timer = _timer(t, timerid)
    isec, insec, vsec, vnsec = await t.mm.read_struct(structs.ITIMERSPEC, new_value)
    interval, value = _seconds(isec, insec), _seconds(vsec, vnsec)
    if old_value:
        await _write_current(t, timer, old_value)
    if value and flags & TIMER_ABSTIME:
        value = max(value - time.clock_gettime_ns(timer.clock) / NSEC_PER_SEC, 1e-9)
    assert timer.countdown is not None
    timer.countdown.arm(value, interval)
    return 0


@syscall
async def timer_gettime(t: Task, timerid: Int, curr_value: Addr) -> int:
    await _write_current(t, _timer(t, timerid), curr_value)
    return 0


@syscall
async def timer_getoverrun(t: Task, timerid: Int) -> int:
    _timer(t, timerid)
    return 0


@syscall
async def timer_delete(t: Task, timerid: Int) -> int:
    timer = _timer(t, timerid)
    assert timer.countdown is not None
    timer.countdown.disarm()
    del _timers(t.process)[timerid]
    return 0
