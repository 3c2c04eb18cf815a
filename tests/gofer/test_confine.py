"""Confinement pieces run in child processes: the seccomp allowlist and Landlock (non-root)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gofer.confine import landlock_abi

PROJECT = Path(__file__).resolve().parents[2]


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True,
                          timeout=30, env={**os.environ, "PYTHONPATH": str(PROJECT)})


def test_the_allowlist_lets_file_work_and_the_serving_loop_run() -> None:
    result = run_child("""
import os, select, socket
a, b = socket.socketpair()   # made before confinement, as the gofer's are
from gofer.confine import install_seccomp
install_seccomp(writable=True)
fd = os.open("/", os.O_PATH | os.O_DIRECTORY)
print(len(os.listdir("/")) > 0, os.fstat(fd).st_ino == os.stat("/").st_ino)
a.send(b"request")
ready = select.poll(); ready.register(b.fileno(), select.POLLIN)
print([fd for fd, _ in ready.poll()] == [b.fileno()], b.recv(100).decode())
a.close(); b.close()
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "request"]


@pytest.mark.parametrize(("name", "code"), [
    ("execve", 'os.execv("/bin/true", ["true"])'),
    ("kill", "os.kill(1, 0)"),
    ("socket", "socket.socket()"),
    ("unshare", "os.unshare(os.CLONE_NEWUSER) if hasattr(os, 'unshare') else ctypes.CDLL(None).unshare(0x10000000)"),
    ("chroot", 'os.chroot("/")'),
    ("ptrace", "ctypes.CDLL(None).ptrace(16, 1, 0, 0)"),
    ("mkdir", 'os.mkdir("/nonexistent-gofer-dir")'),  # a read-only gofer changes nothing
    # executable memory: the mapping must fail, not "succeed" at address 9 (the OSError is
    # swallowed: a traceback written beside the report could split its line)
    ("mmap", "import mmap\n"
             "try:\n"
             "    mmap.mmap(-1, 4096, prot=7)\n"
             "except OSError:\n"
             "    pass"),
])
def test_a_call_outside_the_allowlist_is_named_and_ends_the_gofer(name: str, code: str) -> None:
    result = run_child(f"""
import ctypes, os, socket
from gofer.confine import install_seccomp
install_seccomp(writable=False)
{code}
print("still running")
""")
    assert result.returncode == -signal.SIGSYS, (result.returncode, result.stderr)
    assert f"host system call {name} (" in result.stderr
    assert "still running" not in result.stdout


def test_the_gofer_cannot_start_a_thread() -> None:
    """It has one thread, so clone is not on its list. glibc blocks every signal while it
    creates a thread, so the trap's report cannot run: the kernel ends the process with SIGSYS."""
    result = run_child("""
import threading
from gofer.confine import install_seccomp
install_seccomp(writable=False)
try:
    threading.Thread(target=lambda: None).start()
except RuntimeError:
    pass
print("still running")
""")
    assert result.returncode == -signal.SIGSYS, (result.returncode, result.stderr)
    assert "still running" not in result.stdout


@pytest.mark.skipif(landlock_abi() < 1, reason="Landlock is not available")
def test_landlock_confines_the_gofer_to_its_root(tree: Path) -> None:
    # The unprivileged path of confine(); Landlock binds root as well, so it is tested as is.
    result = run_child(f"""
import os
from gofer.confine import landlock_confine
root = {str(tree)!r}
landlock_confine(root, writable=False)
print(open(os.path.join(root, "hello.txt")).read().strip())
for path in ({str(tree.parent / "outside" / "secret")!r}, "/etc/hostname"):
    try:
        open(path).read(); print("LEAK", path)
    except PermissionError:
        print("denied")
try:
    open(os.path.join(root, "new"), "w"); print("LEAK write")
except PermissionError:
    print("denied")
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:4] == ["hello, gofer", "denied", "denied", "denied"]
