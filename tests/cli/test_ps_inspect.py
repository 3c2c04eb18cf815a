"""``ps`` and ``inspect``: a running sandbox answers on its control socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import REPO, needs_root, sentrio

pytestmark = needs_root


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    return tmp_path / "run"


@pytest.fixture
def sleeping(image: Path, runtime: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, PYTHONPATH=str(REPO), SENTRIO_RUNTIME_DIR=str(runtime))
    sentry = subprocess.Popen([sys.executable, "-m", "kernel", "run", "--name", "napper", "-u", "1000:1001",
                               "-w", "/tmp", "-v", f"{image}:/mnt:ro", str(image), "--", "sleeper"],
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO, env=env)
    assert sentry.stdout is not None
    assert sentry.stdout.readline() == b"ready\n"
    try:
        yield sentry
    finally:
        if sentry.poll() is None:
            sentry.kill()
        sentry.wait(10)


def test_ps_lists_the_running_sandbox(sleeping: subprocess.Popen[bytes], runtime: Path) -> None:
    result = sentrio("ps", runtime=runtime)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["SANDBOX", "ID", "PROCESSES"]
    assert len(rows) == 1
    assert rows[0].split()[:2] == ["napper", "1"]
    assert "/usr/bin/sleeper" in rows[0]


def test_inspect_shows_the_guest_processes(sleeping: subprocess.Popen[bytes], runtime: Path, image: Path) -> None:
    result = sentrio("inspect", "nap", runtime=runtime)  # a unique prefix is enough
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["id"] == "napper" and state["sentry_pid"] == sleeping.pid
    assert state["command"] == ["/usr/bin/sleeper"]
    assert state["processes"] == [{"pid": 1, "ppid": 0, "comm": "sleeper", "uid": 1000, "gid": 1001,
                                   "cwd": "/tmp", "threads": 1, "state": "running"}]
    network_files = [{"destination": f"/etc/{name}", "type": "file", "source": None, "readonly": False}
                     for name in ("hosts", "hostname", "resolv.conf")]
    assert state["config"]["mounts"] == [*network_files, {"destination": "/mnt", "type": "bind", "source": str(image),
                                                          "readonly": True}]


def test_a_second_sandbox_cannot_take_a_running_ones_name(sleeping: subprocess.Popen[bytes], runtime: Path,
                                                          image: Path) -> None:
    result = sentrio("run", "--name", "napper", str(image), "--", "/bin/showenv", runtime=runtime)
    assert result.returncode == 125
    assert "a sandbox named 'napper' is running" in result.stderr


def test_unknown_ids_are_125(runtime: Path) -> None:
    result = sentrio("inspect", "nothere", runtime=runtime)
    assert (result.returncode, result.stderr) == (125, "sentrio: no such sandbox: nothere\n")


def test_the_runtime_directory_goes_with_the_sandbox(sleeping: subprocess.Popen[bytes], runtime: Path) -> None:
    assert os.listdir(runtime) == ["napper"]
    assert sorted(os.listdir(runtime / "napper")) == ["control", "state.json"]
    sleeping.send_signal(signal.SIGKILL)  # no chance to clean up: the confined Sentry's keeper does it
    sleeping.wait(10)
    deadline = time.monotonic() + 10
    while os.listdir(runtime) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.listdir(runtime) == [], "the keeper removes what a killed Sentry left"
    assert sentrio("ps", runtime=runtime).stdout.splitlines()[1:] == []


def test_ps_removes_what_a_dead_unconfined_sentry_left(image: Path, runtime: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), SENTRIO_RUNTIME_DIR=str(runtime))
    sentry = subprocess.Popen([sys.executable, "-m", "kernel", "run", "--debug-unconfined", "--name", "loose",
                               str(image), "--", "sleeper"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              cwd=REPO, env=env)
    assert sentry.stdout is not None and sentry.stdout.readline() == b"ready\n"
    sentry.kill()  # unconfined, it has no keeper
    sentry.wait(10)
    assert os.listdir(runtime) == ["loose"]
    assert sentrio("ps", runtime=runtime).stdout.splitlines()[1:] == []
    assert os.listdir(runtime) == [], "ps removes what a dead Sentry left"


def test_a_finished_sandbox_leaves_nothing(image: Path, runtime: Path) -> None:
    result = sentrio("run", str(image), "--", "/bin/showenv", runtime=runtime)
    assert result.returncode == 0
    assert os.listdir(runtime) == []
