"""The gofer-proxy actor: it owns every gofer process and connection of the sandbox.

``mount(root, rw)`` starts a gofer serving ``root`` (one per mount) and returns a mount id;
``call(mount, method, *args)`` runs one :class:`GoferConnection` method on it. The connections'
reader tasks run in the actor's own nursery. A gofer that dies fails every outstanding and later
call on its mount with EIO (the connection sees to that), so no guest task ever hangs on it.
"""

from __future__ import annotations

import inspect
import logging
import subprocess
from typing import Any

import trio

from abi.errno import EINVAL, EIO
from kernel.bus import Actor, operation
from abi.errno import Errno
from services.gofer_proxy.connection import GoferConnection, spawn_gofer

log = logging.getLogger("sentrio.gofer_proxy")

#: The connection methods callers may use.
_METHODS = frozenset({
    "attach", "walk", "walk_getattr", "getattr", "setattr", "lopen", "lcreate", "read", "readinto",
    "write", "readdir", "mkdir", "symlink", "mknod", "readlink", "link", "renameat", "unlinkat",
    "fsync", "statfs", "clunk", "new_fid",
})


class GoferProxy(Actor):
    """Gofer processes and their connections, by mount id."""

    service = "gofer"

    def __init__(self) -> None:
        self._nursery: trio.Nursery | None = None
        self._connections: dict[int, GoferConnection] = {}
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    @operation
    async def mount(self, root: str, rw: bool) -> int:
        """Start a gofer serving ``root`` and return the mount's id."""
        assert self._nursery is not None
        process, conn = spawn_gofer(root, rw, donate_fds=True)
        mount = len(self._connections) + 1
        self._connections[mount] = conn
        self._processes[mount] = process
        await self._nursery.start(conn.run)
        return mount

    @operation
    async def call(self, mount: int, method: str, *args: Any) -> Any:
        """``GoferConnection.method(*args)`` on ``mount``'s connection."""
        conn = self._connections.get(mount)
        if conn is None or method not in _METHODS:
            raise Errno(EINVAL)
        if method == "setattr":  # (fid, valid, mode, uid, gid, size, atime_ns, mtime_ns): keywords there
            fid, valid, mode, uid, gid, size, atime_ns, mtime_ns = args
            return await conn.setattr(fid, valid, mode=mode, uid=uid, gid=gid, size=size, atime_ns=atime_ns,
                                      mtime_ns=mtime_ns)
        result = getattr(conn, method)(*args)
        if inspect.isawaitable(result):
            result = await result
        return result

    @operation
    async def alive(self, mount: int) -> None:
        """EIO if ``mount``'s gofer is gone (so cached answers stop once it dies)."""
        conn = self._connections.get(mount)
        if conn is None or conn.dead is not None:
            raise Errno(EIO)

    @operation
    async def clunk_later(self, mount: int, fid: int) -> None:
        """Release ``fid`` without making the caller wait for the reply."""
        conn = self._connections.get(mount)
        if conn is not None and conn.dead is None and self._nursery is not None:
            self._nursery.start_soon(self._clunk, conn, fid)

    @staticmethod
    async def _clunk(conn: GoferConnection, fid: int) -> None:
        try:
            await conn.clunk(fid)
        except Errno:
            pass

    @operation
    async def pid(self, mount: int) -> int:
        """The host pid of ``mount``'s gofer (tests kill it to check the EIO path)."""
        process = self._processes.get(mount)
        if process is None:
            raise Errno(EIO)
        return process.pid

    async def close(self) -> None:
        for conn in self._connections.values():
            await conn.aclose()
        for process in self._processes.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
