"""The ``gofer`` service's contract: the 9P2000.L operations of every gofer of the sandbox.

Each operation is the protocol's own message, addressed to one mount (one gofer process) by the
mount id :meth:`GoferContract.mount` returned, so a trace or a fault rule names what the gofer
is asked (``gofer.walk``, ``gofer.lopen``, ``gofer.read`` ...). A gofer that dies fails every
outstanding and later operation on its mount with EIO; errors the gofer reports come back as
their errno (``Rlerror``). Replies are the protocol's immutable records (:mod:`gofer.protocol`),
and ``lopen``/``lcreate`` may grant a read-only or read-write host fd for the file, which the
caller then owns: the only host resources that cross the boundary, each by an operation.
"""

from __future__ import annotations

from collections.abc import Sequence

from gofer import protocol as p
from kernel.bus import Contract, operation


class GoferContract(Contract):
    """The operations of the ``gofer`` service."""

    service = "gofer"

    @operation
    async def mount(self, root: str, rw: bool) -> int:
        """Start a gofer serving the host directory ``root`` (writable if ``rw``): its mount id."""
        raise NotImplementedError

    @operation
    async def alive(self, mount: int) -> None:
        """EIO if ``mount``'s gofer is gone (so answers the Sentry cached stop once it dies)."""
        raise NotImplementedError

    @operation
    async def new_fid(self, mount: int) -> int:
        """A fid number not yet used on ``mount``."""
        raise NotImplementedError

    @operation
    async def attach(self, mount: int) -> int:
        """A new fid bound to the root of the served tree."""
        raise NotImplementedError

    @operation
    async def walk(self, mount: int, fid: int, names: Sequence[bytes], newfid: int) -> list[p.Qid]:
        """Walk ``names`` (single components) from ``fid``; ``newfid`` names the result."""
        raise NotImplementedError

    @operation
    async def walk_getattr(self, mount: int, fid: int, names: Sequence[bytes],
                           newfid: int) -> tuple[list[p.Qid], p.Attr]:
        """Walk, and the attributes of the file reached: one round trip."""
        raise NotImplementedError

    @operation
    async def walk_attrs(self, mount: int, fid: int, names: Sequence[bytes],
                         newfid: int) -> tuple[list[p.Qid], list[p.Attr]]:
        """Walk as far as ``names`` go (stopping at a missing name or a non-directory): each
        file reached and its attributes, one round trip; ``newfid`` names the last. ENOENT if
        the first name is missing."""
        raise NotImplementedError

    @operation
    async def readdir_attrs(self, mount: int, fid: int, offset: int, names: Sequence[bytes] = (),
                            newfid: int = 0) -> tuple[p.Listing, bool]:
        """One page of the directory ``fid`` names (walked, not opened) from ``offset`` (0, or
        the last entry's cookie), each entry with its attributes; and whether it is the last.
        With ``names``, the directory they lead to from ``fid``, which ``newfid`` then names."""
        raise NotImplementedError

    @operation
    async def readdir_tree(self, mount: int, fid: int, paths: Sequence[Sequence[bytes]],
                           count: int) -> tuple[p.Listing, bool, list[p.Sublisting]]:
        """:meth:`readdir_attrs` from 0 of the directory ``paths[0]`` leads to from ``fid``
        and, when that page is the whole directory, whole listings of the other directories of
        ``paths`` and of those below them all, breadth first, within ``count`` bytes (each
        :class:`~gofer.protocol.Sublisting` says which directory it is): one round trip for
        the part of a tree a walker reads next."""
        raise NotImplementedError

    @operation
    async def donates(self, mount: int) -> bool:
        """Whether ``mount``'s gofer donates host fds with ``lopen`` (else file data moves by
        ``read`` and ``write`` operations: ``--gofer-io=rpc``)."""
        raise NotImplementedError

    @operation
    async def getattr(self, mount: int, fid: int) -> tuple[p.Qid, p.Attr]:
        """The qid and attributes of ``fid``'s file."""
        raise NotImplementedError

    @operation
    async def setattr(self, mount: int, fid: int, valid: int, mode: int, uid: int, gid: int, size: int,
                      atime_ns: int, mtime_ns: int) -> None:
        """Change the attributes ``valid`` names (P9_SETATTR_* bits); the Sentry decided it may."""
        raise NotImplementedError

    @operation
    async def lopen(self, mount: int, fid: int, flags: int, names: Sequence[bytes] = (),
                    newfid: int = 0) -> tuple[p.Qid, int | None]:
        """Open ``fid`` for I/O: its qid and the donated host fd (the caller's to close). With
        ``names``, first walk them from ``fid`` to ``newfid`` and open that, in the same round
        trip (Twalkopen)."""
        raise NotImplementedError

    @operation
    async def open_many(self, mount: int, fid: int, path: Sequence[bytes], names: Sequence[bytes],
                        flags: int) -> list[tuple[p.Qid, int] | int]:
        """Open each of ``names`` (at most :data:`~gofer.protocol.OPEN_MANY`) in the directory
        ``path`` leads to from ``fid``, for its host fd only (no fid is kept), in one round trip:
        per name, its qid and the donated fd (the caller's to close), or the errno its open
        failed with. EINVAL where the gofer donates no fds."""
        raise NotImplementedError

    @operation
    async def lcreate(self, mount: int, dfid: int, name: bytes, flags: int, mode: int, uid: int,
                      gid: int) -> tuple[p.Qid, int | None]:
        """Create and open ``name`` in ``dfid`` (which then names the new file), owned by uid:gid."""
        raise NotImplementedError

    @operation
    async def read(self, mount: int, fid: int, offset: int, count: int) -> bytes:
        """Up to ``count`` bytes from ``offset`` of an opened fid (short at end of file)."""
        raise NotImplementedError

    @operation
    async def write(self, mount: int, fid: int, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset`` of an opened fid: the bytes written."""
        raise NotImplementedError

    @operation
    async def readdir(self, mount: int, fid: int, offset: int) -> list[p.Dirent]:
        """One page of an opened directory from ``offset`` (0, or the last entry's cookie)."""
        raise NotImplementedError

    @operation
    async def mkdir(self, mount: int, dfid: int, name: bytes, mode: int, uid: int, gid: int) -> p.Qid:
        """Make the directory ``name`` in ``dfid``, owned by uid:gid. EEXIST."""
        raise NotImplementedError

    @operation
    async def symlink(self, mount: int, dfid: int, name: bytes, target: bytes, uid: int, gid: int) -> p.Qid:
        """Make the symlink ``name`` -> ``target`` in ``dfid``, owned by uid:gid. EEXIST."""
        raise NotImplementedError

    @operation
    async def mknod(self, mount: int, dfid: int, name: bytes, mode: int, major: int, minor: int, uid: int,
                    gid: int) -> p.Qid:
        """Make a FIFO, socket or device node ``name`` in ``dfid``. EEXIST, EPERM."""
        raise NotImplementedError

    @operation
    async def readlink(self, mount: int, fid: int) -> bytes:
        """The target of the symlink ``fid`` names. EINVAL for another file."""
        raise NotImplementedError

    @operation
    async def link(self, mount: int, dfid: int, fid: int, name: bytes) -> None:
        """A hard link ``name`` in ``dfid`` to the file ``fid`` names. EEXIST, EXDEV."""
        raise NotImplementedError

    @operation
    async def renameat(self, mount: int, olddirfid: int, oldname: bytes, newdirfid: int, newname: bytes,
                       flags: int = 0) -> None:
        """Rename; ``flags`` may be RENAME_EXCHANGE, which swaps the two names atomically."""
        raise NotImplementedError

    @operation
    async def unlinkat(self, mount: int, dirfid: int, name: bytes, flags: int = 0) -> None:
        """Remove ``name`` from ``dirfid`` (a directory with AT_REMOVEDIR). ENOENT, ENOTEMPTY."""
        raise NotImplementedError

    @operation
    async def fsync(self, mount: int, fid: int) -> None:
        """The opened file's changes reach the host's storage."""
        raise NotImplementedError

    @operation
    async def statfs(self, mount: int, fid: int) -> p.Rstatfs:
        """The statistics of the host file system holding ``fid``'s file."""
        raise NotImplementedError

    @operation
    async def clunk(self, mount: int, fid: int) -> None:
        """Release ``fid``, waiting for the gofer's answer."""
        raise NotImplementedError

    @operation
    async def clunk_later(self, mount: int, fid: int) -> None:
        """Release ``fid`` without making the caller wait for the reply."""
        raise NotImplementedError

    @operation
    async def pid(self, mount: int) -> int:
        """The host pid of ``mount``'s gofer (tests kill it to check the EIO path)."""
        raise NotImplementedError

    # --- extended attributes: user.* of the host's files ---------------------------------------

    @operation
    async def xattr_get(self, mount: int, fid: int, name: bytes) -> bytes:
        """Txattrget: the value; ENODATA, EOPNOTSUPP (not user.*, or the host's file system has
        none), EACCES."""
        raise NotImplementedError

    @operation
    async def xattr_list(self, mount: int, fid: int, name: bytes = b"") -> list[bytes]:
        """Txattrlist: the user.* names of ``fid``'s file, or with ``name`` of that entry of
        the directory ``fid`` (no fid walked for it)."""
        raise NotImplementedError

    @operation
    async def xattr_set(self, mount: int, fid: int, name: bytes, value: bytes, flags: int) -> None:
        """Txattrset: EEXIST, ENODATA (XATTR_CREATE, XATTR_REPLACE), EROFS, ENOSPC, EOPNOTSUPP."""
        raise NotImplementedError

    @operation
    async def xattr_remove(self, mount: int, fid: int, name: bytes) -> None:
        """Txattrremove: ENODATA, EROFS."""
        raise NotImplementedError
