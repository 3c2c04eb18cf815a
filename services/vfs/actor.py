"""The VFS actor: the mount table and every path operation of the sandbox.

At start it asks the ``gofer`` service to serve the image and mounts the result as the root
(overlay by default, ``rw`` or ``ro`` on request), then a devfs on /dev and a tmpfs on /tmp,
then the run's volumes and tmpfs mounts (:mod:`services.vfs.mounts`).
Its operations take the caller's root and starting directory (the cwd or a dirfd's directory;
the syscall layer picks it) and a path, resolve it (:mod:`services.vfs.path`) and make the
checks Linux makes before handing the change to the file system's directory primitives.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import trio

from abi.errno import (
    EBUSY,
    EEXIST,
    EINVAL,
    EISDIR,
    ELOOP,
    ENOENT,
    ENOTDIR,
    ENOTEMPTY,
    EPERM,
    EXDEV,
)
from abi.linux import (
    O_ACCMODE,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NOFOLLOW,
    O_PATH,
    O_RDONLY,
    O_TRUNC,
    RENAME_EXCHANGE,
    RENAME_NOREPLACE,
    RESOLVE_BENEATH,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
    S_IFDIR,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
)
from kernel.bus import Actor, operation
from abi.errno import Errno
from kernel.errors import SentryError
from services.vfs.devfs import make_devfs
from services.vfs.file import File
from services.vfs.inode import Dir, Filesystem, Inode, Stat, Symlink
from services.vfs.mounts import PROVIDED, SKIPPED, MountTable, guest_path, tmpfs_root
from services.vfs.overlay import GoferFs
from services.vfs.path import Lookup, mounted, parent_of, path_of, resolve

if TYPE_CHECKING:
    from kernel.bus import Bus
    from kernel.kernel import Kernel
    from kernel.oci import MountSpec

log = logging.getLogger("sentrio.vfs")


class VirtualFilesystem(Actor):
    """The sandbox's file system tree."""

    service = "vfs"

    def __init__(self, bus: Bus, image: str, mode: str = "overlay", kernel: Kernel | None = None,
                 mounts: list[MountSpec] | None = None) -> None:
        self.bus = bus
        self.image = image
        self.mode = mode
        self.kernel = kernel
        self.root: Dir | None = None
        self.mount_id = 0
        #: The run's mount specs (the kernel's config unless given).
        self.specs = mounts if mounts is not None else kernel.config.mounts if kernel is not None else []
        #: What is mounted where (/proc/mounts and mountinfo show it).
        self.table = MountTable()

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.mount_id = await self.bus.call("gofer", "mount", self.image, self.mode == "rw")
        fs = GoferFs(self.bus, self.mount_id, self.mode)
        self.root = await fs.root()
        self.table.add(b"none", b"/", fs.name, fs.read_only, self.root)
        terminal = self.kernel.open_terminal if self.kernel is not None else None
        await self._mount(b"dev", make_devfs(terminal), b"devtmpfs", create=True)
        await self._mount(b"tmp", Dir(Filesystem(), 0o1777), b"tmpfs", create=False)
        if self.kernel is not None:
            from services.vfs.procfs import ProcFs, make_sysfs

            procfs = ProcFs(self.kernel, self._root, self.table)
            await self._mount(b"proc", procfs.root_dir(), b"proc", create=True)
            await self._mount(b"sys", make_sysfs(self.kernel.online_cpus), b"sysfs", create=True)
        # parents before children, as docker mounts them; otherwise in the order given
        for spec in sorted(self.specs, key=lambda spec: guest_path(spec.destination).count(b"/")):
            await self._mount_spec(spec)
        task_status.started()

    def _root(self) -> Dir:
        assert self.root is not None
        return self.root

    async def _mount(self, name: bytes, fs_root: Dir, kind: bytes, create: bool) -> None:
        """Mount ``fs_root`` on /name; an absent mount point is made in the overlay only if asked."""
        assert self.root is not None
        try:
            await self.root.lookup(name)
        except Errno:
            if not create:
                return
        await self._mount_on(b"/" + name, fs_root, kind, kind)

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
        if spec.kind == "tmpfs":
            await self._mount_on(point, tmpfs_root(spec.options, spec.read_only), b"tmpfs", b"tmpfs",
                                 spec.read_only)
            return
        if spec.kind != "bind" or spec.source is None:
            raise SentryError(f"{what}: unsupported mount type")
        if not os.path.isdir(spec.source):
            raise SentryError(f"{what}: the source {spec.source} is not a directory (only directories can be mounted)")
        mount = await self.bus.call("gofer", "mount", spec.source, not spec.read_only)
        fs = GoferFs(self.bus, mount, "ro" if spec.read_only else "rw")
        await self._mount_on(point, await fs.root(), b"none", fs.name, spec.read_only)

    async def _mount_on(self, point: bytes, fs_root: Dir, source: bytes, kind: bytes, read_only: bool = False) -> None:
        """Mount ``fs_root`` on the guest path ``point``, on top of anything mounted there."""
        covered = mounted(await self._mount_point(point))
        assert isinstance(covered, Dir)
        covered.covered_by = fs_root
        fs_root.mountpoint = covered
        fs_root.parent = covered.parent
        fs_root.name = covered.name
        self.table.add(source, point, kind, read_only, fs_root)

    async def _mount_point(self, point: bytes) -> Dir:
        """The directory ``point`` names, made (in the Sentry only, like /dev's) where missing.

        Existing names are walked as the guest would (symlinks stay in the sandbox), so a mount
        point never lands outside the guest's tree.
        """
        root = self._root()
        current = root
        for name in (n for n in point.split(b"/") if n):
            try:
                found = (await resolve(root, current, name)).inode
            except Errno as error:
                if error.errno != ENOENT:
                    raise SentryError(f"mount point {os.fsdecode(point)}: {os.strerror(error.errno)}") from None
                found = Dir(current.fs, 0o755, parent=current, name=name)
                current.children[name] = found
            if not isinstance(found, Dir):
                raise SentryError(f"mount point {os.fsdecode(point)}: not a directory")
            current = found
        return current

    # --- resolution ------------------------------------------------------------------------

    @operation
    async def root_dir(self) -> Dir:
        assert self.root is not None
        return self.root

    @operation
    async def lookup(self, root: Dir, start: Dir, path: bytes, follow: bool = True) -> Inode:
        """The file ``path`` names (ENOENT, ENOTDIR, ELOOP ... as path resolution fails)."""
        found = await resolve(root, start, path, follow=follow)
        assert found.inode is not None
        return found.inode

    @operation
    async def stat(self, root: Dir, start: Dir, path: bytes, follow: bool = True) -> Stat:
        return await (await self.lookup(root, start, path, follow)).stat()

    @operation
    async def getcwd(self, root: Dir, cwd: Dir) -> bytes:
        return path_of(cwd, root)

    @operation
    async def parent(self, root: Dir, directory: Dir) -> Dir:
        return parent_of(directory, root)

    # --- open ------------------------------------------------------------------------------

    @operation
    async def open(self, root: Dir, start: Dir, path: bytes, flags: int, mode: int, uid: int, gid: int,
                   resolve_flags: int = 0) -> File:
        """open(2) after the flags were validated: create, check the type, truncate, open.

        ``resolve_flags`` are openat2's RESOLVE_*: IN_ROOT walks with ``start`` as the root.
        """
        creating = bool(flags & O_CREAT) and not flags & O_PATH
        follow = not flags & O_NOFOLLOW and not (creating and flags & O_EXCL)
        if resolve_flags & RESOLVE_IN_ROOT:
            root = start
        found = await resolve(root, start, path, follow=follow, parent=creating,
                              beneath=bool(resolve_flags & RESOLVE_BENEATH),
                              no_symlinks=bool(resolve_flags & RESOLVE_NO_SYMLINKS),
                              no_xdev=bool(resolve_flags & RESOLVE_NO_XDEV))
        inode = found.inode
        if creating:
            if flags & O_EXCL and inode is not None:
                raise Errno(EEXIST)
            if found.name in (b".", b"..") or found.trailing_slash:
                raise Errno(EISDIR)
            if inode is None:
                inode = await found.parent.make(found.name, S_IFREG | (mode & 0o7777), uid, gid)
        assert inode is not None
        if isinstance(inode, Symlink) and not flags & O_PATH:
            raise Errno(ELOOP)
        if flags & O_DIRECTORY and not isinstance(inode, Dir):
            raise Errno(ENOTDIR)
        if isinstance(inode, Dir) and not flags & O_PATH:
            if flags & O_ACCMODE != O_RDONLY or flags & O_TRUNC and not creating or creating:
                raise Errno(EISDIR)
        file = await inode.open(flags)
        if isinstance(inode, Dir):
            file.path = path_of(inode, root)
        elif found.name not in (b".", b".."):
            directory = path_of(found.parent, root)
            file.path = directory.rstrip(b"/") + b"/" + found.name
        return file

    # --- changing names --------------------------------------------------------------------

    async def _new_name(self, root: Dir, start: Dir, path: bytes, follow: bool = False) -> Lookup:
        found = await resolve(root, start, path, follow=follow, parent=True)
        if found.inode is not None or found.name in (b".", b".."):
            raise Errno(EEXIST)
        return found

    @operation
    async def mknod(self, root: Dir, start: Dir, path: bytes, mode: int, rdev: int, uid: int, gid: int) -> None:
        found = await self._new_name(root, start, path)
        if found.trailing_slash and mode & S_IFMT != S_IFDIR:
            raise Errno(ENOENT)
        await found.parent.make(found.name, mode, uid, gid, rdev)

    @operation
    async def symlink(self, target: bytes, root: Dir, start: Dir, path: bytes, uid: int, gid: int) -> None:
        if not target:
            raise Errno(ENOENT)
        found = await self._new_name(root, start, path)
        if found.trailing_slash:
            raise Errno(ENOENT)
        await found.parent.make(found.name, S_IFLNK | 0o777, uid, gid, target=target)

    @operation
    async def link(self, root: Dir, old_start: Dir, old_path: bytes, new_start: Dir, new_path: bytes,
                   follow: bool) -> None:
        await self.link_inode(root, await self.lookup(root, old_start, old_path, follow), new_start, new_path)

    @operation
    async def link_inode(self, root: Dir, old: Inode, new_start: Dir, new_path: bytes) -> None:
        """linkat(2) of a file already in hand (AT_EMPTY_PATH: an fd, e.g. an O_TMPFILE file)."""
        if isinstance(old, Dir):
            raise Errno(EPERM)
        found = await self._new_name(root, new_start, new_path)
        if found.trailing_slash:
            raise Errno(ENOENT)
        if old.fs is not found.parent.fs:
            raise Errno(EXDEV)
        await found.parent.add_link(found.name, old)

    @operation
    async def unlink(self, root: Dir, start: Dir, path: bytes, directory: bool) -> None:
        """unlink(2), or rmdir(2) when ``directory``."""
        found = await resolve(root, start, path, follow=False, parent=True)
        if directory:
            if found.name == b".":
                raise Errno(EINVAL)
            if found.name == b"..":
                raise Errno(ENOTEMPTY)
        elif found.name in (b".", b".."):
            raise Errno(EISDIR)
        inode = found.inode
        if inode is None:
            raise Errno(ENOENT)
        if directory:
            if not isinstance(inode, Dir):
                raise Errno(ENOTDIR)
            if inode is root or inode.mountpoint is not None:
                raise Errno(EBUSY)
            if not await inode.is_empty():
                raise Errno(ENOTEMPTY)
        else:
            if isinstance(inode, Dir):
                raise Errno(EISDIR)
            if found.trailing_slash:
                raise Errno(ENOTDIR)
        found.parent.fs.check_writable()
        await found.parent.remove(found.name, inode)

    @operation
    async def rename(self, root: Dir, old_start: Dir, old_path: bytes, new_start: Dir, new_path: bytes,
                     flags: int) -> None:
        """rename(2)/renameat2(2) with RENAME_NOREPLACE; RENAME_EXCHANGE swaps two names."""
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) or flags == RENAME_NOREPLACE | RENAME_EXCHANGE:
            raise Errno(EINVAL)
        old = await resolve(root, old_start, old_path, follow=False, parent=True)
        new = await resolve(root, new_start, new_path, follow=False, parent=True)
        if old.name in (b".", b"..") or new.name in (b".", b".."):
            raise Errno(EBUSY if old.name in (b".", b"..") and old.inode is root else EINVAL)
        source = old.inode
        if source is None:
            raise Errno(ENOENT)
        if (old.trailing_slash or new.trailing_slash) and not isinstance(source, Dir):
            raise Errno(ENOTDIR)
        if old.parent.fs is not new.parent.fs:
            raise Errno(EXDEV)
        if isinstance(source, Dir) and (source.mountpoint is not None or source is root):
            raise Errno(EBUSY)
        # a directory may not move into itself
        if isinstance(source, Dir):
            walker = new.parent
            while True:
                if walker is source:
                    raise Errno(EINVAL)
                up = parent_of(walker, root)
                if up is walker:
                    break
                walker = up
        target = new.inode
        if flags & RENAME_EXCHANGE:
            if target is None:
                raise Errno(ENOENT)
            await _exchange(old, source, new, target)
            return
        if target is source:
            return
        if target is not None:
            if flags & RENAME_NOREPLACE:
                raise Errno(EEXIST)
            if isinstance(source, Dir):
                if not isinstance(target, Dir):
                    raise Errno(ENOTDIR)
                if target.mountpoint is not None:
                    raise Errno(EBUSY)
                if not await target.is_empty():
                    raise Errno(ENOTEMPTY)
            elif isinstance(target, Dir):
                raise Errno(EISDIR)
        old.parent.fs.check_writable()
        if target is not None:
            await new.parent.remove(new.name, target)
        await old.parent.move(old.name, source, new.parent, new.name)

    # --- file systems ----------------------------------------------------------------------

    @operation
    async def statfs(self, inode: Inode) -> tuple[int, int, int, int, int, int, int, bool]:
        """(f_type, bsize, blocks, bfree, bavail, files, ffree, read_only) of ``inode``'s fs."""
        fs = inode.fs
        numbers = await fs.statfs()
        return (fs.magic, *numbers, fs.read_only)

    async def close(self) -> None:
        pass


async def _exchange(old: Lookup, source: Inode, new: Lookup, target: Inode) -> None:
    """RENAME_EXCHANGE: swap two names (kept in the Sentry; the gofer cannot do it)."""
    old.parent.fs.check_writable()
    if getattr(old.parent.fs, "rw", False):
        from services.vfs.overlay import exchange_through

        await exchange_through(old.parent, old.name, source, new.parent, new.name, target)  # type: ignore[arg-type]
    old.parent.children[old.name] = target
    new.parent.children[new.name] = source
    for directory, name, inode in ((old.parent, old.name, target), (new.parent, new.name, source)):
        if isinstance(inode, Dir):
            inode.parent, inode.name = directory, name
        hidden = getattr(directory, "hidden", None)
        if hidden is not None:
            hidden.discard(name)
        directory.modified()
