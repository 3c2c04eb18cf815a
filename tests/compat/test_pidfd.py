"""pidfd_open, pidfd_send_signal, pidfd_getfd and waitid(P_PIDFD), native vs Sentrio
(``programs/events_pidfd.c``)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_open_and_its_errors(image: Path) -> None:
    outcome = same(image, "/bin/events_pidfd", "open")
    assert "cloexec: 1" in outcome.stdout
    assert "no such pid: -1 ESRCH" in outcome.stdout
    assert "getfd own stdout: 1" in outcome.stdout
    assert "waitid P_PIDFD non-pidfd: -1 EBADF" in outcome.stdout


def test_readable_at_exit_and_reaped_through_waitid(image: Path) -> None:
    outcome = same(image, "/bin/events_pidfd", "exit")
    assert "poll waits for the exit: 1" in outcome.stdout
    assert "pid matches 1 code 2 status 15" in outcome.stdout
    assert "signal after reap: -1 ESRCH" in outcome.stdout


def test_a_nonblocking_pidfd_makes_waitid_eagain(image: Path) -> None:
    outcome = same(image, "/bin/events_pidfd", "nonblock")
    assert "waitid nonblocking pidfd of a live child: -1 EAGAIN" in outcome.stdout


def test_getfd_takes_a_childs_file_and_signals_check_their_info(image: Path) -> None:
    outcome = same(image, "/bin/events_pidfd", "getfd")
    assert "got: from the child" in outcome.stdout
    assert "send with info, kernel code: -1 EPERM" in outcome.stdout


def test_permission_is_ptraces_and_kills(image: Path) -> None:
    outcome = same(image, "/bin/events_pidfd", "user")
    assert "getfd from another user's process: -1 EPERM" in outcome.stdout
    assert "a third user signals it: -1 EPERM" in outcome.stdout
    assert "root signals it: 0" in outcome.stdout
