"""Threads and futexes, native vs Sentrio."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes.conftest import needs_root, same

pytestmark = needs_root()
LIBCS = ["", ".musl"]


@pytest.mark.parametrize("libc", LIBCS)
def test_eight_threads_contend_on_a_mutex_and_a_condition_variable(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/threads{libc}")
    assert "counter 16000 (expected 16000)" in outcome.stdout


@pytest.mark.parametrize("libc", LIBCS)
def test_the_last_thread_out_ends_the_process(image: Path, libc: str) -> None:
    assert same(image, f"/bin/thread_exit{libc}").status == 7


@pytest.mark.parametrize("libc", LIBCS)
def test_exit_ends_every_thread(image: Path, libc: str) -> None:
    assert same(image, f"/bin/thread_exit{libc}", "group").status == 3


@pytest.mark.parametrize("libc", LIBCS)
def test_futex_operations(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/futex_ops{libc}")
    assert "wake 1 of 4: 1" in outcome.stdout


@pytest.mark.parametrize("libc", LIBCS)
def test_a_robust_mutex_of_a_dead_thread_reports_owner_died(image: Path, libc: str) -> None:
    assert "EOWNERDEAD" in same(image, f"/bin/robust{libc}").stdout


@pytest.mark.parametrize("libc", LIBCS)
def test_a_shared_robust_mutex_of_a_dead_process_reports_owner_died(image: Path, libc: str) -> None:
    assert "EOWNERDEAD" in same(image, f"/bin/robust_shared{libc}").stdout


def test_a_futex_wait_interrupted_by_a_signal_a_stop_and_a_tracer(image: Path) -> None:
    """The signals actor ends a futex sleep itself: EINTR for a caught signal, a transparent
    restart with SA_RESTART or after a stop, a PTRACE_EVENT_STOP for a tracer's interrupt."""
    outcome = same(image, "/bin/futex_interrupt")
    assert "signal: wait returned -1 Interrupted system call, caught 10" in outcome.stdout
    assert "signal, SA_RESTART: wait returned 0 , caught 10" in outcome.stdout
    assert "stopped: 1" in outcome.stdout and "stop and continue: wait returned 0" in outcome.stdout
    assert "event stop: 1" in outcome.stdout and "ptrace interrupt: wait returned 0" in outcome.stdout
