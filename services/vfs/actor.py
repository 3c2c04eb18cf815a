"""The VFS actor: the sandbox's file system tree, its open file descriptions, and who may do what.

At start it asks the ``gofer`` service to serve the image and mounts the result as the root
(overlay by default, ``rw`` or ``ro`` on request), then a devfs on /dev and a tmpfs on /tmp, a
procfs on /proc and a sysfs on /sys, then the run's volumes and tmpfs mounts
(:mod:`services.vfs.mounts`).

Its operations (the contract, :mod:`services.vfs.contract`) are written by area: names
(:mod:`services.vfs.names`), descriptions (:mod:`services.vfs.descriptions`), readiness
(:mod:`services.vfs.readiness`), anonymous files (:mod:`services.vfs.anonymous`), transfers
between files (:mod:`services.vfs.transfer`) and inotify's watches, which names and
descriptions tell of their changes (:mod:`services.vfs.inotify`); every permission is decided by
:mod:`services.vfs.permissions`. The VFS reads nothing of the kernel's: what it needs of
processes (/proc, the terminal's session) it asks the ``proc`` service.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import trio

from abi.creds import KERNEL_CALLER, Caller
from abi.errno import ENOENT, ENXIO, Errno
from abi.inotify import inotify_max_user_watches
from kernel.errors import SentryError
from services.proc.contract import CONSOLE
from services.vfs.anonymous import AnonymousFiles
from services.vfs.devfs import make_devfs
from services.vfs.fasync import SignalDrivenIo
from services.vfs.file import File
from services.vfs.inode import Dir, Filesystem, Inode, RegularInode
from services.vfs.mountops import MountOperations
from services.vfs.mounts import EXCLUSIVE, PROVIDED, SKIPPED, guest_path, tmpfs_root
from services.vfs.names import NameOperations
from services.vfs.overlay import GoferFs, GoferRegular
from services.vfs.path import mounted, resolve
from services.vfs.readiness import ReadinessOperations
from services.vfs.pidfd import PidFds
from services.vfs.timerfd import TimerFds
from services.vfs.transfer import TransferOperations
from services.vfs.mqueue import MqueueFiles
from services.vfs.xattr import XattrOperations

if TYPE_CHECKING:
    from kernel.bus import Bus
    from kernel.oci import MountSpec
    from services.mm.account import MemoryAccount

log = logging.getLogger("sentrio.vfs")



class VirtualFilesystem(SignalDrivenIo, NameOperations, TransferOperations, ReadinessOperations, AnonymousFiles,
                        TimerFds, PidFds, XattrOperations, MqueueFiles, MountOperations):
    """The sandbox's file system tree and its open files."""

    def __init__(self, bus: Bus, image: str, mode: str = "overlay", mounts: Sequence[MountSpec] = (),
                 proc: bool = True, memory: int | None = None) -> None:
        super().__init__(bus)
        self.image = image
        self.mode = mode
        #: The sandbox's memory (``--memory``, else the host's): files kept in memory (tmpfs
        #: mounts, the overlay's upper layer) may each take half of it, as Linux's tmpfs does.
        self.memory = memory or os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        self.memfd_fs = Filesystem(name=b"memfd", capacity=self.memory // 2)
        self.inotify.limits.max_user_watches = inotify_max_user_watches(self.memory)
        self.mount_id = 0
        #: Read-only host fds of image and volume files kept for reuse, one cache for every
        #: mount (services/vfs/overlay.py, ``GoferFs``).
        self.image_fds: OrderedDict[GoferRegular, int] = OrderedDict()
        #: The run's mount specs: volumes, tmpfs mounts, a bundle's mounts.
        self.specs = list(mounts)
        #: Whether to mount /proc and /sys (they ask the ``proc`` service about processes).
        self.with_proc = proc
        #: The kernel file systems a guest may mount again (proc, devpts), by type.
        self.kernel_filesystems: dict[bytes, Dir] = {}

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.mount_id = await self.bus.call("gofer", "mount", self.image, self.mode == "rw")
        self.account = await self._memory_account()
        self.memfd_fs.account = self.account
        # A --read-only root is the image as the overlay's lower layer is: nothing but the image's
        # owner changes it, so it is cached as exclusively (docs/caching.md); --rw writes through.
        access = EXCLUSIVE if self.mode == "ro" else None
        fs = GoferFs(self.bus, self.mount_id, self.mode, capacity=self.memory // 2, access=access,
                     readonly_fds=self.image_fds)
        self.root_dir = await fs.root()
        self.table.add(b"none", b"/", fs.name, fs.read_only, self.root_dir)
        await self._mount(b"dev", make_devfs(self._open_terminal), b"devtmpfs", create=True)
        await self._mount_on(b"/dev/pts", self.ptys.root, b"devpts", b"devpts")
        self.kernel_filesystems[b"devpts"] = self.ptys.root
        await self._mount(b"tmp", Dir(Filesystem(capacity=self.memory // 2), 0o1777), b"tmpfs", create=False)
        if self.with_proc:
            from services.vfs.procfs import ProcFs, make_sysfs

            procfs = ProcFs(self.bus, self._root, self.table, self.files)
            procfs.inotify_limits = self.inotify.limits
            system = await self.bus.call("proc", "system")
            self.kernel_filesystems[b"proc"] = procfs.root_dir()
            await self._mount(b"proc", self.kernel_filesystems[b"proc"], b"proc", create=True)
            await self._mount(b"sys", make_sysfs(system.online_cpus), b"sysfs", create=True)
        # parents before children, as docker mounts them; otherwise in the order given
        for spec in sorted(self.specs, key=lambda spec: guest_path(spec.destination).count(b"/")):
            await self._mount_spec(spec)
        for mount in self.table.mounts:  # files kept in memory are charged to the sandbox's memory
            if mount.root.fs.capacity is not None:
                mount.root.fs.account = self.account
        async with trio.open_nursery() as self.background:  # the watchers of signal-driven I/O
            task_status.started()
            await trio.sleep_forever()

    async def _open_terminal(self, flags: int, caller: Caller) -> File:
        """/dev/tty for ``caller``: the controlling terminal of the caller's session (the
        ``run -t`` pty, or a devpts replica); ENXIO without one, as tty_open_current_tty gives."""
        terminal = await self.bus.call("proc", "controlling_terminal", caller.pid)
        if terminal == CONSOLE and self.terminal is not None:
            return self.terminal.open_slave()
        if terminal is None or terminal == CONSOLE:
            raise Errno(ENXIO)
        return self.ptys.open_replica(terminal, flags)

    def _root(self) -> Dir:
        assert self.root_dir is not None
        return self.root_dir

    async def _mount(self, name: bytes, fs_root: Dir, kind: bytes, create: bool) -> None:
        """Mount ``fs_root`` on /name; an absent mount point is made in the overlay only if asked."""
        try:
            await self._root().lookup(name)
        except Errno:
            if not create:
                return
        await self._mount_on(b"/" + name, fs_root, kind, kind)

    async def _memory_account(self) -> MemoryAccount | None:
        """The MM's memory account, which files kept in memory and pipe buffers are charged
        to (services/mm/account.py); None when no ``mm`` service runs (a VFS tested alone)."""
        try:
            account: MemoryAccount = await self.bus.call("mm", "memory_account")
        except Errno:
            return None
        return account

    async def _mount_spec(self, spec: MountSpec) -> None:
        """Mount what ``spec`` asks for (SentryError, naming the mount, if it cannot be)."""
        point = guest_path(spec.destination)
        what = f"mount {spec.destination} ({spec.kind})"
        if point == b"/":
            raise SentryError(f"{what}: cannot mount over the root")
        if spec.kind == "tmpfs" and point == b"/dev":  # an OCI bundle's /dev: the sandbox's devfs is it
            return
        if spec.kind in PROVIDED:
            if os.fsdecode(point) != PROVIDED[spec.kind]:
                log.debug("%s: the sandbox has %s only at %s; skipped", what, spec.kind, PROVIDED[spec.kind])
            return
        if spec.kind in SKIPPED:
            log.debug("%s: not provided by the sandbox; skipped", what)
            return
        if spec.kind == "file":  # a bind's copy (its source named) makes its directories; the /etc files do not
            await self._mount_file(point, spec.content, spec.read_only, make_directories=spec.source is not None)
            return
        if spec.kind == "tmpfs":
            try:
                root = tmpfs_root(spec.options, spec.read_only, self.memory)
            except ValueError as error:
                raise SentryError(f"{what}: {error}") from None
            await self._mount_on(point, root, b"tmpfs", b"tmpfs", spec.read_only)
            return
        if spec.kind != "bind" or spec.source is None:
            raise SentryError(f"{what}: unsupported mount type")
        if not os.path.isdir(spec.source):
            raise SentryError(f"{what}: the source {spec.source} is not a directory (only directories can be mounted)")
        mount = await self.bus.call("gofer", "mount", spec.source, not spec.read_only)
        fs = GoferFs(self.bus, mount, "ro" if spec.read_only else "rw", readonly_fds=self.image_fds)
        await self._mount_on(point, await fs.root(), b"none", fs.name, spec.read_only)

    async def _mount_on(self, point: bytes, fs_root: Dir, source: bytes, kind: bytes, read_only: bool = False) -> None:
        """Mount ``fs_root`` on the guest path ``point``, on top of anything mounted there."""
        covered = mounted(await self._mount_point(point))
        assert isinstance(covered, Dir)
        covered.covered_by = fs_root
        fs_root.mountpoint = covered
        fs_root.parent = covered.parent
        fs_root.name = covered.name
        self.table.add(source, point, kind, read_only, fs_root, covered)

    async def _mount_file(self, point: bytes, content: bytes, read_only: bool, make_directories: bool) -> None:
        """Mount a file of ``content`` on the guest path ``point``, as an engine binds its
        /etc/hosts: it covers the image's file (a symlink's name too) or, where the directory
        has none, a name made in the Sentry only. A missing directory is made (in the Sentry
        only) if ``make_directories``; else the mount is skipped (a minimal image without /etc
        gets no /etc/hosts)."""
        directory, _, name = point.rpartition(b"/")
        root = self._root()
        try:
            if make_directories:
                parent: Inode = mounted(await self._mount_point(directory or b"/"))
            else:
                parent = mounted((await resolve(KERNEL_CALLER, root, root, directory or b"/")).inode)
        except Errno as error:
            log.debug("mount %s: %s; skipped", os.fsdecode(point), os.strerror(error.errno))
            return
        if not isinstance(parent, Dir):
            return
        try:
            covered = await parent.lookup(name)
        except Errno:
            covered = RegularInode(self.memfd_fs, 0o644)
            parent.children[name] = covered
        covered = mounted(covered)
        if isinstance(covered, Dir):
            raise SentryError(f"mount {os.fsdecode(point)}: a file cannot be mounted on a directory")
        fs = Filesystem(read_only=read_only, capacity=max(len(content), 4096))
        file = RegularInode(fs, 0o644)
        assert file.memfd is not None
        os.pwrite(file.memfd, content, 0)
        file.account()
        covered.covered_by = file
        file.mountpoint = covered
        self.table.add(b"tmpfs", point, b"tmpfs", read_only, file, covered)

    async def _mount_point(self, point: bytes) -> Dir:
        """The directory ``point`` names, made (in the Sentry only, like /dev's) where missing.

        Existing names are walked as the guest would (symlinks stay in the sandbox), so a mount
        point never lands outside the guest's tree.
        """
        root = self._root()
        current = root
        for name in (n for n in point.split(b"/") if n):
            try:
                found = (await resolve(KERNEL_CALLER, root, current, name)).inode
            except Errno as error:
                if error.errno != ENOENT:
                    raise SentryError(f"mount point {os.fsdecode(point)}: {os.strerror(error.errno)}") from None
                found = Dir(current.fs, 0o755, parent=current, name=name)
                current.children[name] = found
            if not isinstance(found, Dir):
                raise SentryError(f"mount point {os.fsdecode(point)}: not a directory")
            current = found
        return current

    async def close(self) -> None:
        """The sandbox is going: every description still open is released."""
        files, self.files = self.files, {}
        for file in files.values():
            file.release()
