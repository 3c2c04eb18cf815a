"""Open file descriptions: what an fd refers to.

A :class:`File` is created by open(2) (or pipe, or the sandbox's stdio) and shared by every fd
``dup`` or ``fork`` made from it: it carries the file offset and the status flags. Subclasses
implement the operations their kind of file has; the defaults fail as Linux fails for a file
that lacks them. Data moves between the file and guest memory as lists of memoryviews of the
memory file (``buffers``), never through intermediate copies where the host can do the I/O.
"""

from __future__ import annotations

import operator
import os
from typing import TYPE_CHECKING

from abi.errno import EINVAL, ENOTDIR, ENOTTY, ESPIPE
import trio

from abi.linux import (
    O_ACCMODE,
    O_APPEND,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    OFFSET_MAX,
    POLLIN,
    POLLOUT,
    POLLRDNORM,
    POLLWRNORM,
    S_IFDIR,
    S_IFMT,
    SEEK_CUR,
    SEEK_DATA,
    SEEK_END,
    SEEK_HOLE,
    SEEK_SET,
)
from abi.errno import Errno

if TYPE_CHECKING:
    from collections.abc import Sequence

    from abi.creds import Caller, Credentials
    from services.netstack.contract import SocketWatch
    from services.vfs.contract import SocketIdentity, Stat
    from services.vfs.inode import Dir, Inode
    from services.vfs.poll import Changes

#: The entries every directory listing starts with, which are not among its children.
_DOTS = frozenset((b".", b".."))
_NAME = operator.itemgetter(0)


class File:
    """An open file description."""

    #: Whether epoll may watch it (Linux refuses regular files and directories with EPERM).
    epollable = False
    #: Whether a read or write may sleep (pipes, terminals, eventfds): a signal then ends it.
    may_block = False
    #: Whether open(2) must still await :meth:`finish_open` (a FIFO waiting for its other end).
    open_pending = False
    #: Whether it is the guest's terminal (job control applies), and the sandbox's own pty.
    is_terminal = False
    is_pty = False
    #: The number of the devpts pseudo-terminal it is an end of (None: it is not one).
    pts_index: int | None = None

    def __init__(self, flags: int, inode: Inode | None = None) -> None:
        self.flags = flags
        self.set_access(flags)
        self.inode = inode
        self.offset = 0
        #: fds (in any table) referring to this description.
        self.refs = 0
        #: (root, directory, name) it was opened by; name None when it is the directory itself.
        self.opened_at: tuple[Dir, Dir, bytes | None] | None = None
        #: A fixed name for a file with no place in the tree (a memfd, an O_TMPFILE file).
        self._path: bytes | None = None
        #: Who opened it (linkat with AT_EMPTY_PATH lets the opener link it back in).
        self.opener: Credentials | None = None

    # --- access mode -----------------------------------------------------------------------

    def set_access(self, flags: int) -> None:
        """Whether the description reads and writes, from the access mode it was opened with
        (kept as attributes: every read and write asks, and the mode never changes)."""
        self.readable = not flags & O_PATH and flags & O_ACCMODE in (O_RDONLY, O_RDWR)
        self.writable = not flags & O_PATH and flags & O_ACCMODE in (O_WRONLY, O_RDWR)

    async def finish_open(self) -> None:
        """Sleep until the open may complete (only when :attr:`open_pending`)."""

    # --- I/O (defaults: a file without these operations) -----------------------------------

    async def read(self, buffers: list[memoryview]) -> int:
        raise Errno(EINVAL)

    async def read_as(self, caller: Caller, buffers: list[memoryview]) -> int:
        """A read on behalf of ``caller``: the same as :meth:`read` for every file but those
        whose data depends on the reader (a signalfd reads the reading thread's signals)."""
        return await self.read(buffers)

    async def write(self, buffers: list[memoryview]) -> int:
        raise Errno(EINVAL)

    async def write_as(self, caller: Caller, buffers: list[memoryview]) -> int:
        """A write on behalf of ``caller``: :meth:`write` for every file but those whose
        effect depends on the writer (a socket's message carries its credentials)."""
        return await self.write(buffers)

    def read_nowait(self, buffers: list[memoryview]) -> int | None:
        """For a file that may block: the read done now if it need not wait, else None (the
        caller then awaits :meth:`read`, as an interruptible sleep)."""
        return None

    def write_nowait(self, buffers: list[memoryview]) -> int | None:
        """For a file that may block: the whole write done now if it need not wait, else None."""
        return None

    async def pread(self, buffers: list[memoryview], offset: int) -> int:
        raise Errno(ESPIPE)

    async def pwrite(self, buffers: list[memoryview], offset: int) -> int:
        raise Errno(ESPIPE)

    async def seek(self, offset: int, whence: int) -> int:
        raise Errno(ESPIPE)

    async def stat(self) -> Stat:
        assert self.inode is not None
        return await self.inode.stat()

    async def getdents(self, limit: int) -> list[tuple[bytes, int, int]]:
        """The directory's next entries (at most ``limit``) as (name, ino, d_type); consumes
        nothing until :meth:`consumed` says how many were returned."""
        raise Errno(ENOTDIR)

    def consumed(self, entries: list[tuple[bytes, int, int]]) -> None:
        """getdents returned ``entries``, the first of :meth:`getdents`'s."""
        self.offset += len(entries)

    def ioctl_read(self, request: int, size: int) -> bytes:
        raise Errno(ENOTTY)

    def device_ioctl(self, request: int, arg: int) -> int:
        """A device's own ioctl with an integer argument and result (a pty master's TIOCGPTN)."""
        raise Errno(ENOTTY)

    def proc_target(self) -> bytes | None:
        """What /proc/PID/fd/N shows for a file that has no path in the tree (None: ask procfs)."""
        return None

    def readable_bytes(self) -> int:
        """FIONREAD."""
        raise Errno(ENOTTY)

    def unsent_bytes(self) -> int:
        """TIOCOUTQ/SIOCOUTQ: bytes written and not yet taken by the other end."""
        raise Errno(ENOTTY)

    #: What the kernel needs to know to make socket calls: the netstack's id and the socket's
    #: family, type and protocol (None for a file that is not a socket).
    socket_identity: SocketIdentity | None = None

    # --- readiness (poll, select, epoll) ----------------------------------------------------

    def poll(self, caller: Caller | None = None) -> int:
        """The POLL* events the file is ready for now (a file that never blocks: in and out);
        ``caller`` is who polls (a signalfd is ready for the polling thread's signals)."""
        return POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM

    async def wait(self, events: int) -> None:
        """Return when the file's readiness may have changed (a file that never blocks: never)."""
        await trio.sleep_forever()

    def notifier(self) -> Changes | SocketWatch | None:
        """What announces each change of the file's readiness, for signal-driven I/O to hook
        (services/vfs/fasync.py); None when the host tells the changes (or nothing changes)."""
        return None

    @property
    def changes(self) -> int:
        """A counter that moves at every change of readiness (edge-triggered epoll compares it)."""
        return 0

    @property
    def directory(self) -> Dir | None:
        """The directory this description opened, if it is one (fchdir, *at dirfds)."""
        inode = self.inode
        return inode if inode is not None and inode.mode & S_IFMT == S_IFDIR else None  # type: ignore[return-value]

    @property
    def path(self) -> bytes | None:
        """The absolute path /proc/PID/fd shows: named when it is asked for, from where the file
        was opened, so a rename since shows as on Linux; None for a file with no name."""
        if self._path is not None or self.opened_at is None:
            return self._path
        from services.vfs.path import path_of

        root, directory, name = self.opened_at
        where = path_of(directory, root)
        return where if name is None else where.rstrip(b"/") + b"/" + name

    @path.setter
    def path(self, value: bytes | None) -> None:
        self._path = value

    def host_fd(self) -> int | None:
        """A host fd holding the file's bytes (for mmap), if there is one."""
        return None

    #: Whether mapping it gives fresh zeroed memory (/dev/zero: anonymous memory, shared or not).
    maps_anonymous = False

    def release(self) -> None:
        """The last fd referring to this description closed."""

    @property
    def lock_key(self) -> tuple[int, int]:
        """The file whose locks this description's locks are: the same for every path to it."""
        if self.inode is None:
            return (-1, id(self))
        return (self.inode.fs.dev, self.inode.ino)


def seek_position(current: int, size: int, offset: int, whence: int) -> int:
    """lseek's arithmetic for SEEK_SET/CUR/END; EINVAL for a negative result or bad whence."""
    if whence == SEEK_SET:
        position = offset
    elif whence == SEEK_CUR:
        position = current + offset
    elif whence == SEEK_END:
        position = size + offset
    else:
        raise Errno(EINVAL)
    if not 0 <= position <= OFFSET_MAX:
        raise Errno(EINVAL)
    return position


class RegularFile(File):
    """A regular file whose bytes are in a host fd: a tmpfs memfd, or one the gofer donated.

    Reads and writes are preadv/pwritev between that fd and guest memory: no copy in Python.
    """

    def __init__(self, flags: int, inode: Inode, fd: int) -> None:
        super().__init__(flags, inode)
        self.fd = fd

    async def read(self, buffers: list[memoryview]) -> int:
        n = await self.pread(buffers, self.offset)
        self.offset += n
        return n

    async def write(self, buffers: list[memoryview]) -> int:
        if self.flags & O_APPEND:
            self.offset = os.fstat(self.fd).st_size
        n = await self.pwrite(buffers, self.offset)
        self.offset += n
        return n

    async def pread(self, buffers: list[memoryview], offset: int) -> int:
        if not buffers:
            return 0
        try:
            n = os.preadv(self.fd, buffers, offset)
        except OSError as error:
            raise Errno(error.errno) from None
        self.inode.accessed()  # type: ignore[union-attr]
        return n

    async def pwrite(self, buffers: list[memoryview], offset: int) -> int:
        if not buffers:
            return 0
        inode = self.inode
        bounded = getattr(inode, "bounded", False)
        if bounded:  # a file in memory: only what its file system has room for
            buffers = shorten(buffers, inode.reserve(offset, sum(map(len, buffers))))  # type: ignore[union-attr]
        try:
            n = os.pwritev(self.fd, buffers, offset)
        except OSError as error:
            raise Errno(error.errno) from None
        # A file in memory keeps its own size; one written through to the host learns it.
        memory = getattr(inode, "memfd", None) is not None
        inode.modified(None if memory else os.fstat(self.fd).st_size)  # type: ignore[union-attr]
        if bounded:
            inode.account()  # type: ignore[union-attr]
        return n

    async def seek(self, offset: int, whence: int) -> int:
        if whence in (SEEK_DATA, SEEK_HOLE):  # the host file knows its holes (ENXIO past the end)
            try:
                self.offset = os.lseek(self.fd, offset, whence)
            except OSError as error:
                raise Errno(error.errno) from None
            return self.offset
        self.offset = seek_position(self.offset, os.fstat(self.fd).st_size, offset, whence)
        return self.offset

    def readable_bytes(self) -> int:
        return max(0, os.fstat(self.fd).st_size - self.offset)

    def host_fd(self) -> int | None:
        return self.fd

    def release(self) -> None:
        os.close(self.fd)
        if self.inode is not None:
            self.inode.released()


class DirectoryFile(File):
    """An open directory. ``offset`` counts the entries getdents64 has returned.

    A directory whose entries are its cached children (a tmpfs's, the image's) is read from a
    snapshot of its listing taken at the first getdents after opening or rewinding, by position,
    leaving out names removed since: each call costs the entries it returns, not the size of
    the directory, and a reader that removes what it has read (rm -r) is not made to skip what
    follows. Names made after the snapshot are not returned until the next rewind, as on Linux's
    tmpfs and overlayfs (POSIX leaves it open). A directory whose listing is computed each time
    (procfs: closing the fds listed in /proc/self/fd) remembers the names returned instead. After
    a seek elsewhere (seekdir) the offset is an index into the listing, until the next rewind."""

    def __init__(self, flags: int, inode: Inode | None = None) -> None:
        super().__init__(flags, inode)
        #: Names returned since the last rewind; None once a seek made ``offset`` an index.
        self._returned: set[bytes] | None = set()
        #: The listing being read (see above), and where the next getdents starts in it.
        self._snapshot: list[tuple[bytes, int, int]] | None = None
        self._position = 0
        #: Positions in the snapshot of the entries the last getdents offered.
        self._offered: Sequence[int] = ()

    async def getdents(self, limit: int) -> list[tuple[bytes, int, int]]:
        assert self.inode is not None
        returned = self._returned
        if returned is not None and getattr(self.inode, "static_children", False):
            return await self._from_snapshot(limit)
        entries = await self.inode.entries()  # type: ignore[attr-defined]
        if returned is None:
            return entries[self.offset:self.offset + limit]
        remaining = [entry for entry in entries if entry[0] not in returned] if returned else entries
        return remaining[:limit]

    async def _from_snapshot(self, limit: int) -> list[tuple[bytes, int, int]]:
        assert self.inode is not None
        if self._snapshot is None:
            self._snapshot, self._position = await self.inode.entries(), 0  # type: ignore[attr-defined]
        snapshot, children = self._snapshot, self.inode.children  # type: ignore[attr-defined]
        # An image directory whose cached entries were forgotten meanwhile (the cache's bound)
        # cannot say what was removed: its snapshot is taken as it is.
        forgotten = not getattr(self.inode, "listed", True)
        index = self._position
        page = snapshot[index:index + limit]
        names = set(map(_NAME, page))
        names -= _DOTS
        if forgotten or children.keys() >= names:  # (a check as long as the page, not the directory)
            self._offered = range(index, index + len(page))  # nothing removed: the common case
            return page
        page, offered = [], []  # names were removed: leave them out
        self._offered = offered
        while index < len(snapshot) and len(page) < limit:
            entry = snapshot[index]
            if entry[0] in children or entry[0] in _DOTS:
                page.append(entry)
                offered.append(index)
            index += 1
        if not page:
            self._position = index  # only removed names were left
        return page

    def consumed(self, entries: list[tuple[bytes, int, int]]) -> None:
        self.offset += len(entries)
        if self._snapshot is not None:  # read by position: no names to remember
            if entries:
                self._position = self._offered[len(entries) - 1] + 1
        elif self._returned is not None:
            self._returned.update(name for name, _, _ in entries)

    async def seek(self, offset: int, whence: int) -> int:
        if whence == SEEK_SET and offset >= 0:
            self.offset = offset
        elif whence == SEEK_CUR and self.offset + offset >= 0:
            self.offset += offset
        else:
            raise Errno(EINVAL)
        self._returned = set() if self.offset == 0 else None
        self._snapshot = None
        return self.offset

    async def read(self, buffers: list[memoryview]) -> int:
        from abi.errno import EISDIR

        raise Errno(EISDIR)

    async def pread(self, buffers: list[memoryview], offset: int) -> int:
        from abi.errno import EISDIR

        raise Errno(EISDIR)


class PathFile(File):
    """An O_PATH description: names a file; only fstat, fchdir and *at dirfds use it."""


def shorten(buffers: list[memoryview], count: int) -> list[memoryview]:
    """The first ``count`` bytes of ``buffers``."""
    kept: list[memoryview] = []
    for view in buffers:
        if count <= 0:
            break
        kept.append(view[:count])
        count -= len(view)
    return kept


def scatter(data: memoryview, buffers: list[memoryview]) -> int:
    """Copy ``data`` into ``buffers`` in order, as far as they reach: the bytes copied."""
    position = 0
    for view in buffers:
        take = min(len(view), len(data) - position)
        view[:take] = data[position:position + take]
        position += take
        if position == len(data):
            break
    return position
