"""inotify, native vs Sentrio: every event kind on a file and a directory, rename cookies,
watch flags, errors, reading (padding, EINVAL, FIONREAD, coalescing), epoll and blocking reads,
on tmpfs (/tmp), on the image's overlay root, on a volume and on a --rw root (through the gofer)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.compat.conftest import USER, native, needs_root, same, sentrio
from tests.inotify.test_fanotify import image  # noqa: F401 — the fixture: one image for both

SCENARIOS = ["files", "unlinked", "dirs", "renames", "flags", "excl", "reading", "copies"]


@needs_root()
@pytest.mark.parametrize("base", ["/tmp", "/"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_events_as_linux_gives_them(image: Path, base: str, scenario: str) -> None:  # noqa: F811
    outcome = same(image, "/bin/inotify", base, scenario)
    assert outcome.status == 0
    assert "wd=" in outcome.stdout or "blocking read" in outcome.stdout


@needs_root()
def test_every_event_kind_is_seen(image: Path) -> None:  # noqa: F811
    """What the differential runs compare includes each event kind at least once."""
    outcome = same(image, "/bin/inotify", "/tmp")
    for kind in ("ACCESS", "MODIFY", "ATTRIB", "CLOSE_WRITE", "CLOSE_NOWRITE", "OPEN", "MOVED_FROM", "MOVED_TO",
                 "CREATE", "DELETE", "DELETE_SELF", "MOVE_SELF", "IGNORED", "ISDIR"):
        assert f" {kind}" in outcome.stdout or f"|{kind}" in outcome.stdout, kind
    assert "cookie matches" in outcome.stdout
    assert "read into 16 bytes: -1 EINVAL" in outcome.stdout
    assert "mask create again: -1 EEXIST" in outcome.stdout
    assert "read empty nonblocking: -1 EAGAIN" in outcome.stdout
    assert "epoll_wait event: 1" in outcome.stdout


@needs_root()
def test_unreadable_file_is_eacces_for_a_user(image: Path) -> None:  # noqa: F811
    outcome = same(image, "/bin/inotify", "/tmp", "flags", user=USER)
    assert "add_watch unreadable: -1 EACCES" in outcome.stdout


@needs_root()
@pytest.mark.parametrize("scenario", ["files", "renames", "excl"])
def test_volume_changes_made_inside_are_seen(image: Path, scenario: str) -> None:  # noqa: F811
    """A volume's files live on the host, reached through the gofer: the sandbox's own changes
    to them give the events a local file system gives."""
    expected = native(image, "/bin/inotify", "/tmp", scenario)
    volume = Path(tempfile.mkdtemp(prefix="sentrio-inotify-volume-"))
    try:
        volume.chmod(0o777)
        got = sentrio(image, "/bin/inotify", "/vol", scenario, options=("-v", f"{volume}:/vol"))
    finally:
        shutil.rmtree(volume)
    assert got.stdout.splitlines() == expected.stdout.splitlines()
    assert (got.stderr, got.status) == (expected.stderr, expected.status)


@needs_root()
@pytest.mark.parametrize("scenario", ["files", "renames", "unlinked"])
def test_rw_root_changes_made_inside_are_seen(image: Path, scenario: str) -> None:  # noqa: F811
    """Under --rw the image's own files are written through the gofer: the same events."""
    expected = native(image, "/bin/inotify", "/tmp", scenario)
    got = sentrio(image, "/bin/inotify", "/", scenario, options=("--rw",))
    assert got.stdout.splitlines() == expected.stdout.splitlines()
    assert (got.stderr, got.status) == (expected.stderr, expected.status)
