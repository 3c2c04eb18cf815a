"""Clocks and sleeps: clock_gettime, clock_getres, gettimeofday, time, nanosleep, clock_nanosleep.

Wall and monotonic clocks are the host's (the guest runs on the host's CPU and timebase, as in
gVisor). Most reads never come here: the guest reads them through the host's vDSO, which every
address space maps (docs/architecture.md, The vDSO), except in a deterministic run. The
CPU-time clocks measure the guest's own stub threads: CLOCK_PROCESS_CPUTIME_ID,
CLOCK_THREAD_CPUTIME_ID, and the negative ids ``clock_getcpuclockid`` and
``pthread_getcpuclockid`` make for any process or thread of the sandbox (``~pid << 3 | type``,
bit 2 for a thread). Sleeps are trio sleeps, so a sleeping guest thread costs nothing while it
waits. Time values from the guest are ktime values (:mod:`abi.encoding`): 2^63 seconds is
292 years, never an overflow.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from abi import structs
from abi.encoding import KTIME_MAX, clamp_ktime, timespec, timespec_to_ns, timeval
from abi.errno import EFAULT, EINVAL, EOPNOTSUPP, ERESTART_RESTARTBLOCK, Errno
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
from kernel import determinism
from kernel.syscalls.args import Addr, Int
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task

#: Clocks read straight from the host.
_HOST_CLOCKS = frozenset({
    CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE,
    CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME, CLOCK_TAI, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM,
})
#: Clocks a thread may sleep on (the alarm clocks sleep like their plain twins here); the other
#: host clocks exist but cannot be slept on (EOPNOTSUPP).
_SLEEP_CLOCKS = frozenset({
    CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI, CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM,
})
# The CPU clock encoding of include/linux/posix-timers.h: ~pid << 3 | per-thread << 2 | which.
_CPUCLOCK_PERTHREAD = 4
_CPUCLOCK_WHICH = 3
_CPUCLOCK_SCHED = 2
_CPUCLOCK_MAX = 3


@dataclass(frozen=True, slots=True)
class GuestClock:
    """A clock as a guest names it: how to read it, and how fast it can run."""

    #: The clock now, in nanoseconds.
    read: Callable[[], int]
    #: The most nanoseconds this clock gains per real nanosecond: 1 for wall clocks and one
    #: thread's CPU time, the number of CPUs for a process's CPU time. A sleep on the clock
    #: waits that fraction of what is left, then looks again.
    pace: int = 1
    #: A CPU-time clock (of a process, or with ``thread`` of one thread).
    cpu: bool = False
    thread: bool = False
    #: The guest's own thread's or process's clock (clock_nanosleep refuses per-thread ones).
    own: bool = False
    #: clock_getres's answer in nanoseconds.
    resolution: int = 1


@functools.cache
def tick_ns() -> int:
    """The host's jiffy (the coarse clocks' resolution), for the resolution of CPU clocks that
    count in ticks (``(NSEC_PER_SEC + HZ - 1) / HZ``)."""
    hz = max(1, round(1 / time.clock_getres(CLOCK_REALTIME_COARSE)))
    return (NSEC_PER_SEC + hz - 1) // hz


def _host_resolutions() -> dict[int, int]:
    """Each host clock's resolution, asked once at import: the confined Sentry may not call
    clock_getres (a clock the host lacks is absent here, and EINVAL to the guest)."""
    resolutions = {}
    for clockid in _HOST_CLOCKS:
        try:
            resolutions[clockid] = round(time.clock_getres(clockid) * NSEC_PER_SEC)
        except OSError:
            pass
    return resolutions


_HOST_RESOLUTIONS = _host_resolutions()


def _host_clock(clockid: int) -> GuestClock:
    resolution = _HOST_RESOLUTIONS.get(clockid)
    if resolution is None:
        raise Errno(EINVAL)
    return GuestClock(functools.partial(determinism.clock_ns, clockid), resolution=resolution)


def _in_ticks(read: Callable[[], int], which: int) -> Callable[[], int]:
    """The PROF and VIRT clocks count whole ticks, as Linux samples user and system time (a
    process that has not run a tick yet reads 0); SCHED counts nanoseconds."""
    if which == _CPUCLOCK_SCHED:
        return read
    tick = tick_ns()
    return lambda: read() // tick * tick


def _process_clock(t: Task, process: ThreadGroup, which: int = _CPUCLOCK_SCHED) -> GuestClock:
    resolution = 1 if which == _CPUCLOCK_SCHED else tick_ns()
    return GuestClock(_in_ticks(process.cpu_time_ns, which), pace=t.kernel.online_cpus, cpu=True,
                      own=process is t.process, resolution=resolution)


def _thread_clock(t: Task, task: Task, which: int = _CPUCLOCK_SCHED) -> GuestClock:
    context = task.context
    resolution = 1 if which == _CPUCLOCK_SCHED else tick_ns()
    return GuestClock(_in_ticks(lambda: context.cpu_time_ns(whole_process=False), which), cpu=True, thread=True,
                      own=task is t, resolution=resolution)


#: Host clocks that can be neither slept on nor used by a timer (no hrtimer behind them).
_PLAIN_CLOCKS = frozenset({CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE})
#: Alarm clocks: they need a real-time clock device to wake the machine, which a sandbox has
#: not (Linux then answers EOPNOTSUPP to their timers and sleeps, after the usual checks).
ALARM_CLOCKS = frozenset({CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM})


def clock_kind(clockid: int) -> str:
    """Which of Linux's clock families ``clockid`` names (``clockid_to_kclock``): "plain"
    (readable only), "alarm", "wall" (sleeps and timers), "cpu", or "fd" (a negative id of a
    posix clock device, which has no timers or sleeps); EINVAL for none."""
    if clockid in _PLAIN_CLOCKS:
        return "plain"
    if clockid in ALARM_CLOCKS:
        return "alarm"
    if clockid in _HOST_CLOCKS:
        return "wall"
    if clockid in (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID):
        return "cpu"
    if clockid < 0:
        return "fd" if clockid & 7 == 3 else "cpu"
    raise Errno(EINVAL)


def clock_of(t: Task, clockid: int) -> GuestClock:
    """The clock ``clockid`` names for ``t``; EINVAL for a clock Linux would not find.

    A negative id is a CPU clock: of process ``pid`` (0: the caller's), or with the thread
    bit of thread ``pid``, which must be in the caller's process (``pid_for_clock``). The three
    CPU clock types (PROF, VIRT, SCHED) all read the stub's CPU time here; type 3 is an fd
    clock (a PTP device), which the sandbox has none of.
    """
    if clockid in _HOST_CLOCKS:
        return _host_clock(clockid)
    if clockid == CLOCK_PROCESS_CPUTIME_ID:
        return _process_clock(t, t.process)
    if clockid == CLOCK_THREAD_CPUTIME_ID:
        return _thread_clock(t, t)
    if clockid >= 0:
        raise Errno(EINVAL)
    which, pid = clockid & _CPUCLOCK_WHICH, ~(clockid >> 3)
    if which >= _CPUCLOCK_MAX:
        raise Errno(EINVAL)
    if clockid & _CPUCLOCK_PERTHREAD:
        task = t if pid == 0 else t.kernel.threads.get(pid)
        if task is None or task.process is not t.process:
            raise Errno(EINVAL)
        return _thread_clock(t, task, which)
    if pid == 0 or pid == t.tid:  # a thread may name its own process by its tid
        return _process_clock(t, t.process, which)
    process = t.kernel.processes.get(pid)
    if process is None:
        raise Errno(EINVAL)
    return _process_clock(t, process, which)


def read_clock(t: Task, clockid: int) -> int:
    """Clock ``clockid`` in nanoseconds as ``t`` sees it; EINVAL for a clock Linux lacks."""
    return clock_of(t, clockid).read()


async def read_timespec(t: Task, addr: int) -> int:
    """A guest timespec as ktime nanoseconds: EINVAL unless valid, saturated at KTIME_MAX."""
    seconds, nanoseconds = await t.mm.read_struct(structs.TIMESPEC, addr)
    return timespec_to_ns(seconds, nanoseconds)


@syscall
async def clock_gettime(t: Task, clockid: Int, tp: Addr) -> int:
    now = read_clock(t, clockid)
    await t.mm.write_struct(structs.TIMESPEC, tp, *timespec(now))
    return 0


@syscall
async def clock_getres(t: Task, clockid: Int, res: Addr) -> int:
    resolution = clock_of(t, clockid).resolution
    if res:
        await t.mm.write_struct(structs.TIMESPEC, res, *timespec(resolution))
    return 0


@syscall
async def gettimeofday(t: Task, tv: Addr, tz: Addr) -> int:
    if tv:
        await t.mm.write_struct(structs.TIMEVAL, tv, *timeval(determinism.clock_ns(CLOCK_REALTIME)))
    if tz:
        await t.mm.write_struct(structs.TIMEZONE, tz, 0, 0)  # the kernel's sys_tz: UTC
    return 0


@syscall("time")
async def time_(t: Task, tloc: Addr) -> int:
    seconds = determinism.clock_ns(CLOCK_REALTIME) // NSEC_PER_SEC
    if tloc:
        await t.mm.write_struct(structs.U64, tloc, seconds)
    return seconds


@syscall
async def nanosleep(t: Task, req: Addr, rem: Addr) -> int:
    from kernel.syscalls.signals import sleep_until

    duration = await read_timespec(t, req)
    return await sleep_until(t, trio.current_time() + duration / NSEC_PER_SEC, rem)


@syscall
async def clock_nanosleep(t: Task, clockid: Int, flags: Int, req: Addr, rem: Addr) -> int:
    """Sleep on ``clockid`` for ``req`` (or until it, with TIMER_ABSTIME); ``rem`` gets what is
    left when a signal cuts a relative sleep short. A process's CPU clock can be slept on (until
    its other threads have used that much CPU); a thread's, or a coarse or raw clock, cannot.
    The checks come in Linux's order: the clock, the request, then the clock's own refusals."""
    kind = clock_kind(clockid)
    if kind in ("plain", "fd") or clockid == CLOCK_THREAD_CPUTIME_ID:
        raise Errno(EOPNOTSUPP)
    request = await read_timespec(t, req)
    if kind == "alarm":
        raise Errno(EOPNOTSUPP)
    clock = clock_of(t, clockid)
    if clock.thread and clock.own:
        raise Errno(EINVAL)
    rem = 0 if flags & TIMER_ABSTIME else rem
    if clock.cpu:
        target = request if flags & TIMER_ABSTIME else clamp_ktime(clock.read() + request)
        return await cpu_sleep(t, clock, target, rem)
    if flags & TIMER_ABSTIME:
        request -= clock.read()
    if request > 0:
        from kernel.syscalls.signals import sleep_until

        return await sleep_until(t, trio.current_time() + request / NSEC_PER_SEC, rem)
    return 0


async def cpu_sleep(t: Task, clock: GuestClock, target: int, rem: int) -> int:
    """Sleep until CPU ``clock`` reaches ``target``: wait what is left at the clock's fastest
    pace, then look again. A signal ends it as nanosleep's would (restart_syscall resumes)."""
    while (left := target - clock.read()) > 0:
        try:
            await t.blocking(trio.sleep(left / clock.pace / NSEC_PER_SEC), ERESTART_RESTARTBLOCK)
        except Errno:
            left = max(target - clock.read(), 0)
            if rem:
                try:
                    await t.mm.write_struct(structs.TIMESPEC, rem, *timespec(min(left, KTIME_MAX)))
                except Errno:
                    raise Errno(EFAULT) from None

            async def resume() -> int:
                return await cpu_sleep(t, clock, target, rem)

            t.restart_block = resume
            raise
    return 0
