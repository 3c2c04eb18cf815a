"""``python -m kernel serve``: a run served by the zygote ends exactly as the same run cold.

Each test starts its own zygote on a socket of its own (the suite runs cold otherwise, see
tests/conftest.py) and compares served runs with cold ones: output, exit status, signals. It
also checks what the zygote must refuse and what must end a served run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest

from kernel.zygote import client as client_module
from tests.cli.conftest import REPO, needs_root, sentrio
from tests.hostprocs import process_args

pytestmark = needs_root


class Zygote:
    """A ``serve`` process of this tree, and how to send runs to it."""

    def __init__(self, path: Path, process: subprocess.Popen[str], log: Path) -> None:
        self.path = path
        self.process = process
        self.log = log

    def run(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, SENTRIO_ZYGOTE=str(self.path))
        return sentrio(*args, env=env, **kwargs)  # type: ignore[arg-type]

    def children(self) -> list[int]:
        """The runs it has forked and not yet reaped."""
        pid = self.process.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def served(self) -> int:
        return self.log.read_text().count("serving run")


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[Zygote]:
    path, log = tmp_path / "zygote.sock", tmp_path / "zygote.log"
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "kernel", "serve", "--socket", str(path)], cwd=REPO,
                                   stdout=output, stderr=output, text=True,
                                   env=dict(os.environ, PYTHONPATH=str(REPO)))
    deadline = time.monotonic() + 60
    while not path.exists():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the zygote did not start listening"
        time.sleep(0.05)
    try:
        yield Zygote(path, process, log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def cold(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return sentrio(*args, env=dict(os.environ, SENTRIO_ZYGOTE="off"), **kwargs)  # type: ignore[arg-type]


def outcome(result: subprocess.CompletedProcess[str]) -> tuple[str, str, int]:
    return result.stdout, result.stderr, result.returncode


@pytest.mark.parametrize("args", [
    ["sh", "-c", "echo out; echo err >&2; exit 3"],
    ["-w", "/tmp", "-e", "GREETING=hi", "-u", "nobody", "--hostname", "box", "--", "sh", "-c",
     "echo $GREETING $(pwd) $(id -u) $(hostname) $(umask)"],
    ["sh", "-c", "kill -TERM $$; echo survived"],  # init without a handler ignores it, as on Linux
    ["sh", "-c", "sh -c 'kill -SEGV $$'; echo $?"],
    ["no-such-command"],
], ids=["status-and-streams", "flags", "init-ignores", "signal", "not-found"])
def test_a_served_run_ends_as_the_same_run_cold(zygote: Zygote, busybox: Path, args: list[str]) -> None:
    before = zygote.served()
    served = zygote.run("run", str(busybox), *args)
    assert zygote.served() == before + 1, "the zygote did not serve the run"
    assert outcome(served) == outcome(cold("run", str(busybox), *args))


def test_bad_command_lines_are_reported_by_the_served_run(zygote: Zygote, busybox: Path, tmp_path: Path) -> None:
    for args in (["run", "--bogus", str(busybox)], ["run", str(tmp_path / "missing"), "--", "true"]):
        served, expected = zygote.run(*args), cold(*args)
        assert served.returncode == expected.returncode == 125
        assert served.stderr == expected.stderr and served.stderr.startswith("sentrio: ")


def test_a_served_run_logs_as_a_cold_one(zygote: Zygote, busybox: Path) -> None:
    """The run drops the logging ``serve`` set up before it sets up its own: a warning reaches
    the client's stderr once, as cold (a handler of the zygote's left behind writes it twice)."""
    missing = "/proc/no-such-runtime-root"  # cannot be made: the run warns and goes on
    args = ["run", str(busybox), "--", "true"]
    served = sentrio(*args, env=dict(os.environ, SENTRIO_ZYGOTE=str(zygote.path), SENTRIO_RUNTIME_DIR=missing))
    expected = sentrio(*args, env=dict(os.environ, SENTRIO_ZYGOTE="off", SENTRIO_RUNTIME_DIR=missing))
    assert zygote.served() == 1
    assert outcome(served) == outcome(expected)
    assert served.stderr.count("no runtime directory") == 1


def test_the_run_takes_the_clients_environment_exactly() -> None:
    """Only what differs is written, and what the client does not have is removed."""
    from kernel.zygote.server import _take_environment

    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update({"SAME": "1", "CHANGED": "zygote", "ZYGOTE_ONLY": "x"})
        _take_environment({"SAME": "1", "CHANGED": "client", "CLIENT_ONLY": "y"})
        assert dict(os.environ) == {"SAME": "1", "CHANGED": "client", "CLIENT_ONLY": "y"}
        assert "ZYGOTE_ONLY" not in os.environ and os.getenv("ZYGOTE_ONLY") is None
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_stdin_and_working_directory_are_the_clients(zygote: Zygote, busybox: Path, tmp_path: Path) -> None:
    (tmp_path / "vars").write_text("GREETING=from the client's directory\n")
    args = [sys.executable, "-m", "kernel", "run", "-i", "--env-file", "vars", str(busybox), "--",
            "sh", "-c", "cat; echo $GREETING"]
    env = dict(os.environ, SENTRIO_ZYGOTE=str(zygote.path), PYTHONPATH=str(REPO))
    served = subprocess.run(args, input="from stdin\n", capture_output=True, text=True, cwd=tmp_path, env=env,
                            timeout=60)
    assert outcome(served) == ("from stdin\nfrom the client's directory\n", "", 0)
    assert zygote.served() == 1


#: How a client stands in for its run: it becomes the waiter program (kernel/zygote/waiter.c), or,
#: where that was not built, its own Python loop does the same.
STAND_INS = {
    "waiter": [sys.executable, "-m", "kernel"],
    "python": [sys.executable, "-c", "import runpy, kernel.zygote.client as client; client.WAITER = None; "
                                     "runpy.run_module('kernel', run_name='__main__')"],
}


def start_client(zygote: Zygote, busybox: Path, script: str, stand_in: str = "waiter",
                 **env_vars: str) -> subprocess.Popen[str]:
    """A served ``run BUSYBOX -- sh -c SCRIPT``, once the script has printed its first line, "ready"."""
    env = dict(os.environ, SENTRIO_ZYGOTE=str(zygote.path), PYTHONPATH=str(REPO), **env_vars)
    client = subprocess.Popen([*STAND_INS[stand_in], "run", str(busybox), "--", "sh", "-c", script],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert client.stdout is not None
    assert client.stdout.readline() == "ready\n"
    return client


TRAPS_TERM = "trap 'echo terminated; exit 7' TERM; echo ready; while :; do sleep 0.05; done"


@pytest.mark.parametrize("stand_in", STAND_INS)
def test_a_signal_to_the_client_reaches_the_guest(zygote: Zygote, busybox: Path, stand_in: str) -> None:
    client = start_client(zygote, busybox, TRAPS_TERM, stand_in)
    client.send_signal(signal.SIGTERM)
    out, err = client.communicate(timeout=30)
    assert (out, err, client.returncode) == ("terminated\n", "", 7)


def process_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.parametrize("stand_in", STAND_INS)
def test_ctrl_z_stops_the_run_with_its_client_and_fg_continues_both(zygote: Zygote, busybox: Path,
                                                                     stand_in: str) -> None:
    client = start_client(zygote, busybox, TRAPS_TERM, stand_in)
    [run] = zygote.children()
    client.send_signal(signal.SIGTSTP)
    wait_for(lambda: process_state(client.pid) == process_state(run) == "T", "Ctrl-Z did not stop both")
    client.send_signal(signal.SIGCONT)
    wait_for(lambda: "T" not in (process_state(client.pid), process_state(run)), "SIGCONT did not continue both")
    client.send_signal(signal.SIGTERM)
    out, err = client.communicate(timeout=30)
    assert (out, err, client.returncode) == ("terminated\n", "", 7)


def test_the_client_becomes_a_small_waiter(zygote: Zygote, busybox: Path) -> None:
    """Once its run is forked the client is kernel/zygote/waiter.c, not an interpreter: it holds
    ~0.1 MiB of its own for the run's whole life, where Python held ~7 (docs/benchmarks.md)."""
    assert client_module.WAITER is not None and os.access(client_module.WAITER, os.X_OK), \
        "sentrio-wait was not built (pip install -e . builds it with the package)"
    client = start_client(zygote, busybox, "echo ready; read line")
    try:
        assert os.readlink(f"/proc/{client.pid}/exe") == client_module.WAITER
        argv = Path(f"/proc/{client.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        assert argv[3:] == ["--", "run", str(busybox), "--", "sh", "-c", "echo ready; read line"]
        rollup = Path(f"/proc/{client.pid}/smaps_rollup").read_text().splitlines()
        [private_dirty_kib] = [int(line.split()[1]) for line in rollup if line.startswith("Private_Dirty:")]
        assert private_dirty_kib < 1024
    finally:
        client.kill()
        client.communicate(timeout=30)


def test_the_waiter_refuses_a_bad_command_line() -> None:
    assert client_module.WAITER is not None
    result = subprocess.run([client_module.WAITER, "3"], capture_output=True, text=True, timeout=10)
    assert (result.returncode, result.stdout) == (125, "")
    assert result.stderr.startswith("usage: sentrio-wait CONNECTION_FD PIDFD")


@pytest.mark.parametrize("stand_in", STAND_INS)
def test_a_run_ends_with_its_client(zygote: Zygote, busybox: Path, stand_in: str) -> None:
    client = start_client(zygote, busybox, "echo ready; sleep 60", stand_in)
    [run] = zygote.children()
    client.kill()
    client.wait()
    deadline = time.monotonic() + 30
    while run in zygote.children():
        assert time.monotonic() < deadline, "the run outlived its client"
        time.sleep(0.05)


@pytest.mark.parametrize("stand_in", STAND_INS)
def test_the_client_dies_as_its_run_did(zygote: Zygote, busybox: Path, stand_in: str) -> None:
    client = start_client(zygote, busybox, "echo ready; sleep 60", stand_in)
    [run] = zygote.children()
    os.kill(run, signal.SIGKILL)
    assert client.wait(timeout=30) == -signal.SIGKILL


@pytest.mark.parametrize("ending", ["exit", "SIGKILL"])
def test_the_zygote_removes_a_runs_runtime_directory(zygote: Zygote, busybox: Path, tmp_path: Path,
                                                     ending: str) -> None:
    """A served run starts no keeper (a process of the sandbox's): the zygote removes its
    runtime directory once it has ended, however, before the client learns how it ended."""
    runtime = tmp_path / "runtime"
    script = "echo ready; sleep 60" if ending == "SIGKILL" else "echo ready; sleep 1"
    client = start_client(zygote, busybox, script, SENTRIO_RUNTIME_DIR=str(runtime))
    [run] = zygote.children()
    [directory] = runtime.iterdir()
    assert json.loads((directory / "state.json").read_text())["sentry_pid"] == run
    descendants = Path(f"/proc/{run}/task/{run}/children").read_text().split()
    assert not [pid for pid in descendants if "keeper" in " ".join(process_args(pid))]
    if ending == "SIGKILL":
        os.kill(run, signal.SIGKILL)
    client.communicate(timeout=30)
    assert client.returncode == (-signal.SIGKILL if ending == "SIGKILL" else 0)
    assert list(runtime.iterdir()) == []


def test_only_its_owner_may_connect(zygote: Zygote) -> None:
    assert stat.S_IMODE(zygote.path.stat().st_mode) == 0o600
    pid = os.fork()
    if pid == 0:  # another user: nobody
        status = 2
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
                probe.connect(str(zygote.path))
            status = 1
        except PermissionError:
            status = 0
        finally:
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0, "another user could connect"


def test_a_malformed_request_is_refused_and_the_zygote_serves_on(zygote: Zygote, busybox: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.connect(str(zygote.path))
        conn.send(b"\xc1 not msgpack")  # no fds either
        assert msgpack.unpackb(conn.recv(4096)) == {"refused": "malformed request"}
    assert outcome(zygote.run("run", str(busybox), "--", "echo", "still here")) == ("still here\n", "", 0)


def test_changed_sources_stop_the_zygote_and_the_run_goes_cold(zygote: Zygote, busybox: Path) -> None:
    source = REPO / "kernel" / "cli.py"
    info = source.stat()
    os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    try:
        before = zygote.served()
        result = zygote.run("run", str(busybox), "--", "echo", "cold")
        assert outcome(result) == ("cold\n", "", 0)
        assert zygote.served() == before
        assert zygote.process.wait(timeout=30) == 0
        assert "source files changed" in zygote.log.read_text()
        assert not zygote.path.exists()
    finally:
        os.utime(source, ns=(info.st_atime_ns, info.st_mtime_ns))


def test_a_second_zygote_on_the_same_socket_is_refused(zygote: Zygote) -> None:
    second = sentrio("serve", "--socket", str(zygote.path), timeout=60)
    assert second.returncode == 125
    assert "a zygote already serves there" in second.stderr


def test_the_zygote_prepares_what_every_run_would_otherwise_redo() -> None:
    """What a run imports or builds after the fork, each served run pays again: the zygote
    imports anyio's trio backend (imported lazily at the gofer connection's first call) and the
    helpers' entry modules, builds the command lines' parsers (the run's, its gofers') and compiles
    the seccomp filters and every system call's argument decoder beforehand."""
    check = (
        "import sys\n"
        "from kernel.zygote.server import warm_up\n"
        "warm_up()\n"
        "import kernel.cli\n"
        "from kernel.syscalls import table\n"
        "assert 'anyio._backends._trio' in sys.modules, 'anyio backend not preloaded'\n"
        "assert kernel.cli._built_parser is not None, 'parser not built'\n"
        "import gofer.__main__\n"
        "assert gofer.__main__.build_parser.cache_info().currsize == 1, 'the gofer parser not built'\n"
        "assert 'netgate.__main__' in sys.modules, 'the net helper entry not preloaded'\n"
        "from kernel.zygote.server import seccomp_templates\n"
        "assert all(template._compiled is not None for template in seccomp_templates()), 'filters not compiled'\n"
        "missing = [name for name, handler in table.REGISTRY.items() if handler not in table._COMPILED]\n"
        "assert not missing, f'decoders not compiled: {missing[:5]}'\n"
    )
    result = subprocess.run([sys.executable, "-c", check], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert result.returncode == 0, result.stderr
