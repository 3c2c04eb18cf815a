"""Plugins that make a confined Sentry, or a confined gofer, try what a compromised one would.

``python -m kernel run --plugin tests.security.plugins:sentry_attempt IMAGE -- PROGRAM``, with
``SENTRIO_ATTEMPT`` naming one action: when the guest first calls uname(2), the Sentry itself —
confined by then — attempts the action with its own host system calls and writes one line,
``attempt ACTION: refused ERRNO`` or ``attempt ACTION: SUCCEEDED ...``, to its stderr. A call its
seccomp filter refuses never returns: the Sentry logs the call's name and dies of SIGSYS.

``python -m gofer ... --plugin tests.security.plugins:gofer_attempt`` does the same in a gofer,
once it has confined itself, with ``SENTRIO_GOFER_ATTEMPT``; its report goes to its stderr, which
the Sentry's side relays into the ``sentrio.gofer`` log.

Actions (``KIND:ARGUMENT``):

* ``open:PATH`` — open and read a host file;
* ``connect:PATH`` — connect to a host unix socket (``connect-tcp:PORT`` to 127.0.0.1);
* ``kill:PID`` — SIGKILL a host process;
* ``exec:PATH`` — execve a host binary;
* ``ptrace:PID`` — attach to a host process.

Everything these need is imported here, before confinement.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import signal
import socket
from typing import Any

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_SYS_PTRACE = 101
_PTRACE_ATTACH = 16

log = logging.getLogger("sentrio.gofer")


def attempt(action: str, *, dir_fd: int | None = None) -> str:
    """Try ``action``; how it went, in a few words."""
    kind, _, argument = action.partition(":")
    try:
        if kind == "open":
            fd = os.open(argument, os.O_RDONLY, dir_fd=dir_fd)
            return f"SUCCEEDED, read {os.read(fd, 200)!r}"
        if kind == "connect":
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.connect(argument)
            return "SUCCEEDED, connected"
        if kind == "connect-tcp":
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
                client.connect(("127.0.0.1", int(argument)))
            return "SUCCEEDED, connected"
        if kind == "kill":
            os.kill(int(argument), signal.SIGKILL)
            return "SUCCEEDED, killed"
        if kind == "exec":
            os.execv(argument, [argument])
        if kind == "ptrace":
            if _libc.syscall(ctypes.c_long(_SYS_PTRACE), ctypes.c_long(_PTRACE_ATTACH), ctypes.c_long(int(argument)),
                             None, None) < 0:
                raise OSError(ctypes.get_errno(), "ptrace")
            return "SUCCEEDED, attached"
    except OSError as error:
        return f"refused {errno.errorcode.get(error.errno or 0, error.errno)}"
    return f"unknown action {action!r}"


def sentry_attempt(kernel: Any) -> None:
    """--plugin for the Sentry: attempt $SENTRIO_ATTEMPT on the guest's first uname(2)."""
    action = os.environ["SENTRIO_ATTEMPT"]
    done = False

    async def on_uname(task: Any, call: Any) -> None:
        nonlocal done
        if not done:
            done = True
            os.write(2, f"attempt {action}: {attempt(action)}\n".encode())

    kernel.syscalls.on_enter("uname", on_uname)


def gofer_attempt(root_fd: int) -> None:
    """--plugin for a gofer: attempt $SENTRIO_GOFER_ATTEMPT (paths relative to the served root)."""
    action = os.environ["SENTRIO_GOFER_ATTEMPT"]
    log.warning("attempt %s: %s", action, attempt(action, dir_fd=root_fd))
