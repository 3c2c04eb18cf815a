"""The mount table as /proc/mounts and /proc/self/mountinfo show it."""

from __future__ import annotations

from services.vfs.inode import Dir, Filesystem
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


def test_a_tmpfs_mode_option() -> None:
    assert tmpfs_root((), False).mode & 0o7777 == 0o1777
    assert tmpfs_root(("size=1m", "mode=750"), True).mode & 0o7777 == 0o750
    assert tmpfs_root(("mode=zz",), False).mode & 0o7777 == 0o1777
