"""The gofer-proxy actor: it owns every gofer process and connection of the sandbox.

``mount(root, rw)`` connects a mount id to a gofer serving ``root`` and returns it; every other
operation is one 9P2000.L message to that mount's gofer (:mod:`services.gofer_proxy.contract`).
Each mount has a connection of its own, but gofer processes are shared: the kernel starts the
image's and the volumes' gofers early (:meth:`GoferProxy.prestart`), a bounded number of
processes each serving a group of mounts, and a mount takes its prestarted connection; only a
mount nobody foresaw (or a second mount of the same directory) starts a gofer of its own.
The connections' reader tasks run in the actor's own nursery. A gofer that dies fails every
outstanding and later call on its mount with EIO (the connection sees to that), so no guest task
ever hangs on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import trio

from abi.errno import EIO, Errno
from gofer import protocol as p
from gofer import spawn
from kernel.bus import operation
from services.gofer_proxy.connection import GoferConnection, reap, spawn_gofer, spawn_gofers
from services.gofer_proxy.contract import GoferContract

log = logging.getLogger("sentrio.gofer_proxy")


#: A prestarted gofer's key: (root, rw, donate_fds), as ``mount`` would start it.
PrestartKey = tuple[str, bool, bool]
#: A started gofer: its process and its (not yet running) connection.
Spawned = tuple[spawn.Child, GoferConnection]

#: The most mounts one gofer process serves (each a socket and connection in one event loop).
MOUNTS_PER_GOFER = 128


def rpc_gofer(kernel: object) -> GoferProxy:
    """The proxy of ``run --gofer-io=rpc``: no gofer donates fds, so every read and write of a
    mount's files is a ``gofer.read``/``gofer.write`` operation on the bus."""
    return GoferProxy(io="rpc")


def discard_gofers(gofers: dict[PrestartKey, Spawned],
                   in_use: Sequence[spawn.Child] = ()) -> None:
    """Close connections that never served (nothing to finish); kill and reap their gofers,
    but for those ``in_use`` (they serve other mounts too, and exit once those are closed)."""
    busy = {id(process) for process in in_use}
    while gofers:
        _, (process, conn) = gofers.popitem()
        conn.discard()
        if id(process) not in busy:
            process.kill()
            process.wait()


class GoferProxy(GoferContract):
    """Gofer processes and their connections, by mount id."""

    def __init__(self, io: str = "fd", prestarted: dict[PrestartKey, Spawned] | None = None) -> None:
        assert io in ("fd", "rpc")
        #: How the gofers move file data: "fd" (a host fd donated with lopen; reads and writes
        #: are the Sentry's preadv/pwritev) or "rpc" (read/write messages, ``--gofer-io=rpc``).
        self.io = io
        #: Gofers started before the actors (the image's, overlapping the Sentry's own start),
        #: by (root, rw, donate_fds): a mount asking for one takes it instead of starting another.
        self._prestarted = dict(prestarted or {})
        self._donating: dict[int, bool] = {}
        self._nursery: trio.Nursery | None = None
        self._connections: dict[int, GoferConnection] = {}
        self._processes: dict[int, spawn.Child] = {}

    @staticmethod
    def prestart(image: tuple[str, bool], volumes: Sequence[tuple[str, bool]]) -> dict[PrestartKey, Spawned]:
        """Start the gofers of the image and of ``volumes`` (each ``(directory, writable)``),
        fd-donating as ``mount`` asks for them, before the actors exist (the proxy is then made
        with them: ``GoferProxy(prestarted=...)``).

        A bounded number of processes, not one per mount: one gofer serves the image and up to
        ``MOUNTS_PER_GOFER - 1`` volumes as writable as it is; the other volumes are served in
        groups of ``MOUNTS_PER_GOFER``, read-only ones apart from writable ones (a read-only gofer
        keeps no write capability and its seccomp filter allows no writing call). ``V`` volumes
        take at most ``2 + ceil(V / MOUNTS_PER_GOFER)`` processes; each mount is a socket and a
        connection of its own in one of them. A directory mounted twice the same way is
        prestarted once (the second mount starts its own gofer).
        """
        unique = [v for v in dict.fromkeys(volumes) if v != image]
        alike = [v for v in unique if v[1] == image[1]]
        groups = [[image, *alike[:MOUNTS_PER_GOFER - 1]]]
        for rest in (alike[MOUNTS_PER_GOFER - 1:], [v for v in unique if v[1] != image[1]]):
            groups += [rest[i:i + MOUNTS_PER_GOFER] for i in range(0, len(rest), MOUNTS_PER_GOFER)]
        ready: dict[PrestartKey, Spawned] = {}
        for group in groups:
            try:
                process, conns = spawn_gofers(group, donate_fds=True)
            except OSError as error:  # the mounts will try again, and say why in their own words
                log.debug("cannot start the gofer of %s early: %s", group[0][0], error)
                continue
            ready.update({(root, rw, True): (process, conn) for (root, rw), conn in zip(group, conns)})
        return ready

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def _conn(self, mount: int) -> GoferConnection:
        conn = self._connections.get(mount)
        if conn is None:
            raise Errno(EIO)
        return conn

    @operation
    async def mount(self, root: str, rw: bool) -> int:
        assert self._nursery is not None
        donate = self.io == "fd"
        ready = self._prestarted.pop((root, rw, donate), None)
        process, conn = ready if ready is not None else spawn_gofer(root, rw, donate_fds=donate)
        mount = len(self._connections) + 1
        self._donating[mount] = donate
        self._connections[mount] = conn
        self._processes[mount] = process
        await self._nursery.start(conn.run)
        return mount

    @operation
    async def new_fid(self, mount: int) -> int:
        return self._conn(mount).new_fid()

    @operation
    async def attach(self, mount: int) -> int:
        return await self._conn(mount).attach()

    @operation
    async def walk(self, mount: int, fid: int, names: Sequence[bytes], newfid: int) -> list[p.Qid]:
        return await self._conn(mount).walk(fid, names, newfid)

    @operation
    async def walk_getattr(self, mount: int, fid: int, names: Sequence[bytes],
                           newfid: int) -> tuple[list[p.Qid], p.Attr]:
        return await self._conn(mount).walk_getattr(fid, names, newfid)

    @operation
    async def walk_attrs(self, mount: int, fid: int, names: Sequence[bytes],
                         newfid: int) -> tuple[list[p.Qid], list[p.Attr]]:
        return await self._conn(mount).walk_attrs(fid, names, newfid)

    @operation
    async def readdir_attrs(self, mount: int, fid: int, offset: int, names: Sequence[bytes] = (),
                            newfid: int = 0) -> tuple[p.Listing, bool]:
        return await self._conn(mount).readdir_attrs(fid, offset, names=names, newfid=newfid)

    @operation
    async def readdir_tree(self, mount: int, fid: int, paths: Sequence[Sequence[bytes]],
                           count: int) -> tuple[p.Listing, bool, list[p.Sublisting]]:
        return await self._conn(mount).readdir_tree(fid, paths, count)

    @operation
    async def donates(self, mount: int) -> bool:
        self._conn(mount)
        return self._donating[mount]

    @operation
    async def getattr(self, mount: int, fid: int) -> tuple[p.Qid, p.Attr]:
        return await self._conn(mount).getattr(fid)

    @operation
    async def setattr(self, mount: int, fid: int, valid: int, mode: int, uid: int, gid: int, size: int,
                      atime_ns: int, mtime_ns: int) -> None:
        await self._conn(mount).setattr(fid, valid, mode=mode, uid=uid, gid=gid, size=size, atime_ns=atime_ns,
                                        mtime_ns=mtime_ns)

    @operation
    async def lopen(self, mount: int, fid: int, flags: int, names: Sequence[bytes] = (),
                    newfid: int = 0) -> tuple[p.Qid, int | None]:
        if names:
            return await self._conn(mount).walk_open(fid, names, newfid, flags)
        return await self._conn(mount).lopen(fid, flags)

    @operation
    async def open_many(self, mount: int, fid: int, path: Sequence[bytes], names: Sequence[bytes],
                        flags: int) -> list[tuple[p.Qid, int] | int]:
        return await self._conn(mount).open_many(fid, path, names, flags)

    @operation
    async def lcreate(self, mount: int, dfid: int, name: bytes, flags: int, mode: int, uid: int,
                      gid: int) -> tuple[p.Qid, int | None]:
        return await self._conn(mount).lcreate(dfid, name, flags, mode, uid, gid)

    @operation
    async def read(self, mount: int, fid: int, offset: int, count: int) -> bytes:
        return await self._conn(mount).read(fid, offset, count)

    @operation
    async def write(self, mount: int, fid: int, offset: int, data: bytes) -> int:
        return await self._conn(mount).write(fid, offset, data)

    @operation
    async def readdir(self, mount: int, fid: int, offset: int) -> list[p.Dirent]:
        return await self._conn(mount).readdir(fid, offset)

    @operation
    async def mkdir(self, mount: int, dfid: int, name: bytes, mode: int, uid: int, gid: int) -> p.Qid:
        return await self._conn(mount).mkdir(dfid, name, mode, uid, gid)

    @operation
    async def symlink(self, mount: int, dfid: int, name: bytes, target: bytes, uid: int, gid: int) -> p.Qid:
        return await self._conn(mount).symlink(dfid, name, target, uid, gid)

    @operation
    async def mknod(self, mount: int, dfid: int, name: bytes, mode: int, major: int, minor: int, uid: int,
                    gid: int) -> p.Qid:
        return await self._conn(mount).mknod(dfid, name, mode, major, minor, uid, gid)

    @operation
    async def readlink(self, mount: int, fid: int) -> bytes:
        return await self._conn(mount).readlink(fid)

    @operation
    async def link(self, mount: int, dfid: int, fid: int, name: bytes) -> None:
        await self._conn(mount).link(dfid, fid, name)

    @operation
    async def renameat(self, mount: int, olddirfid: int, oldname: bytes, newdirfid: int, newname: bytes,
                       flags: int = 0) -> None:
        await self._conn(mount).renameat(olddirfid, oldname, newdirfid, newname, flags)

    @operation
    async def unlinkat(self, mount: int, dirfid: int, name: bytes, flags: int = 0) -> None:
        await self._conn(mount).unlinkat(dirfid, name, flags)

    @operation
    async def fsync(self, mount: int, fid: int) -> None:
        await self._conn(mount).fsync(fid)

    @operation
    async def statfs(self, mount: int, fid: int) -> p.Rstatfs:
        return await self._conn(mount).statfs(fid)

    @operation
    async def clunk(self, mount: int, fid: int) -> None:
        await self._conn(mount).clunk(fid)

    @operation
    async def alive(self, mount: int) -> None:
        conn = self._connections.get(mount)
        if conn is None or conn.dead is not None:
            raise Errno(EIO)

    @operation
    async def clunk_later(self, mount: int, fid: int) -> None:
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
        process = self._processes.get(mount)
        if process is None:
            raise Errno(EIO)
        return process.pid

    async def close(self) -> None:
        discard_gofers(self._prestarted, in_use=list(self._processes.values()))
        connections = list(self._connections.values())
        for conn in connections:  # every connection first: a gofer exits once all of its are closed
            await conn.aclose()
        processes = [*self._processes.values()]
        for conn in connections:
            processes += getattr(conn, "processes", list)()
        reap(list({id(process): process for process in processes}.values()))
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    # --- extended attributes ---------------------------------------------------------------------

    @operation
    async def xattr_get(self, mount: int, fid: int, name: bytes) -> bytes:
        reply = await self._conn(mount).request(p.Txattrget(fid, name))
        return bytes(reply.value)

    @operation
    async def xattr_list(self, mount: int, fid: int, name: bytes = b"") -> list[bytes]:
        reply = await self._conn(mount).request(p.Txattrlist(fid, name))
        return [bytes(name) for name in reply.names]

    @operation
    async def xattr_set(self, mount: int, fid: int, name: bytes, value: bytes, flags: int) -> None:
        await self._conn(mount).request(p.Txattrset(fid, name, value, flags))

    @operation
    async def xattr_remove(self, mount: int, fid: int, name: bytes) -> None:
        await self._conn(mount).request(p.Txattrremove(fid, name))
