"""Cache tests: programs built once, run natively under chroot and under Sentrio on fresh images."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).parent / "programs"


def sentrio(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
    """``python -m kernel run ARGS`` with the worktree's packages, strict (actor crashes raise)."""
    env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "kernel", "run", *args], stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)


@pytest.fixture(scope="session")
def binaries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("Sentrio runs guests under ptrace as root; chroot needs root too")
    out = tmp_path_factory.mktemp("cache-programs")
    for source in PROGRAMS.glob("*.c"):
        subprocess.run(["gcc", "-static", "-O1", "-w", "-o", str(out / source.stem), str(source)], check=True)
    return out


@pytest.fixture
def image(tmp_path: Path, binaries: Path) -> Path:
    """A small image: the programs and busybox in /bin, a tree in /data/tree with a
    subdirectory, a hard link and a symlink."""
    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    for program in binaries.iterdir():
        shutil.copy2(program, root / "bin" / program.name)
    busybox = shutil.which("busybox")
    assert busybox is not None, "busybox is installed by scripts/ for the test suite"
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in ("sh", "cat", "ls", "md5sum", "find", "wc", "stat", "readlink", "echo", "mkdir"):
        (root / "bin" / applet).symlink_to("busybox")
    for name in ("tmp", "dev", "proc", "etc"):
        (root / name).mkdir()
    tree = root / "data" / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a").write_text("first\n")
    os.link(tree / "a", tree / "hard")
    (tree / "link").symlink_to("a")
    (tree / "sub" / "inner").write_text("inner\n")
    return root
