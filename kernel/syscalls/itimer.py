"""The real-time interval timer: alarm, setitimer and getitimer (ITIMER_REAL).

Each process has one; when it expires the process gets SIGALRM (si_code SI_KERNEL), and an
interval reloads it. The timer is a kernel task sleeping on trio's clock; the virtual and
profiling timers (which count CPU time) are not offered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections.abc import Awaitable, Callable

import trio

from abi import structs
from abi.errno import EINVAL
from abi.linux import ITIMER_REAL, SI_KERNEL, Signal
from abi.errno import Errno
from kernel.syscalls.args import Addr, Int, UInt
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.kernel import Kernel
    from kernel.process import ThreadGroup
    from kernel.task import Task

_USEC = 1_000_000


class IntervalTimer:
    """A countdown on trio's clock that calls ``expired()`` and reloads with its interval
    (setitimer's ITIMER_REAL, and POSIX timers)."""

    def __init__(self, kernel: Kernel, process: ThreadGroup,
                 expired: Callable[[], Awaitable[bool]] | None = None) -> None:
        self._kernel = kernel
        self._process = process
        self._expired = expired or self._send_sigalrm
        self.expiry: float | None = None
        self.interval = 0.0
        self._scope: trio.CancelScope | None = None

    def remaining(self) -> tuple[float, float]:
        """(seconds until expiry, interval); 0 for a disarmed timer."""
        if self.expiry is None:
            return 0.0, self.interval
        return max(self.expiry - trio.current_time(), 1e-6), self.interval

    def arm(self, value: float, interval: float) -> None:
        """Expire ``value`` seconds from now (0: disarm), then every ``interval`` seconds."""
        self.disarm()
        self.interval = interval
        if value <= 0:
            self.expiry = None
            return
        self.expiry = trio.current_time() + value
        self._scope = trio.CancelScope()
        self._kernel.spawn(self._run, self._scope)

    def disarm(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
            self._scope = None
        self.expiry = None

    async def _run(self, scope: trio.CancelScope) -> None:
        with scope:
            while self.expiry is not None and not self._process.zombie:
                await trio.sleep_until(self.expiry)
                self.expiry = self.expiry + self.interval if self.interval > 0 else None
                if self.expiry is not None and self.expiry < trio.current_time():
                    self.expiry = trio.current_time() + self.interval  # late: do not burst
                if not await self._expired():
                    return

    async def _send_sigalrm(self) -> bool:
        info = structs.SIGINFO_KILL.pack(int(Signal.SIGALRM), 0, SI_KERNEL, 0, 0, 0)
        try:
            await self._kernel.bus.call("signals", "send", self._process.pid, None, int(Signal.SIGALRM), info)
        except Errno:
            return False
        return True


def real_timer(t: Task) -> IntervalTimer:
    process = t.process
    if process.real_timer is None:
        process.real_timer = IntervalTimer(t.kernel, process)
    return process.real_timer


def _seconds(sec: int, usec: int) -> float:
    if sec < 0 or not 0 <= usec < _USEC:
        raise Errno(EINVAL)
    return sec + usec / _USEC


def _timeval(seconds: float) -> tuple[int, int]:
    usec = round(seconds * _USEC)
    return usec // _USEC, usec % _USEC


@syscall
async def alarm(t: Task, seconds: UInt) -> int:
    """Arm SIGALRM in ``seconds`` (0 disarms); returns the seconds left on the previous alarm."""
    timer = real_timer(t)
    left, _ = timer.remaining()
    timer.arm(float(seconds), 0.0)
    if left <= 0:
        return 0
    whole, fraction = divmod(left, 1)
    return max(int(whole) + (1 if fraction >= 0.5 else 0), 1)


@syscall
async def setitimer(t: Task, which: Int, new_value: Addr, old_value: Addr) -> int:
    if which != ITIMER_REAL:
        raise Errno(EINVAL)
    timer = real_timer(t)
    old = timer.remaining()
    if new_value:
        isec, iusec, vsec, vusec = await t.mm.read_struct(structs.ITIMERVAL, new_value)
        timer.arm(_seconds(vsec, vusec), _seconds(isec, iusec))
    else:
        timer.arm(0.0, 0.0)
    if old_value:
        await t.mm.write_struct(structs.ITIMERVAL, old_value, *_timeval(old[1]), *_timeval(old[0]))
    return 0


@syscall
async def getitimer(t: Task, which: Int, curr_value: Addr) -> int:
    if which != ITIMER_REAL:
        raise Errno(EINVAL)
    value, interval = real_timer(t).remaining()
    await t.mm.write_struct(structs.ITIMERVAL, curr_value, *_timeval(interval), *_timeval(value))
    return 0

