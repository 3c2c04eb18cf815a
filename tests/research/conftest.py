"""The research tools' tests: a busybox image with data files and our small C programs."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.images.build import build_busybox

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).parent / "programs"

#: /data/f: 200 KB of text, which busybox cat reads in four 64 KiB reads (the last at its end).
DATA = {"f": 270_000, "g": 4}
#: busybox cat copies a file with sendfile; with this rule it falls back to read(2).
NO_SENDFILE = "vfs.sendfile:fail=EINVAL:path=/data/*"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="Sentrio runs guests under ptrace as root")


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("research-image")
    build_busybox(root)
    data = root / "data"
    data.mkdir()
    rng = random.Random(16)
    for name, size in DATA.items():
        text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz\n") for _ in range(size))
        (data / name).write_text(text)
    for source in PROGRAMS.glob("*.c"):
        subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(root / "bin" / source.stem), str(source)],
                       check=True)
    return root


def sentrio(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m kernel ARGS...``, from the worktree."""
    return subprocess.run([sys.executable, "-m", "kernel", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
