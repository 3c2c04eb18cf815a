"""Differential tests of a hostile guest: each program in ``programs/`` runs natively under
``chroot`` and under Sentrio, and both must answer alike (issue 18).

Programs are compiled once (gcc -static -pthread) into an image cached under the system temp
dir by a hash of the sources. ``same()`` runs both sides at once and compares stdout, stderr and
the exit status as a shell reports it.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.differential.harness import cached_build, fresh_signal_state

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chroot and ptrace need root")


def _build(root: Path) -> None:
    root.chmod(0o755)  # mkdtemp's 0700 would shut out the unprivileged runs
    for directory in ("bin", "tmp", "etc"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    for source in sorted(PROGRAMS.glob("*.c")):
        subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(root / "bin" / source.stem), str(source)],
                       check=True)


@pytest.fixture(scope="session")
def image() -> Path:
    root = cached_build("robust", PROGRAMS.glob("*"), _build)
    root.chmod(0o755)
    return root


@dataclass
class Outcome:
    stdout: str
    stderr: str
    status: int


def _status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode  # as a shell says it


def native(image: Path, *argv: str, user: str | None = None, timeout: float = 60,
           preexec: Callable[[], None] | None = None) -> Outcome:
    """``argv`` under ``chroot IMAGE`` (as ``user``, "UID:GID", if given)."""
    def prepare() -> None:
        fresh_signal_state()
        if preexec is not None:
            preexec()

    command = ["chroot", *([f"--userspec={user}"] if user else []), str(image), *argv]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, preexec_fn=prepare)
    return Outcome(result.stdout, result.stderr, _status(result.returncode))


def sentrio(image: Path, *argv: str, user: str | None = None, timeout: float = 120,
            options: Sequence[str] = (), preexec: Callable[[], None] | None = None,
            strict: bool = True) -> Outcome:
    """``argv`` under ``python -m kernel run`` (strict: a Sentry bug fails loudly)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if strict:
        env["SENTRIO_STRICT"] = "1"
    command = [sys.executable, "-m", "kernel", "run", *(["-u", user] if user else []), *options, str(image),
               "--", *argv]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env,
                            preexec_fn=preexec)
    return Outcome(result.stdout, result.stderr, result.returncode)


def same(image: Path, *argv: str, user: str | None = None, options: Sequence[str] = (),
         preexec: Callable[[], None] | None = None, timeout: float = 120) -> Outcome:
    """Run natively and under Sentrio at once; assert both agree; returns the native outcome."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        native_run = pool.submit(native, image, *argv, user=user, preexec=preexec, timeout=timeout)
        sentrio_run = pool.submit(sentrio, image, *argv, user=user, options=options, preexec=preexec,
                                  timeout=timeout)
        expected, got = native_run.result(), sentrio_run.result()
    assert "Traceback" not in got.stderr, got.stderr
    assert got.stdout.splitlines() == expected.stdout.splitlines(), (expected.stdout, got.stdout, got.stderr)
    assert got.stderr == expected.stderr
    assert got.status == expected.status, (expected, got)
    return expected
