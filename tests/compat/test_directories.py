"""Directory listings while their entries go away, native vs Sentrio (``programs/readdir_remove.c``)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_removing_what_was_listed_skips_nothing(image: Path) -> None:
    outcome = same(image, "/bin/readdir_remove")
    assert "removed 300, rmdir 0" in outcome.stdout
    assert "fds left open: 0" in outcome.stdout
