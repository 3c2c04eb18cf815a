"""Differential tests for processes, threads, futexes and signals.

Each program in ``programs/`` is compiled once (gcc -static -pthread, and musl-gcc -static as
``NAME.musl``) into an image cached under the system temp dir by a hash of the sources; a test
runs it natively with ``chroot IMAGE`` and under Sentrio, and compares stdout, stderr and exit
status.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.differential.harness import as_container_root, cached_build, fresh_signal_state

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]


#: Files the programs expect beside them: (path, mode, contents).
EXTRA_FILES = [
    ("bin/script", 0o755, b"#!/bin/exec_target  -x \n"),
    ("bin/notelf", 0o755, b"\x7fELF but not really an executable file\n"),
    ("bin/noexec", 0o644, b"#!/bin/exec_target\n"),
]


def _build(root: Path) -> None:
    for directory in ("bin", "tmp", "etc"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for name, mode, contents in EXTRA_FILES:
        (root / name).write_bytes(contents)
        (root / name).chmod(mode)
    for source in sorted(PROGRAMS.glob("*.c")):
        out = root / "bin" / source.stem
        subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(out), str(source)], check=True)
        if shutil.which("musl-gcc"):
            subprocess.run(["musl-gcc", "-static", "-O1", "-o", f"{out}.musl", str(source)], check=True)


@pytest.fixture(scope="session")
def image() -> Path:
    return cached_build("procs", PROGRAMS.glob("*.c"), _build, repr(EXTRA_FILES).encode())


@dataclass
class Outcome:
    stdout: str
    stderr: str
    status: int


def native(image: Path, *argv: str, timeout: float = 60) -> Outcome:
    result = subprocess.run([*as_container_root(), "chroot", str(image), *argv], capture_output=True, text=True,
                            timeout=timeout,
                            preexec_fn=fresh_signal_state)
    status = result.returncode
    return Outcome(result.stdout, result.stderr, 128 - status if status < 0 else status)  # as a shell says it


def sentrio(image: Path, *argv: str, timeout: float = 60, options: tuple[str, ...] = ()) -> Outcome:
    env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-m", "kernel", "run", *options, str(image), "--", *argv],
                            capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    return Outcome(result.stdout, result.stderr, result.returncode)


def same(image: Path, *argv: str) -> Outcome:
    """Run natively and under Sentrio (at the same time); assert both agree; returns the
    native outcome."""
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
