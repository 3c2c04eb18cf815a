"""Signals, native vs Sentrio: handlers and frames, faults, masks, waits, timers, kill."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes.conftest import needs_root, same

pytestmark = needs_root()
LIBCS = ["", ".musl"]


@pytest.mark.parametrize("libc", LIBCS)
def test_signal_delivery(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/signals{libc}")
    assert "caught SIGSEGV 11: code 1, addr 0x10" in outcome.stdout
    assert "caught SIGFPE 8: code 1" in outcome.stdout
    assert "nested order: 1 2 3" in outcome.stdout
    assert "on altstack 1, flags in handler 1" in outcome.stdout
    assert "waitpid with SA_RESTART: 1, status 6" in outcome.stdout


@pytest.mark.parametrize("libc", LIBCS)
def test_signals_between_processes_and_threads(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/kill{libc}")
    assert "after SIGSTOP: stopped by 19" in outcome.stdout
    assert "spinning thread stopped by its signal: 1" in outcome.stdout


@pytest.mark.parametrize(("signo", "status"), [(9, 137), (15, 143), (11, 139), (6, 134)])
def test_a_guest_killed_by_a_signal_exits_128_plus_it(image: Path, signo: int, status: int) -> None:
    assert same(image, "/bin/kill", str(signo)).status == status


@pytest.mark.parametrize("libc", LIBCS)
def test_posix_timers(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/timers{libc}")
    assert "SIGEV_THREAD ran with value 5" in outcome.stdout


@pytest.mark.parametrize("libc", LIBCS)
def test_waits_take_the_signal_mask_they_are_given(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/wait_masks{libc}")
    for call in ("ppoll", "pselect", "epoll_pwait", "epoll_pwait2"):
        assert (f"{call}: result -1 errno EINTR, handled 1, usr2 blocked in handler 1, usr1 blocked after 1"
                in outcome.stdout)
    assert "ppoll, still blocked: result 0 errno -, handled 0" in outcome.stdout
    assert "still pending: 1" in outcome.stdout
    assert "ppoll, ready fd: result 1 errno -, handled 0" in outcome.stdout
    assert "ppoll, bad size: result -1 errno EINVAL" in outcome.stdout


@pytest.mark.parametrize("libc", LIBCS)
def test_waits_end_and_wake_whom_linux_wakes(image: Path, libc: str) -> None:
    """A pipe write or splice cut short by the reader's exit, an epoll_wait woken by a file
    another thread adds, futexes keyed shared or private across fork, handlers that overflow
    their alternate stack: each returns or dies as on Linux instead of hanging."""
    outcome = same(image, f"/bin/wakeups{libc}")
    assert "hung" not in outcome.stdout
    assert "partial write: a short count" in outcome.stdout
    assert "epoll_wait woken by an added ready fd: 1" in outcome.stdout
    assert "futex wait shared, wake shared: returned 0, woke 1" in outcome.stdout
    assert any(line.startswith("futex wait private, wake private:") and line.endswith("timed out, woke 0")
               for line in outcome.stdout.splitlines())  # glibc and musl word ETIMEDOUT apart
    assert "altstack: killed by Segmentation fault" in outcome.stdout
