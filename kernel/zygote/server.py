"""``python -m kernel serve``: the zygote's loop (see :mod:`kernel.zygote`).

One thread, no trio run: a fork is only safe from such a process, and every run is a fork. The
loop waits on the listening socket, on each client's connection (its end: kill that run) and on
each child's pidfd (its end: tell the client its wait status, then reap it).
"""

from __future__ import annotations

import array
import atexit
import gc
import logging
import os
import resource
import selectors
import shutil
import signal
import socket
import stat
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import msgpack

from abi.seccomp import PidTemplate
from kernel.confine.keeper import made_by
from kernel.zygote import MAX_REQUEST, PASSED_FDS, PROJECT_ROOT, runtime_root

log = logging.getLogger("sentrio.zygote")

_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class ZygoteError(Exception):
    """The zygote cannot serve (its socket cannot be made); one line, exit 125."""


@dataclass(slots=True)
class _Run:
    """A child running one client's sandbox."""

    conn: socket.socket
    pid: int
    pidfd: int
    #: Where its sandbox's runtime directory is made (the client's ``$SENTRIO_RUNTIME_DIR``).
    runtime_root: str


class Zygote:
    """The listening socket, the runs being served, and the source files as they were loaded."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._sources = _loaded_sources()
        self._selector = selectors.DefaultSelector()
        self._runs: dict[int, _Run] = {}  # by pid
        self._listener = _listen(path)
        self._inode = os.stat(path).st_ino  # to remove our socket on the way out, not a successor's
        self._selector.register(self._listener, selectors.EVENT_READ, None)

    def serve_forever(self) -> None:
        """Serve until a signal ends the zygote, or its sources change."""
        log.info("serving on %s (pid %d)", self.path, os.getpid())
        while True:
            for key, _ in self._selector.select():
                if key.data is None:
                    if not self._accept():
                        return
                else:
                    kind, run = key.data
                    if kind == "ended":
                        self._ended(run)
                    else:
                        self._client_gone(run)

    def close(self) -> None:
        """Stop listening; kill the runs still going (their clients get no status)."""
        try:
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass
        self._listener.close()
        for run in list(self._runs.values()):
            _kill(run.pidfd)
            self._ended(run)

    # --- one run ------------------------------------------------------------------------------

    def _accept(self) -> bool:
        """Take one request; False when the zygote must stop (its sources changed)."""
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return True
        try:
            return self._request(conn)
        except Exception:  # noqa: BLE001 — one bad request must not end the zygote
            log.exception("a request failed")
            conn.close()
            return True

    def _request(self, conn: socket.socket) -> bool:
        fds: list[int] = []
        try:
            data, ancillary, flags, _ = conn.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(4 * len(PASSED_FDS)))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds += array.array("i", payload[: len(payload) - len(payload) % 4])
            client, uid, _ = _PEERCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
            request = _unpack(data) if not flags & socket.MSG_TRUNC else None
            refusal = self._refusal(request, uid, fds, flags)
            if refusal is not None:
                _send(conn, {"refused": refusal})
                conn.close()
                return refusal != _STALE
            assert isinstance(request, dict)
            pid = os.fork()
            if pid == 0:
                self._become_run(conn, request, fds, client)  # never returns
            _send(conn, {"pid": pid})
            log.info("serving run %d for client %d", pid, client)
        finally:
            for fd in fds:
                os.close(fd)
        environ = request["env"] if isinstance(request.get("env"), dict) else {}
        run = _Run(conn, pid, os.pidfd_open(pid), str(runtime_root(environ)))
        self._runs[pid] = run
        self._selector.register(run.pidfd, selectors.EVENT_READ, ("ended", run))
        self._selector.register(conn, selectors.EVENT_READ, ("client", run))
        return True

    def _refusal(self, request: Any, uid: int, fds: list[int], flags: int) -> str | None:
        if uid != os.geteuid():
            return f"this zygote serves uid {os.geteuid()} only"
        if not isinstance(request, dict) or len(fds) != len(PASSED_FDS) or flags & socket.MSG_CTRUNC:
            return "malformed request"
        if request.get("executable") != sys.executable or request.get("project") != PROJECT_ROOT:
            return f"this zygote runs {sys.executable} from {PROJECT_ROOT}"
        if _loaded_sources() != self._sources:
            log.warning("source files changed since they were loaded: stopping (start `serve` again)")
            return _STALE
        return None

    def _become_run(self, conn: socket.socket, request: dict[str, Any], fds: list[int], client: int) -> NoReturn:
        """In the child: become ``python -m kernel ARGV`` as the client would have run it."""
        from gofer.spawn import name_process, release_reserved, reserve, run_and_exit
        from kernel.cli import main
        from kernel.confine.sentry import parent_keeps_runtime_directory

        def become() -> int:
            conn.close()  # our parent tells the client how we ended
            self._listener.close()
            self._selector.close()
            for other in self._runs.values():
                other.conn.close()
                os.close(other.pidfd)
            stdin, stdout, stderr, cwd = fds
            for target, source in ((0, stdin), (1, stdout), (2, stderr)):
                os.dup2(source, target)
            # First of all, so that every page this run writes from here on is charged to the
            # client's cgroup, not the zygote's (~1 MiB of the steps below, measured).
            try:
                adopt_process_context(client)
            except OSError as error:
                print(f"sentrio: the zygote's run cannot take its client's place: {error}", file=sys.stderr)
                return 125
            os.fchdir(cwd)
            for fd in fds:
                os.close(fd)
            os.umask(int(request["umask"]))
            _take_environment(request["env"])
            sys.argv = [str(request["argv0"]), *request["argv"]]
            name_process(["python", "-m", "kernel", *map(str, request["argv"])])
            for signo in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
                signal.signal(signo, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            _drop_zygote_logging()
            parent_keeps_runtime_directory()  # we remove it when the run has ended: no keeper
            reserve()  # the image's gofer, forked before this run writes most of its pages (gofer/spawn.py)
            status = main([str(arg) for arg in request["argv"]])
            release_reserved()  # a run that started no sandbox did not use it
            atexit._run_exitfuncs()  # as python -m kernel ends (kernel/__main__.py)
            return status

        run_and_exit(become, usage_status=125)

    def _ended(self, run: _Run) -> None:
        _remove_runtime_directory(run)  # before the reap: until then no other process has its pid
        _, status = os.waitpid(run.pid, 0)
        self._forget(run)
        try:
            _send(run.conn, {"status": status})
        except OSError:
            pass  # the client is gone too
        run.conn.close()

    def _client_gone(self, run: _Run) -> None:
        """The client ended (or wrote, which it never does): its run ends with it."""
        _kill(run.pidfd)

    def _forget(self, run: _Run) -> None:
        self._selector.unregister(run.pidfd)
        self._selector.unregister(run.conn)
        os.close(run.pidfd)
        del self._runs[run.pid]


_STALE = "the zygote's source files changed since it started"


def _take_environment(wanted: dict[str, str]) -> None:
    """Make ``os.environ`` the client's, writing only what differs from the zygote's (each
    write runs ``os._Environ``'s Python code and putenv: pages copied into the run)."""
    environ = os.environ
    for key in [key for key in environ if key not in wanted]:
        del environ[key]
    for key, value in wanted.items():
        if environ.get(key) != value:
            environ[key] = value


def _drop_zygote_logging() -> None:
    """Drop the handlers ``serve`` gave the root and "sentrio" loggers, the only ones it sets
    up; the run sets up its own (kernel/cli.py). (gofer.spawn.forget_logging reads every
    logger, and each one read is a page copied into the run.)"""
    for name in (None, "sentrio"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)


def _unpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data)
    except ValueError:  # msgpack's errors are ValueErrors: not msgpack, truncated, extra data
        return None


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    conn.send(msgpack.packb(message))


def _remove_runtime_directory(run: _Run) -> None:
    """Remove the runtime directory the ended ``run`` made (the keeper's work for a cold run:
    :mod:`kernel.confine.keeper`), if it left one behind."""
    try:
        entries = list(os.scandir(run.runtime_root))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) and made_by(entry.path) == run.pid:
            shutil.rmtree(entry.path, ignore_errors=True)


def _kill(pidfd: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass


def adopt_process_context(client: int) -> None:
    """Take on what the host lets ``client`` use, as a cold run started by it would have: its
    cgroups (memory, CPU and pids limits; charges from here on are the client's), CPU affinity,
    resource limits, scheduling priority and OOM score."""
    ours = set(_cgroup_directories("self"))
    for directory in _cgroup_directories(client):
        if directory not in ours:
            (directory / "cgroup.procs").write_text(f"{os.getpid()}\n")
    os.sched_setaffinity(0, os.sched_getaffinity(client))
    for limit in _RLIMITS:
        resource.setrlimit(limit, resource.prlimit(client, limit))
    os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, client))
    Path("/proc/self/oom_score_adj").write_text(Path(f"/proc/{client}/oom_score_adj").read_text())


_RLIMITS = tuple(getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_"))


def _cgroup_directories(pid: int | str) -> list[Path]:
    """The directory of each cgroup ``pid`` is in, one per mounted hierarchy."""
    mounts = _cgroup_mounts()
    directories = []
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        mount = mounts.get(frozenset(controllers.split(",")) if controllers else frozenset())
        if mount is not None:
            root, point = mount
            relative = os.path.relpath(path, root) if root != "/" else path.lstrip("/")
            directories.append(Path(point, relative) if relative != "." else Path(point))
    return directories


def _cgroup_mounts() -> dict[frozenset[str], tuple[str, str]]:
    """Each mounted cgroup hierarchy, by its controllers (cgroup v2's: the empty set): the
    hierarchy's directory at the mount's root, and the mount point."""
    ignored = {"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode", "nsdelegate",
               "memory_recursiveprot", "memory_localevents", "favordynmods"}
    mounts: dict[frozenset[str], tuple[str, str]] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        fstype, options = fields[separator + 1], fields[separator + 3]
        if fstype == "cgroup":
            controllers = frozenset(option for option in options.split(",")
                                    if option not in ignored and not option.startswith("release_agent"))
        elif fstype == "cgroup2":
            controllers = frozenset()
        else:
            continue
        mounts.setdefault(controllers, (fields[3], fields[4]))
    return mounts


def _listen(path: str) -> socket.socket:
    """A SOCK_SEQPACKET listener at ``path``, only for its owner; a stale socket is replaced,
    a live zygote's is not."""
    directory = os.path.dirname(path) or "."
    try:
        os.makedirs(directory, mode=0o711, exist_ok=True)
    except OSError as error:
        raise ZygoteError(f"cannot make {directory}: {error.strerror}") from None
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        probe.connect(path)
    except FileNotFoundError:
        pass
    except ConnectionRefusedError:  # a socket nobody listens on: a zygote that died
        os.unlink(path)
    except OSError as error:
        raise ZygoteError(f"{path}: {error.strerror}") from None
    else:
        raise ZygoteError(f"{path}: a zygote already serves there")
    finally:
        probe.close()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    old_mask = os.umask(0o177)  # the socket is born 0600: no moment when another user may connect
    try:
        listener.bind(path)
    except OSError as error:
        listener.close()
        raise ZygoteError(f"cannot listen on {path}: {error.strerror}") from None
    finally:
        os.umask(old_mask)
    listener.listen(64)
    return listener


def _loaded_sources() -> dict[str, tuple[int, int]]:
    """(mtime, size) of the source of every module loaded from the project directory."""
    sources = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(PROJECT_ROOT + os.sep):
            try:
                info = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                sources[path] = (info.st_mtime_ns, info.st_size)
    return sources


#: A command line like those a zygote serves, parsed while it warms up: CPython 3.11 rewrites an
#: instruction's inline cache each time it runs it until it has specialized it, so argparse's
#: code run first in a served run was pages copied into it (~0.25 MiB of a served run's peak).
_TYPICAL_RUN = ["run", "-i", "--network", "none", "-e", "NAME=value", "IMAGE", "--", "/bin/true", "argument"]
#: How many times: more than it takes an instruction to be specialized.
_WARM_ROUNDS = 64


def warm_up() -> None:
    """Import everything any run could need, as the confined Sentry does before confinement;
    build the command lines' parsers (the run's, its gofers') and exercise the run's on a
    typical command line until its code has settled (:data:`_TYPICAL_RUN`), and a gofer's
    session likewise (:mod:`gofer.exercise`); compile the seccomp filters (the Sentry's and its
    helpers', given each pid later) and every system call's argument decoder (a run would
    compile those of the calls it makes, ~0.2 ms each); then freeze the heap so that children
    do not copy pages for the collector's sake."""
    import gofer.__main__
    import gofer.exercise
    from kernel.confine.sentry import preload
    from kernel.syscalls.table import compile_decoders

    preload()
    preload(("netgate",))
    import kernel.cli  # the run's entry point
    import setproctitle  # noqa: F401

    parser = kernel.cli.build_parser_now()
    gofer.__main__.build_parser()
    for _ in range(_WARM_ROUNDS):
        parser.parse_args(_TYPICAL_RUN)
    gofer.exercise.exercise(_WARM_ROUNDS)
    for template in seccomp_templates():
        template.compile()
    compile_decoders()
    gc.collect()
    gc.freeze()


def seccomp_templates() -> list[PidTemplate]:
    """The seccomp filters a run's processes install (the Sentry's, both kinds of gofer's, the
    net helper's): the zygote compiles them once for all its runs."""
    import gofer.seccomp
    import netgate.seccomp
    from kernel.confine.allowlist import SENTRY_TEMPLATE

    return [SENTRY_TEMPLATE, *gofer.seccomp.TEMPLATES.values(), netgate.seccomp.TEMPLATE]


def main(path: str) -> int:
    """Warm up, then serve at ``path`` until SIGTERM or SIGINT."""
    warm_up()
    try:
        zygote = Zygote(path)
    except ZygoteError as error:
        print(f"sentrio: {error}", file=sys.stderr)
        return 125

    def stop(signo: int, _frame: Any) -> None:
        raise SystemExit(128 + signo)

    for signo in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signo, stop)
    try:
        zygote.serve_forever()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        zygote.close()
    return 0
