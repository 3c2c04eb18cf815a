"""The gofer's connection loop: read a request, answer it, read the next.

``serve(sock, root_fd)`` serves one connection until the Sentry closes it (EOF), sends something
malformed (ProtocolError: the connection is closed, the gofer does not crash), or the socket
fails; ``serve_mounts(...)`` serves several mounts, one connection each, at once. Neither
needs confinement, so tests run them in-process (in a thread); ``python -m gofer`` confines
the process first and then calls it.

Why a plain blocking loop and no event loop: every operation is a few host system calls on fds
the gofer holds (openat, fstat, getdents, a pread), run to completion; nothing in the gofer
waits for anything but the Sentry's next request. Under trio each request cost a task, a
semaphore, a cancel scope and several trips through the scheduler — about half of a 190 µs
round trip on the machine of docs/benchmarks.md; a loop of recv, decode, call, send does not.

What follows from it, on one connection:

* requests are answered one at a time, in the order they arrive; a slow one (the listing of a
  huge directory, an fsync on a slow volume) delays those behind it on the same mount;
* a tag is never in use twice: each request is answered before the next is read;
* ``Tflush`` is answered at once: the request it names was answered before it was read (or was
  never received), so no reply to the old tag can follow ``Rflush``.

A gofer serving several mounts serves them all on its one thread, each request of a mount
answered as it comes (``poll`` says which socket has one): a slow request on one mount
delays the others. A gofer has no thread but its first, so its seccomp allowlist has no
thread calls (clone, futex waits, robust lists) and no event loop's.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
from array import array
from collections.abc import Callable
from typing import Any

from gofer import protocol as p
from gofer.operations import Donation, Operations

log = logging.getLogger("sentrio.gofer")

_Handler = Callable[[Any], Any]


def _handlers(ops: Operations) -> dict[type, _Handler]:
    """Request class -> the Operations method named after it (``Tlopen`` -> ``lopen``)."""
    table: dict[type, _Handler] = {}
    for cls in p.MESSAGES.values():
        if cls.direction is p.Direction.REQUEST and cls not in (p.Tversion, p.Tflush):  # type: ignore
            table[cls] = getattr(ops, cls.__name__[1:])
    return table


class Connection:
    """One served connection."""

    def __init__(self, sock: socket.socket, ops: Operations) -> None:
        self.sock = sock
        self.ops = ops
        self.decoder = p.Decoder(p.Direction.REQUEST, ops.msize)
        self._handlers = _handlers(ops)

    def run(self) -> None:
        """Serve until EOF or a malformed frame; then release every fid and the socket."""
        while self.serve_one_read():
            pass
        self.close()

    def serve_one_read(self) -> bool:
        """Read what the socket has (waiting for it) and answer every whole request in it;
        False once the connection has ended: EOF, a malformed frame (logged), a failed socket."""
        try:
            data = self.sock.recv(p.READ_CHUNK)
            if not data:
                return False
            self.decoder.feed(data)
            for tag, msg in self.decoder:
                self._answer(tag, msg)
            return True
        except p.ProtocolError as error:
            log.warning("closing the connection: %s", error)
        except (ConnectionResetError, BrokenPipeError) as error:
            log.debug("the Sentry went away: %s", error)  # its normal end, with replies unread
        except OSError as error:
            log.warning("connection failed: %s", error)
        return False

    def close(self) -> None:
        """Release every fid and the socket."""
        self.ops.fids.clear()
        self.sock.close()

    def _answer(self, tag: int, msg: Any) -> None:
        handler = self._handlers.get(type(msg))
        if handler is not None:
            reply, fds = self._call(handler, msg)
            try:
                self._send(tag, reply, fds)
            finally:
                for fd in fds:
                    os.close(fd)
        elif isinstance(msg, p.Invalid):
            self._send(tag, p.Rlerror(msg.errno))
        elif isinstance(msg, p.Tversion):
            self._send(tag, self._version(msg))
        else:  # Tflush: whatever it names was answered before it was read
            self._send(tag, p.Rflush())

    def _version(self, msg: p.Tversion) -> Any:
        """Negotiate msize and start a fresh session (9P: Tversion clunks every fid)."""
        if msg.version != p.VERSION or msg.msize < p.MIN_MSIZE:
            return p.Rversion(msg.msize, "unknown")
        self.ops.fids.clear()
        self.ops.msize = min(msg.msize, self.ops.msize)
        self.decoder.max_message = self.ops.msize
        return p.Rversion(self.ops.msize, p.VERSION)

    @staticmethod
    def _call(handler: _Handler, msg: Any) -> tuple[Any, list[int]]:
        """Run one handler: its reply and the fds to send beside it; host errors become
        Rlerror and bugs EIO (logged)."""
        try:
            result = handler(msg)
        except OSError as error:
            return p.Rlerror(error.errno or errno.EIO), []
        except (OverflowError, ValueError):  # a number the host cannot take
            return p.Rlerror(errno.EINVAL), []
        except Exception:
            log.exception("gofer bug serving %r", msg)
            return p.Rlerror(errno.EIO), []
        if type(result) is Donation:
            return result.reply, list(result.fds)
        return result, []

    def _send(self, tag: int, reply: Any, fds: list[int] | None = None) -> None:
        """Write one whole frame, and the fds beside its first byte."""
        frame = p.encode(reply, tag)
        if fds:
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", fds))]
            sent = self.sock.sendmsg([frame], rights)
            if sent < len(frame):
                self.sock.sendall(memoryview(frame)[sent:])
        else:
            self.sock.sendall(frame)


def serve(sock: socket.socket, root_fd: int, *, writable: bool = False,
          donate_fds: bool = False, max_msize: int = p.MAX_MSIZE) -> None:
    """Serve the tree at ``root_fd`` (a directory fd) over ``sock`` until the peer goes away."""
    serve_mounts([(sock, root_fd, writable)], donate_fds=donate_fds, max_msize=max_msize)


def serve_mounts(mounts: list[tuple[socket.socket, int, bool]], *, donate_fds: bool = False,
                 max_msize: int = p.MAX_MSIZE) -> None:
    """Serve several mounts at once, each ``(sock, root_fd, writable)`` over its own socket,
    until every peer has gone away.

    Each mount is a connection of its own with its own :class:`Operations`: its own fids, its
    own root and its own ``writable``; a request on one socket can only ever name fids of that
    socket's tree. A connection that ends (EOF, a malformed frame) ends alone.
    """
    connections = {}
    for sock, root_fd, writable in mounts:
        ops = Operations(root_fd, writable=writable, donate_fds=donate_fds)
        ops.msize = max_msize
        connections[sock.fileno()] = Connection(sock, ops)
    if len(connections) == 1:
        next(iter(connections.values())).run()
        return
    ready = select.poll()
    for fd in connections:
        ready.register(fd, select.POLLIN)
    while connections:
        for fd, _ in ready.poll():
            if not connections[fd].serve_one_read():
                ready.unregister(fd)
                connections.pop(fd).close()
