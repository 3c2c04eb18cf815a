"""Confinement pieces run in child processes: the seccomp filter and Landlock (non-root)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gofer.confine import landlock_abi

PROJECT = Path(__file__).resolve().parents[2]


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True,
                          timeout=30, env={**os.environ, "PYTHONPATH": str(PROJECT)})


def test_the_seccomp_filter_refuses_escapes_and_allows_file_work() -> None:
    result = run_child("""
import os, socket, errno, threading
from gofer.confine import install_seccomp
install_seccomp()
def refused(fn, *args):
    try:
        fn(*args)
    except OSError as e:
        return e.errno
print(refused(os.execv, "/bin/true", ["true"]), refused(os.kill, 1, 0),
      refused(socket.socket), refused(os.unshare, os.CLONE_NEWUSER) if hasattr(os, "unshare") else 1,
      refused(os.chroot, "/"))
t = threading.Thread(target=lambda: None); t.start(); t.join()   # clone3 -> ENOSYS -> clone
a, b = socket.socketpair(); print(len(os.listdir("/")) > 0)
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1"] * 5 + ["True"]  # EPERM each, then file work works


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
