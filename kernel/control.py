"""The control socket: how ``python -m kernel ps`` and ``inspect`` see running sandboxes.

Every running sandbox has a directory ``RUNTIME/<id>/`` (``RUNTIME`` is ``/run/sentrio``, or
``$SENTRIO_RUNTIME_DIR``) holding ``state.json`` (what was started, by which Sentry, when) and
``control``, a Unix stream socket the Sentry answers on. A client sends one JSON line
``{"op": "inspect"}`` and reads one JSON line back: the state and the guest's processes. The
directory is removed when the sandbox ends, however it ends (the CLI removes it on its way out,
signals included); one left by a Sentry that was SIGKILLed, which runs no code at all, is
removed by the next ``ps`` that finds its Sentry gone. The removal goes through a descriptor of
the runtime root opened at creation, so it works wherever the Sentry's own view of the host's
file system has gone since (the Sentry is confined after start-up).
"""

from __future__ import annotations

import array
import contextlib
import json
import logging
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from abi.creds import KERNEL_CALLER
from abi.errno import Errno

log = logging.getLogger("sentrio.control")

if TYPE_CHECKING:
    from kernel.kernel import Kernel, KernelConfig
    from kernel.process import ThreadGroup

DEFAULT_RUNTIME_ROOT = "/run/sentrio"
#: The largest request a control connection reads.
MAX_REQUEST = 4096
CLIENT_TIMEOUT = 5.0


def runtime_root() -> str:
    """Where sandboxes keep their runtime directories."""
    return os.environ.get("SENTRIO_RUNTIME_DIR") or DEFAULT_RUNTIME_ROOT


class ControlError(Exception):
    """The runtime directory cannot be read; the message says why, in one line."""


class SandboxExists(Exception):
    """A running sandbox already has the id asked for."""


@dataclass(slots=True)
class SandboxDirectory:
    """``RUNTIME/<id>/`` of one running sandbox."""

    path: str
    state: dict[str, Any]
    #: A descriptor of ``RUNTIME`` (None once removed): what :meth:`remove` works through.
    root_fd: int | None = None

    @property
    def control_path(self) -> str:
        return os.path.join(self.path, "control")

    @classmethod
    def create(cls, root: str, config: KernelConfig) -> SandboxDirectory:
        """Make the directory and write state.json; SandboxExists if a running sandbox has the id."""
        os.makedirs(root, mode=0o711, exist_ok=True)
        path = os.path.join(root, config.sandbox_id)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            if _alive(path):
                raise SandboxExists(f"a sandbox named {config.sandbox_id!r} is running") from None
            shutil.rmtree(path, ignore_errors=True)
            os.mkdir(path, 0o700)
        state = {
            "id": config.sandbox_id,
            "sentry_pid": os.getpid(),
            "image": os.path.abspath(config.image),
            "command": [os.fsdecode(a) for a in config.argv],
            "created": time.time(),
            "hostname": config.hostname,
        }
        root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with open(os.path.join(path, "state.json"), "w") as file:
                json.dump(state, file)
        except BaseException:
            os.close(root_fd)
            shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(path, state, root_fd)

    def remove(self) -> None:
        """Remove the directory (once; later calls do nothing)."""
        if self.root_fd is None:
            return
        root_fd, self.root_fd = self.root_fd, None
        try:
            shutil.rmtree(os.path.basename(self.path), dir_fd=root_fd)
        except FileNotFoundError:
            pass
        except OSError as error:
            log.warning("cannot remove %s: %s", self.path, error.strerror or error)
        finally:
            os.close(root_fd)


async def _working_directory(kernel: Kernel, process: ThreadGroup) -> str:
    """A process's working directory, as the VFS names it ("" once it has none)."""
    try:
        return os.fsdecode(await kernel.bus.call("vfs", "getcwd", KERNEL_CALLER, process.root, process.cwd))
    except Errno:
        return ""


async def describe(kernel: Kernel, state: dict[str, Any]) -> dict[str, Any]:
    """What ``inspect`` shows: the sandbox's state and its guest processes."""
    processes = []
    for process in sorted(kernel.processes.values(), key=lambda p: p.pid):
        creds = process.creds
        processes.append({
            "pid": process.pid,
            "ppid": process.ppid,
            "comm": os.fsdecode(process.comm),
            "uid": creds.uid,
            "gid": creds.gid,
            "cwd": await _working_directory(kernel, process),
            "threads": len(process.live_tasks),
            "state": "running" if process.exit_status is None else "exited",
        })
    config = kernel.config
    return {
        **state,
        "status": "running",
        "config": {
            "cwd": os.fsdecode(config.cwd),
            "user": {"uid": config.uid, "gid": config.gid, "additionalGids": list(config.additional_gids)},
            "env": [os.fsdecode(e) for e in config.env],
            "root": "read-only" if config.read_only else "rw" if config.rw else "overlay",
            "mounts": [{"destination": m.destination, "type": m.kind, "source": m.source,
                        "readonly": m.read_only} for m in config.mounts],
            "memory": config.memory_limit,
            "pids_limit": config.pids_limit,
        },
        "processes": processes,
    }


async def signal_init(kernel: Kernel, signo: Any) -> dict[str, Any]:
    """``kill`` of an OCI engine: ``signo`` to the guest's first process, sent from outside its
    pid namespace (si_pid 0), as runc's kill reaches a container's init."""
    from abi.linux import SI_USER
    from abi.structs import SIGINFO_KILL

    if not isinstance(signo, int) or isinstance(signo, bool) or not 1 <= signo <= 64:
        return {"error": f"invalid signal {signo!r}"}
    init = kernel.processes.get(1)
    if init is None or init.zombie:
        return {"error": "the container is not running"}
    try:
        await kernel.bus.call("signals", "send", init.pid, None, signo, SIGINFO_KILL.pack(signo, 0, SI_USER, 0, 0, 0))
    except Errno as error:
        return {"error": str(error)}
    return {"signalled": init.pid}


async def exec_and_wait(kernel: Kernel, message: dict[str, Any], fds: list[int], stream: trio.SocketStream) -> None:
    """``exec``: start the process ``message`` describes with ``fds`` as its stdio, reply with
    its guest pid, then with its wait status once it ends."""
    from kernel.exec import CommandNotExecutable, CommandNotFound
    from kernel.runtime.execute import ExecRequest, exec_process

    async def send(reply: dict[str, Any]) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(json.dumps(reply).encode() + b"\n")

    try:
        if len(fds) != 3:
            raise ValueError(f"expected 3 descriptors, got {len(fds)}")
        request = ExecRequest(
            argv=[os.fsencode(a) for a in message["argv"]], env=[os.fsencode(e) for e in message["env"]],
            cwd=os.fsencode(message["cwd"]), uid=int(message["uid"]), gid=int(message["gid"]),
            groups=tuple(int(g) for g in message["groups"]))
        if not request.argv or not request.argv[0]:
            raise ValueError("no command")
    except (ValueError, KeyError, TypeError) as error:
        for fd in fds:
            os.close(fd)
        await send({"error": f"bad exec request: {error}"})
        return
    try:
        process = await exec_process(kernel, request, (fds[0], fds[1], fds[2]))
    except CommandNotFound as error:
        # The words podman and docker look for to exit 127, as with runc.
        await send({"error": f"exec {error.command}: executable file not found in $PATH", "status": 127 << 8})
        return
    except (CommandNotExecutable, Errno) as error:
        await send({"error": f"cannot exec: {error}", "status": 126 << 8})
        return
    await send({"pid": process.pid})
    await process.exited.wait()
    await send({"status": process.exit_status})


async def serve(kernel: Kernel, sandbox: SandboxDirectory,
                task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Answer control requests until cancelled."""
    listener = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        await listener.bind(sandbox.control_path)
        listener.listen(16)
    except OSError as error:  # e.g. a path longer than a socket address holds: run without one
        log.warning("no control socket at %s: %s", sandbox.control_path, error.strerror or error)
        listener.close()
        task_status.started()
        return
    task_status.started()

    async def answer(stream: trio.SocketStream) -> None:
        async with stream:
            request = b""
            fds: list[int] = []  # an exec's stdio, sent with the request's first bytes
            with trio.move_on_after(CLIENT_TIMEOUT):
                with contextlib.suppress(OSError):
                    request, ancillary, _, _ = await stream.socket.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(3 * 4))
                    for level, kind, data in ancillary:
                        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                            fds += list(array.array("i", data[:len(data) - len(data) % 4]))
                while request and b"\n" not in request and len(request) < MAX_REQUEST:
                    chunk = await stream.receive_some(MAX_REQUEST)
                    if not chunk:
                        break
                    request += chunk
            try:
                message = json.loads(request.decode())
                op = message.get("op")
            except (ValueError, UnicodeDecodeError, AttributeError):
                message, op = {}, None
            if op in ("inspect", "ps"):
                reply: dict[str, Any] = await describe(kernel, sandbox.state)
            elif op == "signal":
                reply = await signal_init(kernel, message.get("signo"))
            elif op == "exec":
                fds, taken = [], fds
                await exec_and_wait(kernel, message, taken, stream)
                return
            else:
                reply = {"error": f"unknown request {request[:64]!r}"}
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send_all(json.dumps(reply).encode() + b"\n")

    await trio.serve_listeners(answer, [trio.SocketListener(listener)])


# --- the client side ---------------------------------------------------------------------------

def _alive(path: str) -> bool:
    """Whether the Sentry that made ``path`` still runs."""
    try:
        with open(os.path.join(path, "state.json")) as file:
            pid = int(json.load(file)["sentry_pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def query(path: str, op: str = "inspect") -> dict[str, Any] | None:
    """Ask the sandbox at ``path``; None if it does not answer."""
    return request(path, {"op": op})


def request(path: str, message: dict[str, Any]) -> dict[str, Any] | None:
    """Send ``message`` to the sandbox at ``path``; its reply, None if it does not answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(CLIENT_TIMEOUT)
            client.connect(os.path.join(path, "control"))
            client.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = client.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
        return json.loads(data)
    except (OSError, ValueError):
        return None


def sandboxes() -> list[dict[str, Any]]:
    """Every running sandbox's description; directories of dead Sentries are cleaned up."""
    root = runtime_root()
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    except OSError as error:
        raise ControlError(f"cannot read {root}: {error.strerror}") from None
    found = []
    for name in names:
        path = os.path.join(root, name)
        if not os.path.isdir(path):
            continue
        answer = query(path)
        if answer is not None and "error" not in answer:
            found.append(answer)
        elif not _alive(path):
            shutil.rmtree(path, ignore_errors=True)
    return found


def _age(created: float) -> str:
    seconds = max(0, int(time.time() - created))
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} seconds ago"


def print_ps() -> int:
    """``python -m kernel ps``: one line per running sandbox."""
    rows = [("SANDBOX ID", "PROCESSES", "CREATED", "COMMAND", "IMAGE")]
    for box in sandboxes():
        command = " ".join(box.get("command", []))
        rows.append((box["id"], str(len(box.get("processes", []))), _age(box.get("created", 0)),
                     command if len(command) <= 30 else command[:27] + "...", box.get("image", "")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("   ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "   " + row[-1])
    return 0


def print_inspect(ident: str) -> int:
    """``python -m kernel inspect ID``: the sandbox (ID or a unique prefix of it) as JSON."""
    matches = [box for box in sandboxes() if box["id"] == ident] or \
              [box for box in sandboxes() if box["id"].startswith(ident)]
    if len(matches) != 1:
        why = "no such sandbox" if not matches else "ambiguous sandbox id"
        print(f"sentrio: {why}: {ident}", file=sys.stderr)
        return 125
    json.dump(matches[0], sys.stdout, indent=2)
    print()
    return 0
