"""Extended attributes, native vs Sentrio (``programs/xattrs.c``): the four calls in their path,
l*, f* and *xattrat forms, XATTR_CREATE/XATTR_REPLACE, size probing and ERANGE, the name and
size limits, and who may touch which namespace (user.* only of regular files and directories,
trusted.* with CAP_SYS_ADMIN, security.* changes with CAP_SYS_ADMIN or, for file capabilities,
CAP_SETFCAP). Natively the files are on the host's ext4; under Sentrio on its tmpfs (/tmp) and
its overlay (/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import ALL_CAPS, USER, needs_root, same, sentrio

pytestmark = needs_root()


@pytest.mark.parametrize("user", [None, USER])
def test_user_namespace_and_errors(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/xattrs", "basics", "/tmp", user=user)
    assert "get size 0: 5" in outcome.stdout
    assert "get into 2 bytes: -1 ERANGE" in outcome.stdout
    assert "create existing: -1 EEXIST" in outcome.stdout
    assert "replace missing: -1 ENODATA" in outcome.stdout
    assert "256-byte name: -1 ERANGE" in outcome.stdout
    assert "value past XATTR_SIZE_MAX: -1 E2BIG" in outcome.stdout
    assert "lsetxattr user on a symlink: -1 EPERM" in outcome.stdout
    assert "set user on a FIFO: -1 EPERM" in outcome.stdout
    assert "fgetxattr O_PATH: -1 EBADF" in outcome.stdout
    assert "set trusted: -1 EPERM" in outcome.stdout
    assert "list: 25 [user.a user.b user.empty]" in outcome.stdout
    if user is None:  # docker's root: CAP_SETFCAP and CAP_DAC_OVERRIDE, no CAP_SYS_ADMIN
        assert "security.capability: 0" in outcome.stdout
        assert "set security.other: -1 EPERM" in outcome.stdout
        assert "set on a read-only file: 0" in outcome.stdout
    else:
        assert "security.capability: -1 EPERM" in outcome.stdout
        assert "set on a read-only file: -1 EACCES" in outcome.stdout
        assert "get of an unreadable file: -1 EACCES" in outcome.stdout


def test_sticky_directory_needs_its_owner(image: Path) -> None:
    outcome = same(image, "/bin/xattrs", "sticky", "/tmp", user=USER)
    assert "set user on the sticky directory: -1 EPERM" in outcome.stdout


def test_trusted_and_security_with_every_capability(image: Path) -> None:
    outcome = same(image, "/bin/xattrs", "trusted", "/tmp", user=ALL_CAPS)
    assert "list: 32 [security.other trusted.t user.u]" in outcome.stdout


@pytest.mark.parametrize("user", [None, USER])
def test_xattrat_calls(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/xattrs", "at", "/tmp", user=user)
    assert "setxattrat short args: -1 EINVAL" in outcome.stdout
    assert "setxattrat args with non-zero tail: -1 E2BIG" in outcome.stdout
    assert "getxattrat with flags: -1 EINVAL" in outcome.stdout
    assert "listxattrat: 15 [user.at user.x]" in outcome.stdout


@pytest.mark.parametrize("directory", ["/tmp", "/"])
def test_attributes_survive_rename_write_and_link(image: Path, directory: str) -> None:
    outcome = same(image, "/bin/xattrs", "keep", directory)
    assert "value: kept" in outcome.stdout
    assert "get through the other name: 4" in outcome.stdout


# --- through the gofer: the image's own attributes, --rw and volumes ------------------------------


def _own_image(image: Path, tmp_path: Path) -> Path:
    """A writable image of our own holding the program and a file with a user.* attribute."""
    import os
    import shutil

    root = tmp_path / "image"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(image / "bin" / "xattrs", root / "bin" / "xattrs")
    (root / "file").write_text("data\n")
    os.setxattr(root / "file", "user.origin", b"image")
    return root


def test_image_attributes_show_under_the_overlay_which_never_writes_them(image: Path, tmp_path: Path) -> None:
    import os

    root = _own_image(image, tmp_path)
    assert sentrio(root, "/bin/xattrs", "get", "/file", "user.origin").stdout == "image\n"
    outcome = sentrio(root, "/bin/xattrs", "set", "/file", "user.new", "v")
    assert outcome.stdout == "set: 0\n"
    assert os.listxattr(root / "file") == ["user.origin"]


def test_rw_writes_user_attributes_through_and_keeps_the_others_in_the_sentry(image: Path, tmp_path: Path) -> None:
    import os

    root = _own_image(image, tmp_path)
    assert sentrio(root, "/bin/xattrs", "set", "/file", "user.new", "v", options=("--rw",)).stdout == "set: 0\n"
    assert os.getxattr(root / "file", "user.new") == b"v"
    listed = sentrio(root, "/bin/xattrs", "list", "/file", options=("--rw",)).stdout
    assert listed == "list: 21 [user.new user.origin]\n"
    outcome = sentrio(root, "/bin/xattrs", "set", "/file", "trusted.t", "v", user=ALL_CAPS, options=("--rw",))
    assert outcome.stdout == "set: 0\n"
    assert "trusted.t" not in os.listxattr(root / "file")  # the gofer passes user.* only
    assert sentrio(root, "/bin/xattrs", "remove", "/file", "user.new", options=("--rw",)).stdout == "remove: 0\n"
    assert os.listxattr(root / "file") == ["user.origin"]


def test_volume_attributes_reach_the_host(image: Path, tmp_path: Path) -> None:
    import os

    root = _own_image(image, tmp_path)
    volume = tmp_path / "volume"
    volume.mkdir()
    outcome = sentrio(root, "/bin/xattrs", "set", "/vol", "user.d", "dir", options=("-v", f"{volume}:/vol"))
    assert outcome.stdout == "set: 0\n"
    assert os.getxattr(volume, "user.d") == b"dir"
    outcome = sentrio(root, "/bin/xattrs", "get", "/vol", "user.d", options=("-v", f"{volume}:/vol:ro"))
    assert outcome.stdout == "dir\n"
