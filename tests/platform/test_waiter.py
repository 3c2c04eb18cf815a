"""How the Sentry waits for a stub thread's stop (platforms/ptrace/waiter.py), with waitpid and
sched_yield scripted: which calls it makes, not how long they take."""

from __future__ import annotations

import os
import signal

import pytest

from platforms.ptrace.waiter import StopWaiter


def _scripted_waitpid(monkeypatch: pytest.MonkeyPatch, stop_after_yields: int | None) -> list[str]:
    """Make ``os.waitpid`` report a stop once ``os.sched_yield`` was called that many times
    (never, for None); returns the log of both calls."""
    log: list[str] = []

    def waitpid(tid: int, options: int) -> tuple[int, int]:
        log.append("waitpid")
        if stop_after_yields is not None and log.count("yield") >= stop_after_yields:
            return tid, 0x857F  # stopped, SIGTRAP | 0x80
        return 0, 0

    monkeypatch.setattr(os, "waitpid", waitpid)
    monkeypatch.setattr(os, "sched_yield", lambda: log.append("yield"))
    return log


def test_a_thread_beside_the_sentry_is_given_the_cpu_not_spun_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stub thread pinned to the Sentry's CPU runs only when the Sentry does not: the waiter
    yields to it once instead of spinning on waitpid, and its stop is collected right after."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    waiter = StopWaiter()
    try:
        log = _scripted_waitpid(monkeypatch, stop_after_yields=1)
        assert waiter.poll_for(4242, beside=True) == 0x857F
        assert log == ["waitpid", "yield", "waitpid"]
        # Not beside the Sentry: it spins (the thread runs on another CPU) and never yields.
        log = _scripted_waitpid(monkeypatch, stop_after_yields=None)
        waiter.spin_ns = 20_000
        assert waiter.poll_for(4242) is None
        assert "yield" not in log and log.count("waitpid") > 3
        # Beside it and not stopped by the yield: no spin either, it blocks on SIGCHLD till the deadline.
        log = _scripted_waitpid(monkeypatch, stop_after_yields=None)
        assert waiter.poll_for(4242, beside=True) is None
        assert log[:3] == ["waitpid", "yield", "waitpid"] and log.count("yield") == 1
    finally:
        monkeypatch.undo()
        waiter.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
