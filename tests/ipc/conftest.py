"""Differential tests of System V IPC: each program of ``programs/`` (gcc -static, and
musl-gcc -static as ``NAME.musl``) natively in a fresh IPC namespace (``unshare --ipc``, so
the host's queues and sets neither show nor collide, and its own /proc in a private mount
namespace) under ``chroot``, and under Sentrio."""

from __future__ import annotations

import concurrent.futures
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.differential.harness import as_container_root, cached_build, fresh_signal_state
from tests.processes.conftest import Outcome

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]


def _build(root: Path) -> None:
    (root / "bin").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "proc").mkdir()
    for source in sorted(PROGRAMS.glob("*.c")):
        out = root / "bin" / source.stem
        subprocess.run(["gcc", "-static", "-O1", "-o", str(out), str(source)], check=True)
        if shutil.which("musl-gcc"):
            subprocess.run(["musl-gcc", "-static", "-O1", "-o", f"{out}.musl", str(source)], check=True)


@pytest.fixture(scope="session")
def image() -> Path:
    return cached_build("ipc", PROGRAMS.glob("*.c"), _build)


def native(image: Path, *argv: str, timeout: float = 60) -> Outcome:
    """Run in a fresh IPC namespace, with its own /proc mounted in the image for /proc/sysvipc."""
    chroot = " ".join(shlex.quote(word) for word in [*as_container_root(), "chroot", str(image), *argv])
    script = f"mount -t proc proc {shlex.quote(str(image / 'proc'))} && exec {chroot}"
    result = subprocess.run(["unshare", "--ipc", "--mount", "--propagation", "private", "sh", "-c", script],
                            capture_output=True, text=True, timeout=timeout, preexec_fn=fresh_signal_state)
    status = result.returncode
    return Outcome(result.stdout, result.stderr, 128 - status if status < 0 else status)


def sentrio(image: Path, *argv: str, timeout: float = 120) -> Outcome:
    env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "kernel", "run", str(image), "--", *argv],
                            capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    return Outcome(result.stdout, result.stderr, result.returncode)


def same(image: Path, *argv: str) -> Outcome:
    """Run natively and under Sentrio at once; assert both agree; the native outcome."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        native_run = pool.submit(native, image, *argv)
        sentrio_run = pool.submit(sentrio, image, *argv)
        expected, got = native_run.result(), sentrio_run.result()
    assert got.stdout.splitlines() == expected.stdout.splitlines()
    assert got.stderr == expected.stderr
    assert got.status == expected.status
    return expected


def needs_root() -> pytest.MarkDecorator:
    return pytest.mark.skipif(os.geteuid() != 0, reason="chroot and ptrace need root")
