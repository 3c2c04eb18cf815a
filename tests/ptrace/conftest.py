"""Guest ptrace, differential: ``programs/tracer.c`` traces children natively under ``chroot``
and under Sentrio, and both must print the same (``programs/tiny.c``, built without a C library,
is a target whose system calls are exactly its own)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.differential.harness import cached_build

PROGRAMS = Path(__file__).parent / "programs"


def _build(root: Path) -> None:
    for directory in ("bin", "tmp"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    root.chmod(0o755)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "tracer"), str(PROGRAMS / "tracer.c")],
                   check=True)
    subprocess.run(["gcc", "-static", "-nostdlib", "-O1", "-o", str(root / "bin" / "tiny"), str(PROGRAMS / "tiny.c")],
                   check=True)


@pytest.fixture(scope="session")
def image() -> Path:
    return cached_build("ptrace", PROGRAMS.glob("*.c"), _build, b"recipe 1")
