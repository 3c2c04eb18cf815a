"""What every part of the VFS actor shares: its handle table, its locks, and resolving a request.

The actor is one object, written as a few classes by area (:mod:`services.vfs.names`,
:mod:`services.vfs.descriptions`, :mod:`services.vfs.events`, :mod:`services.vfs.transfer`),
all built on :class:`VfsCore`. Open file descriptions live in :attr:`VfsCore.files` by handle;
the kernel's fd tables hold only handles and the facts in :class:`~services.vfs.contract.Opened`.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from abi.errno import EBADF, ENOTDIR, Errno
from abi.linux import O_PATH
from services.vfs.devpts import PtyRegistry
from services.vfs.contract import Handle, Opened, VfsContract
from services.vfs.file import File
from services.vfs.inode import Dir, Filesystem, Inode
from services.vfs.locks import LockRegistry
from services.vfs.mounts import MountTable
from services.vfs.path import Lookup, resolve

if TYPE_CHECKING:
    from abi.creds import Caller
    from kernel.bus import Bus
    from services.mm.account import MemoryAccount
    from services.vfs.hostfile import SandboxTerminal


class VfsCore(VfsContract):
    """The VFS actor's state and the helpers its operations share."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        #: Every open file description the kernel holds a handle to.
        self.files: dict[Handle, File] = {}
        self._handles = itertools.count(1)
        #: Advisory locks of every file (fcntl record locks, OFD locks, flock).
        self.locks = LockRegistry()
        #: What is mounted where (/proc/mounts and mountinfo show it).
        self.table = MountTable()
        self.root_dir: Dir | None = None
        #: The ``run -t`` pty, once the kernel hands the VFS its streams.
        self.terminal: SandboxTerminal | None = None
        #: The pseudo-terminals guests make (/dev/ptmx, the devpts mounted on /dev/pts).
        self.ptys = PtyRegistry()
        #: The host's input to the pty ended before the VFS had the pty.
        self._input_ended_early = False
        #: Where memfd_create's files live (nowhere in the tree), bounded like a tmpfs.
        self.memfd_fs = Filesystem(name=b"memfd")
        #: The sandbox's memory account (the MM's), which pipe buffers and files kept in memory
        #: are charged to; None until the VFS starts, or with no ``mm`` service.
        self.account: MemoryAccount | None = None

    # --- handles ------------------------------------------------------------------------------

    def new_handle(self, file: File) -> Handle:
        """Register ``file`` under a new handle carrying one reference."""
        handle = next(self._handles)
        file.refs += 1
        self.files[handle] = file
        return handle

    def opened(self, file: File) -> Opened:
        """A new handle for ``file`` and the facts the kernel keeps beside it."""
        return Opened(self.new_handle(file), terminal=file.is_terminal, pty=file.is_pty, socket=file.socket_identity,
                      pts=file.pts_index)

    def file(self, handle: Handle) -> File:
        """The description behind ``handle``; EBADF if there is none."""
        file = self.files.get(handle)
        if file is None:
            raise Errno(EBADF)
        return file

    def usable(self, handle: Handle) -> File:
        """The description behind ``handle``, which must not be O_PATH (EBADF)."""
        file = self.file(handle)
        if file.flags & O_PATH:
            raise Errno(EBADF)
        return file

    def directory(self, handle: Handle) -> Dir:
        """The directory ``handle`` opened (a dirfd, the cwd, the root); ENOTDIR otherwise."""
        directory = self.file(handle).directory
        if directory is None:
            raise Errno(ENOTDIR)
        return directory

    def release(self, handle: Handle, table: int) -> None:
        """One reference fewer: fd table ``table``'s POSIX locks on the file go; the last
        reference drops the description's own locks and releases it."""
        file = self.files.get(handle)
        if file is None:
            return
        locks = self.locks
        if locks:
            locks.release(file.lock_key, table)
        file.refs -= 1
        if file.refs == 0:
            del self.files[handle]
            if locks:
                locks.release(file.lock_key, file)
            file.release()

    # --- resolving a request ----------------------------------------------------------------------

    async def walk(self, caller: Caller, root: Handle, start: Handle, path: bytes, *, anchored: bool = False,
                   **options: bool) -> Lookup:
        """Resolve ``path`` for ``caller`` from the handles of its root and starting directory.

        A relative path starts at ``start``, which must be a directory; an absolute one ignores
        it, as Linux ignores the dirfd — unless ``anchored`` (openat2's RESOLVE_BENEATH and
        RESOLVE_IN_ROOT walk from the dirfd whatever the path).
        """
        root_dir = self.directory(root)
        start_dir = self.directory(start) if anchored or not path.startswith(b"/") else root_dir
        return await resolve(caller, root_dir, start_dir, path, **options)

    async def target(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool) -> Inode:
        """The file a (start, path) pair names; the empty path is ``start``'s own file."""
        if not path:
            inode = self.file(start).inode
            if inode is None:
                raise Errno(EBADF)
            return inode
        found = await self.walk(caller, root, start, path, follow=follow)
        assert found.inode is not None
        return found.inode
