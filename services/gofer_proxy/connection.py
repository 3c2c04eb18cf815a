"""The Sentry's end of one gofer connection: tags, multiplexing, splitting, and dying cleanly.

Many trio tasks (every guest thread touching files) share one socket to one gofer. Each request
gets a free tag and a slot; one reader task decodes replies and wakes the slot whose tag a reply
carries, so each caller awaits only its own reply. The host fds the gofer donates beside a reply
(one beside an ``Rlopen``, several beside an ``Ropenmany``) are paired with it (fds arrive in
reply order).

A gofer that goes away — EOF, a crash, a malformed frame, a reply nobody asked for — fails every
outstanding call and every later one with ``Errno(EIO)`` at once: a caller never hangs on a dead
gofer. A caller cancelled while waiting leaves its tag reserved and a ``Tflush`` is sent for it
from the connection's own task; the tag is reused only after ``Rflush``, when no late reply can
arrive for it.

The code is written against anyio (it is generic networking), so it runs under trio — the
Sentry's loop — or asyncio.

Use::

    process, conn = spawn_gofer("/path/to/image")
    async with anyio.create_task_group() as tg:
        await tg.start(conn.run)             # negotiates msize; returns once ready
        root = await conn.attach()           # fid of the tree's root
        qids, attr = await conn.walk_getattr(root, [b"etc", b"passwd"], newfid := conn.new_fid())
        ...
        await conn.aclose()
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import stat
import subprocess
from array import array
from collections import deque
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc

from gofer import protocol as p
from gofer import spawn
from gofer.files import INODE_KEY_VARIABLE
from abi.errno import EINVAL, EIO, ENFILE
from abi.errno import Errno

log = logging.getLogger("sentrio.gofer_proxy")

#: Room for the fds one receive may carry: Linux hands over the fds of one send at most per
#: receive on a stream socket, and one reply carries at most OPEN_MANY (Ropenmany).
_FDS_SPACE = socket.CMSG_SPACE(2 * p.OPEN_MANY * 4)


def _fds_in(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The fds of a receive's SCM_RIGHTS messages, in order."""
    fds = array("i")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    return list(fds)


class _Slot:
    """One outstanding request: where its reply (and the fds donated beside it) lands."""

    __slots__ = ("event", "reply", "fds", "abandoned")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.reply: Any = None  # None after the event: the connection died
        self.fds: list[int] = []
        self.abandoned = False  # the caller was cancelled; a Tflush is on its way


class GoferConnection:
    """One socket to one gofer, shared by any number of concurrent callers."""

    def __init__(self, sock: socket.socket, *, msize: int = p.MAX_MSIZE) -> None:
        self._sock = sock
        self._want_msize = msize
        self.msize = msize
        #: Bytes of frames not yet written: a frame the socket took only part of, and any
        #: written after it (see :meth:`_send`).
        self._unsent = bytearray()
        self._running = False
        self._decoder = p.Decoder(p.Direction.REPLY, msize)
        self._slots: dict[int, _Slot] = {}
        self._fds: deque[int] = deque()
        #: The kernel cut the fds of a reply (MSG_CTRUNC): see :meth:`_drop_lost_fds`.
        self._fds_lost = False
        self._tags = itertools.count(1)
        self._fid_counter = itertools.count(1)
        self._tg: anyio.abc.TaskGroup | None = None
        self.dead: str | None = None  # why the connection died, once it has

    # --- lifetime --------------------------------------------------------------------------

    def discard(self) -> None:
        """Close a connection that never ran (its gofer was never used, and is killed)."""
        self._sock.close()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Read replies until the gofer goes away; ``task_status.started()`` once msize is agreed.

        Start it with ``await task_group.start(conn.run)``. Fails with Errno(EIO) if the gofer
        refuses the version.
        """
        self._sock.setblocking(False)
        self._running = True
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._read_loop)
            try:
                await self._negotiate()
            except BaseException:
                tg.cancel_scope.cancel()
                raise
            task_status.started()

    async def _negotiate(self) -> None:
        reply = await self.request(p.Tversion(self._want_msize, p.VERSION))
        if reply.version != p.VERSION or not p.MIN_MSIZE <= reply.msize <= self._want_msize:
            await self._die(f"gofer refused version {p.VERSION} msize {self._want_msize}: {reply}")
            raise Errno(EIO)
        self.msize = reply.msize
        self._decoder.max_message = reply.msize

    async def aclose(self) -> None:
        """Close the connection (the gofer sees EOF and exits); calls then fail with EIO."""
        await self._die("closed")
        if self._tg is not None:
            self._tg.cancel_scope.cancel()

    @property
    def iounit(self) -> int:
        """The most data one Tread/Twrite carries; larger reads and writes are split."""
        return self.msize - p.IOHDR

    def new_fid(self) -> int:
        """A fid number for a walk's ``newfid``; give it back to the gofer with :meth:`clunk`."""
        return next(self._fid_counter) & p.U32_MAX

    # --- the reader ------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        sock, decoder, fds_received = self._sock, self._decoder, self._fds
        try:
            while True:
                try:
                    data, ancillary, flags, _ = sock.recvmsg(p.READ_CHUNK, _FDS_SPACE, socket.MSG_CMSG_CLOEXEC)
                except BlockingIOError:
                    await anyio.wait_readable(sock)
                    continue
                if ancillary:
                    fds_received.extend(_fds_in(ancillary))
                if flags & socket.MSG_CTRUNC:
                    self._fds_lost = True
                if not data:
                    raise EOFError
                decoder.feed(data)
                for tag, msg in decoder:
                    self._deliver(tag, msg)
        except anyio.get_cancelled_exc_class():
            await self._die("cancelled")
            raise
        except (EOFError, OSError, anyio.ClosedResourceError):
            await self._die("the gofer closed the connection")
        except (p.ProtocolError, RuntimeError) as error:
            await self._die(f"protocol error: {error}")

    def _deliver(self, tag: int, msg: Any) -> None:
        slot = self._slots.get(tag)
        if slot is None:
            raise p.ProtocolError(f"reply for tag {tag}, which has no request outstanding")
        count = p.fds_following(msg)
        if count > len(self._fds):
            if not self._fds_lost:
                raise p.ProtocolError(f"{type(msg).__name__} promised {count} fds that did not come")
            msg, count = p.Rlerror(ENFILE), 0
            self._drop_lost_fds()
        fds = [self._fds.popleft() for _ in range(count)]
        if slot.abandoned:
            for fd in fds:
                os.close(fd)
            return
        del self._slots[tag]
        slot.reply, slot.fds = msg, fds
        slot.event.set()

    def _drop_lost_fds(self) -> None:
        """The Sentry was out of fds when a reply's came (the kernel cut them, MSG_CTRUNC): the
        stream is intact, so only that reply fails, with ENFILE, as an open does on Linux when
        the system is out of files; the fds that did come with it are closed. (One recvmsg
        takes the fds of one sendmsg at most, and its replies are delivered before the next
        recvmsg: the queue holds only that reply's.)"""
        while self._fds:
            os.close(self._fds.popleft())
        self._fds_lost = False

    async def _die(self, why: str) -> None:
        """Fail every outstanding and future call with EIO; close the socket and stray fds."""
        if self.dead is not None:
            return
        self.dead = why
        if why not in ("closed", "cancelled"):
            log.warning("gofer connection lost: %s", why)
        for slot in self._slots.values():
            slot.reply = None
            slot.event.set()
        self._slots.clear()
        while self._fds:
            os.close(self._fds.popleft())
        self._unsent.clear()
        if self._running:
            anyio.notify_closing(self._sock)  # wakes a task waiting to read or write it
        self._sock.close()

    # --- requests --------------------------------------------------------------------------

    async def request(self, msg: Any) -> Any:
        """Send ``msg`` and return its reply; raises Errno for Rlerror, EIO if the gofer died."""
        reply, fd = await self._roundtrip(msg)
        if fd is not None:
            os.close(fd)
        return reply

    async def _roundtrip(self, msg: Any) -> tuple[Any, int | None]:
        """Send ``msg``: its reply and the fd donated beside it (for a reply that carries one)."""
        reply, fds = await self._roundtrip_fds(msg)
        return reply, fds[0] if fds else None

    async def _roundtrip_fds(self, msg: Any) -> tuple[Any, list[int]]:
        try:
            p.check_names(msg)  # refuse a bad name before taking a tag
        except p.InvalidName:
            raise Errno(EINVAL) from None
        if self.dead is not None:
            raise Errno(EIO)
        tag, slot = self._new_slot()
        try:
            await self._send(p.encode(msg, tag))
            await slot.event.wait()
        except BaseException:
            if not slot.event.is_set():
                self._abandon(tag, slot)
            else:  # answered, but the caller is gone
                for fd in slot.fds:
                    os.close(fd)
            raise
        try:
            return self._check(msg, slot.reply), slot.fds
        except BaseException:
            for fd in slot.fds:
                os.close(fd)
            raise

    def _new_slot(self) -> tuple[int, _Slot]:
        while True:
            tag = next(self._tags) & p.U32_MAX
            if tag not in self._slots:
                slot = self._slots[tag] = _Slot()
                return tag, slot

    def _check(self, msg: Any, reply: Any) -> Any:
        if reply is None:
            raise Errno(EIO)
        if isinstance(reply, p.Rlerror):
            raise Errno(reply.errno if 0 < reply.errno < 4096 else EIO)
        if type(reply) is not p.REPLY_TO[type(msg)]:
            self._kill(f"{type(reply).__name__} answered {type(msg).__name__}")
            raise Errno(EIO)
        return reply

    def _kill(self, why: str) -> None:
        """Kill the connection from a synchronous context (the reader task does the rest)."""
        if self._tg is not None:
            self._tg.start_soon(self._die, why)

    async def _send(self, frame: bytes) -> None:
        """Write one whole frame, at once when the socket takes it (a request's frame is small).

        Frames never interleave: while one is part-written, later ones queue behind it in
        :attr:`_unsent` and the caller that wrote the first part writes the rest, shielded so
        that a cancelled caller cannot leave a frame cut in half.
        """
        if not self._running:
            raise Errno(EIO)
        if self._unsent:
            self._unsent += frame
            return
        try:
            sent = self._sock.send(frame)
        except BlockingIOError:
            sent = 0
        except OSError:
            await self._die("the gofer stopped reading")
            raise Errno(EIO) from None
        if sent == len(frame):
            return
        self._unsent += memoryview(frame)[sent:]
        with anyio.CancelScope(shield=True):
            while self._unsent and self.dead is None:
                try:
                    await anyio.wait_writable(self._sock)
                    sent = self._sock.send(self._unsent)
                except BlockingIOError:
                    continue
                except (OSError, anyio.ClosedResourceError):
                    await self._die("the gofer stopped reading")
                    raise Errno(EIO) from None
                del self._unsent[:sent]

    def _abandon(self, tag: int, slot: _Slot) -> None:
        """The caller gave up on ``tag``: flush it, keeping the tag reserved until Rflush."""
        if self.dead is not None or self._tg is None:
            self._slots.pop(tag, None)
            return
        slot.abandoned = True
        self._tg.start_soon(self._flush, tag)

    async def _flush(self, oldtag: int) -> None:
        try:
            await self.request(p.Tflush(oldtag))
        except Errno:
            pass
        finally:
            self._slots.pop(oldtag, None)

    # --- the operations --------------------------------------------------------------------

    async def attach(self, fid: int | None = None) -> int:
        """Bind a fid to the root of the served tree and return it."""
        fid = self.new_fid() if fid is None else fid
        await self.request(p.Tattach(fid, ""))
        return fid

    async def walk(self, fid: int, names: Sequence[bytes], newfid: int) -> list[p.Qid]:
        """Walk ``names`` from ``fid``; ``newfid`` is bound only if all of them were walked."""
        return (await self.request(p.Twalk(fid, newfid, list(names)))).qids

    async def walk_getattr(self, fid: int, names: Sequence[bytes], newfid: int) -> tuple[list[p.Qid], p.Attr]:
        """Walk, and return the attributes of the last file reached: one round trip."""
        reply = await self.request(p.Twalkgetattr(fid, newfid, list(names)))
        return reply.qids, reply.attr

    async def walk_attrs(self, fid: int, names: Sequence[bytes],
                         newfid: int) -> tuple[list[p.Qid], list[p.Attr]]:
        """Walk as far as ``names`` go, with every file reached and its attributes; ``newfid``
        names the last one reached. One round trip for a whole path."""
        reply = await self.request(p.Twalkattrs(fid, newfid, list(names)))
        return reply.qids, reply.attrs

    async def readdir_attrs(self, fid: int, offset: int = 0, count: int | None = None,
                            names: Sequence[bytes] = (), newfid: int = 0) -> tuple[p.Listing, bool]:
        """One page of the directory ``fid`` names (or that ``names`` lead to from it, which
        ``newfid`` then names), each entry with its attributes, and whether it is the last."""
        reply = await self.request(p.Treaddirattr(fid, newfid, list(names), offset, count or self.iounit))
        return reply.entries, reply.last

    async def readdir_tree(self, fid: int, paths: Sequence[Sequence[bytes]],
                           count: int) -> tuple[p.Listing, bool, list[p.Sublisting]]:
        """The first page of the directory ``paths[0]`` leads to from ``fid`` (as
        :meth:`readdir_attrs` at 0) and, when that is all of it, whole listings of the other
        directories of ``paths`` and of those below, breadth first, within ``count`` bytes."""
        reply = await self.request(p.Treaddirtree(fid, [list(path) for path in paths], min(count, self.iounit)))
        return reply.entries, reply.last, reply.below

    async def walk_open(self, fid: int, names: Sequence[bytes], newfid: int, flags: int) -> tuple[p.Qid, int | None]:
        """Walk ``names`` from ``fid`` to ``newfid`` and open it: its qid and the donated fd."""
        reply, fd = await self._roundtrip(p.Twalkopen(fid, newfid, list(names), flags))
        return reply.qid, fd

    async def open_many(self, fid: int, path: Sequence[bytes], names: Sequence[bytes],
                        flags: int) -> list[tuple[p.Qid, int] | int]:
        """Open each of ``names`` in the directory ``path`` leads to from ``fid``, for its fd
        only: per name, its qid and the donated fd (the caller's to close), or its errno."""
        reply, fds = await self._roundtrip_fds(p.Topenmany(fid, list(path), list(names), flags))
        if len(reply.errnos) != len(names) or len(reply.qids) != len(names):
            for fd in fds:
                os.close(fd)
            self._kill("Ropenmany answers another number of names")
            raise Errno(EIO)
        donated = iter(fds)
        return [(qid, next(donated)) if code == 0 else code for code, qid in zip(reply.errnos, reply.qids)]

    async def getattr(self, fid: int) -> tuple[p.Qid, p.Attr]:
        reply = await self.request(p.Tgetattr(fid, p.GETATTR_BASIC))
        return reply.qid, reply.attr

    async def setattr(self, fid: int, valid: int, *, mode: int = 0, uid: int = 0, gid: int = 0,
                      size: int = 0, atime_ns: int = 0, mtime_ns: int = 0) -> None:
        await self.request(p.Tsetattr(fid, valid, mode, uid, gid, size, atime_ns, mtime_ns))

    async def lopen(self, fid: int, flags: int) -> tuple[p.Qid, int | None]:
        """Open ``fid`` for I/O; returns its qid and the donated host fd (the caller owns it)."""
        reply, fd = await self._roundtrip(p.Tlopen(fid, flags))
        return reply.qid, fd

    async def lcreate(self, dfid: int, name: bytes, flags: int, mode: int, uid: int = 0,
                      gid: int = 0) -> tuple[p.Qid, int | None]:
        """Create and open ``name`` in ``dfid``, which then names the new file."""
        reply, fd = await self._roundtrip(p.Tlcreate(dfid, p.Name(name), flags, mode, uid, gid))
        return reply.qid, fd

    async def read(self, fid: int, offset: int, count: int) -> bytes:
        """Up to ``count`` bytes from ``offset``, in iounit-sized requests; short at end of file."""
        buffer = bytearray(count)
        n = await self.readinto(fid, offset, memoryview(buffer))
        del buffer[n:]
        return bytes(buffer)

    async def readinto(self, fid: int, offset: int, view: memoryview) -> int:
        """Fill ``view`` (e.g. guest memory) from ``offset``; returns the bytes read."""
        done = 0
        while done < len(view):
            want = min(len(view) - done, self.iounit)
            data = (await self.request(p.Tread(fid, offset + done, want))).data
            if len(data) > want:
                self._kill("Rread returned more than asked")
                raise Errno(EIO)
            view[done:done + len(data)] = data
            done += len(data)
            if len(data) < want:
                break
        return done

    async def write(self, fid: int, offset: int, data: bytes | memoryview) -> int:
        """Write ``data`` at ``offset`` in iounit-sized requests; returns the bytes written."""
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            chunk = bytes(view[done:done + self.iounit])
            count = (await self.request(p.Twrite(fid, offset + done, chunk))).count
            if not 0 <= count <= len(chunk):
                self._kill("Rwrite count out of range")
                raise Errno(EIO)
            done += count
            if count < len(chunk):
                break
        return done

    async def readdir(self, fid: int, offset: int = 0, count: int | None = None) -> list[p.Dirent]:
        """One page of an opened directory from ``offset`` (0 or the last entry's cookie)."""
        return (await self.request(p.Treaddir(fid, offset, count or self.iounit))).entries

    async def mkdir(self, dfid: int, name: bytes, mode: int, uid: int = 0, gid: int = 0) -> p.Qid:
        return (await self.request(p.Tmkdir(dfid, p.Name(name), mode, uid, gid))).qid

    async def symlink(self, dfid: int, name: bytes, target: bytes, uid: int = 0, gid: int = 0) -> p.Qid:
        return (await self.request(p.Tsymlink(dfid, p.Name(name), target, uid, gid))).qid

    async def mknod(self, dfid: int, name: bytes, mode: int, major: int = 0, minor: int = 0,
                    uid: int = 0, gid: int = 0) -> p.Qid:
        return (await self.request(p.Tmknod(dfid, p.Name(name), mode, major, minor, uid, gid))).qid

    async def readlink(self, fid: int) -> bytes:
        return (await self.request(p.Treadlink(fid))).target

    async def link(self, dfid: int, fid: int, name: bytes) -> None:
        await self.request(p.Tlink(dfid, fid, p.Name(name)))

    async def renameat(self, olddirfid: int, oldname: bytes, newdirfid: int, newname: bytes,
                       flags: int = 0) -> None:
        """Rename; ``flags`` may be RENAME_EXCHANGE, which swaps the two names atomically."""
        await self.request(p.Trenameat(olddirfid, p.Name(oldname), newdirfid, p.Name(newname), flags))

    async def unlinkat(self, dirfid: int, name: bytes, flags: int = 0) -> None:
        await self.request(p.Tunlinkat(dirfid, p.Name(name), flags))

    async def fsync(self, fid: int, datasync: bool = False) -> None:
        await self.request(p.Tfsync(fid, datasync))

    async def statfs(self, fid: int) -> p.Rstatfs:
        return await self.request(p.Tstatfs(fid))

    async def clunk(self, fid: int) -> None:
        await self.request(p.Tclunk(fid))


# --- starting a gofer ----------------------------------------------------------------------------


def spawn_gofer(
    root: str | os.PathLike[str],
    rw: bool = False,
    *,
    donate_fds: bool = False,
    msize: int = p.MAX_MSIZE,
    extra_args: Sequence[str] = (),
) -> tuple[spawn.Child, GoferConnection]:
    """Start a gofer serving ``root`` over a new socketpair (a fork of this process, or
    ``python -m gofer``: see :mod:`gofer.spawn`).

    Returns the process and the (not yet running) connection: start it with
    ``await task_group.start(conn.run)``. The gofer exits when the connection closes (EOF) or
    when this process dies (parent-death signal); the caller reaps it with ``process.wait()``.

    The gofer's stdout and stderr are a pipe, never the user's terminal (a terminal would let a
    compromised gofer type into the user's shell with TIOCSTI, or paint it with escape codes):
    while the connection runs, each line the gofer writes is logged here, made printable, under
    ``sentrio.gofer`` at the level the gofer gave it.
    """
    process, [conn] = spawn_gofers([(root, rw)], donate_fds=donate_fds, msize=msize, extra_args=extra_args)
    return process, conn


#: A mount a gofer serves: its host directory and whether it is writable.
Served = tuple[str | os.PathLike[str], bool]


def spawn_gofers(
    mounts: Sequence[Served],
    *,
    donate_fds: bool = False,
    msize: int = p.MAX_MSIZE,
    extra_args: Sequence[str] = (),
) -> tuple[spawn.Child, list[GoferConnection]]:
    """Start one gofer serving every mount of ``mounts``, each over a socketpair
    of its own: the process and one (not yet running) connection per mount, in order.

    Each connection is what :func:`spawn_gofer`'s is; the gofer exits once all are closed. The
    first connection relays the gofer's log. With supervision, each group of mounts has its
    spare processes, serving the same mounts: when the gofer dies, every one of its
    connections moves to its own socket on the same spare.
    """
    process, socks, log_read = _start_gofer(mounts, donate_fds, extra_args)
    count = int(os.environ.get(SPARES_VARIABLE) or 0)
    if count <= 0:
        return process, [_LoggedGoferConnection(sock, log_read if i == 0 else None, process.pid, msize=msize)
                         for i, sock in enumerate(socks)]
    spares = [_start_gofer(mounts, donate_fds, extra_args) for _ in range(count)]
    shared = len(mounts) > 1
    return process, [
        _ReconnectingGoferConnection(
            sock, log_read if i == 0 else None, process.pid, msize=msize,
            spares=[(spare, spare_socks[i], spare_log if i == 0 else None) for spare, spare_socks, spare_log in spares],
            reaps=not shared)
        for i, sock in enumerate(socks)]


#: Supervision (``[supervise.gofer] restarts = N`` sets ``$SENTRIO_GOFER_SPARES``): each new
#: connection keeps N spare gofers, started with it because a confined Sentry cannot start a
#: process later.
SPARES_VARIABLE = "SENTRIO_GOFER_SPARES"


#: This Sentry's key for its gofers' inode numbers (gofer/files.py InodeNumbers).
_INODE_KEY = os.urandom(16).hex()


def _new_inode_key() -> None:
    """A forked process is another Sentry (a zygote's run) or a helper, which takes its key from
    the environment: either way the parent's key is not its own."""
    global _INODE_KEY
    _INODE_KEY = os.urandom(16).hex()


os.register_at_fork(after_in_child=_new_inode_key)


def _gofer_main() -> spawn.Main:
    from gofer.__main__ import main

    return main


def _start_gofer(mounts: Sequence[Served], donate_fds: bool,
                 extra_args: Sequence[str]) -> tuple[spawn.Child, list[socket.socket], int]:
    """Start one gofer serving ``mounts``: its process, our end of each mount's socket, and the
    read end of its log pipe."""
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in mounts]
    log_read, log_write = os.pipe2(os.O_CLOEXEC)
    (root, rw), theirs = mounts[0], pairs[0][1]
    argv = ["--root", os.fspath(root), "--fd", str(theirs.fileno())]
    argv += ["--rw"] if rw else []
    for (root, rw), (_, sock) in zip(mounts[1:], pairs[1:]):
        argv += ["--mount", str(sock.fileno()), os.fspath(root), "rw" if rw else "ro"]
    argv += ["--donate-fds"] if donate_fds else []
    argv += list(extra_args)
    try:
        # a spare numbers files as the gofer it replaces: the same key
        process = spawn.start("gofer", _gofer_main, argv, pass_fds=[sock.fileno() for _, sock in pairs],
                              stdout=log_write, stderr=log_write, env={INODE_KEY_VARIABLE: _INODE_KEY})
    except BaseException:
        for ours, _ in pairs:
            ours.close()
        os.close(log_read)
        raise
    finally:
        for _, sock in pairs:
            sock.close()  # only the gofer holds its ends: its death is our EOF
        os.close(log_write)
    return process, [ours for ours, _ in pairs], log_read


class _LoggedGoferConnection(GoferConnection):
    """A spawned gofer's connection, which also relays what the gofer writes into our log
    (``log_fd``; None for the other connections of a gofer serving several mounts)."""

    def __init__(self, sock: socket.socket, log_fd: int | None, pid: int, *, msize: int) -> None:
        super().__init__(sock, msize=msize)
        self._log_fd = log_fd
        self._pid = pid

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            if self._log_fd is not None:
                tg.start_soon(_relay_log, self._log_fd, self._pid)
            await tg.start(super().run)
            task_status.started()

    def discard(self) -> None:
        self._log_fd, log_fd = None, self._log_fd
        if log_fd is not None:
            os.close(log_fd)
        super().discard()


#: A gofer's own level names, as its log lines begin (gofer/__main__.py's format).
_LEVELS = {name: getattr(logging, name) for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}
_gofer_log = logging.getLogger("sentrio.gofer")


async def _relay_log(fd: int, pid: int) -> None:
    """Log each line read from ``fd`` until the gofer closes it; then close it."""
    os.set_blocking(fd, False)
    pending = b""
    try:
        while True:
            await anyio.wait_readable(fd)
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not data:
                break
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                _log_gofer_line(pid, line)
            pending = pending[-4096:]
        if pending:
            _log_gofer_line(pid, pending)
    finally:
        os.close(fd)


def _log_gofer_line(pid: int, line: bytes) -> None:
    text = line.decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)  # no escape codes reach a terminal
    level, _, message = text.partition(" ")
    if level in _LEVELS:
        _gofer_log.log(_LEVELS[level], "gofer[%d]: %s", pid, message)
    elif text:
        _gofer_log.warning("gofer[%d]: %s", pid, text)


class _ReconnectingGoferConnection(_LoggedGoferConnection):
    """A connection that outlives its gofer: when the gofer dies, the calls in flight fail with
    EIO (as on any connection) and the connection moves to a spare gofer serving the same tree;
    calls made meanwhile wait for it. It attaches the roots again and walks every fid it knew to
    the same number on the new gofer, then serves new calls. What the old gofer had opened is
    not reopened (reads through such a fid fail); files whose data comes from a donated host fd
    keep working."""

    def __init__(self, sock: socket.socket, log_fd: int | None, pid: int, *, msize: int,
                 spares: list[tuple[spawn.Child, socket.socket, int | None]],
                 reaps: bool = True) -> None:
        super().__init__(sock, log_fd, pid, msize=msize)
        self._spares = spares
        #: Whether :meth:`aclose` waits for the processes it used; not when they serve other
        #: mounts too (they exit once every connection is closed: see :meth:`processes`).
        self._reaps = reaps
        self._roots: list[int] = []
        #: Every fid walked from a root, as (root, names), to bind again on a new gofer.
        self._walked: dict[int, tuple[int, tuple[bytes, ...]]] = {}
        self._retired: list[spawn.Child] = []
        #: The gofer now served, once it is a spare (the first is the proxy's to reap).
        self._current: spawn.Child | None = None
        #: Set but while the connection moves to a spare.
        self._ready = anyio.Event()
        self._ready.set()
        self.reconnections = 0

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        first = True
        while True:
            async with anyio.create_task_group() as tg:
                await tg.start(super().run)
                if first:
                    task_status.started()
                    first = False
                else:
                    await self._attach_roots_again()
            if self.dead in ("closed", "cancelled") or not self._spares:
                self._ready.set()  # whoever waits for a spare fails now (the connection is dead)
                return
            self._switch_to_spare()

    def _switch_to_spare(self) -> None:
        process, sock, log_fd = self._spares.pop(0)
        log.warning("gofer[%d] is gone (%s): moving its connection to gofer[%d]", self._pid, self.dead, process.pid)
        if self._current is not None:
            self._retired.append(self._current)
        self._current = process
        self._sock, self._log_fd, self._pid = sock, log_fd, process.pid
        self._decoder = p.Decoder(p.Direction.REPLY, self._want_msize)
        self._fds.clear()
        self.msize = self._want_msize
        self.dead = None

    async def _attach_roots_again(self) -> None:
        """Bind the roots, then every fid walked from them, to the same numbers on the new gofer
        (a walk from a root to the fid's path): the VFS keeps fids of the directories it has
        seen and walks on from them. A fid whose file is gone stays unknown (its calls fail)."""
        try:
            for fid in self._roots:
                await GoferConnection._roundtrip_fds(self, p.Tattach(fid, ""))
        except Errno:
            await self._die("the spare gofer refused to attach")
            self._spares.clear()  # (and its fellows would too)
            return
        for fid, (root, names) in sorted(self._walked.items(), key=lambda item: len(item[1][1])):
            try:
                await GoferConnection._roundtrip_fds(self, p.Twalk(root, fid, list(names)))
            except Errno:
                del self._walked[fid]
        self.reconnections += 1
        self._ready.set()

    def _note_walk(self, fid: int, names: Sequence[bytes], newfid: int) -> None:
        if newfid == p.NOFID:  # nothing bound
            return
        if fid in self._roots:
            self._walked[newfid] = (fid, tuple(names))
        elif fid in self._walked:
            root, path = self._walked[fid]
            self._walked[newfid] = (root, path + tuple(names))

    async def walk(self, fid: int, names: Sequence[bytes], newfid: int) -> list[p.Qid]:
        qids = await super().walk(fid, names, newfid)
        if len(qids) == len(names):
            self._note_walk(fid, names, newfid)
        return qids

    async def walk_getattr(self, fid: int, names: Sequence[bytes], newfid: int) -> tuple[list[p.Qid], p.Attr]:
        qids, attr = await super().walk_getattr(fid, names, newfid)
        if len(qids) == len(names):
            self._note_walk(fid, names, newfid)
        return qids, attr

    async def walk_attrs(self, fid: int, names: Sequence[bytes],
                         newfid: int) -> tuple[list[p.Qid], list[p.Attr]]:
        qids, attrs = await super().walk_attrs(fid, names, newfid)
        if not qids or stat.S_ISDIR(attrs[-1].mode):  # newfid names the last directory reached
            self._note_walk(fid, names[:len(qids)], newfid)
        return qids, attrs

    async def readdir_attrs(self, fid: int, offset: int = 0, count: int | None = None,
                            names: Sequence[bytes] = (), newfid: int = 0) -> tuple[p.Listing, bool]:
        listed = await super().readdir_attrs(fid, offset, count, names, newfid)
        if names:
            self._note_walk(fid, names, newfid)
        return listed

    async def walk_open(self, fid: int, names: Sequence[bytes], newfid: int, flags: int) -> tuple[p.Qid, int | None]:
        opened = await super().walk_open(fid, names, newfid, flags)
        self._note_walk(fid, names, newfid)
        return opened

    async def clunk(self, fid: int) -> None:
        self._walked.pop(fid, None)
        await super().clunk(fid)

    async def _die(self, why: str) -> None:
        if self.dead is None and why not in ("closed", "cancelled") and self._spares and self._ready.is_set():
            self._ready = anyio.Event()  # new calls wait for the spare
        await super()._die(why)

    async def _roundtrip_fds(self, msg: Any) -> tuple[Any, list[int]]:
        if not self._ready.is_set() and not isinstance(msg, p.Tversion):
            await self._ready.wait()
        return await super()._roundtrip_fds(msg)

    async def attach(self, fid: int | None = None) -> int:
        fid = await super().attach(fid)
        self._roots.append(fid)
        return fid

    async def aclose(self) -> None:
        await super().aclose()
        for process, sock, log_fd in self._spares:
            sock.close()  # the spare sees EOF and exits
            if log_fd is not None:
                os.close(log_fd)
            self._retired.append(process)
        self._spares.clear()
        if self._current is not None:
            self._retired.append(self._current)
            self._current = None
        if self._reaps:
            reap(self._retired)

    def processes(self) -> list[spawn.Child]:
        """The spare gofers this connection used or kept (its first gofer is its owner's)."""
        return [*self._retired, *(process for process, _, _ in self._spares),
                *([self._current] if self._current is not None else [])]


def reap(processes: Sequence[spawn.Child]) -> None:
    """Wait for each gofer (closed, so exiting); kill one that takes over 5 s."""
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
