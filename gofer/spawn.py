"""Starting a helper process (a gofer, the net helper) as a fork of the running interpreter.

A helper used to be ``python -m gofer ...``: a new interpreter that imports trio and its own
modules before it can confine itself, 0.1–0.25 s of CPU on this machine, on the critical path of
every sandbox's start (the image's gofer must answer before the Sentry can mount its root). The
Sentry has most of those modules already imported, so a fork of it starts the helper's ``main``
at once, and with ``python -m kernel serve`` (:mod:`kernel.zygote`) every module is imported.

The child is made to look like a freshly executed helper before its ``main`` runs: a session of
its own, the standard streams the caller chose, no other fd than those passed (a fork inherits
every fd of the Sentry: the terminal, the control socket, published ports), Python's default
signal handlers, no logging handler of the parent's, the given environment variables. It never
returns into the caller's code: its status ends it with ``os._exit``.

A fork is only safe from a process with one thread and outside a trio run (another thread may
hold a lock the child would need; a child of a run would find trio's run state and the parent's
epoll instance). Elsewhere — a spawn from inside a running Sentry, or a test — :func:`start`
executes ``python -m PACKAGE`` as before; both give the same :class:`subprocess.Popen`-like
handle and the same process.

A served run (:mod:`kernel.zygote`) has written a few MiB of its own by the time it starts its
gofer, and a fork then shares those pages with the gofer until either writes them again; one
forked before, while the run has written next to nothing, is charged less (~0.4 MiB of a served
run's peak, docs/benchmarks.md). :func:`reserve` makes such a fork at the run's start; it waits
to become the next helper :func:`start` is asked for: the same child, with the same fds, as a
fork at that moment would have been.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn
from pathlib import Path

#: The directory holding the project's packages, so an executed helper imports them from anywhere.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: What a helper's ``main`` is: its command line (without the program name) to an exit status.
Main = Callable[[list[str]], int]


class ForkedChild:
    """A forked helper, with what the Sentry uses of :class:`subprocess.Popen`: ``pid``,
    ``returncode``, :meth:`poll`, :meth:`wait` (``TimeoutExpired`` after ``timeout``),
    :meth:`send_signal` and :meth:`kill`."""

    def __init__(self, pid: int, args: Sequence[str]) -> None:
        self.pid = pid
        self.args = list(args)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: nothing more will be known
                self.returncode = 0
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            if self.returncode is None:
                try:
                    _, status = os.waitpid(self.pid, 0)
                except ChildProcessError:  # reaped elsewhere: nothing more will be known
                    self.returncode = 0
                else:
                    self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while (code := self.poll()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
        return code

    def send_signal(self, signo: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, signo)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


Child = subprocess.Popen[bytes] | ForkedChild


def can_fork() -> bool:
    """Whether this process may fork a helper: one thread, and no trio run in it."""
    if threading.active_count() != 1:
        return False
    trio = sys.modules.get("trio")
    return trio is None or not trio.lowlevel.in_trio_run()


def start(package: str, main: Callable[[], Main], argv: Sequence[str], *, pass_fds: Sequence[int],
          stdout: int | None, stderr: int | None, env: Mapping[str, str] = {}) -> Child:
    """Start helper ``package`` with command line ``argv``: a reserved fork (:func:`reserve`)
    or a fork now, when :func:`can_fork`, running ``main()(argv)``; else ``python -m package``.
    ``main`` is called in the child only (so the helper's modules are imported there, not in the
    caller); it must be a module-level function (a reserved fork finds it by name).
    ``stdout``/``stderr`` are fds (None: /dev/null); stdin is /dev/null; ``env`` is added to the
    environment."""
    while _reserved:
        reserved = _reserved.pop(0)
        try:
            return reserved.become(package, main, list(argv), pass_fds, stdout, stderr, env)
        except OSError:  # it died while it waited (killed from outside): reap it, start one anew
            reserved.release()
    if can_fork():
        return _fork(main, list(argv), pass_fds, stdout, stderr, env, package)
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), full_env.get("PYTHONPATH")]))
    full_env.update(env)
    devnull = subprocess.DEVNULL
    # A session of its own: a terminal's Ctrl-C, Ctrl-\ or hangup is for the guest (the Sentry
    # passes it on), not for a helper, which lives exactly as long as the Sentry.
    return subprocess.Popen([sys.executable, "-m", package, *argv], pass_fds=list(pass_fds), env=full_env,
                            stdin=devnull, stdout=devnull if stdout is None else stdout,
                            stderr=devnull if stderr is None else stderr, start_new_session=True)


def _fork(main: Callable[[], Main], argv: list[str], pass_fds: Sequence[int], stdout: int | None,
          stderr: int | None, env: Mapping[str, str], package: str) -> ForkedChild:
    flush_standard_streams()  # what is buffered is the parent's to write, not to be written twice
    # Every object so far out of the collector's reach: a collection in the parent would
    # otherwise write to every object's header, and each page it wrote would become the
    # helper's own copy (Instagram's reason for gc.freeze; docs/benchmarks.md "Idle memory").
    gc.freeze()
    pid = os.fork()
    if pid:
        return ForkedChild(pid, [package, *argv])

    run_and_exit(lambda: _be_helper(package, main, argv, pass_fds, stdout, stderr, env), usage_status=2)


def _be_helper(package: str, main: Callable[[], Main], argv: list[str], pass_fds: Sequence[int],
               stdout: int | None, stderr: int | None, env: Mapping[str, str]) -> int:
    """In a forked child (made now or reserved before): become helper ``package``, as a freshly
    executed ``python -m package ARGV`` would start, and run it."""
    _become_fresh(pass_fds, stdout, stderr, env)
    name_process(["python", "-m", package, *argv])
    return main()(argv)


class _Reserved:
    """A fork made by :func:`reserve`, waiting on its socket to become one helper."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock

    def become(self, package: str, main: Callable[[], Main], argv: list[str], pass_fds: Sequence[int],
               stdout: int | None, stderr: int | None, env: Mapping[str, str]) -> ForkedChild:
        """Send it what :func:`_fork` would have given its child, with the fds it needs."""
        import msgpack

        fds = [*pass_fds, *(fd for fd in (stdout, stderr) if fd is not None)]
        request = {"package": package, "main": [main.__module__, main.__qualname__], "argv": argv,
                   "pass_fds": list(pass_fds), "stdout": stdout is not None, "stderr": stderr is not None,
                   "env": dict(env)}
        try:
            socket.send_fds(self.sock, [msgpack.packb(request)], fds)
        finally:
            self.sock.close()
        return ForkedChild(self.pid, [package, *argv])

    def release(self) -> None:
        """End it unused (its socket's end is its signal to exit) and reap it."""
        self.sock.close()
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


#: Reserved forks not yet used, oldest first.
_reserved: list[_Reserved] = []


def _forget_reserved() -> None:
    """In any child of this process: the reserved forks are its parent's, not its own to use
    or to keep open (a fork's end of the socket would hide the parent's release from them)."""
    for reserved in _reserved:
        reserved.sock.close()
    _reserved.clear()


os.register_at_fork(after_in_child=_forget_reserved)
#: The largest request a reserved fork reads (a helper's command line and environment).
_MAX_REQUEST = 1 << 20


def reserve() -> None:
    """Fork now a process that will become the next helper :func:`start` is asked for (see the
    module's docstring for why); nothing where :func:`can_fork` says no. :func:`release_reserved`
    ends those never used."""
    if not can_fork():
        return
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    flush_standard_streams()
    pid = os.fork()
    if pid:
        theirs.close()
        _reserved.append(_Reserved(pid, ours))
        return
    ours.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C while it waits is the Sentry's to handle
    run_and_exit(lambda: _wait_to_become(theirs), usage_status=2)


def release_reserved() -> None:
    """End every reserved fork that no helper used."""
    while _reserved:
        _reserved.pop().release()


def _wait_to_become(sock: socket.socket) -> int:
    """In a reserved fork: wait for :meth:`_Reserved.become`'s request, then become that helper
    as :func:`_fork`'s child does; exit 0 at once if the request never comes."""
    import msgpack

    try:
        data, received, _, _ = socket.recv_fds(sock, _MAX_REQUEST, 64)
    except OSError:
        return 0
    finally:
        sock.close()
    if not data:
        return 0
    request = msgpack.unpackb(data)
    # The fds arrive under new numbers; the command line names them by the parent's. Moved out
    # of the way first, then each passed fd is put where the parent had it.
    lowest = max([*request["pass_fds"], *received, 2]) + 1
    moved = [_move_above(fd, lowest) for fd in received]
    passed, streams = moved[: len(request["pass_fds"])], list(moved[len(request["pass_fds"]):])
    for fd, number in zip(passed, request["pass_fds"]):
        os.dup2(fd, number)
        os.close(fd)
    stdout = streams.pop(0) if request["stdout"] else None
    stderr = streams.pop(0) if request["stderr"] else None
    module, qualname = request["main"]
    main: Callable[[], Main] = getattr(importlib.import_module(module), qualname)
    return _be_helper(request["package"], main, list(request["argv"]), request["pass_fds"], stdout, stderr,
                      request["env"])


def _move_above(fd: int, lowest: int) -> int:
    """``fd`` under the first free number from ``lowest`` on (the old number is closed)."""
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, lowest)
    os.close(fd)
    return moved


def run_and_exit(body: Callable[[], int], usage_status: int) -> NoReturn:
    """End a forked child with ``body()``'s status, never returning into its parent's code: a
    ``SystemExit`` without a number (argparse's) is ``usage_status``; any other exception is
    printed on stderr and the status is 1. The standard streams are flushed on the way out."""
    status = 1
    try:
        status = body()
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else usage_status
    except BaseException:  # noqa: BLE001 — a child has nowhere else to report it
        traceback.print_exc()
    finally:
        flush_standard_streams()
        os._exit(status)


def flush_standard_streams() -> None:
    """Flush stdout and stderr before the process forks or ends with ``os._exit``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away, or a stream closed
            pass


def _become_fresh(pass_fds: Sequence[int], stdout: int | None, stderr: int | None,
                  env: Mapping[str, str]) -> None:
    """In the child: what a new ``python -m`` process would have started with."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for target, source in ((0, null), (1, null if stdout is None else stdout), (2, null if stderr is None else stderr)):
        os.dup2(source, target)
    keep = sorted({0, 1, 2, *pass_fds})
    for low, high in zip(keep, [*keep[1:], os.sysconf("SC_OPEN_MAX")]):
        os.closerange(low + 1, high)
    for fd in pass_fds:
        os.set_inheritable(fd, True)
    signal.set_wakeup_fd(-1)
    for signo in signal.valid_signals():
        handler = signal.getsignal(signo)
        if callable(handler) and handler not in (signal.default_int_handler,):
            signal.signal(signo, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    forget_logging()
    os.environ.update(env)


def name_process(argv: Sequence[str]) -> None:
    """What ``ps`` and /proc/PID/cmdline show for this process: the command line it would have
    been started with (one string; a reader splits it at spaces)."""
    from setproctitle import setproctitle

    setproctitle(" ".join(argv))


def forget_logging() -> None:
    """Drop the parent's logging set-up (its handlers write to its files and terminal)."""
    manager = logging.Logger.manager
    for logger in [logging.root, *(item for item in manager.loggerDict.values() if isinstance(item, logging.Logger))]:
        # Only what differs is written: a write to a logger inherited from the parent copies its
        # page, and setLevel clears every logger's cache (what a fork runs, it runs in each child).
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        if logger.level != logging.NOTSET and logger is not logging.root:
            logger.setLevel(logging.NOTSET)
        if not logger.propagate:
            logger.propagate = True
        if logger.disabled:
            logger.disabled = False
    if logging.root.level != logging.WARNING:
        logging.root.setLevel(logging.WARNING)
