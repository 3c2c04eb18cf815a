"""The image as the root file system: gofer-backed inodes, as an overlay by default.

The image is served by a gofer (through the ``gofer`` service). A directory of the image is a
:class:`GoferDir`; its children are looked up lazily and cached in it (the tree is the dentry
cache), with their attributes, negative entries and symlink targets. A lookup of a name not
cached walks every following name of the path too, in one ``walk_attrs`` round trip; listing a
directory (``readdir_attrs``) brings every entry with its attributes in one round trip, after
which any lookup in it is answered from memory. A directory gets its own fid only when it is
first needed (a lookup or listing in it).

How long what is cached stays true is the mount's policy (:func:`services.vfs.mounts.file_access`,
docs/caching.md): under the overlay only the Sentry changes the files, so the cache is
invalidated only by the Sentry's own changes; a mount the host may change (``rw``, ``ro``)
revalidates every name a resolution walks, in one round trip per resolution, and lists a
directory again at each open. The cache is bounded (:data:`CACHE_ENTRIES`): past it the least
recently used directories forget the entries the gofer can give again (never a change made in
the Sentry). A file still referenced (open, a cwd) keeps its identity: it is found again by its
inode number.

Three modes (:class:`GoferFs`):

* ``overlay`` (the default): the image is a read-only lower layer and every change lives in the
  Sentry. A regular file is *copied up* into a memfd the first time it is opened for writing or
  truncated; removing or renaming a name leaves a *whiteout* hiding the lower name; a directory
  made in the sandbox is opaque (it has no lower). Metadata changes are kept on the inode. The
  image is never written.
* ``rw``: changes are written through the gofer to the image.
* ``ro``: every change fails with EROFS.
"""

from __future__ import annotations

import os
import resource
import weakref
from collections import OrderedDict
from collections.abc import Container, Hashable, Sequence
from itertools import compress
from typing import TYPE_CHECKING, Any

from abi.errno import ENODATA, ENODEV, ENOENT, ENOSPC, EOPNOTSUPP
from abi.linux import (
    AT_REMOVEDIR,
    O_PATH,
    O_ACCMODE,
    O_APPEND,
    O_RDONLY,
    O_TRUNC,
    OVERLAYFS_SUPER_MAGIC,
    RENAME_EXCHANGE,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    V9FS_MAGIC,
    XATTR_USER_PREFIX,
)
from gofer import protocol as p
from kernel.bus import Bus
from abi.errno import Errno
from services.vfs.file import File, scatter, seek_position
from services.vfs.inode import Dir, Filesystem, Inode, RegularInode, Symlink, now_ns, special_inode
from services.vfs.memfiles import MEMORY_FILES
from services.vfs.mounts import SHARED, file_access

if TYPE_CHECKING:
    from abi.creds import Caller

#: How many read-only host fds of image files the sandbox's mounts keep open for reuse, all
#: together: an eighth of the host fds the Sentry may hold (every pipe, socket and open tmpfs
#: file of the sandbox is one too, and the memfds may take half: services/vfs/memfiles.py),
#: within these bounds, the least never above a quarter. runsc's gofer mounts keep a host fd
#: with each of up to 1 000 cached files.
READONLY_FD_CACHE_LEAST = 256
READONLY_FD_CACHE_MOST = 4096
#: The most files an open-ahead opens besides the one asked for (Topenmany's bound, less one).
OPEN_AHEAD = p.OPEN_MANY - 1
#: How many names past the one opened an open-ahead looks at for files to open.
OPEN_AHEAD_SCAN = 4 * OPEN_AHEAD
#: How many directories' readings (and sorted orders) a mount keeps for open-ahead.
OPEN_AHEAD_DIRECTORIES = 4
#: How many names (and negative entries) a mount's cache holds before the least recently used
#: directories forget theirs (about 1 KiB each).
CACHE_ENTRIES = 1 << 16
#: The most names one walk request carries.
WALK_AHEAD = 64
#: A directory listed by a walker (:meth:`GoferDir._in_a_tree_walk`) brings, in the same
#: request, up to this many bytes of entries (~6000) of the directories the walker reads next:
#: up to this many others it has seen but not read, found in a search of at most this many
#: cached directories, and those below them all.
TREE_LISTING_BYTES = 1 << 20
TREE_OTHER_DIRECTORIES = 256
TREE_SEARCH_LIMIT = 4096
#: Bytes of a reply per entry (the gofer's allowance, and a name), to size a tree listing to the
#: room left in the cache; with less room than this many entries, a directory is listed alone.
TREE_ENTRY_BYTES = 180
TREE_LEAST_ROOM = 64
#: The most bytes one ``gofer.read``/``gofer.write`` operation moves under ``--gofer-io=rpc``.
RPC_CHUNK = 16 << 20
#: The fewest inode numbers a mount's LiveInodes holds before it sweeps out the dead.
LIVE_SWEEP_LEAST = 1024


def readonly_fd_cache_size() -> int:
    """The read-only fd cache's bound for a mount made now (after the Sentry raised its limit)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return READONLY_FD_CACHE_MOST
    return min(READONLY_FD_CACHE_MOST, max(min(READONLY_FD_CACHE_LEAST, soft // 4), soft // 8))


class _Order:
    """One order of a directory's names, and the position in it of the file opened last."""

    __slots__ = ("names", "positions", "last")

    def __init__(self, names: list[bytes], positions: dict[bytes, int]) -> None:
        self.names = names
        self.positions = positions
        self.last = -1

    @staticmethod
    def of(directory: GoferDir) -> list[tuple[list[bytes], dict[bytes, int]]]:
        """The directory's names as listed, by inode number and by name, each with every
        name's position in it."""
        children = directory.children
        listed = list(children)
        orders = (listed, sorted(listed, key=lambda name: children[name].ino), sorted(listed))
        return [(names, {name: index for index, name in enumerate(names)}) for names in orders]

    def follows(self, name: bytes) -> bool:
        """Whether ``name`` comes after the last file opened (and is the new last)."""
        position = self.positions.get(name, -1)
        sequential = position > self.last
        self.last = position
        return sequential


class _DirectoryReading:
    """Files of one listed image directory being opened in one order (an open-ahead's evidence).

    Readers of a whole directory take its names in one of three orders: as listed (grep -r,
    tar), by inode number (cp -r: gnulib's ``savedir`` sorts so for fast reads on Linux), or
    by name (Python's ``compileall``, git). Each file opened keeps the orders it follows in,
    and the reading ends when none is left.

    Two files opened at random are in some order more often than not, so a reading is
    *confirmed* (files are opened ahead) by a third file in its order, or at once when the
    first two are neighbours in it: no regular file lies between them that has not been
    opened already. Readers of the whole directory open neighbours; two files at random seldom
    are. The first file opened in a directory (or again, after the reader went through
    subdirectories and its reading was forgotten) begins a reading too when it is the first
    regular file of an order not opened yet.
    """

    __slots__ = ("directory", "orders", "confirmed")

    def __init__(self, directory: GoferDir, orders: list[_Order], confirmed: bool) -> None:
        self.directory = directory
        #: The orders the files opened so far were all in, listing order first.
        self.orders = orders
        self.confirmed = confirmed

    @classmethod
    def taken(cls, directory: GoferDir, first: bytes | None, second: bytes,
              known: list[tuple[list[bytes], dict[bytes, int]]],
              opened: Container[GoferRegular]) -> _DirectoryReading | None:
        """The reading that opening ``first`` then ``second`` begins (``first`` None: the
        directory's first file opened since its reading was forgotten), ``known`` being its
        orders (:meth:`_Order.of`) and ``opened`` the files opened already; None when
        ``second`` comes before ``first`` in every order, or when nothing confirms a first
        file's."""
        children = directory.children
        neighbours: list[_Order] = []  # orders with no regular file between the two not opened yet
        others: list[_Order] = []
        for names, positions in known:
            order = _Order(names, positions)
            if first is not None:
                order.follows(first)
            before = order.last
            if order.follows(second):
                between = map(children.get, names[before + 1:order.last])
                apart = any(type(child) is GoferRegular and child not in opened for child in between)
                (others if apart else neighbours).append(order)
        if neighbours:  # confirmed, in those orders first (the order to open ahead in)
            return cls(directory, neighbours + others if first is not None else neighbours, True)
        return cls(directory, others, False) if first is not None and others else None

    def follows(self, name: bytes) -> bool:
        """Whether ``name`` comes after the last file opened in some order still held (the
        orders it does not follow in are dropped)."""
        self.orders = [order for order in self.orders if order.follows(name)]
        return bool(self.orders)

    @property
    def order(self) -> _Order:
        """The order to open ahead in."""
        return self.orders[0]


class LiveInodes:
    """Inodes by number, held weakly: those of a mount's image files still referenced anywhere.

    A plain dict of weak references, the dead ones swept out whenever it has doubled since the
    last sweep: a listing adds thousands at a time, and WeakValueDictionary's per-entry Python
    code (a keyed reference made, a callback run at each inode's death) was a third of the
    cost of caching a listed entry.
    """

    __slots__ = ("_refs", "_sweep_at")

    def __init__(self) -> None:
        self._refs: dict[int, weakref.ref[Inode]] = {}
        self._sweep_at = LIVE_SWEEP_LEAST

    def get(self, ino: int) -> Inode | None:
        ref = self._refs.get(ino)
        return None if ref is None else ref()

    def add(self, ino: int, inode: Inode) -> None:
        refs = self._refs
        refs[ino] = weakref.ref(inode)
        if len(refs) >= self._sweep_at:
            self._refs = {number: ref for number, ref in refs.items() if ref() is not None}
            self._sweep_at = max(LIVE_SWEEP_LEAST, 2 * len(self._refs))

    def __len__(self) -> int:
        """How many numbers are held (dead ones not yet swept included)."""
        return len(self._refs)


class GoferFs(Filesystem):
    """The image's file system, reached through gofer mount ``mount``; ``access`` overrides the
    mode's revalidation policy (:data:`~services.vfs.mounts.EXCLUSIVE` or ``SHARED``)."""

    def __init__(self, bus: Bus, mount: int, mode: str = "overlay", capacity: int | None = None,
                 cache_entries: int | None = None, access: str | None = None,
                 readonly_fds: OrderedDict[GoferRegular, int] | None = None) -> None:
        assert mode in ("overlay", "rw", "ro")
        super().__init__(OVERLAYFS_SUPER_MAGIC if mode == "overlay" else V9FS_MAGIC,
                         read_only=mode == "ro", name=b"overlay" if mode == "overlay" else b"9p",
                         capacity=capacity if mode == "overlay" else None)
        self.bus = bus
        self.mount = mount
        self.overlay = mode == "overlay"
        self.rw = mode == "rw"
        #: The host may change the files: revalidate what is cached (docs/caching.md).
        self.shared = (access or file_access(mode)) == SHARED
        #: Whether the gofer donates host fds (else data moves by gofer.read/gofer.write).
        self.donates = True
        #: Read-only host fds of image files opened lately, or opened ahead, least recently
        #: used first: opening such a file costs a dup instead of a gofer round trip. One cache
        #: for all the sandbox's mounts (the VFS passes it), so that its bound is the Sentry's
        #: whatever the number of volumes.
        self._readonly_fds: OrderedDict[GoferRegular, int] = OrderedDict() if readonly_fds is None else readonly_fds
        self.readonly_fd_bound = readonly_fd_cache_size()
        #: The image file opened last (see :meth:`_open_ahead`), as (directory, name).
        self._last_opened: tuple[GoferDir, bytes] | None = None
        #: Directories whose files are being opened in order, most recent last.
        self._readings: OrderedDict[GoferDir, _DirectoryReading] = OrderedDict()
        #: The orders of the directories files were opened in lately, with their sizes then.
        self._orders: OrderedDict[GoferDir, tuple[int, list[tuple[list[bytes], dict[bytes, int]]]]] = OrderedDict()
        #: Entries cached (names from the gofer, negative entries), and the directories holding
        #: them, least recently used first.
        self.cache_entries = CACHE_ENTRIES if cache_entries is None else cache_entries
        self.cached = 0
        self._dirs: OrderedDict[GoferDir, None] = OrderedDict()
        #: The image's files still referenced anywhere, by inode number: a name looked up again
        #: (or another hard link) finds the same inode.
        self._live = LiveInodes()
        #: Fids of descriptions released (a synchronous moment), clunked at the next message.
        self._unclunked: list[int] = []

    async def readonly_fd(self, inode: GoferRegular) -> int:
        """A new host fd reading ``inode``'s bytes in the image (the caller owns it).

        Every guest file description keeps its own offset and uses positional I/O, so they may
        all share one host open file.
        """
        fd = self._readonly_fds.get(inode)
        if fd is None:
            opened = await self._open_ahead(inode)
            if opened is None:
                opened = await inode.open_lower(O_RDONLY)
            fd = self._keep_readonly_fd(inode, opened)
        else:
            self._readonly_fds.move_to_end(inode)
        return os.dup(fd)

    def _keep_readonly_fd(self, inode: GoferRegular, opened: int) -> int:
        """Keep ``opened`` as ``inode``'s read-only fd (unless another task kept one meanwhile:
        that one), closing the least recently used beyond the cache's bound."""
        fd = self._readonly_fds.setdefault(inode, opened)
        if fd != opened:
            os.close(opened)
        while len(self._readonly_fds) > self.readonly_fd_bound:
            os.close(self._readonly_fds.popitem(last=False)[1])
        return fd

    async def _open_ahead(self, inode: GoferRegular) -> int | None:
        """Open ``inode`` and, in the same request, the image files that follow it in its
        directory, if the files opened there lately went in one order (a reader of the whole
        directory: grep -r, tar, cp -r, a compiler; :class:`_DirectoryReading`): what a Linux
        page cache gives such a reader for free, a gofer round trip per file, is paid once per
        :data:`OPEN_AHEAD` files. Only under the exclusive policy, where the image does not
        change under the Sentry. None if there is nothing to open ahead: the caller opens
        ``inode`` alone."""
        if self.shared or not self.donates or inode.location is None:
            return None
        directory, name = inode.location
        previous, self._last_opened = self._last_opened, inode.location
        reading = self._readings.get(directory)
        if reading is not None and reading.follows(name):
            reading.confirmed = True
            self._readings.move_to_end(directory)
        else:  # the last two files opened here, or this first one, may begin an order
            self._readings.pop(directory, None)
            if not directory.listed:
                return None
            first = previous[1] if previous is not None and previous[0] is directory else None
            reading = _DirectoryReading.taken(directory, first, name, self._orders_of(directory),
                                              self._readonly_fds)
            if reading is None:
                return None
            self._readings[directory] = reading
            if len(self._readings) > OPEN_AHEAD_DIRECTORIES:
                self._readings.popitem(last=False)
            if not reading.confirmed:
                return None
        ahead = self._files_after(reading)
        if not ahead:
            return None
        base, path = await directory.walk_base(1)
        opened = await self.gofer("open_many", base, path, [name, *(child for child, _ in ahead)], O_RDONLY)
        for (_, child), result in zip(ahead, opened[1:]):
            if isinstance(result, int):
                continue
            qid, fd = result
            if child.memfd is not None or qid.path != child.ino:
                os.close(fd)  # copied up or replaced meanwhile
            else:
                self._keep_readonly_fd(child, fd)  # (which closes it if another task kept one)
        if isinstance(opened[0], int):
            raise Errno(opened[0])
        return opened[0][1]

    def _orders_of(self, directory: GoferDir) -> list[tuple[list[bytes], dict[bytes, int]]]:
        """``directory``'s three orders, sorted once while its number of entries stays the
        same (3 ms for 3 000 entries: a reader opening files at random in a large directory
        would pay that per file). Orders gone stale only make a guess worse: what is opened
        ahead is checked against the directory's entries as they are."""
        cached = self._orders.get(directory)
        if cached is not None and cached[0] == len(directory.children):
            self._orders.move_to_end(directory)
            return cached[1]
        orders = _Order.of(directory)
        self._orders[directory] = (len(directory.children), orders)
        if len(self._orders) > OPEN_AHEAD_DIRECTORIES:
            self._orders.popitem(last=False)
        return orders

    def _files_after(self, reading: _DirectoryReading) -> list[tuple[bytes, GoferRegular]]:
        """The image files after the last one opened in ``reading``'s directory, in its
        order, whose bytes are still the image's and have no fd kept: at most OPEN_AHEAD."""
        children = reading.directory.children
        files: list[tuple[bytes, GoferRegular]] = []
        order = reading.order
        start = order.last + 1
        for name in order.names[start:start + OPEN_AHEAD_SCAN]:
            child = children.get(name)
            if (type(child) is GoferRegular and child.memfd is None and child.location is not None
                    and child not in self._readonly_fds):
                files.append((name, child))
                if len(files) == OPEN_AHEAD:
                    break
        return files

    def forget_readonly_fd(self, inode: GoferRegular) -> None:
        """``inode`` no longer reads from the image (copied up, truncated): drop its fd."""
        fd = self._readonly_fds.pop(inode, None)
        if fd is not None:
            os.close(fd)

    async def gofer(self, op: str, *args: Any) -> Any:
        """The gofer operation ``op`` on this file system's mount."""
        if self._unclunked:
            fids, self._unclunked = self._unclunked, []
            for fid in fids:
                await self.clunk_later(fid)
        return await self.bus.call("gofer", op, self.mount, *args)

    async def new_fid(self) -> int:
        return await self.gofer("new_fid")

    async def check_alive(self) -> None:
        """EIO once the gofer is gone, even for what the Sentry has cached."""
        await self.bus.call("gofer", "alive", self.mount)

    async def clunk_later(self, fid: int) -> None:
        await self.bus.call("gofer", "clunk_later", self.mount, fid)

    def clunk_soon(self, fid: int) -> None:
        """Release ``fid`` with the next message (for a caller that cannot await)."""
        self._unclunked.append(fid)

    async def root(self) -> GoferDir:
        self.donates = await self.bus.call("gofer", "donates", self.mount)
        fid = await self.gofer("attach")
        qid, attr = await self.gofer("getattr", fid)
        root = GoferDir(self, attr.mode, attr.uid, attr.gid, fid=fid, ino=qid.path, nlink=attr.nlink,
                        times=_times(attr), lower=True)
        root.lower_size, root.blocks = attr.size, attr.blocks
        self._live.add(qid.path, root)
        return root

    async def statfs(self) -> tuple[int, int, int, int, int, int]:
        root_fid = await self.gofer("attach")
        try:
            st = await self.gofer("statfs", root_fid)
        finally:
            await self.clunk_later(root_fid)
        return (st.bsize, st.blocks, st.bfree, st.bavail, st.files, st.ffree)

    # --- the cache ------------------------------------------------------------------------------

    def inode_for(self, parent: GoferDir, name: bytes, ino: int, attr: p.Attr | p.ListedFile) -> Inode:
        """The inode of the image's file ``parent/name``, numbered ``ino``: the one still alive
        with that number if there is one (an open file, a cwd, another hard link), else a new one."""
        kind = attr.mode & S_IFMT
        live = self._live.get(ino)
        if live is not None and live.kind == kind and _lower_backed(live):
            if self.shared:
                refresh(live, attr)
                _relocate(live, parent, name)
            return live
        times = _times(attr)
        inode: Inode
        if kind == S_IFREG:
            inode = GoferRegular(self, attr.mode, attr.uid, attr.gid, (parent, name), attr.size,
                                 ino=ino, nlink=attr.nlink, times=times)
        elif kind == S_IFDIR:
            inode = GoferDir(self, attr.mode, attr.uid, attr.gid, parent=parent, name=name, lower=True,
                             ino=ino, nlink=attr.nlink, times=times)
            inode.lower_size = attr.size
        elif kind == S_IFLNK:
            inode = GoferSymlink(self, (parent, name), attr.size, attr.uid, attr.gid,
                                 ino=ino, nlink=attr.nlink, times=times)
        else:
            inode = special_inode(self, attr.mode, attr.uid, attr.gid, attr.rdev, ino=ino, nlink=attr.nlink,
                                  times=times)
        inode.blocks = attr.blocks
        inode.pristine = True  # type: ignore[attr-defined]
        if _lower_backed(inode):
            self._live.add(ino, inode)
        return inode

    def touch(self, directory: GoferDir) -> None:
        """``directory``'s entries were used: it is the last to forget them."""
        dirs = self._dirs
        if directory in dirs:
            dirs.move_to_end(directory)
        else:
            dirs[directory] = None

    async def trim(self, using: GoferDir) -> None:
        """Past :attr:`cache_entries`, the least recently used directories forget what the gofer
        can give again, down to seven eighths of it; never ``using``, the one in use."""
        if self.cached <= self.cache_entries:
            return
        goal = self.cache_entries * 7 // 8
        while self.cached > goal and self._dirs:
            directory = next(iter(self._dirs))
            if directory is using:
                break
            del self._dirs[directory]
            directory.forget(using)

    def drop_dir(self, directory: GoferDir) -> None:
        """``directory`` left the cache: its negative entries go with it."""
        self._dirs.pop(directory, None)
        self.cached -= len(directory.negative)
        directory.negative.clear()

    async def setattr_lower(self, location: tuple[GoferDir, bytes] | None, fid: int | None, valid: int,
                            **fields: int) -> None:
        """Write attributes through to the image (rw mode)."""
        values = [fields.get(key, 0) for key in ("mode", "uid", "gid", "size", "atime_ns", "mtime_ns")]
        if location is not None:
            directory, name = location
            fid = await self.new_fid()
            await self.gofer("walk", await directory.dir_fid(), [name], fid)
            try:
                await self.gofer("setattr", fid, valid, *values)
            finally:
                await self.clunk_later(fid)
        elif fid is not None:
            await self.gofer("setattr", fid, valid, *values)


def _times(attr: Any) -> tuple[int, int, int]:
    return (attr.atime_ns, attr.mtime_ns, attr.ctime_ns)


def _lower_backed(inode: Inode) -> bool:
    """Whether ``inode`` is a file of the image (not one made in the Sentry)."""
    if isinstance(inode, GoferDir):
        return inode.lower
    return isinstance(inode, (GoferRegular, GoferSymlink)) and inode.location is not None


def _relocate(inode: Inode, parent: GoferDir, name: bytes) -> None:
    """The host moved ``inode`` to ``parent/name`` (a shared mount's revalidation saw it there)."""
    if isinstance(inode, GoferDir):
        inode.location = (parent, name)
        if inode.mountpoint is None:
            inode.parent, inode.name = parent, name
    elif isinstance(inode, (GoferRegular, GoferSymlink)):
        inode.location = (parent, name)


def refresh(inode: Inode, attr: Any) -> None:
    """Take the attributes the host reports now (a shared mount's revalidation)."""
    inode.mode = (inode.mode & S_IFMT) | (attr.mode & 0o7777)
    inode.uid, inode.gid, inode.nlink = attr.uid, attr.gid, attr.nlink
    inode.atime_ns, inode.mtime_ns, inode.ctime_ns = _times(attr)
    if isinstance(inode, GoferRegular):
        if inode.memfd is None:
            inode.lower_size = attr.size
            inode.blocks = attr.blocks
    elif isinstance(inode, GoferSymlink):
        if attr.size != inode.lower_size or attr.mtime_ns != inode.target_mtime:
            inode.target = None
        inode.lower_size = attr.size
        inode.blocks = attr.blocks
    elif isinstance(inode, GoferDir):
        inode.lower_size = attr.size
        inode.blocks = attr.blocks


def _holds(directory: Dir, inner: Dir) -> bool:
    """Whether ``inner`` is ``directory`` or lies under it."""
    while True:
        if inner is directory:
            return True
        if inner.parent is inner:
            return False
        inner = inner.parent


def _dirty(inode: Inode) -> None:
    """``inode`` now holds a change only the Sentry knows of: it may never be forgotten."""
    inode.pristine = False  # type: ignore[attr-defined]


def _evictable(inode: Inode) -> bool:
    """Whether forgetting ``inode``'s entry loses nothing the gofer cannot give again."""
    if not getattr(inode, "pristine", False):
        return False
    if isinstance(inode, Dir):
        return (isinstance(inode, GoferDir) and not inode.children and not inode.hidden
                and inode.covered_by is None and inode.mountpoint is None)
    return inode.covered_by is None


async def _setattr_through(inode: Inode, fs: GoferFs, location: tuple[GoferDir, bytes] | None, fid: int | None,
                           mode: int | None, uid: int | None, gid: int | None, atime_ns: int | None,
                           mtime_ns: int | None) -> None:
    valid = 0
    fields: dict[str, int] = {}
    if mode is not None:
        valid |= p.SETATTR_MODE
        fields["mode"] = mode & 0o7777
    if uid is not None:
        valid |= p.SETATTR_UID
        fields["uid"] = uid
    if gid is not None:
        valid |= p.SETATTR_GID
        fields["gid"] = gid
    if atime_ns is not None:
        valid |= p.SETATTR_ATIME | p.SETATTR_ATIME_SET
        fields["atime_ns"] = atime_ns
    if mtime_ns is not None:
        valid |= p.SETATTR_MTIME | p.SETATTR_MTIME_SET
        fields["mtime_ns"] = mtime_ns
    if valid:
        await fs.setattr_lower(location, fid, valid, **fields)


def _cached_subdirectory(directory: GoferDir | None, names: Sequence[bytes]) -> GoferDir | None:
    """The image directory ``names`` lead to from ``directory`` through what is cached, or
    None (not cached, not a directory of the image, or made in the sandbox)."""
    for name in names:
        if directory is None:
            return None
        child = directory.children.get(name)
        directory = child if isinstance(child, GoferDir) and child.lower else None
    return directory


def _unlisted_below(anchor: GoferDir, listing: GoferDir) -> list[list[bytes]]:
    """Paths from ``anchor`` of the image directories cached below it but not listed yet
    (``listing`` aside), in the order a depth-first walker meets them: what a walker inside
    ``anchor`` reads next. At most :data:`TREE_OTHER_DIRECTORIES`, from a bounded search."""
    found: list[list[bytes]] = []
    stack: list[tuple[GoferDir, list[bytes]]] = [(anchor, [])]
    visited = 0
    while stack and len(found) < TREE_OTHER_DIRECTORIES and visited < TREE_SEARCH_LIMIT:
        directory, path = stack.pop()
        visited += 1
        subdirectories = [(name, child) for name, child in directory.children.items()
                          if isinstance(child, GoferDir) and child.lower and name not in directory.hidden]
        for name, child in reversed(subdirectories):  # popped in the directory's own order
            if child is listing:
                continue
            if child.listed:
                stack.append((child, [*path, name]))
            else:
                found.append([*path, name])
    return found


class LowerXattrs:
    """Extended attributes of an image file: the user.* ones the host's file has (the gofer
    serves no other namespace), and what the Sentry keeps.

    Under ``--rw`` user.* attributes are read and written through the gofer; the others, and
    every attribute under the overlay, are kept on the inode, the image's user.* ones brought in
    at the first use (the image never changes under the overlay, so bringing them in late is
    the same as copying them up with the data)."""

    gfs: GoferFs
    location: tuple[GoferDir, bytes] | None
    xattrs: dict[bytes, bytes] | None
    #: Whether the image's user.* attributes were brought into ``xattrs``.
    lower_xattrs_loaded = False

    def _lower(self) -> bool:
        return _lower_backed(self)  # type: ignore[arg-type]

    def _through(self, name: bytes | None) -> bool:
        return self.gfs.rw and self._lower() and (name is None or name.startswith(XATTR_USER_PREFIX))

    async def _on_lower(self, op: str, *args: Any) -> Any:
        """Gofer operation ``op`` on the image's file (a directory's own fid, else a walked one)."""
        if isinstance(self, GoferDir):
            return await self.gfs.gofer(op, await self.dir_fid(), *args)
        assert self.location is not None
        directory, name = self.location
        fid = await self.gfs.new_fid()
        await self.gfs.gofer("walk", await directory.dir_fid(), [name], fid)
        try:
            return await self.gfs.gofer(op, fid, *args)
        finally:
            await self.gfs.clunk_later(fid)

    async def _lower_xattr_names(self) -> list[bytes]:
        """The user.* names of the image's file: asked of its directory by name (one request;
        a walked fid would cost a walk, the listing, and a clunk)."""
        if isinstance(self, GoferDir):
            names: list[bytes] = await self.gfs.gofer("xattr_list", await self.dir_fid())
            return names
        assert self.location is not None
        directory, name = self.location
        names = await self.gfs.gofer("xattr_list", await directory.dir_fid(), name)
        return names

    async def _load_lower(self, name: bytes | None = None) -> None:
        """Bring the image's user.* attributes in, before the first use of one: of ``name``,
        or of them all (None, a listing). The gofer serves no other namespace, so a name of
        another needs nothing from the image (``ls -l`` asks security.selinux of every file)."""
        if self.lower_xattrs_loaded or self.gfs.rw or not self._lower():
            return
        if name is not None and not name.startswith(XATTR_USER_PREFIX):
            return
        loaded: dict[bytes, bytes] = {}
        try:
            for name in await self._lower_xattr_names():
                try:
                    loaded[name] = await self._on_lower("xattr_get", name)
                except Errno as error:
                    if error.errno != ENODATA:
                        raise
        except Errno as error:
            if error.errno not in (EOPNOTSUPP, ENOENT):
                raise
        self.xattrs = loaded | (self.xattrs or {})
        self.lower_xattrs_loaded = True
        self.pristine = False  # type: ignore[misc]

    async def get_xattr(self, name: bytes) -> bytes:
        if self._through(name):
            return bytes(await self._on_lower("xattr_get", name))
        await self._load_lower(name)
        return await super().get_xattr(name)  # type: ignore[misc, no-any-return]

    async def set_xattr(self, name: bytes, value: bytes, flags: int) -> None:
        if self._through(name):
            await self._on_lower("xattr_set", name, value, flags)
            return
        await self._load_lower(name)
        await super().set_xattr(name, value, flags)  # type: ignore[misc]

    async def list_xattrs(self) -> list[bytes]:
        await self._load_lower()
        kept = await super().list_xattrs()  # type: ignore[misc]
        if self._through(None):
            others = [name for name in kept if not name.startswith(XATTR_USER_PREFIX)]
            return others + list(await self._lower_xattr_names())
        return kept  # type: ignore[no-any-return]

    async def remove_xattr(self, name: bytes) -> None:
        if self._through(name):
            await self._on_lower("xattr_remove", name)
            return
        await self._load_lower(name)
        await super().remove_xattr(name)  # type: ignore[misc]


class GoferRegular(LowerXattrs, RegularInode):
    """A regular file of the image; in overlay mode, copied up into a memfd on first write."""

    #: Without a memfd it reads the image: never parked.
    parkable = False

    def __init__(self, fs: GoferFs, mode: int, uid: int, gid: int, location: tuple[GoferDir, bytes] | None,
                 size: int, **kwargs: Any) -> None:
        Inode.__init__(self, fs, S_IFREG | (mode & 0o7777), uid, gid, **kwargs)
        self.gfs = fs
        #: Where the file is in the image (directory, name); None once it exists only in the Sentry.
        self.location = location
        self.lower_size = size
        self.memfd: int | None = None
        self.pristine = False

    def size(self) -> int:
        return os.fstat(self.memfd).st_size if self.memfd is not None else self.lower_size

    def mapping_identity(self) -> Hashable | None:
        """The image file's mount and number, while its bytes are the image's: not copied up,
        on a mount whose host files do not change under the Sentry (the exclusive policy) and
        that the sandbox does not write through (not ``--rw``)."""
        gfs = self.gfs
        if self.memfd is not None or self.location is None or gfs.shared or gfs.rw:
            return None
        return ("image", gfs.mount, self.ino)

    def modified(self, size: int | None = None) -> None:
        super().modified(size)
        self.blocks = None
        self.pristine = False
        if size is not None and self.memfd is None:
            self.lower_size = size

    async def open_fid(self, flags: int) -> tuple[int, int | None]:
        """A fid of the image's file, opened by the gofer with ``flags`` (the caller clunks it),
        and the host fd it donated if it donates: one round trip."""
        fid = await self.gfs.new_fid()
        return fid, await self._open(flags, fid)

    async def _open(self, flags: int, fid: int) -> int | None:
        """Walk to the image's file from the nearest directory holding a fid and open it as
        ``fid``: the host fd the gofer donated, if it donates."""
        assert self.location is not None
        directory, name = self.location
        base, path = await directory.walk_base(1)
        _, fd = await self.gfs.gofer("lopen", base, flags, [*path, name], fid)
        return fd

    async def open_lower(self, flags: int) -> int:
        """A host fd of the image's file, opened by the gofer with ``flags``: one round trip
        that leaves no fid to clunk when the gofer donates fds."""
        if self.gfs.donates:
            fd = await self._open(flags, p.NOFID)
        else:
            fid, fd = await self.open_fid(flags)
            await self.gfs.clunk_later(fid)
        if fd is None:
            raise Errno(ENODEV if not self.gfs.donates else ENOENT)
        return fd

    async def copy_up(self) -> None:
        """Give the file a memfd with the image's bytes: from now on it lives in the Sentry."""
        if self.memfd is not None:
            return
        if self.gfs.capacity is not None and self.lower_size > self.gfs.room():
            raise Errno(ENOSPC)  # the overlay's upper layer is memory, and it is full
        memfd = MEMORY_FILES.create("overlay")
        try:
            if self.lower_size and self.gfs.donates:
                lower = await self.gfs.readonly_fd(self)
                try:
                    done = 0
                    while done < self.lower_size:
                        n = os.sendfile(memfd, lower, done, self.lower_size - done)
                        if n == 0:
                            break
                        done += n
                finally:
                    os.close(lower)
            elif self.lower_size:
                await self._read_through(memfd)
        except BaseException:
            MEMORY_FILES.close(memfd)
            raise
        self.memfd = memfd
        self.pristine = False
        self.account()
        self.blocks = None
        self.gfs.forget_readonly_fd(self)

    async def _read_through(self, memfd: int) -> None:
        """Copy the image's bytes into ``memfd`` with gofer reads (``--gofer-io=rpc``): one
        ``gofer.read`` for a file up to :data:`RPC_CHUNK` (the proxy splits it into frames)."""
        fid, _ = await self.open_fid(O_RDONLY)
        try:
            done = 0
            while done < self.lower_size:
                data = await self.gfs.gofer("read", fid, done, min(RPC_CHUNK, self.lower_size - done))
                if not data:
                    break
                os.pwrite(memfd, data, done)
                done += len(data)
        finally:
            await self.gfs.clunk_later(fid)

    async def data_fd(self, flags: int) -> int:
        writing = flags & O_ACCMODE != O_RDONLY or flags & O_TRUNC
        if self.memfd is None and writing and self.gfs.overlay:
            await self.copy_up()
        if self.memfd is not None:
            return os.dup(self.memfd)
        if not writing:
            return await self.gfs.readonly_fd(self)
        fd = await self.open_lower(flags & (O_ACCMODE | O_TRUNC | O_APPEND))
        if flags & O_TRUNC:
            self.lower_size = 0
        return fd

    async def open(self, flags: int, caller: Caller) -> File:
        if self.gfs.donates or flags & O_PATH or self.memfd is not None:
            return await super().open(flags, caller)
        writing = flags & O_ACCMODE != O_RDONLY or flags & O_TRUNC
        if writing:
            self.fs.check_writable()
            if self.gfs.overlay:
                await self.copy_up()
                return await super().open(flags, caller)
        if self.mode & 0o111 and not writing:
            # A program: execve and the dynamic loader map it, and a mapping needs a host fd,
            # so it is read whole (through the gofer) into a memfd of its own.
            snapshot = os.memfd_create("rpc-image", os.MFD_CLOEXEC)
            try:
                await self._read_through(snapshot)
            except BaseException:
                os.close(snapshot)
                raise
            return GoferFile(flags, self, None, snapshot)
        fid, _ = await self.open_fid(flags & (O_ACCMODE | O_TRUNC))
        if flags & O_TRUNC:
            self.lower_size = 0
            self.modified()
        return GoferFile(flags, self, fid, None)

    async def truncate(self, size: int) -> None:
        self.fs.check_writable()
        if self.memfd is None and self.gfs.rw:
            await self.gfs.setattr_lower(self.location, None, p.SETATTR_SIZE, size=size)
            self.lower_size = size
            self.modified()
            return
        await self.copy_up()
        await super().truncate(size)

    async def setattr(self, mode: int | None = None, uid: int | None = None, gid: int | None = None,
                      atime_ns: int | None = None, mtime_ns: int | None = None) -> None:
        self.fs.check_writable()
        if self.gfs.rw and self.location is not None:
            await _setattr_through(self, self.gfs, self.location, None, mode, uid, gid, atime_ns, mtime_ns)
        await super().setattr(mode, uid, gid, atime_ns, mtime_ns)
        self.pristine = False


class GoferFile(File):
    """An image file opened under ``--gofer-io=rpc``: every read and write is a ``gofer.read``
    or ``gofer.write`` operation on the bus (a fault rule or a trace sees each), not host I/O.

    A program's bytes are instead read once into ``snapshot`` (a memfd), which mmap needs.
    """

    def __init__(self, flags: int, inode: GoferRegular, fid: int | None, snapshot: int | None) -> None:
        super().__init__(flags, inode)
        self.regular = inode
        self.fid = fid
        self.snapshot = snapshot

    async def read(self, buffers: list[memoryview]) -> int:
        n = await self.pread(buffers, self.offset)
        self.offset += n
        return n

    async def write(self, buffers: list[memoryview]) -> int:
        if self.flags & O_APPEND:
            self.offset = self.regular.size()
        n = await self.pwrite(buffers, self.offset)
        self.offset += n
        return n

    async def pread(self, buffers: list[memoryview], offset: int) -> int:
        want = sum(map(len, buffers))
        if not want:
            return 0
        if self.snapshot is not None:
            try:
                return os.preadv(self.snapshot, buffers, offset)
            except OSError as error:
                raise Errno(error.errno) from None
        data = await self.regular.gfs.gofer("read", self.fid, offset, min(want, RPC_CHUNK))
        return scatter(memoryview(data), buffers)

    async def pwrite(self, buffers: list[memoryview], offset: int) -> int:
        data = b"".join(buffers)[:RPC_CHUNK]
        if not data:
            return 0
        n: int = await self.regular.gfs.gofer("write", self.fid, offset, data)
        self.regular.modified(max(self.regular.size(), offset + n))
        return n

    async def seek(self, offset: int, whence: int) -> int:
        self.offset = seek_position(self.offset, self.regular.size(), offset, whence)
        return self.offset

    def readable_bytes(self) -> int:
        return max(0, self.regular.size() - self.offset)

    def host_fd(self) -> int | None:
        return self.snapshot

    def release(self) -> None:
        if self.snapshot is not None:
            os.close(self.snapshot)
        if self.fid is not None:
            self.regular.gfs.clunk_soon(self.fid)


class GoferSymlink(LowerXattrs, Symlink):
    """A symlink of the image; its target is read once, on first use (again after the host
    changed it, on a shared mount)."""

    def __init__(self, fs: GoferFs, location: tuple[GoferDir, bytes], size: int, uid: int, gid: int,
                 **kwargs: Any) -> None:
        super().__init__(fs, None, uid, gid, **kwargs)
        self.gfs = fs
        self.location: tuple[GoferDir, bytes] | None = location
        self.lower_size = size
        self.target_mtime = self.mtime_ns
        self.pristine = False

    def size(self) -> int:
        return len(self.target) if self.target is not None else self.lower_size

    def learn(self, target: bytes, mtime_ns: int) -> None:
        """The image's link points to ``target`` (as it was when its mtime was ``mtime_ns``):
        a listing brought it, so no request reads it again."""
        self.target = target
        self.target_mtime = mtime_ns

    async def readlink(self, caller: Caller | None = None) -> bytes:
        if self.target is None:
            assert self.location is not None
            directory, name = self.location
            fid = await self.gfs.new_fid()
            await self.gfs.gofer("walk", await directory.dir_fid(), [name], fid)
            try:
                self.learn(await self.gfs.gofer("readlink", fid), self.mtime_ns)
            finally:
                await self.gfs.clunk_later(fid)
        return self.target

    async def setattr(self, mode: int | None = None, uid: int | None = None, gid: int | None = None,
                      atime_ns: int | None = None, mtime_ns: int | None = None) -> None:
        await super().setattr(mode, uid, gid, atime_ns, mtime_ns)
        self.pristine = False


class GoferDir(LowerXattrs, Dir):
    """A directory of the image (``lower``), or one made in the overlay (opaque: no lower)."""

    def __init__(self, fs: GoferFs, mode: int, uid: int = 0, gid: int = 0, parent: Dir | None = None,
                 name: bytes = b"", fid: int | None = None, lower: bool = False, **kwargs: Any) -> None:
        super().__init__(fs, mode, uid, gid, parent=parent, name=name, **kwargs)
        self.gfs = fs
        #: The gofer's fid of the image's directory, walked when first needed.
        self.fid = fid
        #: Whether the directory is in the image; and where (None: the mount's root).
        self.lower = lower
        self.location: tuple[GoferDir, bytes] | None = (
            (parent, name) if lower and isinstance(parent, GoferDir) and parent is not self else None)
        #: Names removed here whose image entry stays hidden (the overlay's whiteouts).
        self.hidden: set[bytes] = set()
        #: Names looked up and not found in the image (forgotten with the directory's cache).
        self.negative: set[bytes] = set()
        #: Every entry of the image is in ``children`` (the directory was listed): a name not
        #: there is absent without asking (under the exclusive policy).
        self.listed = False
        #: The directory's size as the image reports it (file systems differ).
        self.lower_size: int | None = None
        self.pristine = False

    def size(self) -> int:
        return self.lower_size if self.lower_size is not None else 4096

    async def dir_fid(self) -> int:
        """The gofer's fid of this image directory, walked the first time from the nearest
        directory above it that has one, in one request."""
        if self.fid is None:
            anchored = self._anchor()
            if anchored is None:
                raise Errno(ENOENT)
            anchor, names = anchored
            fid = await self.gfs.new_fid()
            await self.gfs.gofer("walk", anchor.fid, names, fid)
            if self.fid is None:
                self.fid = fid
            else:  # another task walked it meanwhile
                await self.gfs.clunk_later(fid)
        return self.fid

    async def walk_base(self, ahead: int) -> tuple[int, list[bytes]]:
        """Where a walk to ``ahead`` names below this directory starts: the fid of the nearest
        directory at or above it holding one and the names from there to here (no request),
        or, when that walk would be longer than :data:`WALK_AHEAD`, this directory's own fid."""
        anchored = self._anchor()
        if anchored is not None and len(anchored[1]) + ahead <= WALK_AHEAD:
            anchor, names = anchored
            assert anchor.fid is not None
            return anchor.fid, names
        return await self.dir_fid(), []

    def _anchor(self) -> tuple[GoferDir, list[bytes]] | None:
        """The nearest directory at or above this one that has a fid, and the names leading
        from it to here (None if a directory on the way is not the image's)."""
        names: list[bytes] = []
        directory = self
        while directory.fid is None:
            if directory.location is None:
                return None
            directory, name = directory.location
            names.append(name)
        names.reverse()
        return directory, names

    async def lookup(self, name: bytes) -> Inode:
        return (await self.lookup_ahead(name, ()))[0]

    def cached_child(self, name: bytes) -> Inode | None:
        """A cached subdirectory; a file is answered by :meth:`lookup_ahead`, which first asks
        whether the gofer still lives, and a shared mount revalidates what the image holds."""
        child = self.children.get(name)
        if not isinstance(child, Dir) or self.gfs.shared and _lower_backed(child):
            return None
        self.gfs.touch(self)
        return child

    async def lookup_ahead(self, name: bytes, ahead: Sequence[bytes]) -> tuple[Inode, int]:
        """The child ``name``; a name not cached is walked with the plain names ``ahead`` of it
        in one request. Also how many of ``ahead`` are now cached and up to date."""
        gfs = self.gfs
        gfs.touch(self)
        child = self.children.get(name)
        if child is not None and not (gfs.shared and _lower_backed(child)):
            if not isinstance(child, Dir):  # a cached file answers only while the gofer lives
                await gfs.check_alive()
            return child, 0
        if child is None and (not self.lower or name in self.hidden
                              or not gfs.shared and (name in self.negative or self.listed)):
            raise Errno(ENOENT)
        names = [name]
        for following in ahead:
            if following in (b".", b"..") or len(names) == WALK_AHEAD:
                break
            names.append(following)
        walked = await self._fetch(names)
        child = self.children.get(name)
        if child is None:
            raise Errno(ENOENT)
        return child, (walked - 1 if gfs.shared else 0)

    async def _fetch(self, names: list[bytes]) -> int:
        """Walk ``names`` from here in one request and cache what it reached: how many names.
        Under the exclusive policy the walk starts at the nearest directory above holding a fid
        (the names from it to here are cached and cannot have changed)."""
        gfs = self.gfs
        base, path = (await self.dir_fid(), []) if gfs.shared else await self.walk_base(len(names))
        newfid = await gfs.new_fid()
        try:
            qids, attrs = await gfs.gofer("walk_attrs", base, [*path, *names], newfid)
        except Errno as error:
            if error.errno == ENOENT and not path:  # the first name is missing
                self.missing(names[0])
            raise
        # newfid names the last file reached when that is a directory (nothing otherwise)
        bound_by_gofer = bool(qids) and attrs[-1].mode & S_IFMT == S_IFDIR
        qids, attrs = qids[len(path):], attrs[len(path):]
        directory: GoferDir = self
        walked = 0
        bound = False
        for index, (qid, attr) in enumerate(zip(qids, attrs)):
            child = directory.install(names[index], qid.path, attr)
            if child is None:
                break
            walked += 1
            if index == len(qids) - 1 and isinstance(child, GoferDir) and child.fid is None:
                child.fid, bound = newfid, True
            if not isinstance(child, GoferDir):
                break
            directory = child
        if bound_by_gofer and not bound:
            await gfs.clunk_later(newfid)
        await gfs.trim(self)
        if not qids:  # the walk stopped before the first name: it is missing
            self.missing(names[0])
            raise Errno(ENOENT)
        return walked

    def install(self, name: bytes, ino: int, attr: p.Attr | p.ListedFile) -> Inode | None:
        """Cache the image's entry ``name`` as the gofer reports it (its inode number and
        attributes): its inode, or None if the entry is hidden here or cached as another file
        (what was walked beyond it is not ours)."""
        if name in self.hidden:
            return None
        gfs = self.gfs
        existing = self.children.get(name)
        if existing is not None:
            same = existing.ino == ino and existing.kind == attr.mode & S_IFMT
            if not gfs.shared or not _lower_backed(existing):
                return existing if same and _lower_backed(existing) else None
            if same:
                refresh(existing, attr)
                return existing
        else:
            gfs.cached += 1
        if name in self.negative:
            self.negative.discard(name)
            gfs.cached -= 1
        child = gfs.inode_for(self, name, ino, attr)
        self.children[name] = child
        return child

    def _install_listed(self, listing: p.Listing) -> list[p.ListedFile]:
        """:meth:`install` every entry of a listing of this directory, and the targets of its
        symbolic links not read yet; the entries."""
        files = listing.files()
        for entry in files:
            self.install(entry.name, entry.ino, entry)
        targets = listing.targets
        if any(targets):
            children = self.children
            for entry, target in zip(compress(files, targets), filter(None, targets)):
                link = children.get(entry.name)
                if type(link) is GoferSymlink and link.target is None and link.ino == entry.ino:
                    link.learn(target, entry.mtime_ns)
        return files

    def missing(self, name: bytes) -> None:
        """The image has no ``name`` here."""
        if self.gfs.shared:
            child = self.children.get(name)
            if child is not None and _lower_backed(child):
                del self.children[name]
                self.gfs.cached -= 1
        elif name not in self.negative:
            self.negative.add(name)
            self.gfs.cached += 1

    def forget(self, using: GoferDir) -> None:
        """Forget the entries the gofer can give again (the cache is full), and first those of
        the subdirectories cached in it; all of them or none, so that a listing read again is in
        the same order (a reader's getdents offsets stay true). A directory changed in the
        Sentry keeps its names (only its negative entries go), and so do ``using`` (the
        directory in use) and its ancestors."""
        gfs = self.gfs
        gfs.cached -= len(self.negative)
        self.negative.clear()
        if not self.pristine or _holds(self, using):
            return
        for child in self.children.values():
            if isinstance(child, GoferDir) and child.children:
                child.forget(using)
        if not all(map(_evictable, self.children.values())):
            return
        for child in self.children.values():
            if isinstance(child, GoferDir):
                gfs.drop_dir(child)
        gfs.cached -= len(self.children)
        self.children.clear()
        self.listed = False

    async def _list(self) -> None:
        """Every entry of the image's directory, with its attributes, into ``children``; and,
        when a walker seems to be reading the tree, directories it will read next too."""
        if self._in_a_tree_walk() and await self._list_tree():
            return
        gfs = self.gfs
        walk: tuple[Any, ...] = ()
        if self.fid is None and self.location is not None:  # walked and listed in one request
            parent, name = self.location
            fid = await parent.dir_fid()
            walk = ([name], await gfs.new_fid())
        else:
            fid = await self.dir_fid()
        seen: set[bytes] = set()
        offset = 0
        while True:
            page, last = await gfs.gofer("readdir_attrs", fid, offset, *walk)
            if walk:
                if self.fid is None:
                    self.fid = walk[1]
                else:  # another task walked it meanwhile
                    await gfs.clunk_later(walk[1])
                fid, walk = self.fid, ()
            files = self._install_listed(page)
            seen.update(page.names)
            if last or not files:
                break
            offset = files[-1].offset
        if gfs.shared:  # gone from the host since they were cached
            for name, child in list(self.children.items()):
                if name not in seen and _lower_backed(child):
                    del self.children[name]
                    gfs.cached -= 1
        self.listed = True
        await gfs.trim(self)

    def _in_a_tree_walk(self) -> bool:
        """Whether this directory is listed after its parent and grandparent were: what find,
        du, tar, git and ``os.walk`` do, each directory after the one holding it (two levels,
        not one: a program that lists a directory of modules, then one package in it, is not
        walking the tree). Under the exclusive policy only (a listing read ahead is not
        revalidated)."""
        if self.gfs.shared or self.location is None or not self.location[0].listed:
            return False
        grandparent = self.location[0].location
        return grandparent is None or grandparent[0].listed

    async def _list_tree(self) -> bool:
        """List this directory, the directories of the image a walker has yet to read near
        it, and those below, in one request (``readdir_tree``); False if this directory's
        listing did not come whole (it is then listed page by page)."""
        anchored = self._anchor()
        if anchored is None:
            return False
        anchor, path = anchored
        gfs = self.gfs
        room = gfs.cache_entries - gfs.cached  # what is read ahead past the bound is forgotten at once
        if room < TREE_LEAST_ROOM:
            return False
        paths = [path, *_unlisted_below(anchor, self)]
        assert anchor.fid is not None
        page, last, below = await gfs.gofer("readdir_tree", anchor.fid, paths,
                                            min(TREE_LISTING_BYTES, room * TREE_ENTRY_BYTES))
        self._install_listed(page)
        if not last:
            return False
        self.listed = True
        directories: list[GoferDir | None] = []
        for listing in below:
            if listing.parent >= 0:
                holder = directories[listing.parent] if listing.parent < len(directories) else None
                directory = _cached_subdirectory(holder, [listing.name])
            elif listing.parent == -1:
                directory = _cached_subdirectory(self, [listing.name])
            else:
                other = -1 - listing.parent
                directory = _cached_subdirectory(anchor, paths[other]) if other < len(paths) else None
            directories.append(directory)
            if directory is not None and not directory.listed:
                if gfs.cached + len(listing.entries.names) > gfs.cache_entries:
                    break
                directory._install_listed(listing.entries)
                directory.listed = True
                gfs.touch(directory)
        await gfs.trim(self)
        return True

    async def entries(self) -> list[tuple[bytes, int, int]]:
        self.gfs.touch(self)
        if self.lower and not self.listed:
            await self._list()
        return await Dir.entries(self)

    async def open(self, flags: int, caller: Caller) -> File:
        if self.gfs.shared:
            self.listed = False  # the host may have changed it: list it again
        return await super().open(flags, caller)

    async def stat(self) -> Any:
        st = await Inode.stat(self)
        if self.lower:
            return st
        return st._replace(nlink=2 + sum(1 for c in self.children.values() if isinstance(c, Dir)))

    def new_subdirectory(self, name: bytes, mode: int, uid: int, gid: int) -> GoferDir:
        return GoferDir(self.gfs, mode, uid, gid, parent=self, name=name)

    async def make(self, name: bytes, mode: int, uid: int, gid: int, rdev: int = 0,
                   target: bytes | None = None) -> Inode:
        self.fs.check_writable()
        if self.negative:
            self._unforget(name)
        if not self.gfs.rw:
            child = self.new_child(name, mode, uid, gid, rdev, target)
            self.children[name] = child
            self.hidden.discard(name)
            self.modified()
            return child
        fid = await self.dir_fid()
        kind = mode & S_IFMT
        if kind == S_IFDIR:
            await self.gfs.gofer("mkdir", fid, name, mode & 0o7777, uid, gid)
        elif kind == S_IFLNK:
            await self.gfs.gofer("symlink", fid, name, target, uid, gid)
        elif kind == S_IFREG:
            new = await self.gfs.new_fid()
            await self.gfs.gofer("walk", fid, [], new)
            try:
                _, fd = await self.gfs.gofer("lcreate", new, name, O_RDONLY, mode & 0o7777, uid, gid)
                if fd is not None:
                    os.close(fd)
            finally:
                await self.gfs.clunk_later(new)
        else:
            await self.gfs.gofer("mknod", fid, name, mode, rdev >> 8, rdev & 0xFF, uid, gid)
        self.hidden.discard(name)
        self.listed = False
        self.modified()
        return await self.lookup(name)

    def _unforget(self, name: bytes) -> None:
        if name in self.negative:
            self.negative.discard(name)
            self.gfs.cached -= 1

    def _uncount(self, child: Inode) -> None:
        """``child``'s entry leaves this directory: it no longer counts, nor is it pristine."""
        if getattr(child, "pristine", False):
            self.gfs.cached -= 1
        _dirty(child)

    async def remove(self, name: bytes, child: Inode) -> None:
        self.fs.check_writable()
        if self.gfs.rw:
            await self.gfs.gofer("unlinkat", await self.dir_fid(), name,
                                 AT_REMOVEDIR if isinstance(child, Dir) else 0)
        await super().remove(name, child)
        self._uncount(child)
        if not self.gfs.rw:
            self.hidden.add(name)
        if isinstance(child, GoferRegular) and child.location == (self, name):
            child.location = None if self.gfs.rw else child.location

    async def add_link(self, name: bytes, child: Inode) -> None:
        self.fs.check_writable()
        self._unforget(name)
        if self.gfs.rw:
            location = getattr(child, "location", None)
            if location is None:
                from abi.errno import EXDEV

                raise Errno(EXDEV)
            directory, old_name = location
            fid = await self.gfs.new_fid()
            await self.gfs.gofer("walk", await directory.dir_fid(), [old_name], fid)
            try:
                await self.gfs.gofer("link", await self.dir_fid(), fid, name)
            finally:
                await self.gfs.clunk_later(fid)
        await super().add_link(name, child)
        _dirty(child)
        self.hidden.discard(name)

    async def move(self, name: bytes, child: Inode, new_dir: Dir, new_name: bytes) -> None:
        self.fs.check_writable()
        if isinstance(new_dir, GoferDir):
            new_dir._unforget(new_name)
        if self.gfs.rw:
            assert isinstance(new_dir, GoferDir)
            await self.gfs.gofer("renameat", await self.dir_fid(), name, await new_dir.dir_fid(), new_name)
            if isinstance(child, (GoferRegular, GoferSymlink, GoferDir)) and _lower_backed(child):
                child.location = (new_dir, new_name)
        await super().move(name, child, new_dir, new_name)
        self._uncount(child)
        if not self.gfs.rw:
            self.hidden.add(name)
        if isinstance(new_dir, GoferDir):
            new_dir.hidden.discard(new_name)
            _dirty(new_dir)

    async def setattr(self, mode: int | None = None, uid: int | None = None, gid: int | None = None,
                      atime_ns: int | None = None, mtime_ns: int | None = None) -> None:
        self.fs.check_writable()
        if self.gfs.rw:
            await _setattr_through(self, self.gfs, None, await self.dir_fid(), mode, uid, gid, atime_ns, mtime_ns)
        await super().setattr(mode, uid, gid, atime_ns, mtime_ns)
        self.pristine = False

    def modified(self, size: int | None = None) -> None:
        self.mtime_ns = self.ctime_ns = now_ns()
        self.blocks = None
        self.pristine = False


async def exchange_through(old_dir: GoferDir, old_name: bytes, source: Inode, new_dir: GoferDir, new_name: bytes,
                           target: Inode) -> None:
    """RENAME_EXCHANGE in the image (rw mode): one atomic renameat2 in the gofer."""
    await old_dir.gfs.gofer("renameat", await old_dir.dir_fid(), old_name, await new_dir.dir_fid(), new_name,
                            RENAME_EXCHANGE)
    for inode, location in ((source, (new_dir, new_name)), (target, (old_dir, old_name))):
        _dirty(inode)
        if isinstance(inode, (GoferRegular, GoferSymlink, GoferDir)) and _lower_backed(inode):
            inode.location = location
