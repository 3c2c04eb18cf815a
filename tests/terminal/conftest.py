"""Differential tests of pseudo-terminals: each program of ``programs/`` (gcc -static, and
musl-gcc -static as ``NAME.musl``) natively under ``chroot`` with a devpts of its own mounted
as docker mounts it (``newinstance,gid=5,mode=620,ptmxmode=666``, /dev/ptmx bound to its ptmx,
and the host's /dev/tty, in a private mount namespace), and under Sentrio, whose devpts is the Sentry's own."""

from __future__ import annotations

import concurrent.futures
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.differential.harness import as_container_root, cached_build, fresh_signal_state
from tests.processes.conftest import Outcome, sentrio

PROGRAMS = Path(__file__).parent / "programs"


def _build(root: Path) -> None:
    for directory in ("bin", "tmp", "dev/pts"):
        (root / directory).mkdir(parents=True)
    (root / "dev" / "ptmx").touch()
    (root / "dev" / "tty").touch()
    for source in sorted(PROGRAMS.glob("*.c")):
        out = root / "bin" / source.stem
        subprocess.run(["gcc", "-static", "-O1", "-w", "-o", str(out), str(source)], check=True)
        if shutil.which("musl-gcc"):
            subprocess.run(["musl-gcc", "-static", "-O1", "-w", "-o", f"{out}.musl", str(source)], check=True)


@pytest.fixture(scope="session")
def image() -> Path:
    return cached_build("terminal", PROGRAMS.glob("*.c"), _build, recipe=b"bin tmp dev/pts dev/ptmx dev/tty")


def native(image: Path, *argv: str, timeout: float = 60) -> Outcome:
    chroot = " ".join(shlex.quote(word) for word in [*as_container_root(), "chroot", str(image), *argv])
    dev = image / "dev"
    pts, ptmx, tty = (shlex.quote(str(dev / name)) for name in ("pts", "ptmx", "tty"))
    script = (f"mount -t devpts -o newinstance,gid=5,mode=620,ptmxmode=666 devpts {pts} "
              f"&& mount --bind {pts}/ptmx {ptmx} && mount --bind /dev/tty {tty} && exec {chroot}")
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            capture_output=True, text=True, timeout=timeout, preexec_fn=fresh_signal_state,
                            stdin=subprocess.DEVNULL)
    status = result.returncode
    return Outcome(result.stdout, result.stderr, 128 - status if status < 0 else status)


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
