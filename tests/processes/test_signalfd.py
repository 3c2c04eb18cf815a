"""signalfd, native vs Sentrio: reads, poll and epoll readiness, remasking, SIGCHLD, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes.conftest import needs_root, same

pytestmark = needs_root()


@pytest.mark.parametrize("libc", ["", ".musl"])
def test_signalfd(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/signalfd{libc}")
    assert "kill: signo 10 code 0 pid-is-me 1" in outcome.stdout
    assert "code -1 pid-is-me 1 uid 0 status 0 int 43 ptr 43" in outcome.stdout
    assert "epoll after child: 1 data 7 events 0x1" in outcome.stdout
    assert "child: signo 17 code 1 pid-is-child 1 status 3" in outcome.stdout
    assert "blocking read 128 signo 10 pid-is-sender 1" in outcome.stdout
