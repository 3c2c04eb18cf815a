"""What /proc/self shows of a process, against Linux's (a native run with its own /proc): the
signal lines of status, and auxv."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, sentrio
from tests.differential.harness import run_native_with_proc

pytestmark = needs_root()


def test_signal_masks_in_status(image: Path) -> None:
    expected = run_native_with_proc(image, ["/bin/status_signals"])
    got = sentrio(image, "/bin/status_signals")
    assert (got.stdout, got.stderr, got.status) == (expected.stdout, expected.stderr, expected.status)
    assert "after: SigIgn:\t0000000000000002" in expected.stdout
    assert "after: SigPnd:\t0000000000000800" in expected.stdout  # SIGUSR2, raised by the thread


def test_auxv_is_the_vector_the_program_started_with(image: Path) -> None:
    expected = run_native_with_proc(image, ["/bin/auxv"])
    got = sentrio(image, "/bin/auxv")
    assert (got.stdout, got.stderr, got.status) == (expected.stdout, expected.stderr, expected.status)
    assert expected.stdout == "pairs: more than 10, mismatches: 0, has AT_ENTRY: 1, ends with AT_NULL: 1\n"


def test_pidfd_send_signal_through_a_proc_pid_directory(image: Path) -> None:
    expected = run_native_with_proc(image, ["/bin/pidfd_procdir"])
    got = sentrio(image, "/bin/pidfd_procdir")
    assert (got.stdout, got.stderr, got.status) == (expected.stdout, expected.stderr, expected.status)
    assert expected.stdout.startswith("proc dir: 0 , got 10\n")


def test_single_entries_of_proc_self_and_its_fds(image: Path) -> None:
    """Each name looked up alone (the directories do not list themselves for it) resolves as
    Linux's do, including fd names Linux never gives."""
    expected = run_native_with_proc(image, ["/bin/procfd_lookup"])
    got = sentrio(image, "/bin/procfd_lookup")
    assert (got.stdout, got.stderr, got.status) == (expected.stdout, expected.stderr, expected.status)
    assert "chmod through fd: 0\nmode now: 700\n" in expected.stdout
