"""The vDSO (``programs/vdso.c``): the host's, moved to one place in every address space, so
the clocks are read without a trap, as on Linux; and none in a deterministic run, whose clocks
are virtual and must all reach the Sentry."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, sentrio
from tests.differential.harness import run_native_with_proc


@needs_root()
def test_the_clocks_read_through_the_vdso_agree_with_the_system_calls(image: Path) -> None:
    outcome = run_native_with_proc(image, ["/bin/vdso"])  # Linux's, with a /proc of its own
    got = sentrio(image, "/bin/vdso")
    assert (got.stdout, got.stderr, got.status) == (outcome.stdout, outcome.stderr, outcome.status)
    for who in ("first", "forked", "exec'd"):
        assert f"{who}: AT_SYSINFO_EHDR set, ELF image there" in outcome.stdout
    assert outcome.stdout.count("maps names it at that address: yes") == 3
    assert outcome.stdout.count("CLOCK_MONOTONIC: 0, between two system calls") == 3
    assert "child: 0" in outcome.stdout


@needs_root()
def test_a_clock_read_through_the_vdso_never_reaches_the_sentry(image: Path) -> None:
    traced = sentrio(image, "/bin/vdso", options=("--strace",))
    assert traced.status == 0, traced.stderr
    calls = [line.split("] ", 1)[1].split("(")[0] for line in traced.stderr.splitlines() if line.startswith("[")]
    # Each of the three programs asks the Sentry once per clock for its own comparison, and for
    # the CPU-time clock, which has no vDSO path: the libc calls between add nothing.
    assert calls.count("clock_gettime") == 3 * (2 * 3 + 1 + 1), calls  # the clocks, gettimeofday's, CPU time
    assert calls.count("time") == 3
    assert "gettimeofday" not in calls


@needs_root()
def test_a_deterministic_run_has_no_vdso(image: Path) -> None:
    run = sentrio(image, "/bin/vdso", options=("--deterministic", "--seed", "1"))
    assert run.status == 0, run.stderr
    assert "first: AT_SYSINFO_EHDR missing, ELF image absent" in run.stdout
    assert "CLOCK_REALTIME: 0, between two system calls" in run.stdout
