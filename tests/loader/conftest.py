"""Real executables for the loader tests, compiled once per session with the host's gcc."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


class Compiler:
    """Compiles small C programs into a session directory, caching by (source, flags)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._built: dict[tuple[str, tuple[str, ...]], Path] = {}

    def __call__(self, source: str, *flags: str) -> Path:
        key = (source, flags)
        if key not in self._built:
            stem = f"prog{len(self._built)}"
            src = self.directory / f"{stem}.c"
            src.write_text(source)
            out = self.directory / stem
            subprocess.run(["gcc", "-O1", *flags, "-o", str(out), str(src)], check=True)
            self._built[key] = out
        return self._built[key]


@pytest.fixture(scope="session")
def compile_c(tmp_path_factory: pytest.TempPathFactory) -> Compiler:
    if shutil.which("gcc") is None or shutil.which("readelf") is None:
        pytest.skip("gcc and readelf are needed to build test executables")
    return Compiler(tmp_path_factory.mktemp("elf"))
