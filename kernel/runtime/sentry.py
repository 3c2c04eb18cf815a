"""The host process an engine waits on: a Sentry that builds the sandbox, then waits for ``start``.

``create`` forks it. It runs ``sentrio run`` on the bundle with a start gate
(:attr:`KernelConfig.start_gate`): once the sandbox is built and confined, the gate writes one
byte to the *ready* pipe (``create`` returns then) and waits until ``start`` writes to the
container's FIFO. Its exit status is the container's, so the conmon or shim that reaps it sees
what runc's init would give.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import sys
import termios

import trio

#: (ready pipe's write end, start FIFO) of this process, set before the Sentry boots.
_gate_fds: tuple[int, int] | None = None


def serve(container_id: str, bundle: str, fifo: str, ready: int) -> int:
    """Run the container's Sentry in this (forked) process; returns its exit status."""
    global _gate_fds
    from kernel import cli

    # Read-write, so the FIFO always has a writer (us) and never reads as end-of-file.
    start = os.open(fifo, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    _gate_fds = (ready, start)
    args = cli.build_parser().parse_args(
        ["run", "-i", "--name", container_id, "--plugin", f"{__name__}:install_gate", bundle])
    return cli.run(args)


def install_gate(kernel: object) -> None:
    """``--plugin`` hook: hold the first process at the gate."""
    kernel.config.start_gate = _wait_for_start  # type: ignore[attr-defined]


async def _wait_for_start() -> None:
    assert _gate_fds is not None
    ready, start = _gate_fds
    os.write(ready, b"1")
    os.close(ready)
    while True:
        await trio.lowlevel.wait_readable(start)
        try:
            if os.read(start, 1):
                break
        except BlockingIOError:
            continue
    os.close(start)


def give_terminal(console_socket: str, size: tuple[int, int] | None) -> None:
    """Make a pseudo-terminal our stdin, stdout and stderr (the Sentry's ``-t`` path takes it
    from there) and send its master end to the engine over ``console_socket`` with SCM_RIGHTS,
    as the runtime spec's console socket asks."""
    master, slave = os.openpty()
    if size is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as engine:
        engine.connect(console_socket)
        socket.send_fds(engine, [b"/dev/ptmx"], [master])
    os.close(master)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)


def child_main(container_id: str, bundle: str, fifo: str, ready: int, detach: bool,
               console_socket: str | None = None, console_size: tuple[int, int] | None = None) -> None:
    """The forked child: serve, then leave with the container's exit status (never returns)."""
    code = 1
    try:
        if detach:
            os.setsid()  # no terminal or job control of the caller reaches it
        if console_socket is not None:
            give_terminal(console_socket, console_size)
        code = serve(container_id, bundle, fifo, ready)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException as error:  # one line, never a traceback on the container's stderr
        print(f"sentrio: {type(error).__name__}: {error}", file=sys.stderr)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
