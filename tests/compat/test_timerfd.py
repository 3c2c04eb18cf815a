"""timerfd, native vs Sentrio (``programs/events_timerfd.c``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import ALL_CAPS, needs_root, same

pytestmark = needs_root()


@pytest.mark.parametrize("user", [None, ALL_CAPS])
def test_create(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/events_timerfd", "create", user=user)
    assert "clock 100: -1 EINVAL" in outcome.stdout
    if user is None:  # docker's root has no CAP_WAKE_ALARM
        assert "realtime alarm: -1 EPERM" in outcome.stdout
    else:
        assert "realtime alarm: -1" not in outcome.stdout


def test_settime_and_gettime(image: Path) -> None:
    outcome = same(image, "/bin/events_timerfd", "settime")
    assert "after disarm: 0 5" in outcome.stdout
    assert "not a timerfd: -1 EINVAL" in outcome.stdout
    assert "blocking read: 8" in outcome.stdout


def test_read(image: Path) -> None:
    outcome = same(image, "/bin/events_timerfd", "read")
    assert "several expirations: 1" in outcome.stdout
    assert "read after re-arm: -1 EAGAIN" in outcome.stdout


def test_readiness_in_poll_select_and_epoll(image: Path) -> None:
    outcome = same(image, "/bin/events_timerfd", "poll")
    assert "epoll edge again: 0" in outcome.stdout
    assert "epoll edge rearmed: 1" in outcome.stdout


def test_inherited_by_fork_and_kept_across_exec(image: Path) -> None:
    outcome = same(image, "/bin/events_timerfd", "inherit")
    assert "child count: 1" in outcome.stdout
    assert "after exec count: 1" in outcome.stdout
