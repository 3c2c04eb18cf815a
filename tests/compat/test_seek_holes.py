"""lseek's SEEK_DATA and SEEK_HOLE, native vs Sentrio (``programs/seek_holes.c``)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_data_and_holes_of_a_sparse_file(image: Path) -> None:
    outcome = same(image, "/bin/seek_holes")
    assert "data from 0: 1048576" in outcome.stdout
    assert "data past the end: -1 No such device or address" in outcome.stdout
