"""``run`` through a zygote: hand the run over, then stand in for it until it ends.

:func:`run_served` is called by ``python -m kernel`` before anything else is imported; it
returns None when no zygote takes the run (none listening, off, or refused), and the caller
runs it cold.
"""

from __future__ import annotations

import array
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

import msgpack

from kernel.zygote import MAX_REQUEST, PROJECT_ROOT, socket_path

#: Signals passed on to the run as they come (a terminal's ^C and ^\, a hangup, a resize, kill).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH, signal.SIGUSR1,
             signal.SIGUSR2)
#: Stop signals: the run is stopped with SIGSTOP, then the client stops itself (the shell's job).
STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)
#: The small program the client becomes once its run is forked (kernel/zygote/waiter.c, built by
#: pip with the package: ~0.1 MiB where this interpreter holds ~7 for the run's whole life). It
#: does what :func:`_stand_in` does; where it was not built, the client stands in itself.
WAITER: str | None = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sentrio-wait")


def run_served(argv: Sequence[str]) -> int | None:
    """Run ``python -m kernel ARGV`` in a zygote's child: its exit code, or None (run it cold)."""
    if not argv or argv[0] != "run":
        return None
    path = socket_path()
    if path is None:
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        conn.connect(path)
    except OSError:  # no zygote (the usual case), or one that is gone: run cold
        conn.close()
        return None
    try:
        return _served(conn, argv)
    finally:
        conn.close()


def _served(conn: socket.socket, argv: Sequence[str]) -> int | None:
    request = msgpack.packb({
        "argv": list(argv), "argv0": sys.argv[0], "env": dict(os.environ), "umask": _umask(),
        "executable": sys.executable, "project": PROJECT_ROOT,
    })
    if len(request) > MAX_REQUEST:
        return None  # a command line the zygote would not read: cold
    cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fds = array.array("i", [0, 1, 2, cwd])
        conn.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
    except OSError:
        return None
    finally:
        os.close(cwd)
    reply = _receive(conn)
    if reply is None or "pid" not in reply:
        return None  # refused (stale, another uid, ...) or gone before forking: cold
    child = os.pidfd_open(reply["pid"])  # the zygote reaps it only after telling us: no reuse
    _become_waiter(conn, child, argv)
    return _stand_in(conn, child)


def _become_waiter(conn: socket.socket, child: int, argv: Sequence[str]) -> None:
    """Execute :data:`WAITER` in this process's place (ps shows it with our command line); return
    only where it cannot be. The signals it handles are blocked across the exec, so one that
    comes before its handlers are set waits for them instead of killing the client."""
    if WAITER is None or not os.access(WAITER, os.X_OK):
        return
    handled = (*FORWARDED, *STOPS)
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, handled)
    os.set_inheritable(conn.fileno(), True)
    os.set_inheritable(child, True)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(WAITER, ["sentrio-wait", str(conn.fileno()), str(child), "--", *argv])
    except OSError:
        os.set_inheritable(conn.fileno(), False)
        os.set_inheritable(child, False)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stand_in(conn: socket.socket, child: int) -> int:
    """Until the run ends: pass signals on to it, stop with it, then end as it ended."""
    previous = {signo: signal.signal(signo, lambda signo, _: _forward(child, signo)) for signo in FORWARDED}
    previous.update({signo: signal.signal(signo, lambda signo, _: _stop(child)) for signo in STOPS})
    try:
        while True:
            reply = _receive(conn)
            if reply is None:
                print("sentrio: the zygote went away while it ran this sandbox; its status is unknown",
                      file=sys.stderr)
                return 125
            if "status" in reply:
                return _end_as(reply["status"])
    finally:
        for signo, handler in previous.items():
            signal.signal(signo, handler)
        os.close(child)


def _receive(conn: socket.socket) -> dict[str, Any] | None:
    while True:
        try:
            data = conn.recv(1 << 16)
        except InterruptedError:
            continue
        except OSError:
            return None
        if not data:
            return None
        reply = msgpack.unpackb(data)
        return reply if isinstance(reply, dict) else None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _forward(child: int, signo: int) -> None:
    try:
        signal.pidfd_send_signal(child, signo)
    except ProcessLookupError:
        pass


def _stop(child: int) -> None:
    """Ctrl-Z: stop the run, then ourselves; when the shell continues us, continue it."""
    _forward(child, signal.SIGSTOP)
    os.kill(os.getpid(), signal.SIGSTOP)
    _forward(child, signal.SIGCONT)


def _end_as(status: int) -> int:
    """The run's wait status as ours: its exit code, or death by the same signal."""
    if os.WIFSIGNALED(status):
        signo = os.WTERMSIG(status)
        sys.stdout.flush()
        if signo not in (signal.SIGKILL, signal.SIGSTOP):  # those two have no disposition to set
            signal.signal(signo, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signo])
        os.kill(os.getpid(), signo)
        return 128 + signo  # a signal whose default is not to end us (it was caught by the run)
    return os.waitstatus_to_exitcode(status)
