"""Socket tests: C programs run natively under chroot and under Sentrio, and the netstack's
state machines and actor driven directly.

The programs in ``programs/`` are compiled once per session (``gcc -static``; those in
:data:`MUSL_TOO` with musl-gcc as well, since musl asks the kernel in its own way). Every run
gets a fresh copy of a small image holding them and an empty /tmp. Native runs share the
host's loopback interface, so the programs bind port 0 and never a fixed port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]
#: Programs also built with musl (its getifaddrs and resolver code differ from glibc's).
MUSL_TOO = ("ifaddrs",)


@dataclass
class Result:
    stdout: str
    stderr: str
    status: int


class Images:
    """Fresh image copies from the session's template."""

    def __init__(self, template: Path, scratch: Path) -> None:
        self.template = template
        self.scratch = scratch
        self.count = 0

    def fresh(self) -> Path:
        self.count += 1
        root = self.scratch / f"image{self.count}"
        shutil.copytree(self.template, root, symlinks=True)
        return root


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    if os.geteuid() != 0:
        pytest.skip("Sentrio runs guests under ptrace as root; chroot needs root too")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the test programs")
    template = tmp_path_factory.mktemp("net-template") / "root"
    (template / "bin").mkdir(parents=True)
    (template / "tmp").mkdir(mode=0o1777)
    (template / "tmp").chmod(0o1777)
    (template / "etc").mkdir()
    (template / "srv").mkdir()  # a directory of the image itself (overlay, or the gofer's with --rw)
    jobs = []
    for source in sorted(PROGRAMS.glob("*.c")):
        jobs.append(["gcc", "-static", "-O1", "-w", "-I", str(PROGRAMS), "-o", str(template / "bin" / source.stem),
                     str(source)])
        if source.stem in MUSL_TOO and shutil.which("musl-gcc"):
            jobs.append(["musl-gcc", "-static", "-O1", "-w", "-I", str(PROGRAMS), "-o",
                         str(template / "bin" / f"{source.stem}-musl"), str(source)])
    processes = [subprocess.Popen(job, stderr=subprocess.PIPE, text=True) for job in jobs]
    for job, process in zip(jobs, processes, strict=True):
        _, errors = process.communicate()
        if process.returncode:
            raise RuntimeError(f"{' '.join(job)} failed:\n{errors}")
    return Images(template, tmp_path_factory.mktemp("net-images"))


class Batch:
    """Runs started a few at a time (each is mostly start-up latency), collected by key."""

    LIMIT = 4

    def __init__(self) -> None:
        self._queue: list[tuple[object, list[str], dict[str, str] | None]] = []
        self._running: dict[object, subprocess.Popen[str]] = {}
        self._done: dict[object, Result] = {}

    def start(self, key: object, command: list[str], env: dict[str, str] | None = None) -> None:
        self._queue.append((key, command, env))
        self._pump()

    def _pump(self) -> None:
        while self._queue and len(self._running) < self.LIMIT:
            key, command, env = self._queue.pop(0)
            self._running[key] = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)

    def _finish(self, key: object) -> None:
        process = self._running.pop(key)
        try:
            stdout, stderr = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            stderr += "\n(timed out)"
        self._done[key] = Result(stdout, stderr, process.returncode)
        self._pump()

    def native(self, key: object, root: Path, *argv: str, user: str | None = None) -> None:
        """Run natively under chroot (as ``user``, "UID:GID", if given)."""
        userspec = [f"--userspec={user}"] if user else []
        self.start(key, [shutil.which("chroot") or "chroot", *userspec, str(root), *argv], {"PATH": "/bin"})

    def sentrio(self, key: object, root: Path, *argv: str, flags: tuple[str, ...] = ()) -> None:
        env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
        self.start(key, [sys.executable, "-m", "kernel", "run", *flags, str(root), "--", *argv], env)

    def result(self, key: object) -> Result:
        while key not in self._done:
            self._finish(key if key in self._running else next(iter(self._running)))
        return self._done[key]

    def close(self) -> None:
        for process in self._running.values():
            process.kill()
            process.communicate()
        self._running.clear()
