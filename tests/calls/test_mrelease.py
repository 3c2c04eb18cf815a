"""process_mrelease, native vs Sentrio (``programs/mrelease.c``)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_a_live_process_is_einval_a_dead_one_esrch(image: Path) -> None:
    outcome = same(image, "/bin/mrelease")
    assert "live child: -1 EINVAL" in outcome.stdout
    assert "not a pidfd: -1 EBADF" in outcome.stdout
    assert "zombie: -1 ESRCH" in outcome.stdout
    assert "reaped: -1 ESRCH" in outcome.stdout
