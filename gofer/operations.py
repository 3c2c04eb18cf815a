"""What each request means on the host: 9P2000.L operations over the fids' host fds.

One method per request type, named after it. A method returns the reply (the opening ones
return a :class:`Donation`: the reply and the fds to send beside it) and fails by raising
OSError, whose errno becomes ``Rlerror``. Every method runs to completion on its connection's
thread (:mod:`gofer.server`), so each is atomic with respect to the others. A tree listing
(``readdirtree``) is bounded by the reply's size and a number of directories.

Rules kept here, not trusted to the Sentry: names arrive checked by the decoder; every new
path component is opened with ``O_NOFOLLOW``; nothing is written unless the server is
writable (``EROFS``); only regular files, fifos and sockets may be created by mknod (no device
nodes); only regular files and directories may be opened.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from abi.linux import AT_REMOVEDIR, PATH_MAX, RENAME_EXCHANGE, V9FS_MAGIC, dtype
from gofer import protocol as p
from gofer.files import (WALK_FLAGS, FidTable, FileRef, InodeNumbers, Listed, attr_of, listed_numbers,
                         open_checked, oserror, qid_type, same_file)

#: renameat2(2), which Python's os module lacks (RENAME_EXCHANGE).
_libc = ctypes.CDLL(None, use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]

#: Open flags a Tlopen may carry through to the host; the rest are the Sentry's business
#: (O_APPEND: the Sentry keeps file offsets; O_CREAT/O_EXCL: Tlcreate's).
_OPEN_KEEP = os.O_ACCMODE | os.O_TRUNC | os.O_SYNC | os.O_DSYNC
#: Readdir's per-entry allowance in bytes for the frame's fields around the name.
_DIRENT_OVERHEAD = 48
#: Readdirattr's allowance per entry for the qid and attributes around the name.
_DIRENT_ATTR_OVERHEAD = 160
#: The most directories one Treaddirtree lists below the one asked for.
_TREE_DIRECTORIES = 2048



#: The qid of a name Topenmany could not open.
_NO_QID = p.Qid(0, 0, 0)


def _regular(st: os.stat_result) -> None:
    """Refuse what is not a regular file: EISDIR for a directory, EPERM for the rest."""
    if not stat.S_ISREG(st.st_mode):
        raise oserror(errno.EISDIR if stat.S_ISDIR(st.st_mode) else errno.EPERM)


def _walk_directories(start: int, names: list[p.Name]) -> int:
    """An O_PATH fd of the directory ``names`` lead to from ``start``, walked one directory
    at a time without following a symbolic link; ``start`` itself for no names."""
    fd = start
    for name in names:
        try:
            following = os.open(name, WALK_FLAGS | os.O_DIRECTORY, dir_fd=fd)
        finally:
            if fd != start:
                os.close(fd)
        fd = following
    return fd


@contextmanager
def _walked_directory(start: int, names: list[p.Name]) -> Iterator[int]:
    """:func:`_walk_directories`, closing what it opened afterwards."""
    fd = _walk_directories(start, names)
    try:
        yield fd
    finally:
        if fd != start:
            os.close(fd)


class Donation(NamedTuple):
    """A reply and the host fds that travel beside it, in order.

    The fds are the server's to close once sent (a dup where a fid keeps the file open, so a
    clunk racing the send is harmless).
    """

    reply: Any
    fds: tuple[int, ...] = ()


def _wants_write(flags: int) -> bool:
    return (flags & os.O_ACCMODE) != os.O_RDONLY or bool(flags & os.O_TRUNC)


def _link_target(directory_fd: int, name: bytes) -> bytes:
    """The target of the symbolic link ``name`` in the directory, or ``b""`` if it is no longer
    one (replaced since it was listed): the Sentry then reads it when it needs it."""
    try:
        return os.readlink(name, dir_fd=directory_fd)
    except OSError:
        return b""


def _dirent(entry: os.DirEntry[str], offset: int, inode: int) -> p.Dirent:
    if entry.is_symlink():
        kind = stat.S_IFLNK
    elif entry.is_dir(follow_symlinks=False):
        kind = stat.S_IFDIR
    elif entry.is_file(follow_symlinks=False):
        kind = stat.S_IFREG
    else:
        kind = stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode)
    return p.Dirent(p.Qid(qid_type(kind), 0, inode), offset, dtype(kind), p.Name(os.fsencode(entry.name)))


class Operations:
    """The served tree of one connection: its fids and what each request does to them."""

    def __init__(self, root_fd: int, *, writable: bool = False, donate_fds: bool = False) -> None:
        self.root_fd = root_fd
        self.writable = writable
        self.donate_fds = donate_fds
        self.msize = p.MAX_MSIZE
        self.fids = FidTable()
        self.inodes = InodeNumbers()

    @property
    def iounit(self) -> int:
        """The most data one Tread/Twrite moves."""
        return self.msize - p.IOHDR

    def _require_writable(self) -> None:
        if not self.writable:
            raise oserror(errno.EROFS)

    def _dir(self, fid: int) -> FileRef:
        ref = self.fids.get(fid)
        if not stat.S_ISDIR(ref.stat().st_mode):
            raise oserror(errno.ENOTDIR)
        return ref

    # --- session ---------------------------------------------------------------------------

    def attach(self, msg: p.Tattach) -> p.Rattach:
        if msg.aname not in ("", "/"):
            raise oserror(errno.ENOENT)
        self.fids.check_free(msg.fid)
        fd = os.open(".", WALK_FLAGS | os.O_DIRECTORY, dir_fd=self.root_fd)
        ref = FileRef(fd, None, b"/")
        self.fids.add(msg.fid, ref)
        return p.Rattach(self.inodes.qid(ref.stat()))

    def clunk(self, msg: p.Tclunk) -> p.Rclunk:
        self.fids.clunk(msg.fid)
        return p.Rclunk()

    # --- walking ---------------------------------------------------------------------------

    def walk(self, msg: p.Twalk) -> p.Rwalk:
        qids, _ = self._walk(msg.fid, msg.newfid, msg.names)
        return p.Rwalk(qids)

    def walkgetattr(self, msg: p.Twalkgetattr) -> p.Rwalkgetattr:
        qids, st = self._walk(msg.fid, msg.newfid, msg.names)
        return p.Rwalkgetattr(qids, attr_of(st))

    def walkattrs(self, msg: p.Twalkattrs) -> p.Rwalkattrs:
        """Walk as far as the names go, with the attributes of every file reached: the Sentry
        resolves a whole path of uncached names (or revalidates a cached one) in one round trip."""
        start = self.fids.get(msg.fid)
        if msg.newfid != msg.fid:
            self.fids.check_free(msg.newfid)
        qids: list[p.Qid] = []
        attrs: list[p.Attr] = []
        current = start.path_fd
        fds: list[int] = []
        try:
            for name in msg.names:
                if attrs and not stat.S_ISDIR(attrs[-1].mode):
                    break
                try:
                    fd = os.open(name, WALK_FLAGS, dir_fd=current)
                except OSError:
                    if not qids:
                        raise
                    break
                fds.append(fd)
                st = os.fstat(fd)
                qids.append(self.inodes.qid(st))
                attrs.append(attr_of(st))
                current = fd
            if not qids:  # no names: a clone, as Twalk
                self._bind(msg.fid, msg.newfid, start.clone())
                return p.Rwalkattrs([], [])
            if stat.S_ISDIR(attrs[-1].mode):  # a file's fid would only be clunked again
                parent = os.dup(fds[-2] if len(fds) > 1 else start.path_fd)
                self._bind(msg.fid, msg.newfid, FileRef(fds.pop(), parent, msg.names[len(qids) - 1]))
        finally:
            for fd in fds:
                os.close(fd)
        return p.Rwalkattrs(qids, attrs)

    def _walk(self, fid: int, newfid: int, names: list[p.Name]) -> tuple[list[p.Qid], os.stat_result]:
        """Walk ``names`` one component at a time; bind ``newfid`` only if all were found.

        Returns the qids reached and the stat of the last file reached (of ``fid`` for none).
        Failing on the first name fails the request; failing later returns the partial walk.
        """
        start = self.fids.get(fid)
        if newfid != fid:
            self.fids.check_free(newfid)
        if not names:
            ref = start.clone()
            st = ref.stat()
            self._bind(fid, newfid, ref)
            return [], st
        fds: list[int] = [start.path_fd]
        qids: list[p.Qid] = []
        st = start.stat()
        try:
            for name in names:
                try:
                    fds.append(os.open(name, WALK_FLAGS, dir_fd=fds[-1]))
                except OSError:
                    if not qids:
                        raise
                    break
                st = os.fstat(fds[-1])
                qids.append(self.inodes.qid(st))
            if len(qids) == len(names):
                parent = os.dup(fds[-2])
                self._bind(fid, newfid, FileRef(fds.pop(), parent, names[-1]))
        finally:
            for fd in fds[1:]:
                os.close(fd)
        return qids, st

    def _bind(self, fid: int, newfid: int, ref: FileRef) -> None:
        if newfid == fid:
            self.fids.replace(fid, ref)
        else:
            self.fids.add(newfid, ref)

    # --- attributes ------------------------------------------------------------------------

    def getattr(self, msg: p.Tgetattr) -> p.Rgetattr:
        st = self.fids.get(msg.fid).stat()
        return p.Rgetattr(p.GETATTR_BASIC, self.inodes.qid(st), attr_of(st))

    def setattr(self, msg: p.Tsetattr) -> p.Rsetattr:
        self._require_writable()
        ref = self.fids.get(msg.fid)
        valid = msg.valid
        dir_fd, name = ref.location()
        if valid & p.SETATTR_MODE:
            if stat.S_ISLNK(ref.stat().st_mode):
                raise oserror(errno.EOPNOTSUPP)
            os.chmod(name, msg.mode & 0o7777, dir_fd=dir_fd)
        if valid & (p.SETATTR_UID | p.SETATTR_GID):
            uid = msg.uid if valid & p.SETATTR_UID else -1
            gid = msg.gid if valid & p.SETATTR_GID else -1
            os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
        if valid & p.SETATTR_SIZE:
            self._truncate(ref, msg.size)
        if valid & (p.SETATTR_ATIME | p.SETATTR_MTIME):
            os.utime(name, ns=self._times(ref, msg), dir_fd=dir_fd, follow_symlinks=False)
        return p.Rsetattr()

    @staticmethod
    def _truncate(ref: FileRef, size: int) -> None:
        if not stat.S_ISREG(ref.stat().st_mode):
            raise oserror(errno.EISDIR if stat.S_ISDIR(ref.stat().st_mode) else errno.EINVAL)
        fd = ref.reopen(os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)

    @staticmethod
    def _times(ref: FileRef, msg: p.Tsetattr) -> tuple[int, int]:
        """The (atime, mtime) pair to set: given, now, or unchanged (Python has no UTIME_OMIT)."""
        st = ref.stat()
        now = time.time_ns()

        def pick(change: int, given: int, value: int, current: int) -> int:
            if not msg.valid & change:
                return current
            return value if msg.valid & given else now

        return (pick(p.SETATTR_ATIME, p.SETATTR_ATIME_SET, msg.atime_ns, st.st_atime_ns),
                pick(p.SETATTR_MTIME, p.SETATTR_MTIME_SET, msg.mtime_ns, st.st_mtime_ns))

    # --- extended attributes: user.* only, of regular files and directories --------------------

    @staticmethod
    def _xattr_fd(ref: FileRef, writing: bool) -> int:
        """An fd of ``ref``'s file for the f*xattr calls (an O_PATH fd cannot take them): user.*
        attributes exist only on regular files and directories (EPERM to write, ENODATA to read
        one elsewhere, as Linux answers)."""
        mode = ref.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise oserror(errno.EPERM if writing else errno.ENODATA)
        return ref.reopen(os.O_RDONLY)

    @staticmethod
    def _user_name(name: bytes) -> bytes:
        """Only the user.* namespace crosses to the host: trusted.* and security.* (file
        capabilities) must never be set on the host by a guest."""
        if not name.startswith(b"user.") or len(name) == len(b"user.") or b"\0" in name:
            raise oserror(errno.EOPNOTSUPP)
        return name

    def xattrget(self, msg: p.Txattrget) -> p.Rxattrget:
        name = self._user_name(msg.name)
        fd = self._xattr_fd(self.fids.get(msg.fid), False)
        try:
            return p.Rxattrget(os.getxattr(fd, name))
        finally:
            os.close(fd)

    def xattrlist(self, msg: p.Txattrlist) -> p.Rxattrlist:
        ref = self.fids.get(msg.fid)
        if not msg.name:
            return self._xattr_names(ref)
        p.check_name(msg.name)  # (not a Name field: empty means the fid itself)
        entry = FileRef(os.open(msg.name, WALK_FLAGS, dir_fd=ref.path_fd), os.dup(ref.path_fd), msg.name)
        try:
            return self._xattr_names(entry)
        finally:
            entry.close()

    @staticmethod
    def _xattr_names(ref: FileRef) -> p.Rxattrlist:
        mode = ref.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return p.Rxattrlist([])
        fd = ref.reopen(os.O_RDONLY)
        try:
            names = [os.fsencode(name) for name in os.listxattr(fd)]
        finally:
            os.close(fd)
        return p.Rxattrlist([name for name in names if name.startswith(b"user.")])

    def xattrset(self, msg: p.Txattrset) -> p.Rxattrset:
        self._require_writable()
        name = self._user_name(msg.name)
        if msg.flags & ~(os.XATTR_CREATE | os.XATTR_REPLACE):
            raise oserror(errno.EINVAL)
        fd = self._xattr_fd(self.fids.get(msg.fid), True)
        try:
            os.setxattr(fd, name, msg.value, msg.flags)
        finally:
            os.close(fd)
        return p.Rxattrset()

    def xattrremove(self, msg: p.Txattrremove) -> p.Rxattrremove:
        self._require_writable()
        name = self._user_name(msg.name)
        fd = self._xattr_fd(self.fids.get(msg.fid), True)
        try:
            os.removexattr(fd, name)
        finally:
            os.close(fd)
        return p.Rxattrremove()

    def statfs(self, msg: p.Tstatfs) -> p.Rstatfs:
        sv = os.fstatvfs(self.fids.get(msg.fid).path_fd)
        return p.Rstatfs(V9FS_MAGIC, sv.f_bsize, sv.f_blocks, sv.f_bfree, sv.f_bavail,
                         sv.f_files, sv.f_ffree, sv.f_fsid, sv.f_namemax)

    def readlink(self, msg: p.Treadlink) -> p.Rreadlink:
        ref = self.fids.get(msg.fid)
        if not stat.S_ISLNK(ref.stat().st_mode):
            raise oserror(errno.EINVAL)
        return p.Rreadlink(os.readlink(b"", dir_fd=ref.path_fd))

    # --- opening ---------------------------------------------------------------------------

    def lopen(self, msg: p.Tlopen) -> Donation:
        ref = self.fids.get(msg.fid)
        if ref.open_fd is not None:
            raise oserror(errno.EBADF)
        st = ref.stat()
        flags = msg.flags & _OPEN_KEEP
        if _wants_write(flags):
            self._require_writable()
        if stat.S_ISDIR(st.st_mode):
            if flags & os.O_ACCMODE != os.O_RDONLY or flags & os.O_TRUNC:
                raise oserror(errno.EISDIR)
        elif stat.S_ISLNK(st.st_mode):
            raise oserror(errno.ELOOP)
        elif not stat.S_ISREG(st.st_mode):
            raise oserror(errno.EPERM)
        ref.open_fd = ref.reopen(flags)
        return self._opened(p.Rlopen, ref, st)

    def walkopen(self, msg: p.Twalkopen) -> Donation:
        """Twalk then Tlopen, in one request; a failed open leaves ``newfid`` unbound."""
        qids, _ = self._walk(msg.fid, msg.newfid, msg.names)
        if len(qids) != len(msg.names):
            raise oserror(errno.ENOENT)
        try:
            opened = self.lopen(p.Tlopen(msg.newfid, msg.flags))
        except BaseException:
            self.fids.clunk(msg.newfid)
            raise
        if msg.newfid == p.NOFID:  # opened for the donated fd only (a dup: the fid may go)
            self.fids.clunk(msg.newfid)
        reply = opened.reply
        return Donation(p.Rwalkopen(reply.qid, reply.iounit, reply.fd_follows), opened.fds)

    def openmany(self, msg: p.Topenmany) -> Donation:
        """Open each of ``names`` in the directory ``path`` leads to, for its fd only: what
        Twalkopen with NOFID does for one regular file, for up to OPEN_MANY names at once. A name
        that cannot be opened (missing, a symbolic link, not a regular file, refused by the host)
        fails alone."""
        if not self.donate_fds or len(msg.names) > p.OPEN_MANY:
            raise oserror(errno.EINVAL)
        flags = msg.flags & _OPEN_KEEP
        if _wants_write(flags):
            self._require_writable()
        errnos: list[int] = []
        qids: list[p.Qid] = []
        fds: list[int] = []
        with _walked_directory(self.fids.get(msg.fid).path_fd, msg.path) as directory:
            try:
                for name in msg.names:
                    try:
                        fd, st = open_checked(directory, name, flags, _regular)
                    except OSError as error:
                        errnos.append(error.errno or errno.EIO)
                        qids.append(_NO_QID)
                    else:
                        fds.append(fd)
                        errnos.append(0)
                        qids.append(self.inodes.qid(st))
            except BaseException:
                for fd in fds:
                    os.close(fd)
                raise
        return Donation(p.Ropenmany(errnos, qids), tuple(fds))

    def lcreate(self, msg: p.Tlcreate) -> Donation:
        """Create and open ``name`` in directory ``fid``; ``fid`` then names the new file."""
        self._require_writable()
        parent = self._dir(msg.fid)
        flags = (msg.flags & _OPEN_KEEP) | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(msg.name, flags, msg.mode & 0o7777, dir_fd=parent.path_fd)
        try:
            self._chown_new(fd, msg.uid, msg.gid)
            path_fd = os.open(msg.name, WALK_FLAGS, dir_fd=parent.path_fd)
        except BaseException:
            os.close(fd)
            raise
        ref = FileRef(path_fd, os.dup(parent.path_fd), msg.name)
        ref.open_fd = fd
        st = ref.stat()
        if not same_file(st, os.fstat(fd)):  # renamed over between create and walk
            ref.close()
            raise oserror(errno.ESTALE)
        self.fids.replace(msg.fid, ref)
        return self._opened(p.Rlcreate, ref, st)

    def _opened(self, reply: Any, ref: FileRef, st: os.stat_result) -> Donation:
        donate = self.donate_fds and stat.S_ISREG(st.st_mode)
        fds = (os.dup(ref.open_fd),) if donate and ref.open_fd is not None else ()
        return Donation(reply(self.inodes.qid(st), self.iounit, bool(fds)), fds)

    @staticmethod
    def _chown_new(fd: int, uid: int, gid: int) -> None:
        """Give a new file its owner; an unprivileged gofer keeps its own (EPERM is expected)."""
        try:
            os.fchown(fd, uid, gid)
        except PermissionError:
            pass

    # --- creating and removing names -------------------------------------------------------

    def mkdir(self, msg: p.Tmkdir) -> p.Rmkdir:
        self._require_writable()
        fd = self._dir(msg.dfid).path_fd
        os.mkdir(msg.name, msg.mode & 0o7777, dir_fd=fd)
        return p.Rmkdir(self._new_name(fd, msg.name, msg.uid, msg.gid))

    def symlink(self, msg: p.Tsymlink) -> p.Rsymlink:
        self._require_writable()
        if not msg.target or b"\0" in msg.target:
            raise oserror(errno.EINVAL if b"\0" in msg.target else errno.ENOENT)
        if len(msg.target) >= PATH_MAX:
            raise oserror(errno.ENAMETOOLONG)
        fd = self._dir(msg.dfid).path_fd
        os.symlink(msg.target, msg.name, dir_fd=fd)
        return p.Rsymlink(self._new_name(fd, msg.name, msg.uid, msg.gid))

    def mknod(self, msg: p.Tmknod) -> p.Rmknod:
        self._require_writable()
        kind = stat.S_IFMT(msg.mode) or stat.S_IFREG
        if kind not in (stat.S_IFREG, stat.S_IFIFO, stat.S_IFSOCK):
            raise oserror(errno.EPERM)  # device nodes are the Sentry's devfs, never the host's
        fd = self._dir(msg.dfid).path_fd
        os.mknod(msg.name, kind | (msg.mode & 0o7777), dir_fd=fd)
        return p.Rmknod(self._new_name(fd, msg.name, msg.uid, msg.gid))

    def _new_name(self, dir_fd: int, name: bytes, uid: int, gid: int) -> p.Qid:
        try:
            os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
        except PermissionError:
            pass
        return self.inodes.qid(os.stat(name, dir_fd=dir_fd, follow_symlinks=False))

    def link(self, msg: p.Tlink) -> p.Rlink:
        self._require_writable()
        target = self.fids.get(msg.fid)
        fd = self._dir(msg.dfid).path_fd
        if stat.S_ISDIR(target.stat().st_mode):
            raise oserror(errno.EPERM)
        src_dir, src_name = target.location()
        os.link(src_name, msg.name, src_dir_fd=src_dir, dst_dir_fd=fd, follow_symlinks=False)
        return p.Rlink()

    def renameat(self, msg: p.Trenameat) -> p.Rrenameat:
        self._require_writable()
        old = self._dir(msg.olddirfid).path_fd
        new = self._dir(msg.newdirfid).path_fd
        if msg.flags & ~RENAME_EXCHANGE:
            raise oserror(errno.EINVAL)
        if msg.flags:
            if _libc.renameat2(old, msg.oldname, new, msg.newname, msg.flags) != 0:
                raise oserror(ctypes.get_errno())
        else:
            os.rename(msg.oldname, msg.newname, src_dir_fd=old, dst_dir_fd=new)
        return p.Rrenameat()

    def unlinkat(self, msg: p.Tunlinkat) -> p.Runlinkat:
        self._require_writable()
        fd = self._dir(msg.dirfid).path_fd
        if msg.flags & ~AT_REMOVEDIR:
            raise oserror(errno.EINVAL)
        if msg.flags & AT_REMOVEDIR:
            os.rmdir(msg.name, dir_fd=fd)
        else:
            os.unlink(msg.name, dir_fd=fd)
        return p.Runlinkat()

    # --- data --------------------------------------------------------------------------------

    def read(self, msg: p.Tread) -> p.Rread:
        count = min(msg.count, self.iounit)
        return p.Rread(os.pread(self._open_fd(self.fids.get(msg.fid)), count, msg.offset))

    def write(self, msg: p.Twrite) -> p.Rwrite:
        self._require_writable()
        return p.Rwrite(os.pwrite(self._open_fd(self.fids.get(msg.fid)), msg.data, msg.offset))

    def fsync(self, msg: p.Tfsync) -> p.Rfsync:
        sync = os.fdatasync if msg.datasync else os.fsync
        sync(self._open_fd(self.fids.get(msg.fid)))
        return p.Rfsync()

    def readdir(self, msg: p.Treaddir) -> p.Rreaddir:
        ref = self.fids.get(msg.fid)
        fd = self._open_fd(ref)
        if msg.offset == 0 or ref.entries is None:
            ref.entries = self._list(fd)
        budget = min(msg.count, self.iounit)
        return p.Rreaddir(self._page(ref.entries, msg.offset, budget, os.fstat(fd).st_dev))

    def readdirattr(self, msg: p.Treaddirattr) -> p.Rreaddirattr:
        """A page of the directory ``fid`` names with each entry's lstat: the listing is taken
        at offset 0 and paged from it until the next 0."""
        ref = self.fids.get(self._directory_to_list(msg))
        if msg.offset == 0 or ref.listing is None:
            ref.listing = self._list_attrs(ref.path_fd)
        page, last, _ = self._attr_page(ref.listing, msg.offset, min(msg.count, self.iounit))
        return p.Rreaddirattr(page, last)

    def readdirtree(self, msg: p.Treaddirtree) -> p.Rreaddirtree:
        """The first directory's listing as Treaddirattr's from 0, then whole listings of the
        other directories asked for and of those below, breadth first, while they fit."""
        if not msg.paths or not all(msg.paths[1:]):  # the others name directories below fid
            raise oserror(errno.EINVAL)
        base = self.fids.get(msg.fid).path_fd
        with _walked_directory(base, msg.paths[0]) as first:
            listing = self._list_attrs(first)
            page, last, budget = self._attr_page(listing, 0, min(msg.count, self.iounit))
            below = self._below(base, first, listing, msg.paths[1:], budget) if last else []
        return p.Rreaddirtree(page, last, below)

    def _directory_to_list(self, msg: p.Treaddirattr) -> int:
        """The fid of the directory a listing request names (walking its ``names`` first)."""
        fid = msg.fid
        if msg.names:
            qids, _ = self._walk(msg.fid, msg.newfid, msg.names)
            if len(qids) != len(msg.names):
                raise oserror(errno.ENOENT)
            fid = msg.newfid
        if not stat.S_ISDIR(self.fids.get(fid).stat().st_mode):
            raise oserror(errno.ENOTDIR)
        return fid

    def _attr_page(self, listing: list[Listed], offset: int,
                   budget: int) -> tuple[p.Listing, bool, int]:
        """The entries of ``listing`` from ``offset`` that fit in ``budget`` bytes; whether
        they are the last, and the budget left."""
        names: list[p.Name] = []
        numbers: list[int] = []
        targets: list[bytes] = []
        inode_of = self.inodes.of
        for index in range(max(offset, 0), len(listing)):
            name, st, target = listing[index]
            budget -= len(name) + len(target) + _DIRENT_ATTR_OVERHEAD
            if budget < 0:
                return p.Listing(names, numbers, targets), False, budget
            names.append(p.Name(name))
            numbers += listed_numbers(index + 1, st, inode_of(st.st_dev, st.st_ino))
            targets.append(target)
        return p.Listing(names, numbers, targets), True, budget

    def _below(self, base: int, first: int, listing: list[Listed],
               others: list[list[p.Name]], budget: int) -> list[p.Sublisting]:
        """Whole listings of the directories ``others`` lead to from ``base``, and of those
        below them and below ``first`` (whose ``listing`` is known), breadth first, until one
        does not fit in ``budget`` bytes or :data:`_TREE_DIRECTORIES` are listed. A directory
        that cannot be reached or listed is left out with what is below it. A directory's fd
        stays open only while subdirectories of it wait in the queue."""
        below: list[p.Sublisting] = []
        waiting: dict[int, int] = {}  # fd -> its subdirectories still queued
        # (parent index, the fd the path starts from, the path): children first, then the others
        queue: deque[tuple[int, int, list[p.Name]]] = deque()
        borrowed = {base, first}

        def enqueue(index: int, fd: int, entries: list[Listed]) -> None:
            names = [p.Name(name) for name, st, _ in entries if stat.S_ISDIR(st.st_mode)]
            if names:
                waiting[fd] = waiting.get(fd, 0) + len(names)
                queue.extend((index, fd, [name]) for name in names)
            elif fd not in borrowed:
                os.close(fd)

        enqueue(-1, first, listing)
        if others:
            waiting[base] = waiting.get(base, 0) + len(others)
            queue.extend((-1 - k, base, path) for k, path in enumerate(others, 1))
        try:
            while queue and len(below) < _TREE_DIRECTORIES:
                parent, start, path = queue.popleft()
                try:
                    fd = _walk_directories(start, path)
                except OSError:
                    continue
                finally:
                    waiting[start] -= 1
                    if not waiting[start]:
                        del waiting[start]
                        if start not in borrowed:
                            os.close(start)
                try:
                    entries = self._list_attrs(fd)
                except OSError:
                    os.close(fd)
                    continue
                page, whole, budget = self._attr_page(entries, 0, budget)
                if not whole:
                    os.close(fd)
                    break
                below.append(p.Sublisting(parent, path[-1], page))
                enqueue(len(below) - 1, fd, entries)
        finally:
            for fd in waiting:
                if fd not in borrowed:
                    os.close(fd)
        return below

    @staticmethod
    def _list_attrs(path_fd: int) -> list[Listed]:
        """Every entry of the directory ``path_fd`` with its lstat and, for a symbolic link, its
        target (entries gone meanwhile are left out; a link that cannot be read has ``b""``)."""
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=path_fd)
        try:
            with os.scandir(fd) as entries:
                listing = []
                for entry in entries:
                    name = os.fsencode(entry.name)
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    target = _link_target(fd, name) if stat.S_ISLNK(st.st_mode) else b""
                    listing.append((name, st, target))
                return listing
        finally:
            os.close(fd)

    @staticmethod
    def _list(fd: int) -> list[os.DirEntry[str]]:
        """A snapshot of the directory: offsets are indices into it, stable until offset 0."""
        os.lseek(fd, 0, os.SEEK_SET)
        with os.scandir(fd) as entries:
            return list(entries)

    def _page(self, entries: list[os.DirEntry[str]], offset: int, budget: int, device: int) -> list[p.Dirent]:
        page: list[p.Dirent] = []
        for index in range(max(offset, 0), len(entries)):
            entry = entries[index]
            dirent = _dirent(entry, index + 1, self.inodes.of(device, entry.inode()))
            budget -= len(dirent.name) + _DIRENT_OVERHEAD
            if budget < 0:
                break
            page.append(dirent)
        return page

    @staticmethod
    def _open_fd(ref: FileRef) -> int:
        if ref.open_fd is None:
            raise oserror(errno.EBADF)
        return ref.open_fd
