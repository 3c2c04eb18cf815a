"""Differential tests of the system calls of issue 15 (CLONE_PIDFD, …): each program of
``programs/`` natively under ``chroot`` and under Sentrio, compared by ``tests.compat``'s
``same``; the image is built as that suite's, from this folder's sources."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.differential.harness import cached_build

PROGRAMS = Path(__file__).parent / "programs"


def _build(root: Path) -> None:
    for directory in ("bin", "tmp", "etc"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    root.chmod(0o755)
    for source in sorted(PROGRAMS.glob("*.c")):
        subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(root / "bin" / source.stem), str(source)],
                       check=True)


@pytest.fixture(scope="session")
def image() -> Path:
    return cached_build("calls", sorted(PROGRAMS.glob("*.[ch]")), _build, b"recipe 1")
