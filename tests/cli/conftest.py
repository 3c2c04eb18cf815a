"""Shared fixtures for the CLI tests: a small image with test programs, compiled once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="Sentrio runs guests under ptrace as root")


def sentrio(*args: str, runtime: Path | None = None, timeout: float = 60, env: dict[str, str] | None = None,
            **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``python -m kernel ARGS`` from this tree, output captured as text."""
    env = dict(os.environ if env is None else env, PYTHONPATH=str(REPO))
    if runtime is not None:
        env["SENTRIO_RUNTIME_DIR"] = str(runtime)
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "kernel", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env, **kwargs)  # type: ignore[call-overload]


def fields(output: str) -> dict[str, list[str]]:
    """showenv's "key value" lines: key -> every value, in order."""
    result: dict[str, list[str]] = {}
    for line in output.splitlines():
        key, _, value = line.partition(" ")
        result.setdefault(key, []).append(value)
    return result


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root directory with /bin/showenv, /usr/bin/sleeper, /etc/passwd and /etc/group."""
    root = tmp_path_factory.mktemp("cli-image")
    root.chmod(0o755)  # a non-root guest user must be able to walk it natively too
    for directory in ("bin", "usr/bin", "etc", "tmp", "home/alice", "work"):
        (root / directory).mkdir(parents=True)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "showenv"), str(PROGRAMS / "showenv.c")],
                   check=True)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "winsize"), str(PROGRAMS / "winsize.c")],
                   check=True)
    sleeper = REPO / "tests" / "integration" / "programs" / "sleeper.c"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "usr" / "bin" / "sleeper"), str(sleeper)], check=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1001:Alice:/home/alice:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nstaff:x:50:\nalice:x:1001:\n")
    (root / "bin" / "not-executable").write_text("#!/bin/sh\n")
    return root


@pytest.fixture(scope="session")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox image (``image build busybox``); skips without Debian's busybox-static."""
    from kernel.images.build import HOST_BUSYBOX, build_busybox

    if not HOST_BUSYBOX.is_file():
        pytest.skip("needs busybox-static (bash scripts/setup.sh)")
    root = tmp_path_factory.mktemp("busybox")
    build_busybox(root)
    return root
