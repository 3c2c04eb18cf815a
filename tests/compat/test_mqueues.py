"""POSIX message queues, native vs Sentrio (``programs/mqueues.c``): mq_open's flags and
limits, priorities, blocking sends and receives with timeouts, EAGAIN/EMSGSIZE/ETIMEDOUT, a
signal's EINTR, mq_notify (SIGEV_SIGNAL's siginfo, EBUSY, the registration ending),
mq_getsetattr, poll, the descriptor's status line, permissions and unlink."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import USER, needs_root, same

pytestmark = needs_root()


@pytest.mark.parametrize("user", [None, USER])
def test_queues_priorities_and_errors(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/mqueues", "basics", user=user)
    assert "close-on-exec: 1" in outcome.stdout
    assert "open maxmsg past msg_max: -1 EINVAL" in outcome.stdout
    assert "receive: 4 five prio 5\nreceive: 4 cinq prio 5\nreceive: 3 one prio 1\n" in outcome.stdout
    assert "timedsend full: -1 ETIMEDOUT" in outcome.stdout
    assert "receive nonblocking: -1 EAGAIN" in outcome.stdout
    assert "send on O_RDONLY: -1 EBADF" in outcome.stdout
    assert "send after unlink through an open descriptor: 0" in outcome.stdout


def test_blocking_and_signals(image: Path) -> None:
    outcome = same(image, "/bin/mqueues", "blocking")
    assert "blocking receive: 4 late prio 3" in outcome.stdout
    assert "blocking send: 0" in outcome.stdout
    assert "send interrupted by a signal: -1 EINTR" in outcome.stdout
    assert "receive interrupted by a signal: -1 EINTR" in outcome.stdout


def test_notify(image: Path) -> None:
    outcome = same(image, "/bin/mqueues", "notify")
    assert "notified: 1 signo 10 code -3 value 42 from child 1" in outcome.stdout
    assert "notify again: -1 EBUSY" in outcome.stdout
    assert "registration ended: notify again: 0" in outcome.stdout
    assert "status: QSIZE:9" in outcome.stdout


def test_permissions(image: Path) -> None:
    outcome = same(image, "/bin/mqueues", "permissions")
    assert "defaults: maxmsg 10 msgsize 8192" in outcome.stdout
    assert "open as another user for reading: -1 EACCES" in outcome.stdout
