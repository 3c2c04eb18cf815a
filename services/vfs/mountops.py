"""mount(2) and umount2(2) for guests holding CAP_SYS_ADMIN: the VFS's mount operations.

A guest that is root in the sandbox with ``--cap-add SYS_ADMIN`` governs the sandbox's own
mount table, as in a docker container given that capability; without it every call is EPERM,
checked first as Linux checks it (may_mount). What can be mounted: a new tmpfs (``size=``,
``mode=``, ``uid=``, ``gid=``, ``nr_inodes=``; charged to the sandbox's memory as every tmpfs
is), the sandbox's procfs and devpts (its one instance of each; devpts's ``newinstance`` is
that instance), bind mounts of any directory of the sandbox and of a file on a file, remounts
and moves (of directories). Unknown types
(mqueue and sysfs among them) are ENODEV.

What the VFS keeps per file system rather than per mount (a divergence, docs/compatibility.md):
read-only and nosuid. A remount of a bind mount read-only makes its whole file system read-only.
Propagation types are recorded and shown in mountinfo; with one mount namespace there is nothing
to propagate to.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from abi.creds import CAP_SYS_ADMIN
from abi.errno import EAGAIN, EBUSY, EINVAL, ENODEV, ENOTDIR, EPERM, Errno
from abi.mount import (
    MNT_DETACH,
    MNT_EXPIRE,
    MNT_FORCE,
    MS_BIND,
    MS_MGC_MSK,
    MS_MGC_VAL,
    MS_MOVE,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PROPAGATION,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    UMOUNT_NOFOLLOW,
)
from kernel.bus import operation
from services.vfs.core import VfsCore
from services.vfs.inode import Dir, Inode
from services.vfs.mounts import Mount, tmpfs_root
from services.vfs.path import mounted, path_of

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.vfs.contract import Handle

#: The per-mount flags the table records.
_RECORDED = MS_NOSUID | MS_NODEV | MS_NOEXEC


class MountOperations(VfsCore):
    """The ``mount`` and ``umount`` operations on the sandbox's mount table."""

    #: The sandbox's own kernel file systems a guest may mount again, by type (set at start).
    kernel_filesystems: dict[bytes, Dir]
    memory: int
    #: What :meth:`_mount_target`'s walk crossed a mount from (its last name's own directory),
    #: and the path it reached, from the sandbox's root (a file mount's place in the table).
    _crossed: Dir | None = None
    _target_path: bytes = b"/"

    @operation
    async def mount(self, caller: Caller, root: Handle, start: Handle, source: bytes | None, target: bytes,
                    fstype: bytes | None, flags: int, data: bytes) -> None:
        if flags & MS_MGC_MSK == MS_MGC_VAL:
            flags &= ~MS_MGC_MSK
        found = await self._mount_target(caller, root, start, target, follow=True)
        if not caller.creds.has_cap(CAP_SYS_ADMIN):  # after the walk, as path_mount's may_mount
            raise Errno(EPERM)
        if flags & MS_BIND and not flags & (MS_REMOUNT | MS_PROPAGATION) and not isinstance(found, Dir):
            return await self._bind_file(caller, root, start, source, found)
        point = _directory(found, ENOTDIR if not flags & (MS_REMOUNT | MS_PROPAGATION) else EINVAL)
        if flags & MS_REMOUNT:
            return self._remount(point, flags)
        if flags & MS_BIND:
            return await self._bind(caller, root, start, source, point, flags)
        if flags & MS_PROPAGATION:
            return self._propagation(point, flags)
        if flags & MS_MOVE:
            return await self._move(caller, root, start, source, point)
        await self._new_mount(source, point, fstype, flags, data)

    @operation
    async def umount(self, caller: Caller, root: Handle, start: Handle, target: bytes, flags: int) -> None:
        if flags & ~(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW):
            raise Errno(EINVAL)
        found = await self._mount_target(caller, root, start, target, follow=not flags & UMOUNT_NOFOLLOW)
        if not caller.creds.has_cap(CAP_SYS_ADMIN):
            raise Errno(EPERM)
        mount = self._mount_at(found) if isinstance(found, Dir) else self._file_mount_at(found)
        if flags & MNT_EXPIRE:
            if flags & (MNT_FORCE | MNT_DETACH):
                raise Errno(EINVAL)
            if not mount.expiring:  # the first call marks it; a second, with no use between, unmounts
                mount.expiring = True
                raise Errno(EAGAIN)
        if not flags & MNT_DETACH and self._busy(mount):
            mount.expiring = False
            raise Errno(EBUSY)
        for inner in reversed(self.table.below(mount)):
            self._detach(inner)
        self._detach(mount)

    # --- mount(2)'s kinds ------------------------------------------------------------------------

    async def _new_mount(self, source: bytes | None, point: Dir, fstype: bytes | None, flags: int,
                         data: bytes) -> None:
        """A new file system of type ``fstype`` on ``point``."""
        if fstype is None:
            raise Errno(EINVAL)
        options = tuple(o for o in os.fsdecode(data).split(",") if o)
        if fstype == b"tmpfs":
            try:
                fs_root = tmpfs_root(options, bool(flags & MS_RDONLY), self.memory)
            except ValueError:
                raise Errno(EINVAL) from None
            fs_root.fs.account = getattr(self, "account", None)
        elif fstype in self.kernel_filesystems:  # the sandbox's one instance, seen here too
            fs_root = self.kernel_filesystems[fstype]
        else:
            raise Errno(ENODEV)
        if flags & MS_NOSUID and fstype == b"tmpfs":  # the sandbox's procfs and devpts keep theirs
            fs_root.fs.nosuid = True
        mount = self._attach(point, fs_root, source or b"none", fstype, bool(flags & MS_RDONLY),
                             bind=fstype != b"tmpfs")
        mount.flags = flags & _RECORDED

    async def _bind(self, caller: Caller, root: Handle, start: Handle, source: bytes | None, point: Dir,
                    flags: int) -> None:
        """A bind mount: the directory ``source`` names (with MS_REC, the mounts under it too)
        seen at ``point`` as well."""
        if not source:
            raise Errno(EINVAL)
        origin = await self.target(caller, root, start, source, True)
        if not isinstance(origin, Dir):
            raise Errno(ENOTDIR)  # only directories: the VFS cannot cover a file with a file
        from_mount = self._covering(origin)
        mount = self._attach(point, origin, from_mount.source, from_mount.kind, from_mount.read_only, bind=True)
        mount.flags = from_mount.flags
        mount.fs_path = self._fs_path(origin, from_mount)
        if flags & MS_REC:
            base = path_of(origin, self._sandbox_root())
            for inner in list(self.table.mounts):
                if inner.point.startswith(base.rstrip(b"/") + b"/") and inner.covered is not None \
                        and inner is not mount and inner.covered.covered_by is inner.root:
                    self._copy_under(inner, base, mount.point)

    def _copy_under(self, inner: Mount, base: bytes, new_base: bytes) -> None:
        """Record ``inner`` (mounted under ``base``) as seen under the bind mount at ``new_base``:
        the directories are the same objects, so the walk already crosses into it."""
        point = new_base.rstrip(b"/") + inner.point[len(base.rstrip(b"/")):]
        copy = self.table.add(inner.source, point, inner.kind, inner.read_only, inner.root, None)
        copy.flags, copy.fs_path, copy.bind = inner.flags, inner.fs_path, True

    def _remount(self, point: Dir, flags: int) -> None:
        """New flags for the mount whose root ``point`` is (EINVAL for a non-mount point):
        read-only and nosuid for its whole file system, the rest recorded for the mount."""
        mount = self._mount_at(point)
        fs = mount.root.fs
        read_only = bool(flags & MS_RDONLY)
        fs.read_only = read_only
        fs.nosuid = bool(flags & MS_NOSUID)
        for each in self.table.mounts:
            if each.root.fs is fs:
                each.read_only = read_only
        mount.flags = flags & _RECORDED

    def _propagation(self, point: Dir, flags: int) -> None:
        """MS_SHARED, MS_PRIVATE, MS_SLAVE or MS_UNBINDABLE (exactly one; MS_REC for every mount
        below too): recorded for mountinfo."""
        kind = flags & MS_PROPAGATION
        if kind & (kind - 1) or flags & ~(MS_PROPAGATION | MS_REC | 0x8000):  # MS_SILENT may come along
            raise Errno(EINVAL)
        mount = self._mount_at(point)
        for each in [mount, *self.table.below(mount)] if flags & MS_REC else [mount]:
            each.propagation = kind

    async def _move(self, caller: Caller, root: Handle, start: Handle, source: bytes | None, point: Dir) -> None:
        """MS_MOVE: the mount at ``source`` (and those under it) now at ``point``."""
        if not source:
            raise Errno(EINVAL)
        mount = self._mount_at(_directory(await self._mount_target(caller, root, start, source, follow=True), EINVAL))
        if mount.covered is None:
            raise Errno(EINVAL)
        new_point = path_of(point, self._sandbox_root())
        old_point = mount.point
        if new_point == old_point or new_point.startswith(old_point.rstrip(b"/") + b"/"):
            raise Errno(EINVAL)  # into itself
        inner = self.table.below(mount)
        mount.covered.covered_by = None
        covered = mounted(point)
        assert isinstance(covered, Dir)
        self._cover(covered, mount.root, mount.bind)
        mount.covered, mount.point = covered, new_point
        for each in inner:
            each.point = new_point + each.point[len(old_point):]
        parent = self.table.covering(new_point.rsplit(b"/", 1)[0] or b"/")
        mount.parent_id = parent.id if parent is not None else mount.id

    async def _bind_file(self, caller: Caller, root: Handle, start: Handle, source: bytes | None,
                         point: Inode) -> None:
        """A bind mount of a file on a file: the walk through ``point``'s name reaches
        ``source``'s file (the same file: writes through either name are one)."""
        if not source:
            raise Errno(EINVAL)
        origin = await self.target(caller, root, start, source, True)
        if isinstance(origin, Dir):
            raise Errno(ENOTDIR)  # a directory on a file, as Linux refuses it
        if origin is point:
            raise Errno(EBUSY)  # a file cannot cover itself (docs/compatibility.md)
        from_mount = self._covering_file(origin)
        point.covered_by = origin
        mount = self.table.add(from_mount.source, self._target_path, from_mount.kind, from_mount.read_only,
                               origin, point)
        mount.bind = True
        mount.flags = from_mount.flags

    def _covering_file(self, file: Inode) -> Mount:
        """The mount a file was reached through: a file mount whose root it is, else the
        mount of its file system's nearest directory (the sandbox's root as a last resort)."""
        for mount in reversed(self.table.mounts):
            if mount.root is file or mount.root.fs is file.fs and isinstance(mount.root, Dir):
                return mount
        return self.table.mounts[0]

    def _file_mount_at(self, point: Inode) -> Mount:
        """The file mount whose root ``point`` is, where the last walk reached it (EINVAL if none)."""
        for mount in reversed(self.table.mounts):
            if mount.root is point and mount.covered is not None and mount.covered.covered_by is point:
                return mount
        raise Errno(EINVAL)

    # --- the table --------------------------------------------------------------------------------

    async def _mount_target(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool) -> Inode:
        """The file ``path`` names; the directory its last name names before any mount is
        crossed is kept in ``self._crossed`` for :meth:`_mount_at`."""
        found = await self.walk(caller, root, start, path, follow=follow)
        assert found.inode is not None
        crossed = found.parent.children.get(found.name) if found.name not in (b".", b"..") else None
        self._crossed = crossed if isinstance(crossed, Dir) else None
        parent = path_of(found.parent, self._sandbox_root())
        self._target_path = parent if found.name in (b".", b"..") else parent.rstrip(b"/") + b"/" + found.name
        return found.inode

    def _mount_at(self, point: Dir) -> Mount:
        """The mount ``point`` is the root of, as the last walk reached it (EINVAL if none): a
        directory that is also bound elsewhere is a mount root only where it is mounted."""
        crossed = self._crossed
        for mount in reversed(self.table.mounts):
            if mount.root is not point or mount.covered is None or mount.covered.covered_by is not point:
                continue
            if crossed is None or _stacked(crossed, mount.covered):
                return mount
        raise Errno(EINVAL)

    def _attach(self, point: Dir, fs_root: Dir, source: bytes, kind: bytes, read_only: bool,
                bind: bool = False) -> Mount:
        """Mount ``fs_root`` on top of whatever ``point`` shows and record it."""
        covered = mounted(point)
        assert isinstance(covered, Dir)
        if covered is fs_root:
            raise Errno(EBUSY)  # a directory cannot cover itself (docs/compatibility.md)
        guest = path_of(point, self._sandbox_root())
        self._cover(covered, fs_root, bind)
        mount = self.table.add(source, guest, kind, read_only, fs_root, covered)
        mount.bind = bind
        return mount

    @staticmethod
    def _cover(covered: Dir, fs_root: Dir, bind: bool) -> None:
        """Make the walk through ``covered`` land on ``fs_root``; a file system's own root also
        learns where it is mounted (".." from it), a bound directory keeps its place."""
        covered.covered_by = fs_root
        if not bind:
            fs_root.mountpoint = covered
            fs_root.parent = covered.parent
            fs_root.name = covered.name

    def _detach(self, mount: Mount) -> None:
        """Take ``mount`` off the tree: its point shows what it covered again."""
        if mount.covered is not None and mount.covered.covered_by is mount.root:
            mount.covered.covered_by = None
            if not isinstance(mount.root, Dir) and mount.root.mountpoint is mount.covered:
                mount.root.mountpoint = None  # a file mount's own file (services/vfs/actor.py)
        self.table.mounts.remove(mount)

    def _busy(self, mount: Mount) -> bool:
        """Whether an open file, a cwd or a root is inside ``mount``, or another mount is (a file
        mount is never busy: its file stays open where it is, as after MNT_DETACH)."""
        if self.table.below(mount):
            return True
        if not isinstance(mount.root, Dir):
            return False
        for file in self.files.values():
            inode = file.inode
            opened = file.opened_at
            if inode is None or inode is mount.covered:
                continue
            start = inode if isinstance(inode, Dir) else opened[1] if opened is not None else None
            if start is not None and _inside(start, mount.root) or \
                    not mount.bind and start is None and inode.fs is mount.root.fs:
                return True
        return False

    def _covering(self, directory: Dir) -> Mount:
        """The mount ``directory`` was reached through (the one with the nearest root above it)."""
        roots = {id(m.root): m for m in self.table.mounts}
        current = directory
        while True:
            found = roots.get(id(current))
            if found is not None:
                return found
            if current.parent is current:
                return self.table.mounts[0]
            current = current.parent

    def _fs_path(self, directory: Dir, mount: Mount) -> bytes:
        """``directory``'s path inside the file system ``mount`` shows."""
        return path_of(directory, mount.root)

    def _sandbox_root(self) -> Dir:
        """The top of the sandbox's tree, from which the table's paths are written."""
        assert self.root_dir is not None
        return self.root_dir


def _directory(inode: Inode, errno: int) -> Dir:
    """``inode`` as a mount point: a directory, or ``errno``."""
    if not isinstance(inode, Dir):
        raise Errno(errno)
    return inode


def _stacked(bottom: Dir, covered: Dir) -> bool:
    """Whether ``covered`` is ``bottom`` or one of the roots mounted over it."""
    current: Dir | None = bottom
    while current is not None:
        if current is covered:
            return True
        current = current.covered_by
    return False


def _inside(directory: Inode, top: Dir) -> bool:
    """Whether ``directory`` is ``top`` or below it (through parents and mount points)."""
    current = directory
    while isinstance(current, Dir):
        if current is top:
            return True
        up = current.mountpoint if current.mountpoint is not None else current.parent
        if up is current:
            return False
        current = up
    return False
