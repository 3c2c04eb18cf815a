"""cachestat, native vs Sentrio (``programs/cachestat.c``): a file just written and synced."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_a_synced_file_is_all_cached_within_the_range(image: Path) -> None:
    outcome = same(image, "/bin/cachestat")
    lines = outcome.stdout.splitlines()
    assert lines[lines.index("whole file (len 0): 0") + 1].startswith("  cache 6 dirty 0")
    assert lines[lines.index("straddling two pages: 0") + 1].startswith("  cache 2 ")
    assert lines[lines.index("past the end: 0") + 1].startswith("  cache 4 ")
    assert "flags: -1 EINVAL" in lines
    assert "bad stats address: -1 EFAULT" in lines
    assert "O_PATH: -1 EBADF" in lines
