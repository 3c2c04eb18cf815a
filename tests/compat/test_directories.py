"""Directory listings while their entries go away or come, native vs Sentrio
(``programs/readdir_remove.c``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.compat.conftest import native, needs_root, same, sentrio

pytestmark = needs_root()


def test_removing_what_was_listed_skips_nothing(image: Path) -> None:
    outcome = same(image, "/bin/readdir_remove")
    assert "removed 300, rmdir 0" in outcome.stdout
    assert "fds left open: 0" in outcome.stdout


def test_a_directory_read_while_it_changes_reads_as_on_linuxs_tmpfs(image: Path, tmp_path: Path) -> None:
    """The sandbox's /tmp is a tmpfs, so the native run gets one too (the image's /tmp is on the
    host's disk, whose file system orders and returns new names differently): names removed
    before the listing reached them are left out, names made after it began wait for a rewind."""
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    (root / "tmp").mkdir()
    shutil.copy(image / "bin" / "readdir_remove", root / "bin")
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root / "tmp")], check=True)
    try:
        expected = native(root, "/bin/readdir_remove", "snapshot")
    finally:
        subprocess.run(["umount", str(root / "tmp")], check=True)
    got = sentrio(image, "/bin/readdir_remove", "snapshot")
    assert (got.stdout, got.stderr, got.status) == (expected.stdout, expected.stderr, expected.status)
    assert "0 removed ones, 0 made ones" in got.stdout
