"""CLONE_PIDFD in clone(2) and clone3, native vs Sentrio (``programs/clone_pidfd.c``)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_errors_as_linux_and_no_child_made(image: Path) -> None:
    outcome = same(image, "/bin/clone_pidfd", "errors")
    assert "clone PIDFD|PARENT_SETTID: -1 EINVAL" in outcome.stdout
    assert "clone3 pidfd == parent_tid: -1 EINVAL" in outcome.stdout
    assert "clone PIDFD|DETACHED: -1 EINVAL" in outcome.stdout
    assert "clone PIDFD read-only address: -1 EFAULT" in outcome.stdout
    assert "no child was made: -1 ECHILD" in outcome.stdout


def test_clone_stores_a_cloexec_pidfd_at_parent_tid_readable_at_exit(image: Path) -> None:
    outcome = same(image, "/bin/clone_pidfd", "clone")
    assert "pidfd is the lowest free fd: 3" in outcome.stdout
    assert "cloexec: 1" in outcome.stdout
    assert "poll waits for the exit: 1" in outcome.stdout
    assert "pid matches 1 code 1 status 7" in outcome.stdout  # the child did not inherit it
    assert "signal after reap: -1 ESRCH" in outcome.stdout


def test_clone3_pidfd_signals_and_reaps(image: Path) -> None:
    outcome = same(image, "/bin/clone_pidfd", "clone3")
    assert "parent_tid is the pid: 1" in outcome.stdout
    assert "send SIGTERM through it: 0" in outcome.stdout
    assert "pid matches 1 code 2 status 15" in outcome.stdout


def test_vfork_with_a_pidfd(image: Path) -> None:
    outcome = same(image, "/bin/clone_pidfd", "vfork")
    assert "vfork pidfd: 3" in outcome.stdout
    assert "code 1 status 5" in outcome.stdout
