"""Interval timers: alarm, setitimer and getitimer (ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF).

Each process has one of each: ITIMER_REAL counts wall time and sends SIGALRM, ITIMER_VIRTUAL
and ITIMER_PROF count the process's CPU time and send SIGVTALRM and SIGPROF (si_code
SI_KERNEL); an interval reloads them. A timer is a kernel task sleeping on trio's clock (for a
CPU clock, the least real time in which the CPU time could run out, then it looks again).
Values are ktime nanoseconds as Linux keeps them: saturated at 292 years, and written back with
microseconds truncated. Timers are not inherited by fork and survive execve.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from abi import structs
from abi.encoding import NSEC_PER_USEC, c_uint, clamp_ktime, ktime, timeval, timeval_to_ns
from abi.errno import EINVAL, Errno
from abi.linux import CLOCK_MONOTONIC, ITIMER_PROF, ITIMER_REAL, ITIMER_VIRTUAL, NSEC_PER_SEC, SI_KERNEL, Signal
from kernel.syscalls.args import Addr, Int, UInt
from kernel.syscalls.table import syscall
from kernel.syscalls.time import GuestClock, clock_of, tick_ns

if TYPE_CHECKING:
    from kernel.kernel import Kernel
    from kernel.process import ThreadGroup
    from kernel.task import Task

#: The shortest period a periodic timer re-arms with (Linux rearms a POSIX timer whose interval
#: is below a jiffy one jiffy later): a 1 ns interval cannot make the Sentry spin.
MIN_PERIOD_NS = 1_000_000


class IntervalTimer:
    """A countdown on a :class:`GuestClock` that calls ``expired()`` and reloads with its
    interval (setitimer's three timers, and POSIX timers).

    ``expired`` returns False to stop the timer (its process is gone); None makes a timer that
    only counts (SIGEV_NONE): it runs no task, its state is computed when asked. ``due_ns`` is
    what :meth:`remaining` says of a timer that has run out but not yet fired (1 µs for the
    itimers, as Linux says).
    """

    def __init__(self, kernel: Kernel, process: ThreadGroup, clock: GuestClock,
                 expired: Callable[[], Awaitable[bool]] | None, due_ns: int = 1) -> None:
        self._kernel = kernel
        self._process = process
        self.clock = clock
        self._expired = expired
        self._due_ns = due_ns
        #: When the timer runs out, on its clock (ns); None when disarmed.
        self.expiry: int | None = None
        self.interval = 0
        #: Expiries that found the timer's previous signal still pending (timer_getoverrun).
        self.overrun = 0
        self._scope: trio.CancelScope | None = None

    def remaining(self) -> tuple[int, int]:
        """(nanoseconds until expiry, interval); 0 for a disarmed timer."""
        if self.expiry is None:
            return 0, self.interval
        now = self.clock.read()
        if self._expired is None:
            self._forward(now)
            if self.expiry is None:
                return 0, self.interval
        left = self.expiry - now
        return (left if left > 0 else self._due_ns), self.interval

    def arm(self, value: int, interval: int, absolute: bool = False) -> None:
        """Run out after ``value`` ns (at ``value`` on the clock if ``absolute``), then every
        ``interval`` ns; a zero value disarms the timer and drops its interval, as in Linux."""
        if value <= 0:
            self.interval = 0
            if self._expired is not None:
                self.disarm()
            # (A count-only timer keeps its old expiry: Linux's timer_gettime of a disarmed
            # SIGEV_NONE timer still shows the time left on it, until that time passes.)
            return
        self.disarm()
        self.interval = interval
        self.expiry = value if absolute else clamp_ktime(self.clock.read() + value)
        if self._expired is not None:
            self._scope = trio.CancelScope()
            self._kernel.spawn(self._run, self._scope)

    def disarm(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None
        self.expiry = None

    def _forward(self, now: int) -> int:
        """Move a run-out expiry past ``now`` by whole intervals (or disarm a one-shot timer);
        returns how many expiries were skipped beyond the first."""
        assert self.expiry is not None
        if self.expiry > now:
            return 0
        if not self.interval:
            self.expiry = None
            return 0
        period = max(self.interval, MIN_PERIOD_NS)
        missed = (now - self.expiry) // period
        self.expiry = clamp_ktime(self.expiry + (missed + 1) * period)
        return missed

    async def _run(self, scope: trio.CancelScope) -> None:
        process, clock = self._process, self.clock
        with scope:
            while self.expiry is not None and not process.zombie:
                left = self.expiry - clock.read()
                if left > 0:  # sleep until then, or until the process ends and frees the timer
                    with trio.move_on_after(left / clock.pace / NSEC_PER_SEC):
                        await process.exited.wait()
                    continue
                self.overrun = self._forward(clock.read())
                assert self._expired is not None
                if not await self._expired():
                    return


def itimer_signal_sender(kernel: Kernel, process: ThreadGroup, signo: int) -> Callable[[], Awaitable[bool]]:
    """What an itimer does when it runs out: send ``signo`` to the process (SI_KERNEL)."""
    info = structs.SIGINFO_KILL.pack(signo, 0, SI_KERNEL, 0, 0, 0)

    async def send() -> bool:
        try:
            await kernel.bus.call("signals", "send", process.pid, None, signo, info)
        except Errno:
            return False
        return True

    return send


#: ITIMER_VIRTUAL and ITIMER_PROF of each process, made on first use (ITIMER_REAL lives in
#: ``ThreadGroup.real_timer``); a new process starts without any.
_CPU_TIMERS: weakref.WeakKeyDictionary[ThreadGroup, dict[int, IntervalTimer]] = weakref.WeakKeyDictionary()
_SIGNALS = {ITIMER_REAL: Signal.SIGALRM, ITIMER_VIRTUAL: Signal.SIGVTALRM, ITIMER_PROF: Signal.SIGPROF}


def real_timer(t: Task) -> IntervalTimer:
    process = t.process
    if process.real_timer is None:
        process.real_timer = IntervalTimer(t.kernel, process, clock_of(t, CLOCK_MONOTONIC),
                                           itimer_signal_sender(t.kernel, process, Signal.SIGALRM),
                                           due_ns=NSEC_PER_USEC)
    timer: IntervalTimer = process.real_timer
    return timer


def _itimer(t: Task, which: int) -> IntervalTimer:
    if which == ITIMER_REAL:
        return real_timer(t)
    if which not in _SIGNALS:
        raise Errno(EINVAL)
    timers = _CPU_TIMERS.setdefault(t.process, {})
    if which not in timers:
        clock = clock_of(t, ~0 << 3 | (1 if which == ITIMER_VIRTUAL else 0))  # the process's VIRT/PROF
        timers[which] = IntervalTimer(t.kernel, t.process, clock,
                                      itimer_signal_sender(t.kernel, t.process, _SIGNALS[which]),
                                      due_ns=tick_ns())
    return timers[which]


def _itimerval(timer: IntervalTimer) -> tuple[int, int, int, int]:
    value, interval = timer.remaining()
    return (*timeval(interval), *timeval(value))


@syscall
async def alarm(t: Task, seconds: UInt) -> int:
    """Arm SIGALRM in ``seconds`` (0 disarms); returns the seconds left on the previous alarm,
    rounded to the nearest and at least 1 if one was pending (as an unsigned int)."""
    timer = real_timer(t)
    left, _ = timer.remaining()
    timer.arm(ktime(seconds, 0), 0)
    whole, fraction = divmod(left, NSEC_PER_SEC)
    if (not whole and fraction) or fraction >= NSEC_PER_SEC // 2:
        whole += 1
    return c_uint(whole)


@syscall
async def setitimer(t: Task, which: Int, new_value: Addr, old_value: Addr) -> int:
    """Arm (or with a zero value disarm) one of the process's three interval timers; the old
    setting goes to ``old_value``."""
    new = None
    if new_value:
        isec, iusec, vsec, vusec = await t.mm.read_struct(structs.ITIMERVAL, new_value)
        new = timeval_to_ns(vsec, vusec), timeval_to_ns(isec, iusec)
    timer = _itimer(t, which)
    old = _itimerval(timer)
    value, interval = new if new is not None else (0, 0)  # Linux takes a NULL new value as "disarm"
    if value and which != ITIMER_REAL:
        value += tick_ns()  # set_cpu_itimer: a CPU timer never fires early by a tick's sampling
    timer.arm(value, interval)
    if old_value:
        await t.mm.write_struct(structs.ITIMERVAL, old_value, *old)
    return 0


@syscall
async def getitimer(t: Task, which: Int, curr_value: Addr) -> int:
    await t.mm.write_struct(structs.ITIMERVAL, curr_value, *_itimerval(_itimer(t, which)))
    return 0
