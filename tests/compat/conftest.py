"""Differential tests of the Linux system-call surface: the same static program natively
under ``chroot`` and under Sentrio, stdout, stderr and exit status compared.

Each program of ``programs/`` is compiled once (gcc -static -pthread) into an image cached under
the system temp dir by a hash of the sources. A run may be as root (docker's capabilities, as
the other differential suites) or as uid:gid 1000:1000 (``-u 1000:1000`` under Sentrio,
``setpriv`` natively).
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.differential.harness import as_container_root, cached_build, fresh_signal_state

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]
USER = "1000:1000"
#: Root with every capability (natively: this machine's root, which only programs that cannot
#: change the host may be run as).
ALL_CAPS = "all"


def _build(root: Path) -> None:
    for directory in ("bin", "tmp", "etc"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    root.chmod(0o755)  # mkdtemp made it 0700: a user must be able to reach /bin
    for source in sorted(PROGRAMS.glob("*.c")):
        out = root / "bin" / source.stem
        subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(out), str(source)], check=True)


@pytest.fixture(scope="session")
def image() -> Path:
    return cached_build("compat", PROGRAMS.glob("*.c"), _build, b"recipe 2")


@dataclass
class Outcome:
    stdout: str
    stderr: str
    status: int


def native(image: Path, *argv: str, user: str | None = None, timeout: float = 60) -> Outcome:
    """Natively: as docker's root, as root with every capability (``user="all"``), or as ``user``
    (uid:gid, no capabilities, as a setuid drops them)."""
    if user is None:
        command = [*as_container_root(), "chroot", str(image)]
    elif user == ALL_CAPS:
        command = ["chroot", str(image)]
    else:
        command = ["chroot", f"--userspec={user}", str(image)]
    result = subprocess.run([*command, *argv], capture_output=True, text=True, timeout=timeout,
                            preexec_fn=fresh_signal_state)
    status = result.returncode
    return Outcome(result.stdout, result.stderr, 128 - status if status < 0 else status)  # as a shell says it


def sentrio(image: Path, *argv: str, user: str | None = None, timeout: float = 60,
            options: tuple[str, ...] = ()) -> Outcome:
    env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
    if user == ALL_CAPS:
        options = (*options, "--cap-add", "ALL")
    elif user is not None:
        options = (*options, "-u", user)
    result = subprocess.run([sys.executable, "-m", "kernel", "run", *options, str(image), "--", *argv],
                            capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)
    return Outcome(result.stdout, result.stderr, result.returncode)


def same(image: Path, *argv: str, user: str | None = None) -> Outcome:
    """Run natively and under Sentrio (at the same time); assert both agree; returns the
    native outcome."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        native_run = pool.submit(native, image, *argv, user=user)
        sentrio_run = pool.submit(sentrio, image, *argv, user=user)
        expected, got = native_run.result(), sentrio_run.result()
    assert got.stdout.splitlines() == expected.stdout.splitlines()
    assert got.stderr == expected.stderr
    assert got.status == expected.status
    return expected


def needs_root() -> pytest.MarkDecorator:
    return pytest.mark.skipif(os.geteuid() != 0, reason="chroot and ptrace need root")
