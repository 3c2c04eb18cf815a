"""The zygote: a resident, warmed-up Sentry that forks one child per ``run``.

A cold ``python -m kernel run`` spends most of its start-up being a new Python process: the
interpreter, then trio and every module of the Sentry imported before confinement (the confined
Sentry can no longer read a file). ``python -m kernel serve`` pays that once: it imports
everything, then waits on a Unix socket. ``run`` finds the socket, hands over its command line,
environment, working directory and standard streams, and the zygote forks a child that *is* the
run from then on — it reads the command line and starts the sandbox exactly as a cold Sentry
does, only with every module already in memory (Android's zygote, for the same reason).

Only the client stays with the user: it forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH,
SIGUSR1 and SIGUSR2 to the child, stops and continues with it (Ctrl-Z, ``fg``), and ends as it
ended (its exit code, or the same signal). It does so as ``sentrio-wait`` (waiter.c, built by pip
with the package), a few KiB of C it executes once the child is forked, or in Python where that
was not built. When the client dies, the zygote kills its child: a run never outlives its
command.

The wire: one ``SOCK_SEQPACKET`` connection per run. The client sends one msgpack map
(:class:`Request`'s fields) with its stdin, stdout, stderr and working directory as fds
(SCM_RIGHTS); the zygote answers ``{"pid": N}`` and, once the child has ended, ``{"status": S}``
(a wait status), or ``{"refused": REASON}`` at once — then the client runs cold, as if no zygote
were there. A zygote refuses a client of another uid (``SO_PEERCRED``), of another interpreter or
project directory, and itself once any of its source files has changed since it loaded them (it
then exits, so the next ``run`` after an edit is cold and the next ``serve`` is current).

Where the socket is: ``$SENTRIO_ZYGOTE`` when set (``off`` turns the zygote off for this
process and its children: the test suite does so), else ``zygote.sock`` in the runtime root
(``$SENTRIO_RUNTIME_DIR`` or ``/run/sentrio``, as :mod:`kernel.control`'s).

This package's ``__init__`` and :mod:`kernel.zygote.client` import only the standard library's
cheapest modules and msgpack: the client is on the critical path of every served run.
"""

from __future__ import annotations

import os

#: Names the zygote's socket, or turns the zygote off (:data:`OFF`).
SOCKET_VARIABLE = "SENTRIO_ZYGOTE"
OFF = ("off", "0", "no", "")
#: The socket's name in the runtime root.
SOCKET_NAME = "zygote.sock"
#: The runtime root's default (kernel.control.DEFAULT_RUNTIME_ROOT, not imported: too heavy here).
DEFAULT_RUNTIME_ROOT = "/run/sentrio"
#: The fds a request carries, in order.
PASSED_FDS = ("stdin", "stdout", "stderr", "cwd")
#: The largest request (command line and environment) a zygote reads.
MAX_REQUEST = 1 << 20
#: The project directory both ends must run from (the one holding ``kernel/``).
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def runtime_root(environ: os._Environ[str] | dict[str, str] = os.environ) -> str:
    """The runtime root of a process with environment ``environ`` (kernel.control's rule)."""
    return environ.get("SENTRIO_RUNTIME_DIR") or DEFAULT_RUNTIME_ROOT


def socket_path(environ: os._Environ[str] | dict[str, str] = os.environ) -> str | None:
    """The zygote's socket for this process, or None when the zygote is off."""
    chosen = environ.get(SOCKET_VARIABLE)
    if chosen is not None:
        return None if chosen.strip().lower() in OFF else chosen
    return os.path.join(runtime_root(environ), SOCKET_NAME)
