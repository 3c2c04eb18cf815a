"""Inodes of the Sentry's file systems, and tmpfs: files that live in the Sentry.

An :class:`Inode` carries a file's attributes and the operations its type has. A
:class:`Dir` holds its children by name and knows its parent and its own name (so ".." and
getcwd need no lookups); a file system mounted on a directory *covers* it. Regular files of
tmpfs keep their bytes in a memfd, so reads and writes are preadv/pwritev straight between the
memfd and guest memory.

The directory primitives (``lookup``, ``entries``, ``make``, ``remove``, ``add_link``,
``move``) are what a file system overrides (see :mod:`services.vfs.overlay`); the checks Linux
makes around them (EEXIST, ENOTEMPTY, EISDIR ...) are the VFS's (:mod:`services.vfs.actor`).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

from abi.errno import EEXIST, EINVAL, ENODATA, ENOENT, ENOSPC, ENXIO, EOPNOTSUPP, EROFS
from abi.linux import (
    O_ACCMODE,
    O_PATH,
    O_RDONLY,
    O_TRUNC,
    S_IFCHR,
    XATTR_CREATE,
    XATTR_REPLACE,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    TMPFS_MAGIC,
    dtype,
)
from abi.errno import Errno
from services.vfs.contract import Stat
from services.vfs.file import DirectoryFile, File, PathFile, RegularFile
from services.vfs.memfiles import MEMORY_FILES, PARK_MAX

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.mm.account import MemoryAccount

_devices = itertools.count(0x20)

#: File systems without extended attributes (Linux's procfs, sysfs and the pseudo file systems
#: of pipes, sockets and anonymous inodes have no xattr handlers: EOPNOTSUPP).
_NO_XATTRS = frozenset({b"proc", b"sysfs", b"sockfs", b"pipefs", b"anon_inodefs", b"host"})


def now_ns() -> int:
    return time.time_ns()


class Filesystem:
    """One mounted file system: its device number, its kind, whether it refuses writes."""

    def __init__(self, magic: int = TMPFS_MAGIC, read_only: bool = False, name: bytes = b"tmpfs",
                 nosuid: bool = False, capacity: int | None = None) -> None:
        self.dev = next(_devices)
        self.magic = magic
        self.read_only = read_only
        self.name = name
        #: Set-id bits of its programs are ignored by execve (the nosuid mount option).
        self.nosuid = nosuid
        #: Bytes the files kept in memory may take (tmpfs's size=), None for no bound; and the
        #: bytes they take now (their memfds' allocated blocks).
        self.capacity = capacity
        self.used = 0
        #: The sandbox's memory account (services/mm/account.py) its pages are charged to,
        #: once the VFS has it; None for file systems whose files do not live in memory.
        self.account: MemoryAccount | None = None
        self._inos = itertools.count(1 << 32)

    def new_ino(self) -> int:
        return next(self._inos)

    @property
    def keeps_xattrs(self) -> bool:
        """Whether its files can have extended attributes (tmpfs, devtmpfs, the image)."""
        return self.name not in _NO_XATTRS

    def check_writable(self) -> None:
        if self.read_only:
            raise Errno(EROFS)

    async def statfs(self) -> tuple[int, int, int, int, int, int]:
        """(bsize, blocks, bfree, bavail, files, ffree)."""
        if self.capacity is None:
            return (4096, 1 << 20, 1 << 20, 1 << 20, 1 << 20, 1 << 20)
        blocks, free = self.capacity // 4096, max(0, self.capacity - self.used) // 4096
        return (4096, blocks, free, free, 1 << 20, 1 << 20)

    def room(self) -> int:
        """Bytes the memory-backed files may still grow by (ENOSPC past it): the file
        system's own room, and no more than the sandbox's memory has left, as a tmpfs write
        fails with ENOSPC when no page can be had."""
        room = (self.capacity - self.used) if self.capacity is not None else 1 << 63
        account = self.account
        return room if account is None else min(room, account.room())

    def charge(self, change: int) -> None:
        """The files' blocks grew (or shrank) by ``change`` bytes: count them here and in the
        sandbox's memory account."""
        self.used += change
        if self.account is not None:
            self.account.charge_shmem(change)


class Inode:
    """A file: attributes plus the operations of its type."""

    #: Whether a MAP_SHARED mapping was made of it: read(2) and write(2) then keep the MM's
    #: cached pages and the file in step, and a tmpfs file keeps its memfd for good.
    mapped_shared = False
    #: An O_TMPFILE file that linkat may still give a name to (Linux's I_LINKABLE).
    linkable = False
    #: Whether it holds nothing only the Sentry knows, so a gofer-backed cache may forget it and
    #: look it up again (:mod:`services.vfs.overlay` sets it; any change here clears it).
    pristine = False
    #: The file mounted on this one (a file bind, as /etc/hosts is), and for a mounted file the
    #: one it covers; directories keep their own (:class:`Dir`).
    covered_by: Inode | None = None
    mountpoint: Inode | None = None

    def __init__(self, fs: Filesystem, mode: int, uid: int = 0, gid: int = 0, ino: int | None = None,
                 nlink: int = 1, rdev: int = 0, times: tuple[int, int, int] | None = None) -> None:
        self.fs = fs
        self.ino = fs.new_ino() if ino is None else ino
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.nlink = nlink
        self.rdev = rdev
        self.atime_ns, self.mtime_ns, self.ctime_ns = times or (now_ns(),) * 3
        #: 512-byte blocks as the backing store reported them (image files); None: from the size.
        self.blocks: int | None = None

    @property
    def kind(self) -> int:
        return self.mode & S_IFMT

    def mapping_identity(self) -> Hashable | None:
        """An identity for the file's bytes if they cannot change while the sandbox lives (see
        ``MapGrant``); None for a file the sandbox or the host may write."""
        return None

    def released(self) -> None:
        """A description holding a host fd of its bytes was closed (see :class:`RegularInode`)."""

    def size(self) -> int:
        return 0

    async def stat(self) -> Stat:
        size = self.size()
        blocks = self.blocks if self.blocks is not None else (size + 511) // 512
        return Stat(self.fs.dev, self.ino, self.mode, self.nlink, self.uid, self.gid, self.rdev, size,
                    4096, blocks, self.atime_ns, self.mtime_ns, self.ctime_ns)

    def accessed(self) -> None:
        """A read happened (atime is not kept current: noatime)."""

    def modified(self, size: int | None = None) -> None:
        self.mtime_ns = self.ctime_ns = now_ns()

    async def setattr(self, mode: int | None = None, uid: int | None = None, gid: int | None = None,
                      atime_ns: int | None = None, mtime_ns: int | None = None) -> None:
        """chmod/chown/utimensat: ``None`` leaves a field alone."""
        self.fs.check_writable()
        if mode is not None:
            self.mode = (self.mode & S_IFMT) | (mode & 0o7777)
        if uid is not None:
            self.uid = uid
        if gid is not None:
            self.gid = gid
        if atime_ns is not None:
            self.atime_ns = atime_ns
        if mtime_ns is not None:
            self.mtime_ns = mtime_ns
        self.ctime_ns = now_ns()

    async def truncate(self, size: int) -> None:
        raise Errno(EINVAL)

    # --- extended attributes: kept in the Sentry (a file system may pass them on instead) --------

    #: name -> value; None until the first is set (most files never have one).
    xattrs: dict[bytes, bytes] | None = None

    def _xattr_store(self) -> dict[bytes, bytes]:
        if not self.fs.keeps_xattrs:
            raise Errno(EOPNOTSUPP)
        if self.xattrs is None:
            self.xattrs = {}
        return self.xattrs

    async def get_xattr(self, name: bytes) -> bytes:
        """The value of ``name``; ENODATA if the file has none."""
        try:
            return self._xattr_store()[name]
        except KeyError:
            raise Errno(ENODATA) from None

    async def set_xattr(self, name: bytes, value: bytes, flags: int) -> None:
        """Set ``name``: XATTR_CREATE fails with EEXIST if it exists, XATTR_REPLACE with
        ENODATA if it does not (the VFS has checked the caller may)."""
        store = self._xattr_store()
        self.fs.check_writable()
        if flags & XATTR_CREATE and name in store:
            raise Errno(EEXIST)
        if flags & XATTR_REPLACE and name not in store:
            raise Errno(ENODATA)
        store[name] = value
        self.pristine = False
        self.ctime_ns = now_ns()

    async def list_xattrs(self) -> list[bytes]:
        """Every attribute name, in the order they were set (the VFS hides what it must)."""
        return list(self._xattr_store())

    async def remove_xattr(self, name: bytes) -> None:
        store = self._xattr_store()
        self.fs.check_writable()
        try:
            del store[name]
        except KeyError:
            raise Errno(ENODATA) from None
        self.pristine = False
        self.ctime_ns = now_ns()

    async def readlink(self, caller: Caller | None = None) -> bytes:
        raise Errno(EINVAL)

    async def open(self, flags: int, caller: Caller) -> File:
        """A new open file description of this inode for ``caller`` (access already checked)."""
        if flags & O_PATH:
            return PathFile(flags, self)
        raise Errno(ENXIO)


class RegularInode(Inode):
    """A tmpfs regular file: its bytes live in a memfd, counted against its file system's
    capacity (a write past it is short, or ENOSPC when nothing fits, as on a full tmpfs).

    The memfd is a host fd counted against the Sentry's budget (:mod:`services.vfs.memfiles`):
    while no description is open and the file was never mapped shared, it may be *parked* (its bytes
    in the heap, no memfd) and is unparked when next opened or truncated."""

    #: Bytes of the memfd's allocated blocks, as counted in ``fs.used``.
    allocated = 0
    #: Whether its memfd may be parked while idle (not for an image file's copy-up, whose
    #: missing memfd means "the image's bytes").
    parkable = True
    #: Open descriptions of its memfd.
    _opens = 0
    #: Its bytes while parked (``memfd`` is None then).
    _parked: bytes | None = None

    def __init__(self, fs: Filesystem, mode: int, uid: int = 0, gid: int = 0, **kwargs: object) -> None:
        super().__init__(fs, S_IFREG | (mode & 0o7777), uid, gid, **kwargs)  # type: ignore[arg-type]
        self.memfd: int | None = MEMORY_FILES.create("tmpfs")
        MEMORY_FILES.idle(self)

    @property
    def bounded(self) -> bool:
        """Whether its bytes are in memory on a file system of bounded size."""
        return (self.memfd is not None or self._parked is not None) and self.fs.capacity is not None

    def reserve(self, offset: int, count: int) -> int:
        """How many of ``count`` bytes written at ``offset`` fit (ENOSPC when none does)."""
        need = offset + count - self.allocated
        room = self.fs.room()
        if need <= room:
            return count
        if count - (need - room) <= 0:
            raise Errno(ENOSPC)
        return count - (need - room)

    def account(self) -> None:
        """Count the memfd's blocks as they are now against the file system."""
        if self.memfd is not None:
            allocated = os.fstat(self.memfd).st_blocks * 512
            if allocated != self.allocated:
                self.fs.charge(allocated - self.allocated)
                self.allocated = allocated

    def size(self) -> int:
        if self.memfd is not None:
            return os.fstat(self.memfd).st_size
        return len(self._parked) if self._parked is not None else 0

    def modified(self, size: int | None = None) -> None:
        self.mtime_ns = self.ctime_ns = now_ns()

    # --- the memfd as a budgeted resource (services.vfs.memfiles) --------------------------------

    def park(self) -> bool:
        """Keep the bytes in the heap and give up the memfd (the budget is reached and this
        file was idle longest); False if it is open or mapped now, or too large to copy."""
        memfd = self.memfd
        if memfd is None or self._opens or self.mapped_shared:  # (the MM's page cache knows it by its memfd)
            return False
        size = os.fstat(memfd).st_size
        if size > PARK_MAX:
            return False
        self._parked = os.pread(memfd, size, 0) if size else b""
        self.memfd = None
        MEMORY_FILES.close(memfd)
        return True

    def _unpark(self) -> int:
        """The memfd, made again from the parked bytes if the file was parked."""
        memfd = self.memfd
        if memfd is not None:
            return memfd
        parked = self._parked
        memfd = MEMORY_FILES.create("tmpfs")
        if parked:
            try:
                os.pwrite(memfd, parked, 0)
            except OSError:
                MEMORY_FILES.close(memfd)
                raise
        self.memfd, self._parked = memfd, None
        if not self._opens:  # unparked by a truncate: idle again at once
            MEMORY_FILES.idle(self)
        return memfd

    def released(self) -> None:
        """A description of its memfd was closed; the last one leaves it idle."""
        if self.parkable:
            self._opens -= 1
            if not self._opens and not self.mapped_shared:
                MEMORY_FILES.idle(self)

    async def data_fd(self, flags: int) -> int:
        """A host fd of the file's bytes for a new description opened with ``flags``."""
        fd = os.dup(self._unpark())
        self._opens += 1
        return fd

    async def truncate(self, size: int) -> None:
        self.fs.check_writable()
        os.ftruncate(self._unpark(), size)
        self.account()
        self.modified()

    def __del__(self) -> None:
        memfd = getattr(self, "memfd", None)
        if memfd is not None:
            self.fs.charge(-self.allocated)
            MEMORY_FILES.close(memfd)
        elif self._parked is not None:
            self.fs.charge(-self.allocated)

    async def open(self, flags: int, caller: Caller) -> File:
        if flags & O_PATH:
            return PathFile(flags, self)
        if flags & O_ACCMODE != O_RDONLY or flags & O_TRUNC:
            self.fs.check_writable()
        file = RegularFile(flags, self, await self.data_fd(flags))
        if flags & O_TRUNC and flags & O_ACCMODE != O_RDONLY and self.size():
            try:
                os.ftruncate(file.fd, 0)
            except OSError:
                file.release()
                raise
            self.account()
            self.modified()
        return file


class Symlink(Inode):
    """A symbolic link."""

    def __init__(self, fs: Filesystem, target: bytes | None, uid: int = 0, gid: int = 0, **kwargs: object) -> None:
        super().__init__(fs, S_IFLNK | 0o777, uid, gid, **kwargs)  # type: ignore[arg-type]
        self.target = target

    def size(self) -> int:
        return len(self.target or b"")

    async def readlink(self, caller: Caller | None = None) -> bytes:
        """The link's text (``caller``: who reads it, for the links whose text depends on that)."""
        assert self.target is not None
        return self.target

    def magic(self, caller: Caller | None = None) -> Inode | None:
        """What a procfs "magic link" (/proc/PID/fd/N, cwd, root) leads to without its text;
        None for an ordinary symlink, which is followed by its target."""
        return None


class Dir(Inode):
    """A directory of tmpfs (and the base of every other file system's directories)."""

    #: The listing is ``children`` (a reader may keep a snapshot and check names against it);
    #: False for a directory that computes its entries on each listing (procfs).
    static_children = True

    def __init__(self, fs: Filesystem, mode: int, uid: int = 0, gid: int = 0, parent: Dir | None = None,
                 name: bytes = b"", **kwargs: object) -> None:
        kwargs.setdefault("nlink", 2)
        super().__init__(fs, S_IFDIR | (mode & 0o7777), uid, gid, **kwargs)  # type: ignore[arg-type]
        self.children: dict[bytes, Inode] = {}
        self.parent: Dir = parent or self
        self.name = name
        #: The root of a file system mounted on this directory, if any.
        self.covered_by: Dir | None = None
        #: The directory this one is mounted on, if it is a file system's mounted root.
        self.mountpoint: Dir | None = None

    def size(self) -> int:
        return 4096

    async def stat(self) -> Stat:
        st = await super().stat()
        return st._replace(nlink=2 + sum(1 for c in self.children.values() if isinstance(c, Dir)))

    # --- primitives a file system overrides ------------------------------------------------

    async def lookup(self, name: bytes) -> Inode:
        """The child called ``name``; ENOENT if there is none."""
        try:
            return self.children[name]
        except KeyError:
            raise Errno(ENOENT) from None

    def cached_child(self, name: bytes) -> Inode | None:
        """The child ``name`` when it is known here and now, without I/O or a message to
        anyone; None when only :meth:`lookup_ahead` can tell (the child may still exist). A path
        walk asks this first: it is how a walk through cached directories stays a few dict
        lookups per component."""
        return self.children.get(name)

    async def lookup_ahead(self, name: bytes, ahead: Sequence[bytes]) -> tuple[Inode, int]:
        """:meth:`lookup` during a path walk, ``ahead`` being the names that follow: a file
        system that can look several names up at once (the gofer's) may bring them in too. Also
        how many names of ``ahead`` it brought up to date (the walk need not ask for them again)."""
        return await self.lookup(name), 0

    async def entries(self) -> list[tuple[bytes, int, int]]:
        """Every entry as (name, ino, d_type), "." and ".." first."""
        up = self.mountpoint.parent if self.mountpoint is not None else self.parent
        listing = [(b".", self.ino, dtype(S_IFDIR)), (b"..", up.ino, dtype(S_IFDIR))]
        # (dtype inlined: a directory of thousands of entries is listed on every opendir)
        listing += [(name, child.ino, (child.mode & S_IFMT) >> 12) for name, child in self.children.items()]
        return listing

    async def make(self, name: bytes, mode: int, uid: int, gid: int, rdev: int = 0,
                   target: bytes | None = None) -> Inode:
        """Create a child of type ``mode & S_IFMT`` (regular, directory, symlink, device)."""
        self.fs.check_writable()
        if name in self.children:
            raise Errno(EEXIST)
        child = self.new_child(name, mode, uid, gid, rdev, target)
        self.children[name] = child
        self.modified()
        return child

    def new_child(self, name: bytes, mode: int, uid: int, gid: int, rdev: int = 0,
                  target: bytes | None = None) -> Inode:
        """A new inode living in the Sentry, of type ``mode & S_IFMT``; subdirectories are of
        this directory's own class (a subclass overrides :meth:`new_subdirectory`)."""
        kind = mode & S_IFMT
        if kind == S_IFDIR:
            return self.new_subdirectory(name, mode, uid, gid)
        if kind == S_IFLNK:
            return Symlink(self.fs, target, uid, gid)
        if kind == S_IFREG:
            return RegularInode(self.fs, mode, uid, gid)
        return special_inode(self.fs, mode, uid, gid, rdev)

    def new_subdirectory(self, name: bytes, mode: int, uid: int, gid: int) -> Dir:
        return Dir(self.fs, mode, uid, gid, parent=self, name=name)

    async def remove(self, name: bytes, child: Inode) -> None:
        """Remove the entry ``name`` (the VFS has checked the type and emptiness)."""
        self.fs.check_writable()
        del self.children[name]
        child.nlink -= 1
        child.ctime_ns = now_ns()
        self.modified()

    async def add_link(self, name: bytes, child: Inode) -> None:
        """A new name for an existing non-directory."""
        self.fs.check_writable()
        self.children[name] = child
        child.nlink += 1
        child.ctime_ns = now_ns()
        self.modified()

    async def move(self, name: bytes, child: Inode, new_dir: Dir, new_name: bytes) -> None:
        """Rename ``name`` to ``new_dir/new_name`` (the VFS has removed any target)."""
        self.fs.check_writable()
        del self.children[name]
        new_dir.children[new_name] = child
        if isinstance(child, Dir):
            child.parent, child.name = new_dir, new_name
        child.ctime_ns = now_ns()
        self.modified()
        new_dir.modified()

    async def is_empty(self) -> bool:
        return len(await self.entries()) <= 2

    async def open(self, flags: int, caller: Caller) -> File:
        if flags & O_PATH:
            return PathFile(flags, self)
        return DirectoryFile(flags, self)


def special_inode(fs: Filesystem, mode: int, uid: int, gid: int, rdev: int, **kwargs: object) -> Inode:
    """A FIFO, socket or device node made by mknod (a FIFO is a pipe; the others cannot open)."""
    if mode & S_IFMT == 0o010000:
        from services.vfs.pipe import Fifo

        return Fifo(fs, mode, uid, gid, **kwargs)
    return Inode(fs, mode, uid, gid, rdev=rdev, **kwargs)  # type: ignore[arg-type]


class Device(Inode):
    """A character device whose open makes a description of ``file_type``."""

    def __init__(self, fs: Filesystem, rdev: int, file_type: type[File], mode: int = 0o666) -> None:
        super().__init__(fs, S_IFCHR | mode, rdev=rdev)
        self.file_type = file_type

    async def open(self, flags: int, caller: Caller) -> File:
        if flags & O_PATH:
            return PathFile(flags, self)
        return self.file_type(flags, self)
