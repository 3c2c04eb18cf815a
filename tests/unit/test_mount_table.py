"""The mount table as /proc/mounts and /proc/self/mountinfo show it."""

from __future__ import annotations

from services.vfs.inode import Dir, Filesystem
import pytest

from services.vfs.mounts import MountTable, guest_path, tmpfs_root


def test_the_mount_table_escapes_as_linux_does() -> None:
    table = MountTable()
    root = table.add(b"none", b"/", b"9p", True, Dir(Filesystem(), 0o755))
    inner = table.add(b"tmpfs", b"/a dir/with\ttab", b"tmpfs", False, Dir(Filesystem(), 0o1777))
    assert table.proc_mounts().splitlines()[1] == b"tmpfs /a\\040dir/with\\011tab tmpfs rw,relatime 0 0"
    fields = table.mountinfo().splitlines()[1].split()
    assert fields[:2] == [str(inner.id).encode(), str(root.id).encode()]
    assert fields[4] == b"/a\\040dir/with\\011tab" and fields[6:] == [b"-", b"tmpfs", b"tmpfs", b"rw"]


def test_guest_paths_are_normalised() -> None:
    assert [guest_path(p) for p in ("/", "//x", "/a/../b/", "rel")] == [b"/", b"/x", b"/b", b"/rel"]


MEMORY = 1 << 30


def test_a_tmpfs_mode_and_size() -> None:
    default = tmpfs_root((), False, MEMORY)
    assert default.mode & 0o7777 == 0o1777 and default.fs.capacity == MEMORY // 2  # half, as Linux
    sized = tmpfs_root(("size=1m", "mode=750"), True, MEMORY)
    assert sized.mode & 0o7777 == 0o750 and sized.fs.capacity == 1 << 20 and sized.fs.read_only
    assert tmpfs_root(("size=10%",), False, MEMORY).fs.capacity == MEMORY // 10
    assert tmpfs_root(("size=4096",), False, MEMORY).fs.capacity == 4096


@pytest.mark.parametrize("option", ["mode=zz", "size=lots", "size=0", "size=-1m"])
def test_a_tmpfs_option_that_cannot_be_understood_says_so(option: str) -> None:
    with pytest.raises(ValueError, match="tmpfs option"):
        tmpfs_root((option,), False, MEMORY)
