"""Differential tests of mount(2) and umount2(2): each program of ``programs/`` (gcc -static)
natively under ``chroot`` as a container's root given CAP_SYS_ADMIN, in a mount namespace of its
own (``unshare --mount``, so the host's mounts are untouched) with its own /proc, and under
Sentrio with ``--cap-add SYS_ADMIN``."""

from __future__ import annotations

import concurrent.futures
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.differential.harness import as_container_root, cached_build, fresh_signal_state
from tests.processes.conftest import Outcome, needs_root

__all__ = ["needs_root"]

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]


def _build(root: Path) -> None:
    for directory in ("bin", "tmp", "proc", "data/sub", "mnt/t", "mnt/b", "mnt/t2", "mnt/b2", "mnt/m", "mnt/p"):
        (root / directory).mkdir(parents=True)
    (root / "data" / "file").write_text("from the image")
    for source in sorted(PROGRAMS.glob("*.c")):
        subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / source.stem), str(source)], check=True)


@pytest.fixture(scope="session")
def image() -> Path:
    return cached_build("mounts", PROGRAMS.glob("*.c"), _build)


def native(image: Path, *argv: str, admin: bool = True, timeout: float = 60) -> Outcome:
    """As the container's root (with CAP_SYS_ADMIN added if ``admin``), in a private mount
    namespace, on a copy of ``image`` (what the program writes where a mount failed must not
    reach the next run, as under Sentrio's overlay it does not)."""
    prefix = as_container_root()
    if admin:
        prefix[1] += ",+sys_admin"
    with tempfile.TemporaryDirectory(prefix="sentrio-mounts-native-") as scratch:
        copy = Path(scratch) / "image"
        shutil.copytree(image, copy, symlinks=True)
        chroot = " ".join(shlex.quote(word) for word in [*prefix, "chroot", str(copy), *argv])
        script = f"mount -t proc proc {shlex.quote(str(copy / 'proc'))} && exec {chroot}"
        result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                capture_output=True, text=True, timeout=timeout, preexec_fn=fresh_signal_state)
    status = result.returncode
    return Outcome(result.stdout, result.stderr, 128 - status if status < 0 else status)


def sentrio(image: Path, *argv: str, admin: bool = True, timeout: float = 120) -> Outcome:
    env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
    flags = ["--cap-add", "SYS_ADMIN"] if admin else []
    result = subprocess.run([sys.executable, "-m", "kernel", "run", *flags, str(image), "--", *argv],
                            capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    return Outcome(result.stdout, result.stderr, result.returncode)


def same(image: Path, *argv: str, admin: bool = True) -> Outcome:
    """Run natively and under Sentrio at once; assert both agree; the native outcome."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        mine, theirs = pool.map(lambda run: run(image, *argv, admin=admin), (native, sentrio))
    assert (theirs.stdout, theirs.stderr, theirs.status) == (mine.stdout, mine.stderr, mine.status), \
        f"native:\n{mine.stdout}{mine.stderr}\nsentrio:\n{theirs.stdout}{theirs.stderr}"
    return mine
