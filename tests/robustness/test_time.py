"""Time values a hostile guest picks (issue 18, items 4 and 6): 2^63-second sleeps and timers
saturate at KTIME_MAX as in Linux (on main, writing nanosleep's ``rem`` overflowed and took the
Sentry down), setitimer takes huge values, ITIMER_VIRTUAL/ITIMER_PROF count CPU time, and the
negative CPU-time clock ids work.
"""

from __future__ import annotations

from pathlib import Path

from tests.robustness.conftest import same


def test_huge_times_and_cpu_clocks_as_linux(image: Path) -> None:
    outcome = same(image, "/bin/timers")
    assert "nanosleep(LONG_MAX s): EINTR, rem ~ KTIME_MAX: 1" in outcome.stdout
    assert "timer_gettime: ok, interval 9223372036.854775807" in outcome.stdout
    assert "signal 26 fired: 1" in outcome.stdout  # SIGVTALRM from ITIMER_VIRTUAL
