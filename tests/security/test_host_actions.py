"""A compromised Sentry, or gofer, tries to reach the host: each attempt fails.

The plugins of :mod:`tests.security.plugins` make the confined process itself try, with its own
host system calls. An attempt fails in one of two ways: the call runs and the host refuses it
(``attempt ...: refused ERRNO``), or the seccomp filter refuses to run it, and the process logs
the call's name and dies of SIGSYS. Either way the test checks the host is untouched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from abi.errno import Errno
from services.gofer_proxy.connection import spawn_gofer
from tests.security.test_confinement import PROGRAMS, REPO, status

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="Sentrio runs guests under ptrace as root")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attempt-image")
    (root / "bin").mkdir()
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "napper"), str(PROGRAMS / "napper.c")],
                   check=True)
    return root


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A host process (root's) that nothing in a sandbox may touch."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def sentry_attempt(image: Path, action: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), SENTRIO_ATTEMPT=action, SENTRIO_RUNTIME_DIR=str(tmp_path / "run"))
    return subprocess.run([sys.executable, "-m", "kernel", "run", "--plugin", "tests.security.plugins:sentry_attempt",
                           str(image), "--", "/bin/napper", "0"], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=env, stdin=subprocess.DEVNULL)


def killed_for(result: subprocess.CompletedProcess[str], call: str) -> bool:
    """The Sentry died of SIGSYS after naming ``call`` as outside its allowlist."""
    return result.returncode == -signal.SIGSYS and f"host system call {call} (" in result.stderr


def test_the_sentry_cannot_open_a_host_file(image: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    for path in (str(secret), "/etc/hostname", "/proc/1/root/etc/hostname", f"/proc/{os.getpid()}/environ"):
        result = sentry_attempt(image, f"open:{path}", tmp_path)
        assert f"attempt open:{path}: refused ENOENT" in result.stderr, result.stderr
        assert "host secret" not in result.stderr


def test_the_sentry_sees_only_its_own_processes_in_proc(image: Path, tmp_path: Path,
                                                        victim: subprocess.Popen[bytes]) -> None:
    result = sentry_attempt(image, f"open:/proc/{victim.pid}/status", tmp_path)
    assert f"attempt open:/proc/{victim.pid}/status: refused ENOENT" in result.stderr, result.stderr


def test_the_sentry_cannot_connect_to_a_host_socket(image: Path, tmp_path: Path) -> None:
    path = tmp_path / "host.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        server.settimeout(0.1)
        result = sentry_attempt(image, f"connect:{path}", tmp_path)
        assert killed_for(result, "socket"), result.stderr
        with pytest.raises(TimeoutError):
            server.accept()


def test_the_sentry_cannot_kill_a_host_process(image: Path, tmp_path: Path, victim: subprocess.Popen[bytes]) -> None:
    result = sentry_attempt(image, f"kill:{victim.pid}", tmp_path)
    assert f"attempt kill:{victim.pid}: refused EPERM" in result.stderr, result.stderr
    assert victim.poll() is None


def test_the_sentry_cannot_run_a_host_program(image: Path, tmp_path: Path) -> None:
    result = sentry_attempt(image, "exec:/bin/true", tmp_path)
    assert killed_for(result, "execve"), result.stderr
    assert "ready" not in result.stdout


def test_the_sentry_cannot_trace_a_host_process(image: Path, tmp_path: Path, victim: subprocess.Popen[bytes]) -> None:
    result = sentry_attempt(image, f"ptrace:{victim.pid}", tmp_path)
    assert killed_for(result, "ptrace"), result.stderr
    assert status(victim.pid)["TracerPid"] == "0"


def test_a_sentry_killed_by_its_filter_leaves_no_stub_and_no_runtime_directory(image: Path, tmp_path: Path) -> None:
    result = sentry_attempt(image, "exec:/bin/true", tmp_path)
    assert killed_for(result, "execve")
    deadline = time.monotonic() + 10
    while os.listdir(tmp_path / "run") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.listdir(tmp_path / "run") == []


# --- the gofer ----------------------------------------------------------------------------------


async def gofer_attempt(root: Path, action: str, caplog: pytest.LogCaptureFixture) -> tuple[int, str]:
    """Start a gofer that attempts ``action`` once confined; its exit status and what it logged."""
    os.environ["SENTRIO_GOFER_ATTEMPT"] = action
    try:
        process, conn = spawn_gofer(root, extra_args=["--plugin", "tests.security.plugins:gofer_attempt"])
    finally:
        del os.environ["SENTRIO_GOFER_ATTEMPT"]
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            try:
                await nursery.start(conn.run)
                await conn.aclose()
            except (Errno, BaseExceptionGroup):
                pass  # the gofer died before it served
    status = process.wait(timeout=10)
    return status, "\n".join(r.getMessage() for r in caplog.records if r.name == "sentrio.gofer")


async def test_a_gofer_cannot_open_outside_its_root(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    for path in ("/etc/passwd", "../outside/secret", "abs", "escape", "/proc/1/environ"):
        status, log = await gofer_attempt(tree, f"open:{path}", caplog)
        assert f"attempt open:{path}: refused ENOENT" in log, log
        assert "host secret" not in log and status == 0


async def test_a_gofer_cannot_signal_another_process(tree: Path, caplog: pytest.LogCaptureFixture,
                                                     victim: subprocess.Popen[bytes]) -> None:
    status, log = await gofer_attempt(tree, f"kill:{victim.pid}", caplog)
    assert status == -signal.SIGSYS and "host system call kill (" in log, log
    assert victim.poll() is None


async def test_a_gofer_cannot_reach_the_network(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.1)
        status, log = await gofer_attempt(tree, f"connect-tcp:{server.getsockname()[1]}", caplog)
        assert status == -signal.SIGSYS and "host system call socket (" in log, log
        with pytest.raises(TimeoutError):
            server.accept()
