"""Smaller divergences of issue 18, item 6, and RLIMIT_NOFILE (item 3), each against Linux."""

from __future__ import annotations

from pathlib import Path

from tests.robustness.conftest import same


def test_wait4_returns_the_child_whose_sigchld_interrupts_it(image: Path) -> None:
    """main: wait4 failed with EINTR when the awaited child's own (caught) SIGCHLD came;
    wait4(INT_MIN) was ECHILD instead of ESRCH."""
    outcome = same(image, "/bin/wait")
    assert "round 2: wait4 returned the child: 1 (ok), status 7, SIGCHLD handled: 1" in outcome.stdout
    assert "wait4(INT_MIN): -1 ESRCH" in outcome.stdout


def test_getrandom_fills_what_fits(image: Path) -> None:
    """main: 2 GiB into a one-page buffer was EFAULT; Linux fills the page and says 4096, and
    hands out more than 32 MiB in one call."""
    outcome = same(image, "/bin/getrandom")
    assert "getrandom(page, 2ul << 30, 0)            4096" in outcome.stdout


def test_rlimits_as_an_unprivileged_process(image: Path) -> None:
    """main: RLIMIT_NOFILE took RLIM_INFINITY and anyone could raise a hard limit; Linux says
    EPERM above nr_open and without CAP_SYS_RESOURCE."""
    outcome = same(image, "/bin/rlimits", user="65534:65534")
    assert "NOFILE infinity                      EPERM" in outcome.stdout
    assert "NOFILE hard raised                   EPERM" in outcome.stdout


def test_sigaltstack_autodisarm(image: Path) -> None:
    """An SS_AUTODISARM alternate stack never counts as the one the thread runs on: sigaltstack
    answered SS_ONSTACK and EPERM for a stack pointer inside it, where Linux goes on."""
    outcome = same(image, "/bin/autodisarm")
    assert "inside, armed with SS_AUTODISARM: sigaltstack(0x80000000) = 0\n" in outcome.stdout


def test_rlimit_sigpending_bounds_queued_signals(image: Path) -> None:
    """Real-time signals queued without a bound: sigqueue and tgkill past RLIMIT_SIGPENDING
    succeeded (Linux: EAGAIN; kill succeeds, its instance not queued). A user of its own, since
    Linux counts every process of the user (the Sentries run as 65534)."""
    outcome = same(image, "/bin/sigpending", user="59997:59997")
    assert "sigqueue: 7 of 11 queued\n" in outcome.stdout
    assert "child: sigqueue to itself = -1 Resource temporarily unavailable\n" in outcome.stdout
