"""The gofer's host-side state for each fid, and the host calls every operation builds on.

A fid names one file by an ``O_PATH|O_NOFOLLOW`` fd, obtained by walking one component at a
time from the root's fd — never by a path string the host resolves, so no symlink and no
``..`` is ever followed on the host. Opening a file for I/O must not go through ``/proc``
(gone after chroot), so a fid also keeps its parent directory's fd and its name: a regular file
is reopened with ``openat(parent, name, O_NOFOLLOW)``, and the result is checked to be the same
inode (``ESTALE`` if the name was renamed over meanwhile); a directory reopens itself as ``.``.
"""

from __future__ import annotations

import errno
import hashlib
import operator
import os
import stat
import struct
from collections.abc import Callable

from gofer.protocol import QTDIR, QTFILE, QTSYMLINK, Attr, Qid

#: One entry of a listing with attributes: its name, its lstat, and its target if it is a
#: symbolic link (``b""`` otherwise).
Listed = tuple[bytes, os.stat_result, bytes]

#: Flags every walk uses: a handle on the name itself, never followed.
WALK_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def oserror(code: int) -> OSError:
    """An OSError carrying ``code``, as the host would raise it."""
    return OSError(code, os.strerror(code))


#: The sandbox's key for inode numbers, shared by every gofer of one Sentry (hex, in the
#: environment: command lines are readable by any host user, environments are not).
INODE_KEY_VARIABLE = "SENTRIO_GOFER_INODE_KEY"


class InodeNumbers:
    """The inode numbers the Sentry (and so the guest) sees: a keyed hash (BLAKE2b) of the
    host file's (``st_dev``, ``st_ino``), the same for every name of a file, so the host's own
    inode numbers and devices never leave the gofer (as gVisor's gofer keeps them).

    A hash, not a counter: every gofer of a sandbox is given the same key, so a spare gofer
    that takes over from a dead one (supervision) numbers each file as its predecessor did,
    and the Sentry's cache of files by number stays right. (A counter numbered files in the
    order each process met them: after a failover, one file's number was another's.) 63 bits,
    never 0; two files share a number with a chance of 2^-63 per pair. Thread-safe: it keeps
    no state but its key.
    """

    def __init__(self, key: bytes | None = None) -> None:
        if key is None:
            configured = os.environ.get(INODE_KEY_VARIABLE)
            key = bytes.fromhex(configured) if configured else os.urandom(16)
        self._key = key

    def of(self, dev: int, ino: int) -> int:
        digest = hashlib.blake2b(_DEV_INO.pack(dev, ino), digest_size=8, key=self._key).digest()
        return int.from_bytes(digest, "little") >> 1 or 1

    def qid(self, st: os.stat_result) -> Qid:
        """The qid of a file: its type and its inode number."""
        return Qid(qid_type(st.st_mode), 0, self.of(st.st_dev, st.st_ino))


_DEV_INO = struct.Struct("<QQ")


def qid_type(mode: int) -> int:
    """A qid's type bits for a file of ``mode``."""
    if stat.S_ISDIR(mode):
        return QTDIR
    if stat.S_ISLNK(mode):
        return QTSYMLINK
    return QTFILE


#: A stat result's values of :class:`Attr`'s fields, in their order, as one tuple (at C speed).
_attr_values = operator.attrgetter(*(f"st_{field}" for field in Attr._fields))


def attr_of(st: os.stat_result) -> Attr:
    """The protocol's attributes of a file (host device numbers are not revealed)."""
    return tuple.__new__(Attr, _attr_values(st))


def listed_numbers(offset: int, st: os.stat_result, ino: int) -> tuple[int, ...]:
    """A listed entry's integers in a :class:`~gofer.protocol.Listing`, ListedFile's order: the
    cookie after it, its qid (type, version, ``ino``), then :func:`attr_of`'s attributes."""
    return (offset, qid_type(st.st_mode), 0, ino, *_attr_values(st))


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_ino == b.st_ino and a.st_dev == b.st_dev


class FileRef:
    """What one fid holds on the host; closed when clunked."""

    __slots__ = ("path_fd", "parent_fd", "name", "open_fd", "entries", "listing")

    def __init__(self, path_fd: int, parent_fd: int | None, name: bytes) -> None:
        self.path_fd = path_fd
        self.parent_fd = parent_fd
        self.name = name
        #: The fd Tlopen/Tlcreate opened for I/O, if any.
        self.open_fd: int | None = None
        #: A directory listing snapshot for Treaddir (taken at offset 0).
        self.entries: list[os.DirEntry[str]] | None = None
        #: A listing with attributes for Treaddirattr (taken at offset 0).
        self.listing: list[Listed] | None = None

    def stat(self) -> os.stat_result:
        return os.fstat(self.path_fd)

    def clone(self) -> FileRef:
        """A second, independent reference to the same file (a walk of no names)."""
        parent = os.dup(self.parent_fd) if self.parent_fd is not None else None
        return FileRef(os.dup(self.path_fd), parent, self.name)

    def reopen(self, flags: int) -> int:
        """A new fd on this file opened with ``flags``; ESTALE if the name moved to another file."""
        st = self.stat()
        if stat.S_ISDIR(st.st_mode):
            return os.open(".", flags | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.path_fd)
        if self.parent_fd is None:
            raise oserror(errno.ESTALE)

        def same_as_walked(opened: os.stat_result) -> None:
            if not same_file(opened, st):
                raise oserror(errno.ESTALE)

        return open_checked(self.parent_fd, self.name, flags, same_as_walked)[0]

    def location(self) -> tuple[int, str | bytes]:
        """``(dir_fd, name)`` naming this file for the path-based calls (chown, utime...)."""
        if stat.S_ISDIR(self.stat().st_mode) or self.parent_fd is None:
            return self.path_fd, "."
        if not same_file(os.stat(self.name, dir_fd=self.parent_fd, follow_symlinks=False),
                         self.stat()):
            raise oserror(errno.ESTALE)
        return self.parent_fd, self.name

    def close(self) -> None:
        """Close every fd held; idempotent."""
        for fd in (self.open_fd, self.parent_fd, self.path_fd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self.open_fd = self.parent_fd = None
        self.path_fd = -1
        self.entries = self.listing = None


def open_checked(dir_fd: int, name: bytes, flags: int,
                 check: Callable[[os.stat_result], None]) -> tuple[int, os.stat_result]:
    """Open ``name`` of ``dir_fd`` with ``flags``, never following a symbolic link (ELOOP) nor
    blocking on a fifo renamed in under the name (O_NONBLOCK until ``check``, which raises to
    refuse it, has accepted the opened file's stat): the fd and that stat."""
    fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        check(st)
        if not flags & os.O_NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


class FidTable:
    """The fids of one connection (whose requests run one at a time: see gofer.server)."""

    def __init__(self) -> None:
        self._refs: dict[int, FileRef] = {}

    def get(self, fid: int) -> FileRef:
        try:
            return self._refs[fid]
        except KeyError:
            raise oserror(errno.EBADF) from None

    def add(self, fid: int, ref: FileRef) -> None:
        """Bind ``fid``; the caller must have checked it is free (see :meth:`check_free`)."""
        self._refs[fid] = ref

    def check_free(self, fid: int) -> None:
        if fid in self._refs:
            raise oserror(errno.EBADF)

    def replace(self, fid: int, ref: FileRef) -> None:
        """Rebind ``fid`` to ``ref``, closing what it held."""
        self._refs[fid].close()
        self._refs[fid] = ref

    def clunk(self, fid: int) -> None:
        """Forget ``fid`` and close what it held; EBADF for a fid not bound."""
        ref = self._refs.pop(fid, None)
        if ref is None:
            raise oserror(errno.EBADF)
        ref.close()

    def clear(self) -> None:
        for fid in list(self._refs):
            self.clunk(fid)

    def __len__(self) -> int:
        return len(self._refs)
