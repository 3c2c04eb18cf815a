"""The subcommands of runc's command line, as engines call them.

Every failure is one line on stderr (``sentrio: MESSAGE``), also written to ``--log`` in the
``--log-format`` asked for (conmon and containerd's shim read errors from there), and exit
status 1, as runc gives: an unknown id, a second ``create`` with the same id, ``start`` of a
container that is not *created*.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import dataclasses
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from kernel.runtime import state as states
from kernel.runtime.state import OCI_VERSION, Container, RuntimeFailure

if TYPE_CHECKING:
    from kernel.oci import Bundle

#: Signals the Sentry itself relays to the guest's first process (kernel/cli.py's SignalRelay);
#: others go through the control socket, SIGKILL ends the Sentry and so the sandbox.
_RELAYED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: How long ``delete --force`` waits for a killed Sentry to be gone.
KILL_WAIT = 10.0

_log_file: str | None = None
_log_json = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _fail(" ".join(message.split()))


def _fail(message: str) -> NoReturn:
    print(f"sentrio: {message}", file=sys.stderr)
    _log("error", message)
    raise SystemExit(1)


def _log(level: str, message: str) -> None:
    if _log_file is None:
        return
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = json.dumps({"level": level, "msg": message, "time": stamp}) if _log_json else \
        f'time="{stamp}" level={level} msg="{message}"'
    with contextlib.suppress(OSError), open(_log_file, "a") as file:
        file.write(line + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sentrio", description="Sentrio as an OCI runtime (runc's command line).")
    parser.add_argument("--root", default=states.DEFAULT_ROOT, help="the state directory")
    parser.add_argument("--log", help="where errors are logged (besides stderr)")
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--systemd-cgroup", action="store_true", help="accepted; Sentrio makes no cgroup")
    parser.add_argument("--rootless", default="auto", help="accepted")
    parser.add_argument("--criu", help="accepted; checkpoints are not supported")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_id(name: str, text: str) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=text)
        command.add_argument("id")
        return command

    for name in ("create", "run"):
        command = with_id(name, "create a container (and, for run, start it and wait for it)")
        command.add_argument("-b", "--bundle", default=".", help="the bundle directory (config.json)")
        command.add_argument("--pid-file", help="write the container's pid here")
        command.add_argument("--console-socket", help="send the terminal's master end here")
        command.add_argument("--no-pivot", action="store_true", help="accepted")
        command.add_argument("--no-new-keyring", action="store_true", help="accepted")
        command.add_argument("--preserve-fds", type=int, default=0, help="accepted")
        command.add_argument("--notify-socket", help="accepted")
        if name == "run":
            command.add_argument("-d", "--detach", action="store_true")
            command.add_argument("--keep", action="store_true", help="keep the container's state after it exits")
    with_id("start", "let a created container's first process run")
    with_id("state", "print the container's state (runtime-spec JSON)")
    kill = commands.add_parser("kill", help="send a signal to the container")
    kill.add_argument("id")
    kill.add_argument("signal", nargs="?", default="SIGTERM")
    kill.add_argument("-a", "--all", action="store_true", help="every process of the container")
    delete = with_id("delete", "delete a container's state")
    delete.add_argument("-f", "--force", action="store_true", help="kill it first if it runs")
    listing = commands.add_parser("list", help="list containers")
    listing.add_argument("-f", "--format", choices=["table", "json"], default="table")
    listing.add_argument("-q", "--quiet", action="store_true")
    ps = with_id("ps", "list a container's processes")
    ps.add_argument("-f", "--format", choices=["table", "json"], default="table")
    commands.add_parser("features", help="what this runtime supports (runtime-spec features JSON)")
    spec = commands.add_parser("spec", help="write a default config.json")
    spec.add_argument("-b", "--bundle", default=".")
    spec.add_argument("--rootless", action="store_true")
    execute = with_id("exec", "run a new process inside a running container")
    execute.add_argument("cmd", nargs=argparse.REMAINDER, help="CMD ARGS... (unless --process)")
    execute.add_argument("-p", "--process", help="a JSON file holding the runtime spec's process object")
    execute.add_argument("-t", "--tty", action="store_true")
    execute.add_argument("--console-socket")
    execute.add_argument("--pid-file")
    execute.add_argument("-d", "--detach", action="store_true")
    execute.add_argument("--cwd")
    execute.add_argument("-e", "--env", action="append", default=[])
    execute.add_argument("-u", "--user", help="UID[:GID]")
    execute.add_argument("-g", "--additional-gids", action="append", type=int, default=[])
    for accepted in ("--cap", "--apparmor", "--process-label", "--cgroup"):
        execute.add_argument(accepted, action="append", default=[], help="accepted")
    execute.add_argument("--no-new-privs", action="store_true", help="accepted")
    execute.add_argument("--preserve-fds", type=int, default=0, help="accepted")
    execute.add_argument("--ignore-paused", action="store_true", help="accepted")
    for name in ("pause", "resume", "checkpoint", "restore", "events", "update"):
        refused = commands.add_parser(name, help="not supported")
        refused.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str]) -> int:
    global _log_file, _log_json
    parser = build_parser()
    args = parser.parse_args(list(argv))
    _log_file, _log_json = args.log, args.log_format == "json"
    handler = COMMANDS.get(args.command)
    try:
        if handler is None:
            raise RuntimeFailure(f"{args.command} is not supported by Sentrio")
        return handler(args)
    except RuntimeFailure as error:
        _fail(str(error))


# --- create, start, run ---------------------------------------------------------------------------

def _read_bundle(bundle: str) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]], Bundle]:
    """The bundle's annotations and hooks (as JSON for state.json), after checking the whole
    bundle as ``run`` would read it."""
    from kernel.oci import BundleError, load_bundle, read_config

    if not os.path.isfile(os.path.join(bundle, "config.json")):
        raise RuntimeFailure(f"{bundle}: no config.json in the bundle")
    try:
        loaded = load_bundle(bundle)
        document = read_config(os.path.join(bundle, "config.json"))
    except BundleError as error:
        raise RuntimeFailure(str(error)) from None
    annotations = document.get("annotations") or {}
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise RuntimeFailure("config.json: annotations: expected an object of strings")
    hooks = {kind: [dataclasses.asdict(hook) for hook in found] for kind, found in loaded.hooks.items() if found}
    return dict(annotations), hooks, loaded


def _hooks(container: Container, *kinds: str, fatal: bool) -> None:
    """Run the container's hooks of ``kinds``; a failure is a RuntimeFailure if ``fatal``, else
    a warning in the log (as runc treats poststart and poststop)."""
    from kernel.oci import Hook
    from kernel.runtime.hooks import HookFailed, run_hooks

    for kind in kinds:
        hooks = [Hook(h["path"], tuple(h["args"]), tuple(h["env"]), h["timeout"])
                 for h in container.state.get("hooks", {}).get(kind, [])]
        try:
            run_hooks(kind, hooks, container.oci_state())
        except HookFailed as error:
            if fatal:
                raise RuntimeFailure(str(error)) from None
            print(f"sentrio: warning: {error}", file=sys.stderr)
            _log("warning", str(error))


def _create(args: argparse.Namespace, detach: bool) -> Container:
    """Fork the container's Sentry and wait until its sandbox is built and held at the gate."""
    from kernel.runtime import sentry

    states.check_id(args.id)
    bundle = os.path.abspath(args.bundle)
    annotations, hooks, loaded = _read_bundle(bundle)
    if args.console_socket and not loaded.terminal:
        raise RuntimeFailure("--console-socket is for a container with process.terminal true")
    if loaded.terminal and not args.console_socket and (args.command == "create" or detach):
        raise RuntimeFailure("process.terminal is true: a --console-socket is needed")
    container = states.new_container(args.root, args.id, bundle, annotations)
    container.state["hooks"] = hooks
    ready_read, ready_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(ready_read)
        sentry.child_main(args.id, bundle, container.fifo, ready_write, detach, args.console_socket,
                          loaded.console_size)
    os.close(ready_write)
    container.state["pid"] = pid
    container.state["starttime"] = states.process_start_time(pid)
    container.save()
    with os.fdopen(ready_read, "rb") as ready:
        built = ready.read(1)
    if not built:
        _, status = os.waitpid(pid, 0)
        container.remove()
        raise RuntimeFailure(f"container {args.id} could not be created (exit status {_exit_code(status)})")
    try:
        _hooks(container, "prestart", "createRuntime", "createContainer", fatal=True)
    except RuntimeFailure:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        container.remove()
        raise
    if args.pid_file:
        _write_pid_file(args.pid_file, pid)
    return container


def _write_pid_file(path: str, pid: int) -> None:
    temporary = f"{path}.sentrio-tmp"
    with open(temporary, "w") as file:
        file.write(str(pid))
    os.replace(temporary, path)


def _exit_code(status: int) -> int:
    return os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else 128 + os.WTERMSIG(status)


def create(args: argparse.Namespace) -> int:
    _create(args, detach=True)
    return 0


def _start(container: Container) -> None:
    status = container.status()
    if status != "created":
        raise RuntimeFailure(f"cannot start a container that is {status}: {container.id}")
    container.mark_started()
    try:
        fifo = os.open(container.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise RuntimeFailure(f"cannot start {container.id}: {error.strerror}") from None
    with contextlib.closing(os.fdopen(fifo, "wb", buffering=0)) as file:
        file.write(b"1")
    _hooks(container, "startContainer", "poststart", fatal=False)


def start(args: argparse.Namespace) -> int:
    _start(states.load(args.root, args.id))
    return 0


def run(args: argparse.Namespace) -> int:
    """``run``: create and start; without ``--detach``, wait and exit as the container did."""
    container = _create(args, detach=args.detach)
    _start(container)
    if args.detach:
        return 0
    _, status = os.waitpid(container.pid, 0)
    if not args.keep:
        _hooks(container, "poststop", fatal=False)
        container.remove()
    return _exit_code(status)


# --- state, list, ps -----------------------------------------------------------------------------

def state(args: argparse.Namespace) -> int:
    json.dump(states.load(args.root, args.id).oci_state(), sys.stdout, indent=2)
    print()
    return 0


def list_(args: argparse.Namespace) -> int:
    containers = states.every(args.root)
    if args.quiet:
        for container in containers:
            print(container.id)
        return 0
    rows = []
    for container in containers:
        document = container.oci_state()
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(container.state.get("created", 0)))
        rows.append({**document, "rootfs": os.path.join(document["bundle"], "rootfs"), "created": created,
                     "owner": "root"})
    if args.format == "json":
        json.dump(rows, sys.stdout)
        print()
        return 0
    table = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    table += [(r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"], r["owner"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def _control(container: Container, request: dict[str, Any]) -> dict[str, Any]:
    """Ask the container's Sentry over its control socket; RuntimeFailure if it does not answer."""
    from kernel import control

    reply = control.request(os.path.join(control.runtime_root(), container.id), request)
    if reply is None or "error" in reply:
        why = reply["error"] if reply else "no answer"
        raise RuntimeFailure(f"container {container.id}: {why}")
    return reply


def ps(args: argparse.Namespace) -> int:
    """The container's guest processes (their pids inside the sandbox)."""
    container = states.load(args.root, args.id)
    if container.status() == "stopped":
        raise RuntimeFailure(f"container {container.id} is not running")
    processes = _control(container, {"op": "ps"}).get("processes", [])
    if args.format == "json":
        json.dump([p["pid"] for p in processes], sys.stdout)
        print()
        return 0
    print("PID   PPID  UID   CMD")
    for p in processes:
        print(f"{p['pid']:<5} {p['ppid']:<5} {p['uid']:<5} {p['comm']}")
    return 0


# --- exec -----------------------------------------------------------------------------------------

def _exec_message(args: argparse.Namespace, container: Container) -> dict[str, Any]:
    """The exec request: ``--process FILE``'s process, else the flags over the bundle's process."""
    from kernel.oci import BundleError, load_bundle, read_config

    try:
        bundle = load_bundle(container.state["bundle"])
    except BundleError as error:
        raise RuntimeFailure(str(error)) from None
    if args.process:
        try:
            process = read_config(args.process)
        except BundleError as error:
            raise RuntimeFailure(f"--process {args.process}: {error}") from None
        if not isinstance(process, dict):
            raise RuntimeFailure(f"--process {args.process}: expected a JSON object")
        user = process.get("user") or {}
        message = {"argv": process.get("args"), "env": process.get("env") or [], "cwd": process.get("cwd") or "/",
                   "uid": user.get("uid", 0), "gid": user.get("gid", 0), "groups": user.get("additionalGids") or [],
                   "terminal": bool(process.get("terminal"))}
    else:
        command = list(args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd)
        uid, gid = bundle.uid, bundle.gid
        if args.user:
            user, _, group = args.user.partition(":")
            if not user.isdigit() or (group and not group.isdigit()):
                raise RuntimeFailure(f"--user {args.user!r}: expected UID[:GID] as numbers")
            uid, gid = int(user), int(group) if group else 0
        message = {"argv": command, "env": [*bundle.env, *args.env], "cwd": args.cwd or bundle.cwd,
                   "uid": uid, "gid": gid, "groups": args.additional_gids or bundle.additional_gids,
                   "terminal": args.tty}
    if not isinstance(message["argv"], list) or not message["argv"] or \
            not all(isinstance(a, str) for a in message["argv"]):
        raise RuntimeFailure("exec needs a command (process.args)")
    if message.pop("terminal") or args.console_socket:
        raise RuntimeFailure("exec with a terminal is not supported yet")
    message["argv"][0] = _find_command(bundle.rootfs, message["argv"][0], message["env"])
    return {"op": "exec", **message}


def _find_command(rootfs: str, command: str, env: list[str]) -> str:
    """``command`` along the process's PATH in the image, as runc's init finds it (itself if it
    has a slash or is found nowhere: the Sentry then says it is not found)."""
    from kernel.images.rootfs import ImageFiles
    from kernel.runspec import DEFAULT_PATH, CommandNotFoundInImage, find_command

    path = next((e.partition("=")[2] for e in reversed(env) if e.startswith("PATH=")), DEFAULT_PATH)
    try:
        with ImageFiles(rootfs) as root:
            return find_command(root, command, path)
    except (CommandNotFoundInImage, OSError):
        return command


def _exec_request(container: Container, message: dict[str, Any]) -> tuple[socket.socket, ExecPipes]:
    """Send the request with pipes for the process's stdin, stdout and stderr; the connection
    and our ends of the pipes, once the process runs.

    The process gets pipes, not our own stdio: the Sentry keeps what it is given, and the engine
    must see end-of-file on its streams when this command exits, as with runc."""
    from kernel import control

    path = os.path.join(control.runtime_root(), container.id, "control")
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    pipes = ExecPipes()
    try:
        connection.connect(path)
        connection.sendmsg([json.dumps(message).encode() + b"\n"],
                           [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", pipes.theirs))])
        pipes.sent()
        first = _reply(connection)
    except OSError as error:
        connection.close()
        pipes.close()
        raise RuntimeFailure(f"container {container.id}: {error.strerror or error}") from None
    if "error" in first:
        connection.close()
        pipes.close()
        if "status" in first:
            print(f"sentrio: {first['error']}", file=sys.stderr)
            raise SystemExit(_exit_code(int(first["status"])))
        raise RuntimeFailure(first["error"])
    return connection, pipes


class ExecPipes:
    """The exec'd process's stdio: three pipes, relayed to and from ours."""

    def __init__(self) -> None:
        self.stdin_read, self.stdin_write = os.pipe()
        self.stdout_read, self.stdout_write = os.pipe()
        self.stderr_read, self.stderr_write = os.pipe()
        self.theirs = [self.stdin_read, self.stdout_write, self.stderr_write]

    def sent(self) -> None:
        for fd in self.theirs:
            os.close(fd)
        self.theirs = []

    def close(self) -> None:
        for fd in (*self.theirs, self.stdin_write, self.stdout_read, self.stderr_read):
            with contextlib.suppress(OSError):
                os.close(fd)

    def relay(self, connection: socket.socket) -> int:
        """Copy our stdin in, the process's output out, until its status comes; the exit code."""
        import select

        outputs = {self.stdout_read: 1, self.stderr_read: 2}
        stdin_open = True
        status_line = b""
        try:
            while True:
                watched = [*outputs, connection.fileno()] + ([0] if stdin_open else [])
                ready, _, _ = select.select(watched, [], [])
                for fd in ready:
                    if fd == 0:
                        data = os.read(0, 65536)
                        if data:
                            _write_all(self.stdin_write, data)
                        else:
                            stdin_open = False
                            os.close(self.stdin_write)
                            self.stdin_write = -1
                    elif fd in outputs:
                        data = os.read(fd, 65536)
                        if data:
                            _write_all(outputs[fd], data)
                        else:
                            del outputs[fd]
                    else:
                        chunk = connection.recv(4096)
                        status_line += chunk
                        if not chunk or status_line.endswith(b"\n"):
                            self._drain(outputs)
                            return _exit_code(int(json.loads(status_line)["status"])) if chunk else 255
        except (OSError, ValueError, KeyError):
            return 255
        finally:
            self.close()

    @staticmethod
    def _drain(outputs: dict[int, int]) -> None:
        """What the process wrote before it ended (the Sentry keeps the pipes open)."""
        for fd, target in outputs.items():
            os.set_blocking(fd, False)
            with contextlib.suppress(BlockingIOError):
                while data := os.read(fd, 65536):
                    _write_all(target, data)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _reply(connection: socket.socket) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(1)  # one line at a time: the status line comes later
        if not chunk:
            raise OSError(0, "the sandbox closed the connection")
        data += chunk
    reply: dict[str, Any] = json.loads(data)
    return reply


def exec_(args: argparse.Namespace) -> int:
    """A new process in the running container; exits as it did (``--detach``: a child does)."""
    container = states.load(args.root, args.id)
    if container.status() != "running":
        raise RuntimeFailure(f"cannot exec in a container that is {container.status()}: {container.id}")
    connection, pipes = _exec_request(container, _exec_message(args, container))
    if not args.detach:
        if args.pid_file:
            _write_pid_file(args.pid_file, os.getpid())
        with connection:
            return pipes.relay(connection)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os._exit(pipes.relay(connection))
    connection.close()
    pipes.close()
    if args.pid_file:
        _write_pid_file(args.pid_file, pid)
    return 0


# --- kill, delete ----------------------------------------------------------------------------------

def parse_signal(text: str) -> int:
    """``TERM``, ``SIGTERM``, ``sigterm`` or ``15``; RuntimeFailure if none of them."""
    if text.isdigit():
        number = int(text)
        if 1 <= number <= 64:
            return number
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        with contextlib.suppress(AttributeError):
            return int(getattr(signal.Signals, name))
    raise RuntimeFailure(f"invalid signal: {text}")


def _signal(container: Container, signo: int) -> None:
    """Deliver ``signo``: SIGKILL (and any signal before start) to the Sentry, which ends the
    sandbox; others to the guest's first process through the control socket."""
    if signo == signal.SIGKILL or container.status() == "created" or signo in _RELAYED and not _control_ok(container):
        with contextlib.suppress(ProcessLookupError):
            os.kill(container.pid, signo if signo in (*_RELAYED, signal.SIGKILL) else signal.SIGKILL)
        return
    _control(container, {"op": "signal", "signo": signo})


def _control_ok(container: Container) -> bool:
    from kernel import control

    return os.path.exists(os.path.join(control.runtime_root(), container.id, "control"))


def kill(args: argparse.Namespace) -> int:
    container = states.load(args.root, args.id)
    signo = parse_signal(args.signal)
    if container.status() == "stopped":
        raise RuntimeFailure(f"container not running: {container.id}")
    _signal(container, signo)
    return 0


def _wait_gone(container: Container) -> None:
    deadline = time.monotonic() + KILL_WAIT
    while container.alive() and time.monotonic() < deadline:
        time.sleep(0.02)


def delete(args: argparse.Namespace) -> int:
    try:
        container = states.load(args.root, args.id)
    except RuntimeFailure:
        if args.force:
            return 0
        raise
    status = container.status()
    if status == "running" and not args.force:
        raise RuntimeFailure(f"cannot delete container {container.id} that is not stopped: running")
    if status != "stopped":
        with contextlib.suppress(ProcessLookupError):
            os.kill(container.pid, signal.SIGKILL)
        _wait_gone(container)
    _hooks(container, "poststop", fatal=False)
    container.remove()
    return 0


# --- features, spec ------------------------------------------------------------------------------

def features(args: argparse.Namespace) -> int:
    """The runtime-spec features document: what Sentrio honours of a config.json."""
    from abi.creds import CAP_NAMES

    document = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec"],
        "linux": {
            "namespaces": ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"],
            "capabilities": [_cap(name) for _, name in sorted(CAP_NAMES.items())],
            "cgroup": {"v1": False, "v2": False, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": False},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runtime-spec.features.sandbox": "sentrio"},
    }
    json.dump(document, sys.stdout, indent=2)
    print()
    return 0


def default_spec() -> dict[str, Any]:
    """What ``spec`` writes: a container running ``sh`` from ``rootfs/``, as runc's template."""
    from abi.creds import CAP_NAMES, DOCKER_DEFAULT_CAPS

    caps = [_cap(name) for number, name in sorted(CAP_NAMES.items()) if DOCKER_DEFAULT_CAPS >> number & 1]
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "sentrio",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        ],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
    }


def _cap(name: str) -> str:
    return name if name.startswith("CAP_") else f"CAP_{name}"


def spec(args: argparse.Namespace) -> int:
    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise RuntimeFailure(f"{path} exists: remove it first")
    with open(path, "w") as file:
        json.dump(default_spec(), file, indent=2)
        file.write("\n")
    return 0


COMMANDS = {
    "create": create, "start": start, "run": run, "state": state, "list": list_, "ps": ps,
    "kill": kill, "delete": delete, "exec": exec_, "features": features, "spec": spec,
}
