"""A signal ends a system call blocked waiting for input (read, readv), as ^C ends a cat."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes.conftest import needs_root, same

pytestmark = needs_root()


@pytest.mark.parametrize("libc", ["", ".musl"])
def test_a_signal_interrupts_a_blocked_read(image: Path, libc: str) -> None:
    if libc and not (image / "bin" / f"interrupted_read{libc}").exists():
        pytest.skip("no musl-gcc")
    outcome = same(image, f"/bin/interrupted_read{libc}")
    assert outcome.stdout.splitlines() == [
        "read: -1 EINTR ? handled:yes", "readv: -1 EINTR ? handled:yes",
        "read SA_RESTART: 1 - x handled:yes", "readv SA_RESTART: 1 - x handled:yes",
    ]


def test_a_write_that_need_not_wait_is_never_interrupted(image: Path) -> None:
    outcome = same(image, "/bin/uninterrupted_write")
    assert outcome.stderr == "interrupted 0, failed 0, ticks some\n"
    assert outcome.stdout == "x" * 20000
