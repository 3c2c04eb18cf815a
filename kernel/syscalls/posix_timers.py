"""POSIX per-process timers: timer_create, timer_settime, timer_gettime, timer_getoverrun,
timer_delete.

A timer counts on a wall, monotonic or CPU-time clock and, on expiry, sends its signal to the
process (SIGEV_SIGNAL) or to one of its threads (SIGEV_THREAD_ID, which glibc's SIGEV_THREAD is
built on), with si_code SI_TIMER, the timer id and the sigevent's value; SIGEV_NONE only counts
(it runs no task: its state is computed when asked). As in Linux a timer has at most one signal
queued: an expiry that finds it still pending counts an overrun instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from abi import structs
from abi.encoding import INT_MAX, timespec, timespec_to_ns
from abi.errno import EAGAIN, EINVAL, EOPNOTSUPP, Errno
from abi.linux import (
    NSIG,
    RLIMIT_SIGPENDING,
    SI_TIMER,
    SIGEV_NONE,
    SIGEV_SIGNAL,
    SIGEV_THREAD_ID,
    TIMER_ABSTIME,
    Signal,
    sigbit,
)
from kernel.syscalls.args import Addr, Int
from kernel.syscalls.itimer import IntervalTimer
from kernel.syscalls.table import syscall
from kernel.syscalls.time import clock_kind, clock_of

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task

#: Timers one process may hold (Linux bounds them by RLIMIT_SIGPENDING; this is simpler).
MAX_TIMERS = 4096
_SIGEV_THREAD = 2
#: sizeof(struct sigevent): Linux copies all of it, whatever the notification uses.
_SIGEVENT_SIZE = 64


@dataclass
class PosixTimer:
    notify: int
    signo: int
    value: int
    tid: int
    countdown: IntervalTimer


def _timers(process: ThreadGroup) -> dict[int, PosixTimer]:
    return process.posix_timers


def _timer(t: Task, timerid: int) -> PosixTimer:
    timer = _timers(t.process).get(timerid)
    if timer is None:
        raise Errno(EINVAL)
    return timer


@syscall
async def timer_create(t: Task, clockid: Int, sevp: Addr, timerid: Addr) -> int:
    """A timer on ``clockid``, in Linux's order of checks: the sigevent is read, the clock must
    exist and have timers, the sigevent must make sense, the id is written out, and only then
    does the clock's own family refuse (an alarm clock without a real-time clock device, a CPU
    clock of nobody)."""
    event = structs.SIGEVENT.unpack_from(await t.mm.copy_in(sevp, _SIGEVENT_SIZE)) if sevp else None
    kind = clock_kind(clockid)
    if kind in ("plain", "fd"):
        raise Errno(EOPNOTSUPP)
    timers = _timers(t.process)
    # Each timer holds a queued signal ready, counted against RLIMIT_SIGPENDING as Linux does.
    if len(timers) >= min(MAX_TIMERS, t.process.rlimits[RLIMIT_SIGPENDING][0]):
        raise Errno(EAGAIN)
    ident = next(i for i in range(MAX_TIMERS + 1) if i not in timers)
    value, signo, notify, tid = event if event is not None else (ident, int(Signal.SIGALRM), SIGEV_SIGNAL, 0)
    if notify not in (SIGEV_SIGNAL, SIGEV_NONE, _SIGEV_THREAD, SIGEV_THREAD_ID):  # SIGEV_THREAD: a signal
        raise Errno(EINVAL)
    if notify != SIGEV_NONE and not 1 <= signo <= NSIG:
        raise Errno(EINVAL)
    if notify == SIGEV_THREAD_ID:
        target = t.kernel.threads.get(tid)
        if target is None or target.process is not t.process:
            raise Errno(EINVAL)
    await t.mm.write_struct(structs.I32, timerid, ident)
    if kind == "alarm":
        raise Errno(EOPNOTSUPP)
    clock = clock_of(t, clockid)
    process, kernel = t.process, t.kernel
    timer: PosixTimer

    async def expired() -> bool:
        target = timer.tid if timer.notify == SIGEV_THREAD_ID else None
        bus = kernel.bus
        try:
            if await _still_pending(t, process, target, timer.signo):
                timer.countdown.overrun += 1
                return True
            info = structs.SIGINFO_TIMER.pack(timer.signo, 0, SI_TIMER, ident, min(timer.countdown.overrun, INT_MAX),
                                              timer.value)
            await bus.call("signals", "send", process.pid, target, timer.signo, info)
        except Errno:
            return False
        return True

    countdown = IntervalTimer(kernel, process, clock, None if notify == SIGEV_NONE else expired)
    timer = PosixTimer(notify, signo, value, tid, countdown)
    timers[ident] = timer
    return 0


async def _still_pending(t: Task, process: ThreadGroup, tid: int | None, signo: int) -> bool:
    """Whether the timer's last signal still waits for its target (then Linux counts an overrun
    rather than queue a second one)."""
    if tid is None:
        live = process.live_tasks
        if not live:
            return False
        tid = live[0].tid
    return bool(await t.kernel.bus.call("signals", "pending", tid) & sigbit(signo))


async def _write_current(t: Task, timer: PosixTimer, addr: int) -> None:
    value, interval = timer.countdown.remaining()
    await t.mm.write_struct(structs.ITIMERSPEC, addr, *timespec(interval), *timespec(value))


@syscall
async def timer_settime(t: Task, timerid: Int, flags: Int, new_value: Addr, old_value: Addr) -> int:
    """Arm (a zero value disarms) a timer, relative or at an absolute time on its clock; huge
    values saturate at 292 years, as ktime does."""
    if not new_value:
        raise Errno(EINVAL)
    isec, insec, vsec, vnsec = await t.mm.read_struct(structs.ITIMERSPEC, new_value)
    interval, value = timespec_to_ns(isec, insec), timespec_to_ns(vsec, vnsec)
    timer = _timer(t, timerid)
    if old_value:
        await _write_current(t, timer, old_value)
    timer.countdown.arm(value, interval, absolute=bool(flags & TIMER_ABSTIME))
    return 0


@syscall
async def timer_gettime(t: Task, timerid: Int, curr_value: Addr) -> int:
    await _write_current(t, _timer(t, timerid), curr_value)
    return 0


@syscall
async def timer_getoverrun(t: Task, timerid: Int) -> int:
    return min(_timer(t, timerid).countdown.overrun, INT_MAX)


@syscall
async def timer_delete(t: Task, timerid: Int) -> int:
    timer = _timer(t, timerid)
    timer.countdown.disarm()
    del _timers(t.process)[timerid]
    return 0
