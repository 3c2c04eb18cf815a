"""Differential tests of memory across fork: the programs in ``programs/`` are compiled once
(gcc -static -pthread, and musl-gcc -static as ``NAME.musl``) into an image cached under the
system temp dir by a hash of the sources, and run natively and under Sentrio."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.differential.harness import cached_build

PROGRAMS = Path(__file__).parent / "programs"


def _build(root: Path) -> None:
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(mode=0o1777, exist_ok=True)  # a mount point for the sandbox's /tmp
    for source in sorted(PROGRAMS.glob("*.c")):
        out = root / "bin" / source.stem
        subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(out), str(source)], check=True)
        if shutil.which("musl-gcc"):
            subprocess.run(["musl-gcc", "-static", "-O1", "-o", f"{out}.musl", str(source)], check=True)


@pytest.fixture(scope="session")
def image() -> Path:
    return cached_build("memory", PROGRAMS.glob("*.c"), _build, b"with /tmp")
