"""A change made in the sandbox is seen at once by every path to the file (docs/caching.md).

``coherence`` warms the cache (lists, looks up, reads a symlink), then creates, renames, hard
links, unlinks and replaces files, checking each through lstat, open, getdents, readlink, the
other hard link and a forked child. Natively under chroot and under Sentrio (overlay and
``--rw``) it must print the same.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cache.conftest import sentrio


def _native(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["chroot", str(root), "/bin/coherence"], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("flags", [(), ("--rw",)], ids=["overlay", "rw"])
def test_changes_are_seen_at_once_by_every_path(image: Path, flags: tuple[str, ...]) -> None:
    native_root = image.parent / "native"
    subprocess.run(["cp", "-a", str(image), str(native_root)], check=True)  # hard links kept
    native = _native(native_root)
    assert native.returncode == 0, native.stderr
    run = sentrio(*flags, str(image), "--", "/bin/coherence")
    stdout, stderr = run.communicate(timeout=120)
    assert (stdout, stderr, run.returncode) == (native.stdout, native.stderr, 0)
    if flags == ("--rw",):  # written through: the host's tree is what the guest made
        assert (image / "data/tree/again").read_text() == "through the hard link\n"
        assert not (image / "data/tree/hard").exists()


def test_a_renamed_file_is_reached_through_proc_fd(image: Path) -> None:
    """A file renamed after it was opened is the same file through /proc/self/fd and its new name."""
    script = ("exec 3</data/tree/a; mv /data/tree/a /data/tree/sub/b; echo new > /data/tree/a; "
              "cat /proc/self/fd/3; cat /data/tree/sub/b /data/tree/a; ls /data/tree/sub")
    run = sentrio(str(image), "--", "/bin/sh", "-c", script)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert stdout == "first\nfirst\nnew\nb\ninner\n"


def test_a_tiny_cache_forgets_only_what_the_image_can_give_again(image: Path, tmp_path: Path) -> None:
    """With room for a handful of entries, walking the tree evicts over and over; the files
    made in the sandbox survive, and every listing is still right."""
    for index in range(40):
        (image / "data" / f"d{index}").mkdir()
        (image / "data" / f"d{index}" / "f").write_text(f"{index}\n")
    trace = tmp_path / "trace.jsonl"
    script = ("mkdir /data/d3/new && echo kept > /data/d3/new/file && rm /data/d5/f && "
              "find /data | wc -l && find /data | wc -l && cat /data/d3/new/file /data/d7/f && ls /data/d5")
    run = sentrio("--plugin", "tests.cache.tiny:shrink", "--trace-messages", str(trace), str(image), "--",
                  "/bin/sh", "-c", script)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    entries = 1 + 6 + 40 * 2 + 2 - 1  # /data, the tree and its 5 names, d*/f, new and new/file, less d5/f
    assert stdout == f"{entries}\n{entries}\nkept\n7\n"
    listings = trace.read_text().count('"op": "readdir_attrs"')
    assert listings > 44, "the second find listed again what the first had to forget"
