"""The image as the root file system: gofer-backed inodes, as an overlay by default.

The image is served by a gofer (through the ``gofer`` service). A directory of the image is a
:class:`GoferDir` holding a gofer fid; its children are looked up lazily (one walk+getattr
round trip each) and then cached, with negative entries: the Sentry is the only one changing
the tree, so the cache is never stale.

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
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from abi.errno import ENOENT, ENOSPC
from abi.linux import (
    AT_REMOVEDIR,
    O_ACCMODE,
    O_APPEND,
    O_DIRECTORY,
    O_RDONLY,
    O_TRUNC,
    OVERLAYFS_SUPER_MAGIC,
    RENAME_EXCHANGE,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    V9FS_MAGIC,
)
from gofer import protocol as p
from kernel.bus import Bus
from abi.errno import Errno
from services.vfs.inode import Dir, Filesystem, Inode, RegularInode, Symlink, now_ns, special_inode

if TYPE_CHECKING:
    from abi.creds import Caller

#: How many read-only host fds of image files a mount keeps open for reuse.
READONLY_FD_CACHE = 256


class GoferFs(Filesystem):
    """The image's file system, reached through gofer mount ``mount``."""

    def __init__(self, bus: Bus, mount: int, mode: str = "overlay", capacity: int | None = None) -> None:
        assert mode in ("overlay", "rw", "ro")
        super().__init__(OVERLAYFS_SUPER_MAGIC if mode == "overlay" else V9FS_MAGIC,
                         read_only=mode == "ro", name=b"overlay" if mode == "overlay" else b"9p",
                         capacity=capacity if mode == "overlay" else None)
        self.bus = bus
        self.mount = mount
        self.overlay = mode == "overlay"
        self.rw = mode == "rw"
        #: Read-only host fds of image files opened lately, least recently used first: opening
        #: such a file again costs a dup instead of two gofer round trips (walk and lopen).
        self._readonly_fds: OrderedDict[GoferRegular, int] = OrderedDict()

    async def readonly_fd(self, inode: GoferRegular) -> int:
        """A new host fd reading ``inode``'s bytes in the image (the caller owns it).

        Every guest file description keeps its own offset and uses positional I/O, so they may
        all share one host open file.
        """
        fd = self._readonly_fds.get(inode)
        if fd is None:
            opened = await inode.open_lower(O_RDONLY)
            fd = self._readonly_fds.setdefault(inode, opened)  # another task may have won the race
            if fd != opened:
                os.close(opened)
            if len(self._readonly_fds) > READONLY_FD_CACHE:
                os.close(self._readonly_fds.popitem(last=False)[1])
        else:
            self._readonly_fds.move_to_end(inode)
        return os.dup(fd)

    def forget_readonly_fd(self, inode: GoferRegular) -> None:
        """``inode`` no longer reads from the image (copied up, truncated): drop its fd."""
        fd = self._readonly_fds.pop(inode, None)
        if fd is not None:
            os.close(fd)

    async def gofer(self, op: str, *args: Any) -> Any:
        """The gofer operation ``op`` on this file system's mount."""
        return await self.bus.call("gofer", op, self.mount, *args)

    async def new_fid(self) -> int:
        return await self.gofer("new_fid")

    async def check_alive(self) -> None:
        """EIO once the gofer is gone, even for what the Sentry has cached."""
        await self.bus.call("gofer", "alive", self.mount)

    async def clunk_later(self, fid: int) -> None:
        await self.bus.call("gofer", "clunk_later", self.mount, fid)

    async def root(self) -> GoferDir:
        fid = await self.gofer("attach")
        qid, attr = await self.gofer("getattr", fid)
        root = GoferDir(self, attr.mode, attr.uid, attr.gid, fid=fid, ino=qid.path, nlink=attr.nlink,
                        times=_times(attr))
        root.lower_size, root.blocks = attr.size, attr.blocks
        return root

    async def statfs(self) -> tuple[int, int, int, int, int, int]:
        root_fid = await self.gofer("attach")
        try:
            st = await self.gofer("statfs", root_fid)
        finally:
            await self.clunk_later(root_fid)
        return (st.bsize, st.blocks, st.bfree, st.bavail, st.files, st.ffree)

    def inode_from_attr(self, parent: GoferDir, name: bytes, fid: int, qid: Any, attr: Any) -> Inode:
        kind = attr.mode & S_IFMT
        common = {"ino": qid.path, "nlink": attr.nlink, "times": _times(attr)}
        inode: Inode
        if kind == S_IFDIR:
            inode = GoferDir(self, attr.mode, attr.uid, attr.gid, parent=parent, name=name, fid=fid, **common)
            inode.lower_size = attr.size
        elif kind == S_IFREG:
            inode = GoferRegular(self, attr.mode, attr.uid, attr.gid, (parent, name), attr.size, **common)
        elif kind == S_IFLNK:
            inode = GoferSymlink(self, (parent, name), attr.size, attr.uid, attr.gid, **common)
        else:
            inode = special_inode(self, attr.mode, attr.uid, attr.gid, attr.rdev, **common)
        inode.blocks = attr.blocks
        return inode

    async def setattr_lower(self, location: tuple[GoferDir, bytes] | None, fid: int | None, valid: int,
                            **fields: int) -> None:
        """Write attributes through to the image (rw mode)."""
        values = [fields.get(key, 0) for key in ("mode", "uid", "gid", "size", "atime_ns", "mtime_ns")]
        if location is not None:
            directory, name = location
            fid = await self.new_fid()
            await self.gofer("walk", directory.fid, [name], fid)
            try:
                await self.gofer("setattr", fid, valid, *values)
            finally:
                await self.clunk_later(fid)
        elif fid is not None:
            await self.gofer("setattr", fid, valid, *values)


def _times(attr: Any) -> tuple[int, int, int]:
    return (attr.atime_ns, attr.mtime_ns, attr.ctime_ns)


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


class GoferRegular(RegularInode):
    """A regular file of the image; in overlay mode, copied up into a memfd on first write."""

    def __init__(self, fs: GoferFs, mode: int, uid: int, gid: int, location: tuple[GoferDir, bytes] | None,
                 size: int, **kwargs: Any) -> None:
        Inode.__init__(self, fs, S_IFREG | (mode & 0o7777), uid, gid, **kwargs)
        self.gfs = fs
        #: Where the file is in the image (directory, name); None once it exists only in the Sentry.
        self.location = location
        self.lower_size = size
        self.memfd: int | None = None

    def size(self) -> int:
        return os.fstat(self.memfd).st_size if self.memfd is not None else self.lower_size

    def modified(self, size: int | None = None) -> None:
        super().modified(size)
        self.blocks = None
        if size is not None and self.memfd is None:
            self.lower_size = size

    async def open_lower(self, flags: int) -> int:
        """A host fd of the image's file, opened by the gofer with ``flags``."""
        assert self.location is not None
        directory, name = self.location
        fid = await self.gfs.new_fid()
        await self.gfs.gofer("walk", directory.fid, [name], fid)
        try:
            _, fd = await self.gfs.gofer("lopen", fid, flags)
        finally:
            await self.gfs.clunk_later(fid)
        if fd is None:
            raise Errno(ENOENT)
        return fd

    async def copy_up(self) -> None:
        """Give the file a memfd with the image's bytes: from now on it lives in the Sentry."""
        if self.memfd is not None:
            return
        if self.gfs.capacity is not None and self.lower_size > self.gfs.room():
            raise Errno(ENOSPC)  # the overlay's upper layer is memory, and it is full
        memfd = os.memfd_create("overlay", os.MFD_CLOEXEC)
        try:
            if self.lower_size:
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
        except BaseException:
            os.close(memfd)
            raise
        self.memfd = memfd
        self.account()
        self.blocks = None
        self.gfs.forget_readonly_fd(self)

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

class GoferSymlink(Symlink):
    """A symlink of the image; its target is read once, on first use."""

    def __init__(self, fs: GoferFs, location: tuple[GoferDir, bytes], size: int, uid: int, gid: int,
                 **kwargs: Any) -> None:
        super().__init__(fs, None, uid, gid, **kwargs)
        self.gfs = fs
        self.location = location
        self.lower_size = size

    def size(self) -> int:
        return len(self.target) if self.target is not None else self.lower_size

    async def readlink(self, caller: Caller | None = None) -> bytes:
        if self.target is None:
            directory, name = self.location
            fid = await self.gfs.new_fid()
            await self.gfs.gofer("walk", directory.fid, [name], fid)
            try:
                self.target = await self.gfs.gofer("readlink", fid)
            finally:
                await self.gfs.clunk_later(fid)
        return self.target


class GoferDir(Dir):
    """A directory of the image (``fid``), or one made in the overlay (``fid`` None: opaque)."""

    def __init__(self, fs: GoferFs, mode: int, uid: int = 0, gid: int = 0, parent: Dir | None = None,
                 name: bytes = b"", fid: int | None = None, **kwargs: Any) -> None:
        super().__init__(fs, mode, uid, gid, parent=parent, name=name, **kwargs)
        self.gfs = fs
        self.fid = fid
        #: Names known to be absent from the image (removed here, or looked up and not found).
        self.hidden: set[bytes] = set()
        #: The image's entries not yet looked up, once listed: name -> (ino, d_type).
        self._lower_listing: dict[bytes, tuple[int, int]] | None = None
        #: The directory's size as the image reports it (file systems differ).
        self.lower_size: int | None = None

    def size(self) -> int:
        return self.lower_size if self.lower_size is not None else 4096

    async def lookup(self, name: bytes) -> Inode:
        child = self.children.get(name)
        if child is not None:
            if not isinstance(child, Dir):  # a cached file answers only while the gofer lives
                await self.gfs.check_alive()
            return child
        if self.fid is None or name in self.hidden:
            raise Errno(ENOENT)
        if self._lower_listing is not None and name not in self._lower_listing:
            raise Errno(ENOENT)
        fid = await self.gfs.new_fid()
        try:
            qids, attr = await self.gfs.gofer("walk_getattr", self.fid, [name], fid)
        except Errno as error:
            if error.errno == ENOENT:
                self.hidden.add(name)
            raise
        raced = self.children.get(name)
        if raced is not None or name in self.hidden:  # another task looked it up (or removed it) meanwhile
            await self.gfs.clunk_later(fid)
            if raced is None:
                raise Errno(ENOENT)
            return raced
        child = self.gfs.inode_from_attr(self, name, fid, qids[-1], attr)
        if not isinstance(child, GoferDir):
            await self.gfs.clunk_later(fid)
        self.children[name] = child
        return child

    async def _list_lower(self) -> dict[bytes, tuple[int, int]]:
        if self._lower_listing is None:
            listing: dict[bytes, tuple[int, int]] = {}
            if self.fid is not None:
                fid = await self.gfs.new_fid()
                await self.gfs.gofer("walk", self.fid, [], fid)
                try:
                    await self.gfs.gofer("lopen", fid, O_RDONLY | O_DIRECTORY)
                    offset = 0
                    while True:
                        page = await self.gfs.gofer("readdir", fid, offset)
                        if not page:
                            break
                        for entry in page:
                            listing[entry.name] = (entry.qid.path, entry.type)
                        offset = page[-1].offset
                finally:
                    await self.gfs.clunk_later(fid)
            self._lower_listing = listing
        return self._lower_listing

    async def entries(self) -> list[tuple[bytes, int, int]]:
        listing = await Dir.entries(self)
        lower = await self._list_lower()
        listing += [(name, ino, dt) for name, (ino, dt) in lower.items()
                    if name not in self.children and name not in self.hidden]
        return listing

    async def stat(self) -> Any:
        st = await Inode.stat(self)
        if self.fid is not None:
            return st
        return st._replace(nlink=2 + sum(1 for c in self.children.values() if isinstance(c, Dir)))

    def new_subdirectory(self, name: bytes, mode: int, uid: int, gid: int) -> GoferDir:
        return GoferDir(self.gfs, mode, uid, gid, parent=self, name=name)

    async def make(self, name: bytes, mode: int, uid: int, gid: int, rdev: int = 0,
                   target: bytes | None = None) -> Inode:
        self.fs.check_writable()
        if not self.gfs.rw:
            child = self.new_child(name, mode, uid, gid, rdev, target)
            self.children[name] = child
            self.hidden.discard(name)
            self.modified()
            return child
        kind = mode & S_IFMT
        if kind == S_IFDIR:
            await self.gfs.gofer("mkdir", self.fid, name, mode & 0o7777, uid, gid)
        elif kind == S_IFLNK:
            await self.gfs.gofer("symlink", self.fid, name, target, uid, gid)
        elif kind == S_IFREG:
            fid = await self.gfs.new_fid()
            await self.gfs.gofer("walk", self.fid, [], fid)
            try:
                _, fd = await self.gfs.gofer("lcreate", fid, name, O_RDONLY, mode & 0o7777, uid, gid)
                if fd is not None:
                    os.close(fd)
            finally:
                await self.gfs.clunk_later(fid)
        else:
            await self.gfs.gofer("mknod", self.fid, name, mode, rdev >> 8, rdev & 0xFF, uid, gid)
        self.hidden.discard(name)
        if self._lower_listing is not None:
            self._lower_listing[name] = (0, 0)
        self.modified()
        return await self.lookup(name)

    async def remove(self, name: bytes, child: Inode) -> None:
        self.fs.check_writable()
        if self.gfs.rw:
            await self.gfs.gofer("unlinkat", self.fid, name, AT_REMOVEDIR if isinstance(child, Dir) else 0)
        await super().remove(name, child)
        self.hidden.add(name)
        if isinstance(child, GoferRegular) and child.location == (self, name):
            child.location = None if self.gfs.rw else child.location

    async def add_link(self, name: bytes, child: Inode) -> None:
        self.fs.check_writable()
        if self.gfs.rw:
            location = getattr(child, "location", None)
            if location is None:
                from abi.errno import EXDEV

                raise Errno(EXDEV)
            directory, old_name = location
            fid = await self.gfs.new_fid()
            await self.gfs.gofer("walk", directory.fid, [old_name], fid)
            try:
                await self.gfs.gofer("link", self.fid, fid, name)
            finally:
                await self.gfs.clunk_later(fid)
        await super().add_link(name, child)
        self.hidden.discard(name)

    async def move(self, name: bytes, child: Inode, new_dir: Dir, new_name: bytes) -> None:
        self.fs.check_writable()
        if self.gfs.rw:
            assert isinstance(new_dir, GoferDir)
            await self.gfs.gofer("renameat", self.fid, name, new_dir.fid, new_name)
            if isinstance(child, (GoferRegular, GoferSymlink)):
                child.location = (new_dir, new_name)
        await super().move(name, child, new_dir, new_name)
        self.hidden.add(name)
        if isinstance(new_dir, GoferDir):
            new_dir.hidden.discard(new_name)

    async def setattr(self, mode: int | None = None, uid: int | None = None, gid: int | None = None,
                      atime_ns: int | None = None, mtime_ns: int | None = None) -> None:
        self.fs.check_writable()
        if self.gfs.rw:
            await _setattr_through(self, self.gfs, None, self.fid, mode, uid, gid, atime_ns, mtime_ns)
        await super().setattr(mode, uid, gid, atime_ns, mtime_ns)

    def modified(self, size: int | None = None) -> None:
        self.mtime_ns = self.ctime_ns = now_ns()
        self.blocks = None


async def exchange_through(old_dir: GoferDir, old_name: bytes, source: Inode, new_dir: GoferDir, new_name: bytes,
                           target: Inode) -> None:
    """RENAME_EXCHANGE in the image (rw mode): one atomic renameat2 in the gofer."""
    await old_dir.gfs.gofer("renameat", old_dir.fid, old_name, new_dir.fid, new_name, RENAME_EXCHANGE)
    for inode, location in ((source, (new_dir, new_name)), (target, (old_dir, old_name))):
        if isinstance(inode, (GoferRegular, GoferSymlink)):
            inode.location = location
