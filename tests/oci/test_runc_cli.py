"""runc's command line on ``sentrio``: the lifecycle an engine drives, the state document,
and bad input answered in one line with runc's exit status 1."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from kernel.runtime import is_runc_command_line
from tests.oci.conftest import Runtime, make_bundle, needs_root

SCHEMA = json.loads((Path(__file__).parent / "state-schema.json").read_text())
#: How long a poll for something the sandbox does may take on a loaded machine (not a timing test).
PATIENCE = 120.0


def wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.1)


def one_line_error(done: subprocess.CompletedProcess[str], words: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("sentrio: "), done.stderr
    assert words in done.stderr


def test_runc_shaped_command_lines_go_to_the_runtime() -> None:
    assert is_runc_command_line(["--root", "/r", "state", "x"])
    assert is_runc_command_line(["--log=/f", "create", "x"])
    assert is_runc_command_line(["create", "--bundle", "b", "x"])
    assert is_runc_command_line(["run", "--bundle", "b", "x"])
    assert is_runc_command_line(["ps", "x"])
    assert not is_runc_command_line(["ps"])
    assert not is_runc_command_line(["run", "image", "--", "sh"])
    assert not is_runc_command_line(["image", "build", "demo", "d"])


@needs_root
def test_create_start_state_kill_delete(runtime: Runtime, rootfs: Path, tmp_path: Path) -> None:
    script = 'echo "ready $(hostname)"; trap "echo got TERM; exit 7" TERM; while :; do sleep 0.1; done'
    bundle = make_bundle(tmp_path / "bundle", rootfs, ["sh", "-c", script])
    output = tmp_path / "output"
    with open(output, "w") as out:
        created = runtime("create", "--bundle", str(bundle), "--pid-file", str(tmp_path / "pid"), "box",
                          stdout=out, stderr=out, capture_output=False)
    assert created.returncode == 0, output.read_text()

    state = runtime.state("box")
    jsonschema.validate(state, SCHEMA)
    assert state["status"] == "created" and state["id"] == "box"
    assert state["bundle"] == str(bundle) and state["annotations"] == {"org.example.test": "yes"}
    assert state["pid"] == int((tmp_path / "pid").read_text())
    assert output.read_text() == ""  # built, but its first process is held until start

    one_line_error(runtime("create", "--bundle", str(bundle), "box"), "container with id exists: box")

    assert runtime("start", "box").returncode == 0
    wait_for(lambda: "ready" in output.read_text(), "the first process to run")
    assert output.read_text() == "ready oci-test\n"
    state = runtime.state("box")
    jsonschema.validate(state, SCHEMA)
    assert state["status"] == "running"

    listed = json.loads(runtime("list", "--format", "json").stdout)
    assert [(c["id"], c["status"], c["pid"]) for c in listed] == [("box", "running", state["pid"])]
    ps = runtime("ps", "--format", "json", "box")
    assert ps.returncode == 0, ps.stderr
    assert 1 in json.loads(ps.stdout)
    one_line_error(runtime("delete", "box"), "not stopped")

    assert runtime("kill", "box", "TERM").returncode == 0
    wait_for(lambda: runtime.state("box")["status"] == "stopped", "the container to stop")
    assert output.read_text() == "ready oci-test\ngot TERM\n"
    state = runtime.state("box")
    jsonschema.validate(state, SCHEMA)

    one_line_error(runtime("start", "box"), "cannot start a container that is stopped")
    one_line_error(runtime("kill", "box", "KILL"), "container not running")
    assert runtime("delete", "box").returncode == 0
    one_line_error(runtime("state", "box"), "container does not exist: box")


@needs_root
def test_run_exits_as_the_chroot_does(runtime: Runtime, rootfs: Path, tmp_path: Path) -> None:
    argv = ["sh", "-c", "echo out; echo err >&2; ls /; exit 3"]
    native = subprocess.run(["chroot", str(rootfs), *argv], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    bundle = make_bundle(tmp_path / "bundle", rootfs, argv)
    done = runtime("run", "--bundle", str(bundle), "once")
    assert (done.stdout, done.stderr, done.returncode) == (native.stdout, native.stderr, 3)
    assert runtime("list", "-q").stdout == ""  # run deletes what it created


@needs_root
def test_delete_of_a_created_container_ends_its_sentry(runtime: Runtime, rootfs: Path, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", rootfs, ["sh", "-c", "echo never"])
    with open(tmp_path / "output", "w") as out:
        assert runtime("create", "--bundle", str(bundle), "held", stdout=out, stderr=out,
                       capture_output=False).returncode == 0
    pid = runtime.state("held")["pid"]
    assert isinstance(pid, int) and os.path.exists(f"/proc/{pid}")
    assert runtime("delete", "held").returncode == 0
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2],
             "the Sentry to end")
    assert (tmp_path / "output").read_text() == ""
    one_line_error(runtime("state", "held"), "container does not exist")


def test_bad_input_is_one_line_and_status_1(runtime: Runtime, tmp_path: Path) -> None:
    one_line_error(runtime("state", "nothing"), "container does not exist: nothing")
    one_line_error(runtime("start", "nothing"), "container does not exist: nothing")
    one_line_error(runtime("kill", "nothing"), "container does not exist: nothing")
    one_line_error(runtime("delete", "nothing"), "container does not exist: nothing")
    assert runtime("delete", "--force", "nothing").returncode == 0  # as runc: nothing to do
    one_line_error(runtime("create", "--bundle", str(tmp_path), "x"), "no config.json")
    one_line_error(runtime("state", "../escape"), "invalid container id")
    one_line_error(runtime("pause", "x"), "pause is not supported")
    one_line_error(runtime("checkpoint", "x"), "checkpoint is not supported")
    one_line_error(runtime("frobnicate"), "invalid choice")
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text('{"process": {"args": 3}}')
    one_line_error(runtime("create", "--bundle", str(tmp_path), "x"), "process.args")
    (tmp_path / "config.json").write_text('{"hooks": {"prestart": [{"path": "relative"}]}}')
    one_line_error(runtime("create", "--bundle", str(tmp_path), "x"), "hooks.prestart[0].path")


def test_errors_are_also_logged_as_json(runtime: Runtime, tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    runtime("--log", str(log), "--log-format", "json", "state", "nothing")
    record = json.loads(log.read_text())
    assert record["level"] == "error" and record["msg"] == "container does not exist: nothing"


def test_features_and_spec(runtime: Runtime, tmp_path: Path) -> None:
    features = json.loads(runtime("features").stdout)
    assert features["ociVersionMin"] == "1.0.0" and "CAP_CHOWN" in features["linux"]["capabilities"]
    assert runtime("spec", "--bundle", str(tmp_path)).returncode == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["process"]["args"] == ["sh"] and config["root"]["path"] == "rootfs"
    one_line_error(runtime("spec", "--bundle", str(tmp_path)), "exists")


@pytest.mark.parametrize("text, number", [("TERM", 15), ("SIGKILL", 9), ("9", 9), ("sigusr1", 10)])
def test_signal_names(text: str, number: int) -> None:
    from kernel.runtime.commands import parse_signal

    assert parse_signal(text) == number


def _hook(kind: str, directory: Path, status: int = 0) -> dict[str, object]:
    """A host hook that saves the state it is given in DIRECTORY/KIND.json, then exits ``status``."""
    return {"path": "/bin/sh", "args": ["sh", "-c", f'cat > {directory}/{kind}.json; exit {status}'],
            "env": ["PATH=/usr/bin:/bin"]}


@needs_root
def test_hooks_run_on_the_host_with_the_state(runtime: Runtime, rootfs: Path, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", rootfs, ["sh", "-c", "echo body"])
    config = json.loads((bundle / "config.json").read_text())
    kinds = ("prestart", "createRuntime", "poststart", "poststop")
    config["hooks"] = {kind: [_hook(kind, tmp_path)] for kind in kinds}
    (bundle / "config.json").write_text(json.dumps(config))
    done = runtime("run", "--bundle", str(bundle), "hooked")
    assert (done.stdout, done.returncode) == ("body\n", 0), done.stderr
    for kind in kinds:
        state = json.loads((tmp_path / f"{kind}.json").read_text())
        jsonschema.validate(state, SCHEMA)
        assert state["id"] == "hooked" and state["bundle"] == str(bundle)


@needs_root
def test_a_failing_prestart_hook_fails_create(runtime: Runtime, rootfs: Path, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", rootfs, ["sh", "-c", "echo never"])
    config = json.loads((bundle / "config.json").read_text())
    config["hooks"] = {"prestart": [_hook("prestart", tmp_path, status=3)]}
    (bundle / "config.json").write_text(json.dumps(config))
    with open(tmp_path / "output", "w") as out:
        done = runtime("create", "--bundle", str(bundle), "refused", stdout=out, stderr=subprocess.PIPE,
                       capture_output=False)
    one_line_error(done, "prestart hook /bin/sh exited with status 3")
    one_line_error(runtime("state", "refused"), "container does not exist")
    assert (tmp_path / "output").read_text() == ""


@needs_root
def test_memory_and_pids_limits_of_linux_resources(runtime: Runtime, rootfs: Path, tmp_path: Path) -> None:
    script = "head -1 /proc/meminfo; for i in 1 2 3 4; do sleep 1 & done; wait"
    bundle = make_bundle(tmp_path / "bundle", rootfs, ["sh", "-c", script])
    config = json.loads((bundle / "config.json").read_text())
    config["linux"] = {"resources": {"memory": {"limit": 64 << 20}, "pids": {"limit": 3}}}
    (bundle / "config.json").write_text(json.dumps(config))
    done = runtime("run", "--bundle", str(bundle), "limited")
    assert done.stdout.split() == ["MemTotal:", "65536", "kB"]
    assert "can't fork" in done.stderr and done.returncode != 0


@needs_root
def test_console_socket_gets_the_terminal(runtime: Runtime, rootfs: Path, tmp_path: Path) -> None:
    script = "[ -t 0 ] && [ -t 1 ] && echo on-a-terminal; stty size; read line; echo got $line"
    bundle = make_bundle(tmp_path / "bundle", rootfs, ["sh", "-c", script], terminal=True,
                         consoleSize={"height": 30, "width": 100})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(tmp_path / "console.sock"))
        listener.listen(1)
        with open(tmp_path / "output", "w") as out:
            created = runtime("create", "--bundle", str(bundle), "--console-socket", str(tmp_path / "console.sock"),
                              "tty", stdout=out, stderr=out, capture_output=False)
        assert created.returncode == 0, (tmp_path / "output").read_text()
        connection, _ = listener.accept()
        with connection:
            _, fds, _, _ = socket.recv_fds(connection, 64, 1)
    master = fds[0]
    try:
        assert runtime("start", "tty").returncode == 0
        seen = b""
        deadline = time.monotonic() + PATIENCE
        written = False
        while b"got hello" not in seen:
            assert time.monotonic() < deadline, seen
            if not written and b"30 100\r\n" in seen:  # typed once stty has answered: the terminal
                os.write(master, b"hello\n")            # echoes input when it comes, as Linux's does
                written = True
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:  # EIO: every slave end is closed
                    break
        assert b"on-a-terminal\r\n30 100\r\n" in seen and b"got hello" in seen, seen
    finally:
        os.close(master)


@needs_root
def _pipes_of(pid: int) -> int:
    """How many pipes process ``pid`` holds (an exec's stdio are pipes)."""
    return sum(os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:") for fd in os.listdir(f"/proc/{pid}/fd"))


def test_exec_runs_a_new_process_in_the_sandbox(runtime: Runtime, rootfs: Path, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "bundle", rootfs, ["sleep", "1000"])
    with open(tmp_path / "output", "w") as out:
        assert runtime("create", "--bundle", str(bundle), "busy", stdout=out, stderr=out,
                       capture_output=False).returncode == 0
    assert runtime("start", "busy").returncode == 0
    sentry = json.loads(runtime("state", "busy").stdout)["pid"]
    sentry_pipes = _pipes_of(sentry)
    done = runtime("exec", "busy", "sh", "-c", "tr a-z A-Z; cat /proc/1/comm; echo $HOSTNAME-$(hostname); exit 5",
                   input="from stdin\n", stdin=None)
    assert (done.stdout, done.returncode) == ("FROM STDIN\nsleep\noci-test-oci-test\n", 5), done.stderr
    done = runtime("exec", "--user", "1000:1001", "--cwd", "/tmp", "--env", "GREETING=hi", "busy",
                   "sh", "-c", 'echo "$(id -u) $(id -g) $(pwd) $GREETING"')
    assert (done.stdout, done.returncode) == ("1000 1001 /tmp hi\n", 0), done.stderr
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh", "-c", "echo from-file; exit 2"], "cwd": "/",
                                   "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}))
    done = runtime("exec", "--process", str(process), "--detach", "--pid-file", str(tmp_path / "exec.pid"), "busy",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, capture_output=False)
    assert done.returncode == 0, done.stderr
    assert int((tmp_path / "exec.pid").read_text()) > 0
    assert done.stdout == "from-file\n"  # the detached child held our stdout until the process ended
    done = runtime("exec", "busy", "/no/such/program")
    assert done.returncode == 127 and "executable file not found" in done.stderr
    assert _pipes_of(sentry) == sentry_pipes  # each exec's stdio pipes went with it
    assert (tmp_path / "output").read_text() == ""
    runtime("delete", "--force", "busy")
    one_line_error(runtime("exec", "busy", "true"), "container does not exist")
