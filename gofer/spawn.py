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
"""

from __future__ import annotations

import gc
import logging
import os
import signal
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
    """Start helper ``package`` with command line ``argv``: a fork running ``main()(argv)``
    when :func:`can_fork`, else ``python -m package``. ``main`` is called in the child only
    (so the helper's modules are imported there, not in the caller). ``stdout``/``stderr`` are
    fds (None: /dev/null); stdin is /dev/null; ``env`` is added to the environment."""
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

    def helper() -> int:
        _become_fresh(pass_fds, stdout, stderr, env)
        name_process(["python", "-m", package, *argv])
        return main()(argv)

    run_and_exit(helper, usage_status=2)


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
