"""Extended attributes, native vs Sentrio (``programs/xattrs.c``): the four calls in their path,
l*, f* and *xattrat forms, XATTR_CREATE/XATTR_REPLACE, size probing and ERANGE, the name and
size limits, and who may touch which namespace (user.* only of regular files and directories,
trusted.* with CAP_SYS_ADMIN, security.* changes with CAP_SYS_ADMIN or, for file capabilities,
CAP_SETFCAP). Natively the files are on the host's ext4; under Sentrio on its tmpfs (/tmp) and
its overlay (/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import ALL_CAPS, USER, needs_root, same

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
