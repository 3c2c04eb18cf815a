"""mount(2) and umount2(2), native vs Sentrio (``--cap-add SYS_ADMIN``)."""

from __future__ import annotations

from pathlib import Path

from tests.mounts.conftest import needs_root, same

pytestmark = needs_root()


def test_mount_and_umount_as_native(image: Path) -> None:
    outcome = same(image, "/bin/mounts")
    assert "mount tmpfs unprivileged: -1 EPERM" in outcome.stdout
    assert "mount on a missing dir unprivileged: -1 ENOENT" in outcome.stdout
    assert "mount of an unknown type: -1 ENODEV" in outcome.stdout
    assert "  mode 711 uid 12 gid 34" in outcome.stdout
    assert "statvfs /mnt/t: rdonly 0 nosuid 1" in outcome.stdout
    assert "umount2 busy: -1 EBUSY" in outcome.stdout
    assert "read detached fd: 8 'on tmpfs'" in outcome.stdout
    assert "umount2 MNT_EXPIRE: -1 EAGAIN" in outcome.stdout
    assert "read /data/new: 7 'through'" in outcome.stdout
    assert "write after ro: -1 EROFS" in outcome.stdout
    assert "mountinfo /mnt/b2 ro,relatime tmpfs" in outcome.stdout
    assert "private on a non-mount point: -1 EINVAL" in outcome.stdout
    assert "umount2 m again: -1 EINVAL" in outcome.stdout
    assert "mountinfo /mnt/p rw,nosuid,nodev,noexec,relatime proc" in outcome.stdout


def test_without_the_capability_every_mount_is_eperm(image: Path) -> None:
    """docker's default set, without CAP_SYS_ADMIN: EPERM once the target is found, as Linux."""
    outcome = same(image, "/bin/mounts", admin=False)
    assert "raise CAP_SYS_ADMIN: -1 EPERM" in outcome.stdout
    assert "mount on a missing dir: -1 ENOENT" in outcome.stdout
    assert "mount tmpfs: -1 EPERM" in outcome.stdout
    assert "bind /data: -1 EPERM" in outcome.stdout
    assert "umount2 of a non-mount point: -1 EPERM" in outcome.stdout
    assert "umount2 bad flags: -1 EINVAL" in outcome.stdout


def test_a_file_bound_on_a_file_as_native(image: Path) -> None:
    outcome = same(image, "/bin/file_binds")
    assert outcome.stdout.splitlines() == [
        "bind a on b: 0", "/tmp/b: file a", "/tmp/a: file a", "more", "unlink b: -1 EBUSY", "rename b: -1 EBUSY",
        "bind a on a dir: -1 ENOTDIR", "bind dir on b: -1 ENOTDIR", "tmpfs on a file: -1 ENOTDIR", "umount b: 0",
        "/tmp/b: file b", "umount b again: -1 EINVAL"]
