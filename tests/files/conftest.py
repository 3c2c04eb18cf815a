"""Differential file tests: C programs run natively under chroot and under Sentrio.

The programs in ``programs/`` are compiled once per session (``gcc -static``; ``dynamic.c``
without -static). Each run gets a fresh copy of a small image: the programs in /bin, a marker
file at the root, /data/existing, an empty /tmp; the native copy also gets /dev's device nodes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]
#: busybox applets the shell tests use, linked in /bin.
BUSYBOX_APPLETS = ("sh", "cat", "wc", "tr", "head", "yes", "ls", "mkfifo", "sort", "echo")
#: musl's dynamic loader, which also serves as its libc.
MUSL_LOADER = "/lib/ld-musl-x86_64.so.1"


@dataclass
class Result:
    stdout: str
    stderr: str
    status: int


def build_template(root: Path, binaries: Path) -> None:
    """The image every run starts from."""
    (root / "bin").mkdir(parents=True)
    for program in binaries.iterdir():
        shutil.copy2(program, root / "bin" / program.name)
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp").chmod(0o1777)
    (root / "etc").mkdir()
    (root / "dev").mkdir()  # devfs covers it in the sandbox; the native copy gets device nodes
    (root / "data").mkdir()
    (root / "data" / "existing").write_text("from the image\n")
    (root / "MARKER").write_text("image root\n")
    if (binaries / "dynamic-musl").exists() and os.path.exists(MUSL_LOADER):
        (root / "lib").mkdir(exist_ok=True)
        shutil.copy2(MUSL_LOADER, root / MUSL_LOADER.lstrip("/"))
    if shutil.which("busybox"):
        shutil.copy2(shutil.which("busybox"), root / "bin" / "busybox")  # type: ignore[arg-type]
        for applet in BUSYBOX_APPLETS:  # natively (no /proc/self/exe) sh finds applets only so
            (root / "bin" / applet).symlink_to("busybox")
    dynamic = binaries / "dynamic"
    if dynamic.exists():
        for library in _shared_libraries(dynamic):
            target = root / library.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(library), target)


def _shared_libraries(program: Path) -> list[str]:
    """The loader and libraries ``ldd`` names for ``program``."""
    out = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=True).stdout
    paths = []
    for line in out.splitlines():
        words = line.split()
        for word in words:
            if word.startswith("/"):
                paths.append(word)
    return paths


class Images:
    """Fresh image copies from the session's template."""

    def __init__(self, template: Path, scratch: Path) -> None:
        self.template = template
        self.scratch = scratch
        self.count = 0

    def fresh(self, native: bool = False) -> Path:
        self.count += 1
        root = self.scratch / f"image{self.count}"
        shutil.copytree(self.template, root, symlinks=True)
        if native:
            dev = root / "dev"
            for name, minor in (("null", 3), ("zero", 5), ("full", 7), ("urandom", 9)):
                os.mknod(dev / name, 0o20666, os.makedev(1, minor))
                (dev / name).chmod(0o666)
        return root


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    if os.geteuid() != 0:
        pytest.skip("Sentrio runs guests under ptrace as root; chroot needs root too")
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the test programs")
    binaries = tmp_path_factory.mktemp("file-programs")
    for source in PROGRAMS.glob("*.c"):
        flags = [] if source.stem == "dynamic" else ["-static"]
        output = binaries / source.stem
        subprocess.run(["gcc", *flags, "-O1", "-w", "-I", str(PROGRAMS), "-o", str(output), str(source)], check=True)
    if shutil.which("musl-gcc") and os.path.exists(MUSL_LOADER):
        subprocess.run(["musl-gcc", "-O1", "-w", "-o", str(binaries / "dynamic-musl"), str(PROGRAMS / "dynamic.c")],
                       check=True)
    template = tmp_path_factory.mktemp("file-template") / "root"
    build_template(template, binaries)
    return Images(template, tmp_path_factory.mktemp("file-images"))


class Batch:
    """Runs started a few at a time (each is mostly start-up latency), collected by key.

    At most :attr:`LIMIT` run at once, so a module's runs overlap without flooding a shared
    machine.
    """

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
        stdout, stderr = process.communicate(timeout=120)
        self._done[key] = Result(stdout, stderr, process.returncode)
        self._pump()

    def native(self, key: object, root: Path, *argv: str) -> None:
        self.start(key, ["chroot", str(root), *argv])

    def sentrio(self, key: object, root: Path, *argv: str, flags: tuple[str, ...] = ()) -> None:
        env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
        self.start(key, [sys.executable, "-m", "kernel", "run", *flags, str(root), "--", *argv], env)

    def result(self, key: object) -> Result:
        while key not in self._done:
            self._finish(key if key in self._running else next(iter(self._running)))
        return self._done[key]


def run_native(root: Path, *argv: str) -> Result:
    done = subprocess.run(["chroot", str(root), *argv], capture_output=True, text=True, timeout=60)
    return Result(done.stdout, done.stderr, done.returncode)


def run_sentrio(root: Path, *argv: str, flags: tuple[str, ...] = ()) -> Result:
    env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "kernel", "run", *flags, str(root), "--", *argv],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    return Result(done.stdout, done.stderr, done.returncode)


def tree_hash(root: Path) -> str:
    """A digest of every name, type, mode, owner, size, link target and content under ``root``."""
    digest = hashlib.sha256()
    for directory, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(dirs + files):
            path = Path(directory) / name
            st = path.lstat()
            digest.update(f"{path.relative_to(root)} {st.st_mode:o} {st.st_uid} {st.st_gid} {st.st_size} "
                          f"{st.st_mtime_ns}\n".encode())
            if path.is_symlink():
                digest.update(os.readlink(path).encode())
            elif path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()
