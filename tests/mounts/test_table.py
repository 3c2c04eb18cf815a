"""The mount table's records that a guest's mount calls change: per-mount flags, propagation
types in mountinfo's optional fields, the root of a bind mount, ids never reused."""

from __future__ import annotations

from abi.mount import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_SHARED, MS_SLAVE, MS_UNBINDABLE
from services.vfs.inode import Dir, Filesystem
from services.vfs.mounts import MountTable


def _table() -> tuple[MountTable, list[bytes]]:
    table = MountTable()
    table.add(b"none", b"/", b"overlay", False, Dir(Filesystem(), 0o755))
    shared = table.add(b"none", b"/s", b"tmpfs", False, Dir(Filesystem(), 0o755))
    shared.propagation, shared.flags = MS_SHARED, MS_NOSUID | MS_NODEV | MS_NOEXEC
    slave = table.add(b"none", b"/s/slave", b"tmpfs", False, Dir(Filesystem(), 0o755))
    slave.propagation = MS_SLAVE
    bound = table.add(b"none", b"/b", b"tmpfs", True, Dir(Filesystem(), 0o755))
    bound.propagation, bound.fs_path = MS_UNBINDABLE, b"/sub dir"
    return table, table.mountinfo().splitlines()


def test_mountinfo_shows_flags_and_propagation_as_linux_does() -> None:
    table, lines = _table()
    shared, slave, bound = table.mounts[1:]
    assert lines[1].split()[4:] == [b"/s", b"rw,nosuid,nodev,noexec,relatime", b"shared:%d" % shared.id, b"-",
                                    b"tmpfs", b"none", b"rw"]
    assert lines[2].split()[6] == b"master:%d" % shared.id
    assert lines[3].split()[3:8] == [b"/sub\\040dir", b"/b", b"ro,relatime", b"unbindable", b"-"]
    assert lines[0].split()[6] == b"-"  # private: no optional field
    assert table.proc_mounts().splitlines()[1] == b"none /s tmpfs rw,nosuid,nodev,noexec,relatime 0 0"
    assert table.below(shared) == [slave] and table.below(bound) == []


def test_a_mount_id_is_not_reused_after_an_unmount() -> None:
    table, _ = _table()
    last = table.mounts[-1]
    table.mounts.remove(last)
    assert table.add(b"none", b"/b", b"tmpfs", False, Dir(Filesystem(), 0o755)).id == last.id + 1
