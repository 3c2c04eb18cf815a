"""Faults the host causes are guest events: a stub SIGKILLed from outside (as the OOM killer
does) kills only its guest process, and SIGINT, SIGTERM and SIGHUP sent to the Sentry reach the
guest's first process, a second one ending the sandbox with 128+N. The runtime directory goes
on every way out, and no traceback is ever printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import PROGRAMS, REPO, needs_root

pytestmark = needs_root


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("host-faults")
    root.chmod(0o755)
    (root / "bin").mkdir()
    (root / "etc").mkdir()
    (root / "etc" / "greeting").write_text("hello from the image\n")
    for name in ("killed_child", "relay", "read_after_sigint"):
        subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / name), str(PROGRAMS / f"{name}.c")],
                       check=True)
    sleeper = REPO / "tests" / "integration" / "programs" / "sleeper.c"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "sleeper"), str(sleeper)], check=True)
    return root


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    path = tmp_path / "runtime"
    path.mkdir()
    return path


@pytest.fixture
def start(runtime: Path) -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def run(*args: str) -> subprocess.Popen[str]:
        env = dict(os.environ, PYTHONPATH=str(REPO), SENTRIO_RUNTIME_DIR=str(runtime))
        proc = subprocess.Popen([sys.executable, "-m", "kernel", "run", *args], cwd=REPO, env=env, text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(proc)
        return proc

    yield run
    for proc in started:  # a failed test must not leave a Sentry behind
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def children(pid: int) -> list[int]:
    """Host pids whose parent is ``pid``, oldest first."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append((int(fields[19]), int(entry)))  # (start time, pid)
    return [pid for _, pid in sorted(found)]


def comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as file:
        return file.read().strip()


def test_a_stub_killed_from_the_host_is_a_sigkill_its_parent_sees(image: Path, start: object,
                                                                  runtime: Path) -> None:
    sentry = start(str(image), "--", "/bin/killed_child")  # type: ignore[operator]
    assert sentry.stdout.readline() == "child ready\n"
    [template] = [pid for pid in children(sentry.pid) if comm(pid) == "sentrio-stub"]
    stubs = children(template)  # the parent's, then the child's (it was forked after)
    assert len(stubs) == 2
    os.kill(stubs[-1], signal.SIGKILL)
    # The child sleeps in pause() for ever: only a death noticed at once lets this end (the
    # timeout guards against a hang, it measures nothing).
    out, err = sentry.communicate(timeout=240)
    assert out == "child: killed by signal 9\nnext child: exited 7\n"
    assert (sentry.returncode, err) == (0, "")
    assert os.listdir(runtime) == []


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signals_to_the_sentry_reach_the_guest_and_a_second_ends_the_sandbox(
        image: Path, start: object, runtime: Path, signo: signal.Signals) -> None:
    sentry = start(str(image), "--", "/bin/relay")  # type: ignore[operator]
    assert sentry.stdout.readline() == "ready\n"
    assert len(os.listdir(runtime)) == 1
    sentry.send_signal(signo)
    assert sentry.stdout.readline() == f"got {signal.strsignal(signo)} from pid 0\n"  # from outside
    sentry.send_signal(signo)
    out, err = sentry.communicate()
    assert (sentry.returncode, out, err) == (128 + signo, "", "")
    assert os.listdir(runtime) == []


def test_a_ctrl_c_to_the_whole_process_group_spares_the_gofers(image: Path, runtime: Path) -> None:
    """A terminal's Ctrl-C signals every process of its foreground group: the Sentry passes it
    on to the guest, and the gofers (in sessions of their own) do not see it, so a guest that
    catches it still reaches its files."""
    env = dict(os.environ, PYTHONPATH=str(REPO), SENTRIO_RUNTIME_DIR=str(runtime))
    sentry = subprocess.Popen([sys.executable, "-m", "kernel", "run", str(image), "--", "/bin/read_after_sigint"],
                              cwd=REPO, env=env, text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert sentry.stdout.readline() == "ready\n"
        os.killpg(sentry.pid, signal.SIGINT)
        out, err = sentry.communicate(timeout=120)
    finally:
        if sentry.poll() is None:
            sentry.kill()
            sentry.communicate()
    assert (sentry.returncode, out, err) == (0, "interrupted, then read: hello from the image\n", "")


def test_an_init_without_a_handler_ignores_the_first_as_linux_does(image: Path, start: object,
                                                                   runtime: Path) -> None:
    sentry = start("--log-level", "info", str(image), "--", "/bin/sleeper")  # type: ignore[operator]
    assert sentry.stdout.readline() == "ready\n"
    sentry.send_signal(signal.SIGTERM)
    assert sentry.stderr.readline() == "sentrio: INFO: signal 15: passed on to the guest's first process\n"
    sentry.send_signal(signal.SIGINT)  # any of the three is the second
    out, err = sentry.communicate()
    assert sentry.returncode == 128 + signal.SIGINT
    assert "Traceback" not in err and out == ""
    assert os.listdir(runtime) == []


def test_a_signal_before_the_sandbox_runs_ends_it_cleanly(image: Path, start: object, runtime: Path) -> None:
    sentry = start("--plugin", "tests.cli.signal_plugins:terminate_before_boot",  # type: ignore[operator]
                   str(image), "--", "/bin/relay")
    out, err = sentry.communicate()
    assert (sentry.returncode, out, err) == (128 + signal.SIGTERM, "", "")
    assert os.listdir(runtime) == []


def test_a_command_that_is_not_there_leaves_no_runtime_directory(image: Path, start: object,
                                                                  runtime: Path) -> None:
    sentry = start(str(image), "--", "/bin/nothing-here")  # type: ignore[operator]
    out, err = sentry.communicate()
    assert (sentry.returncode, err) == (127, "/bin/nothing-here: not found in the image\n")
    assert os.listdir(runtime) == []
