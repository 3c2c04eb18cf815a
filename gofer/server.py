"""The gofer's connection loop: read frames, run requests concurrently, write replies.

``await serve(sock, root_fd)`` serves one connection until the Sentry closes it (EOF), sends
something malformed (ProtocolError: the connection is closed, the gofer does not crash), or the
socket fails; ``await serve_mounts(...)`` serves several mounts, one connection each, at once.
Neither needs confinement, so tests run them in-process; ``python -m gofer`` confines
the process first and then calls it.

Concurrency: each request runs in its own trio task (at most ``max_in_flight`` at once; beyond
that the reader stops reading, which pushes back on the Sentry). Replies are written whole under
a lock and shielded from cancellation, so frames never interleave. ``Tflush`` cancels the named
request, waits until it has finished, and only then answers: after ``Rflush`` no reply to the
old tag can follow.
"""

from __future__ import annotations

import errno
import inspect
import logging
import os
import socket
from array import array
from collections.abc import Callable
from typing import Any

import trio

from gofer import protocol as p
from gofer.operations import Donation, Operations

log = logging.getLogger("sentrio.gofer")

#: Requests one connection may have running at once.
MAX_IN_FLIGHT = 64

_Handler = Callable[[Any], Any]


def _handlers(ops: Operations) -> dict[type, _Handler]:
    """Request class -> the Operations method named after it (``Tlopen`` -> ``lopen``)."""
    table: dict[type, _Handler] = {}
    for cls in p.MESSAGES.values():
        if cls.direction is p.Direction.REQUEST and cls not in (p.Tversion, p.Tflush):  # type: ignore
            table[cls] = getattr(ops, cls.__name__[1:])
    return table


class _Running:
    """A request in progress: how to cancel it and when it is over."""

    __slots__ = ("scope", "done")

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.done = trio.Event()


class Connection:
    """One served connection."""

    def __init__(self, sock: socket.socket, ops: Operations, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self.sock = trio.socket.from_stdlib_socket(sock)
        self.ops = ops
        self.decoder = p.Decoder(p.Direction.REQUEST, ops.msize)
        self._handlers = _handlers(ops)
        self._running: dict[int, _Running] = {}
        self._slots = trio.Semaphore(max_in_flight)
        self._send_lock = trio.Lock()
        self._nursery: trio.Nursery | None = None

    async def run(self) -> None:
        """Serve until EOF or a malformed frame; then cancel what still runs and release fids."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                try:
                    await self._read_loop(nursery)
                except p.ProtocolError as error:
                    log.warning("closing the connection: %s", error)
                except (ConnectionResetError, BrokenPipeError) as error:
                    log.debug("the Sentry went away: %s", error)  # its normal end, with replies unread
                except OSError as error:
                    log.warning("connection failed: %s", error)
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            self.ops.fids.clear()
            self.sock.close()

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        while True:
            data = await self.sock.recv(p.READ_CHUNK)
            if not data:
                return
            self.decoder.feed(data)
            for tag, msg in self.decoder:
                await self._dispatch(nursery, tag, msg)

    async def _dispatch(self, nursery: trio.Nursery, tag: int, msg: Any) -> None:
        if tag in self._running:
            raise p.ProtocolError(f"tag {tag} is already in use")
        if isinstance(msg, p.Invalid):
            await self._send(tag, p.Rlerror(msg.errno))
        elif isinstance(msg, p.Tversion):
            await self._send(tag, self._version(msg))
        else:
            await self._slots.acquire()
            running = self._running[tag] = _Running()
            job = self._flush if isinstance(msg, p.Tflush) else self._serve_one
            nursery.start_soon(job, tag, msg, running)

    def _version(self, msg: p.Tversion) -> Any:
        """Negotiate msize and start a fresh session (9P: Tversion clunks every fid)."""
        if self._running:
            raise p.ProtocolError("Tversion with requests outstanding")
        if msg.version != p.VERSION or msg.msize < p.MIN_MSIZE:
            return p.Rversion(msg.msize, "unknown")
        self.ops.fids.clear()
        self.ops.msize = min(msg.msize, self.ops.msize)
        self.decoder.max_message = self.ops.msize
        return p.Rversion(self.ops.msize, p.VERSION)

    async def _serve_one(self, tag: int, msg: Any, running: _Running) -> None:
        fd: int | None = None
        try:
            with running.scope:
                reply, fd = await self._call(self._handlers[type(msg)], msg)
                await self._send(tag, reply, fd)
        finally:
            if fd is not None:
                os.close(fd)
            self._finish(tag, running)

    async def _flush(self, tag: int, msg: p.Tflush, running: _Running) -> None:
        try:
            old = self._running.get(msg.oldtag)
            if old is not None and old is not running:
                old.scope.cancel()
                await old.done.wait()
            await self._send(tag, p.Rflush())
        finally:
            self._finish(tag, running)

    def _finish(self, tag: int, running: _Running) -> None:
        del self._running[tag]
        running.done.set()
        self._slots.release()

    @staticmethod
    async def _call(handler: _Handler, msg: Any) -> tuple[Any, int | None]:
        """Run one handler; turn host errors into Rlerror and bugs into EIO (logged)."""
        try:
            result = handler(msg)
            if inspect.isawaitable(result):
                result = await result
        except OSError as error:
            return p.Rlerror(error.errno or errno.EIO), None
        except (OverflowError, ValueError):  # a number the host cannot take
            return p.Rlerror(errno.EINVAL), None
        except trio.Cancelled:
            raise
        except Exception:
            log.exception("gofer bug serving %r", msg)
            return p.Rlerror(errno.EIO), None
        if isinstance(result, Donation):
            return result.reply, result.fd
        return result, None

    async def _send(self, tag: int, reply: Any, fd: int | None = None) -> None:
        """Write one whole frame (and the fd beside it); never cut short by cancellation.

        A failed write means the Sentry is gone: the connection is shut down, quietly.
        """
        frame = memoryview(p.encode(reply, tag))
        with trio.CancelScope(shield=True):
            async with self._send_lock:
                try:
                    if fd is not None:
                        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", [fd]))]
                        frame = frame[await self.sock.sendmsg([frame], rights):]
                    while frame:
                        frame = frame[await self.sock.send(frame):]
                except OSError as error:
                    # The Sentry closing its end while replies are in flight is a normal end.
                    quiet = isinstance(error, (BrokenPipeError, ConnectionResetError))
                    (log.debug if quiet else log.warning)("cannot reply: %s", error)
                    if self._nursery is not None:
                        self._nursery.cancel_scope.cancel()


async def serve(sock: socket.socket, root_fd: int, *, writable: bool = False,
                donate_fds: bool = False, max_msize: int = p.MAX_MSIZE) -> None:
    """Serve the tree at ``root_fd`` (a directory fd) over ``sock`` until the peer goes away."""
    await serve_mounts([(sock, root_fd, writable)], donate_fds=donate_fds, max_msize=max_msize)


async def serve_mounts(mounts: list[tuple[socket.socket, int, bool]], *, donate_fds: bool = False,
                       max_msize: int = p.MAX_MSIZE) -> None:
    """Serve several mounts at once, each ``(sock, root_fd, writable)`` over its own socket,
    until every peer has gone away.

    Each mount is a connection of its own with its own :class:`Operations`: its own fids, its
    own root and its own ``writable``; a request on one socket can only ever name fids of that
    socket's tree. A connection that ends (EOF, a malformed frame) ends alone.
    """
    async with trio.open_nursery() as nursery:
        for sock, root_fd, writable in mounts:
            ops = Operations(root_fd, writable=writable, donate_fds=donate_fds)
            ops.msize = max_msize
            nursery.start_soon(Connection(sock, ops).run)
