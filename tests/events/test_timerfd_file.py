"""The timerfd file on a clock the test moves: expirations are counted from the clock when
asked, with no task running."""

from __future__ import annotations

import pytest

from abi.errno import EAGAIN, EINVAL, Errno
from abi.linux import O_NONBLOCK, POLLIN
from services.vfs.timerfd import TimerFd


class FakeClock:
    def __init__(self) -> None:
        self.ns = 1_000

    def __call__(self) -> int:
        return self.ns


async def _read(timer: TimerFd) -> int:
    buffer = bytearray(8)
    assert await timer.read([memoryview(buffer)]) == 8
    return int.from_bytes(buffer, "little")


async def test_a_periodic_timer_counts_every_period_passed() -> None:
    clock = FakeClock()
    timer = TimerFd(clock, O_NONBLOCK)
    timer.settime(100, 10, absolute=False)
    assert timer.poll() == 0
    clock.ns += 135  # the first expiry at +100, then +110, +120, +130
    assert timer.poll() & POLLIN
    assert await _read(timer) == 4
    assert timer.gettime() == (5, 10)
    with pytest.raises(Errno) as error:
        await _read(timer)
    assert error.value.errno == EAGAIN


async def test_the_change_count_moves_at_an_expiry_and_at_settime_only() -> None:
    clock = FakeClock()
    timer = TimerFd(clock, O_NONBLOCK)
    before = timer.changes
    timer.settime(50, 0, absolute=False)
    armed = timer.changes
    assert armed != before
    assert timer.changes == armed  # nothing happened
    clock.ns += 50
    assert timer.changes != armed
    assert timer.gettime() == (0, 0)  # a one-shot timer that ran out is disarmed


async def test_absolute_time_and_rearming_forgets_the_count() -> None:
    clock = FakeClock()
    timer = TimerFd(clock, O_NONBLOCK)
    timer.settime(5_000, 0, absolute=True)
    assert timer.gettime() == (4_000, 0)
    clock.ns = 6_000
    assert timer.poll() & POLLIN
    old = timer.settime(0, 7, absolute=False)
    assert old == (0, 0)
    assert timer.poll() == 0
    assert timer.gettime() == (0, 7)


async def test_a_short_buffer_is_einval() -> None:
    timer = TimerFd(FakeClock(), 0)
    with pytest.raises(Errno) as error:
        await timer.read([memoryview(bytearray(7))])
    assert error.value.errno == EINVAL
