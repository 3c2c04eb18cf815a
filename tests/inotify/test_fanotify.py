"""fanotify, native (docker's root, or a user) vs Sentrio: EPERM without CAP_SYS_ADMIN."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.compat.conftest import USER, needs_root, same
from tests.differential.harness import cached_build

PROGRAMS = Path(__file__).parent / "programs"


def _build(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    root.chmod(0o755)
    for source in sorted(PROGRAMS.glob("*.c")):
        subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / source.stem), str(source)], check=True)


@pytest.fixture(scope="module")
def image() -> Path:
    return cached_build("inotify", PROGRAMS.glob("*.c"), _build, b"with /tmp")


@needs_root()
@pytest.mark.parametrize("user", [None, USER])
def test_fanotify_needs_cap_sys_admin(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/fanotify", user=user)
    assert "fanotify_init notif: -1 EPERM" in outcome.stdout
    assert "fanotify_init content: -1 EPERM" in outcome.stdout
    assert "fanotify_mark closed fd: -1 EBADF" in outcome.stdout
    assert "fanotify_mark not fanotify: -1 EINVAL" in outcome.stdout
