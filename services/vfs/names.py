"""The VFS's operations on names: open, create, link, remove, rename, attributes by path.

Each operation resolves its path for the caller (search permission on every directory walked),
makes the checks Linux makes — in Linux's order, so a guest sees the errno Linux would give —
and asks :mod:`services.vfs.permissions` whether the caller may, before handing the change to
the file system's directory primitives (:mod:`services.vfs.inode`, :mod:`services.vfs.overlay`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from abi.creds import CAP_DAC_READ_SEARCH
from abi.errno import (
    EACCES,
    EBUSY,
    EEXIST,
    EINVAL,
    EISDIR,
    ELOOP,
    ENAMETOOLONG,
    ENOENT,
    ENOTDIR,
    ENOTEMPTY,
    EPERM,
    EROFS,
    EXDEV,
    Errno,
)
from abi.linux import (
    F_OK,
    NAME_MAX,
    O_ACCMODE,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_NOATIME,
    O_LARGEFILE,
    O_NOFOLLOW,
    O_OPEN_ONLY_FLAGS,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_TMPFILE,
    O_TRUNC,
    O_WRONLY,
    PATH_MAX,
    R_OK,
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
    ST_NOSUID,
    ST_RDONLY,
    W_OK,
    X_OK,
)
from abi.inotify import IN_MODIFY
from kernel.bus import operation
from services.vfs.contract import Attrs, Executable, Handle, Opened, Stat, StatFs
from services.vfs.file import File, RegularFile
from services.vfs.inode import Dir, Inode, RegularInode, Symlink
from services.vfs.inotify import Notifying, attribute_events
from services.vfs.limits import check_size_limit
from services.vfs.path import Lookup, parent_of, path_of
from services.vfs.permissions import (
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    allowed,
    killpriv,
    may_create,
    may_delete,
    may_link,
    may_mknod,
    new_owner,
    owner_or_capable,
    permission,
    prepare_setattr,
)

if TYPE_CHECKING:
    from abi.creds import Caller, Credentials

#: What each access mode of open(2) asks permission for.
_ACCESS = {O_RDONLY: MAY_READ, O_WRONLY: MAY_WRITE, O_RDWR: MAY_READ | MAY_WRITE, O_ACCMODE: MAY_READ | MAY_WRITE}


def status_flags(flags: int) -> int:
    """What an open description keeps of open(2)'s flags: the access mode and status flags (F_GETFL
    shows them, O_LARGEFILE always on x86-64), not the flags that only steer the open."""
    return (flags & ~O_OPEN_ONLY_FLAGS) | O_LARGEFILE


def _check_writable(inode: Inode) -> None:
    """EROFS for a change to a file, directory or symlink of a read-only mount (devices, FIFOs
    and sockets can still be written: their data is not the file system's)."""
    if inode.fs.read_only and inode.kind in (S_IFREG, S_IFDIR, S_IFLNK):
        raise Errno(EROFS)


async def remove_privileges(creds: Credentials, inode: Inode) -> None:
    """A write or truncate by ``creds`` clears the file's set-id bits as Linux does."""
    mode = killpriv(creds, inode)
    if mode is not None:
        await inode.setattr(mode=mode)


async def change_attributes(caller: Caller, inode: Inode, attrs: Attrs) -> None:
    """chmod/chown/utimensat of ``inode``, as Linux's ``setattr_prepare`` allows them."""
    creds = caller.creds
    _check_writable(inode)
    times = attrs.atime_ns is not None or attrs.mtime_ns is not None
    write_allowed = attrs.times_now and allowed(creds, inode, MAY_WRITE)
    mode = prepare_setattr(creds, inode, attrs.mode, attrs.uid, attrs.gid, times, attrs.times_now, write_allowed)
    await inode.setattr(mode=mode, uid=attrs.uid, gid=attrs.gid, atime_ns=attrs.atime_ns, mtime_ns=attrs.mtime_ns)


class NameOperations(Notifying):
    """Operations that name files by path."""

    @operation
    async def root(self, caller: Caller) -> Handle:
        assert self.root_dir is not None
        file = await self.root_dir.open(O_PATH | O_DIRECTORY, caller)
        file.path = b"/"
        return self.new_handle(file)

    # --- open -------------------------------------------------------------------------------------

    @operation
    async def open(self, caller: Caller, root: Handle, start: Handle, path: bytes, flags: int, mode: int,
                   resolve: int = 0) -> Opened:
        creds = caller.creds
        if flags & O_TMPFILE == O_TMPFILE:
            return await self._open_tmpfile(caller, root, start, path, flags, mode)
        creating = bool(flags & O_CREAT) and not flags & O_PATH
        follow = not flags & O_NOFOLLOW and not (creating and flags & O_EXCL)
        if resolve & RESOLVE_IN_ROOT:
            root = start
        found = await self.walk(caller, root, start, path, anchored=bool(resolve & (RESOLVE_IN_ROOT | RESOLVE_BENEATH)),
                                follow=follow, parent=creating, beneath=bool(resolve & RESOLVE_BENEATH),
                                no_symlinks=bool(resolve & RESOLVE_NO_SYMLINKS),
                                no_xdev=bool(resolve & RESOLVE_NO_XDEV))
        inode = found.inode
        created = False
        if creating:
            if flags & O_EXCL and inode is not None:
                raise Errno(EEXIST)
            if found.name in (b".", b"..") or found.trailing_slash:
                raise Errno(EISDIR)
            if inode is None:
                found.parent.fs.check_writable()
                may_create(creds, found.parent)
                uid, gid, new_mode = new_owner(creds, found.parent, S_IFREG | (mode & 0o7777))
                inode = await found.parent.make(found.name, new_mode, uid, gid)
                created = True
        assert inode is not None
        if isinstance(inode, Symlink) and not flags & O_PATH:
            raise Errno(ELOOP)
        if flags & O_DIRECTORY and not isinstance(inode, Dir):
            raise Errno(ENOTDIR)
        if isinstance(inode, Dir) and not flags & O_PATH:
            if flags & O_ACCMODE != O_RDONLY or flags & O_TRUNC and not creating or creating:
                raise Errno(EISDIR)
        if not flags & O_PATH and not created:
            want = _ACCESS[flags & O_ACCMODE] | (MAY_WRITE if flags & O_TRUNC else 0)
            if want & MAY_WRITE:
                _check_writable(inode)
            permission(creds, inode, want)
            if flags & O_NOATIME and not owner_or_capable(creds, inode):
                raise Errno(EPERM)
            if flags & O_TRUNC and inode.kind == S_IFREG:
                await remove_privileges(creds, inode)
        file = await inode.open(flags, caller)
        file.flags = status_flags(flags)
        file.opener = creds
        self._name(file, inode, found, root)
        if self.watched:
            self._notify_open(file, found, created, bool(flags & O_TRUNC))
        if file.open_pending:  # a FIFO waits for its other end: finish_open
            return self.opened(file)._replace(pending=True)
        return self.opened(file)

    def _notify_open(self, file: File, found: Lookup, created: bool, truncated: bool) -> None:
        """IN_CREATE for a new file; IN_OPEN (a FIFO's once its other end comes: finish_open);
        IN_MODIFY for an existing file O_TRUNC truncated."""
        inode = file.inode
        assert inode is not None
        if created:
            self.notify_created(found.parent, found.name, inode)
        if not file.open_pending:
            self.notify_opened(file)
        if truncated and not created and inode.kind == S_IFREG:
            self.notify_file(file, IN_MODIFY)

    def _name(self, file: File, inode: Inode, found: Lookup, root: Handle) -> None:
        """Remember where ``file`` was opened, for /proc/PID/fd to name it when asked."""
        root_dir = self.directory(root)
        if isinstance(inode, Dir):
            file.opened_at = (root_dir, inode, None)
        elif found.name not in (b".", b".."):
            file.opened_at = (root_dir, found.parent, found.name)

    async def _open_tmpfile(self, caller: Caller, root: Handle, start: Handle, path: bytes, flags: int,
                            mode: int) -> Opened:
        """O_TMPFILE: an unnamed regular file in the directory ``path`` names; linkat can give it
        a name later, unless O_EXCL was given."""
        if flags & O_ACCMODE not in (O_WRONLY, O_RDWR):
            raise Errno(EINVAL)
        directory = await self.target(caller, root, start, path, True)
        if not isinstance(directory, Dir):
            raise Errno(ENOTDIR)
        directory.fs.check_writable()
        may_create(caller.creds, directory)
        uid, gid, new_mode = new_owner(caller.creds, directory, S_IFREG | (mode & 0o7777))
        inode = RegularInode(directory.fs, new_mode, uid, gid)
        inode.nlink = 0
        inode.linkable = not flags & O_EXCL
        file = RegularFile(status_flags(flags), inode, await inode.data_fd(flags))
        file.opener = caller.creds
        file.path = path_of(directory, self.directory(root)).rstrip(b"/") + b"/#%d (deleted)" % inode.ino
        return self.opened(file)

    @operation
    async def finish_open(self, caller: Caller, handle: Handle) -> None:
        file = self.file(handle)
        await file.finish_open()
        if self.watched:
            self.notify_opened(file)

    @operation
    async def open_exec(self, caller: Caller, root: Handle, start: Handle, path: bytes,
                        follow: bool = True) -> Executable:
        found = await self.walk(caller, root, start, path, follow=follow) if path else None
        inode = found.inode if found is not None else await self.target(caller, root, start, b"", follow)
        assert inode is not None
        if isinstance(inode, Symlink):
            raise Errno(ELOOP)
        if inode.kind != S_IFREG:
            raise Errno(EACCES)  # only regular files execute
        permission(caller.creds, inode, MAY_EXEC)
        file = await inode.open(O_RDONLY, caller)
        file.opener = caller.creds
        if found is not None:
            self._name(file, inode, found, root)
        else:
            file.opened_at = self.file(start).opened_at
        if self.watched:
            self.notify_opened(file)
        return Executable(self.opened(file), await inode.stat(), file.path or path, inode.fs.nosuid)

    # --- looking ----------------------------------------------------------------------------------

    @operation
    async def stat(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool) -> Stat:
        return await (await self.target(caller, root, start, path, follow)).stat()

    @operation
    async def access(self, caller: Caller, root: Handle, start: Handle, path: bytes, mode: int, follow: bool,
                     effective: bool) -> None:
        if not effective:  # access(2) answers for the real ids: root's real power, or none
            creds = caller.creds
            caps = creds.cap_permitted if creds.uid == 0 else 0
            caller = dataclasses.replace(caller, creds=dataclasses.replace(
                creds, fsuid=creds.uid, fsgid=creds.gid, cap_effective=caps))
        inode = await self.target(caller, root, start, path, follow)
        if mode == F_OK:
            return
        if mode & W_OK:
            _check_writable(inode)
        want = (MAY_READ if mode & R_OK else 0) | (MAY_WRITE if mode & W_OK else 0) | (MAY_EXEC if mode & X_OK else 0)
        permission(caller.creds, inode, want)

    @operation
    async def readlink(self, caller: Caller, root: Handle, start: Handle, path: bytes) -> bytes:
        inode = await self.target(caller, root, start, path, False)
        if not isinstance(inode, Symlink):
            raise Errno(EINVAL if path else ENOENT)
        return await inode.readlink(caller)

    @operation
    async def statfs(self, caller: Caller, root: Handle, start: Handle, path: bytes) -> StatFs:
        fs = (await self.target(caller, root, start, path, True)).fs
        bsize, blocks, bfree, bavail, files, ffree = await fs.statfs()
        flags = (ST_RDONLY if fs.read_only else 0) | (ST_NOSUID if fs.nosuid else 0)
        return StatFs(fs.magic, bsize, blocks, bfree, bavail, files, ffree, NAME_MAX, flags)

    @operation
    async def chdir(self, caller: Caller, root: Handle, start: Handle, path: bytes) -> Handle:
        inode = await self.target(caller, root, start, path, True)
        if not isinstance(inode, Dir):
            raise Errno(ENOTDIR)
        permission(caller.creds, inode, MAY_EXEC)
        file = await inode.open(O_PATH | O_DIRECTORY, caller)
        file.opened_at = (self.directory(root), inode, None)
        return self.new_handle(file)

    @operation
    async def getcwd(self, caller: Caller, root: Handle, cwd: Handle) -> bytes:
        path = path_of(self.directory(cwd), self.directory(root), unreachable=b"(unreachable)")
        if len(path) >= PATH_MAX:  # with its NUL, more than the page Linux builds it in
            raise Errno(ENAMETOOLONG)
        return path

    # --- making names -------------------------------------------------------------------------------

    async def _new_name(self, caller: Caller, root: Handle, start: Handle, path: bytes) -> Lookup:
        found = await self.walk(caller, root, start, path, follow=False, parent=True)
        if found.inode is not None or found.name in (b".", b".."):
            raise Errno(EEXIST)
        found.parent.fs.check_writable()
        may_create(caller.creds, found.parent)
        return found

    @operation
    async def mknod(self, caller: Caller, root: Handle, start: Handle, path: bytes, mode: int, rdev: int) -> None:
        found = await self._new_name(caller, root, start, path)
        if found.trailing_slash and mode & S_IFMT != S_IFDIR:
            raise Errno(ENOENT)
        may_mknod(caller.creds, mode)
        uid, gid, mode = new_owner(caller.creds, found.parent, mode)
        made = await found.parent.make(found.name, mode, uid, gid, rdev)
        if self.watched:
            self.notify_created(found.parent, found.name, made)

    @operation
    async def symlink(self, caller: Caller, target: bytes, root: Handle, start: Handle, path: bytes) -> None:
        if not target:
            raise Errno(ENOENT)
        found = await self._new_name(caller, root, start, path)
        if found.trailing_slash:
            raise Errno(ENOENT)
        uid, gid, _ = new_owner(caller.creds, found.parent, S_IFLNK | 0o777)
        made = await found.parent.make(found.name, S_IFLNK | 0o777, uid, gid, target=target)
        if self.watched:
            self.notify_created(found.parent, found.name, made)

    @operation
    async def link(self, caller: Caller, root: Handle, old_start: Handle, old_path: bytes, new_start: Handle,
                   new_path: bytes, follow: bool) -> None:
        creds = caller.creds
        if old_path:
            old = await self.target(caller, root, old_start, old_path, follow)
        else:  # AT_EMPTY_PATH: the opener may link its own file back in (Linux 6.10), others need
            file = self.file(old_start)  # CAP_DAC_READ_SEARCH
            if file.inode is None or (file.opener != creds and not creds.has_cap(CAP_DAC_READ_SEARCH)):
                raise Errno(ENOENT)
            old = file.inode
        if isinstance(old, Dir):
            raise Errno(EPERM)
        found = await self.walk(caller, root, new_start, new_path, follow=False, parent=True)
        if found.inode is not None or found.name in (b".", b".."):
            raise Errno(EEXIST)
        if found.trailing_slash:
            raise Errno(ENOENT)
        if old.fs is not found.parent.fs:
            raise Errno(EXDEV)
        may_link(creds, old)
        found.parent.fs.check_writable()
        may_create(creds, found.parent)
        if old.nlink == 0 and not getattr(old, "linkable", False):
            raise Errno(ENOENT)
        await found.parent.add_link(found.name, old)
        old.linkable = False
        if self.watched:
            self.notify_linked(found.parent, found.name, old)

    # --- removing and moving names ----------------------------------------------------------------

    @operation
    async def unlink(self, caller: Caller, root: Handle, start: Handle, path: bytes, directory: bool) -> None:
        found = await self.walk(caller, root, start, path, follow=False, parent=True)
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
        if not directory and found.trailing_slash and not isinstance(inode, Dir):
            raise Errno(ENOTDIR)
        found.parent.fs.check_writable()
        may_delete(caller.creds, found.parent, inode)
        if directory:
            if not isinstance(inode, Dir):
                raise Errno(ENOTDIR)
            if inode is self.directory(root) or inode.mountpoint is not None:
                raise Errno(EBUSY)
            if not await inode.is_empty():
                raise Errno(ENOTEMPTY)
        elif isinstance(inode, Dir):
            raise Errno(EISDIR)
        elif _is_mount_point(found.parent, found.name):
            raise Errno(EBUSY)  # a file something is mounted on (an engine's /etc/hosts, a bind)
        await found.parent.remove(found.name, inode)
        if self.watched:
            self.notify_removed(found.parent, found.name, inode)

    @operation
    async def rename(self, caller: Caller, root: Handle, old_start: Handle, old_path: bytes, new_start: Handle,
                     new_path: bytes, flags: int) -> None:
        if flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE) or flags == RENAME_NOREPLACE | RENAME_EXCHANGE:
            raise Errno(EINVAL)
        creds = caller.creds
        root_dir = self.directory(root)
        old = await self.walk(caller, root, old_start, old_path, follow=False, parent=True)
        new = await self.walk(caller, root, new_start, new_path, follow=False, parent=True)
        if old.name in (b".", b"..") or new.name in (b".", b".."):
            raise Errno(EBUSY if old.name in (b".", b"..") and old.inode is root_dir else EINVAL)
        source = old.inode
        if source is None:
            raise Errno(ENOENT)
        if (old.trailing_slash or new.trailing_slash) and not isinstance(source, Dir):
            raise Errno(ENOTDIR)
        if old.parent.fs is not new.parent.fs:
            raise Errno(EXDEV)
        target = new.inode
        if target is source:
            return
        old.parent.fs.check_writable()
        may_delete(creds, old.parent, source)
        if target is None:
            if flags & RENAME_EXCHANGE:
                raise Errno(ENOENT)
            may_create(creds, new.parent)
        else:
            may_delete(creds, new.parent, target)
        if new.parent is not old.parent:  # a moved directory's ".." changes: it must be writable
            if isinstance(source, Dir):
                permission(creds, source, MAY_WRITE)
            if flags & RENAME_EXCHANGE and isinstance(target, Dir):
                permission(creds, target, MAY_WRITE)
        if source.mountpoint is not None or source is root_dir or _is_mount_point(old.parent, old.name):
            raise Errno(EBUSY)
        if isinstance(source, Dir):  # a directory may not move into itself
            walker = new.parent
            while True:
                if walker is source:
                    raise Errno(EINVAL)
                up = parent_of(walker, root_dir)
                if up is walker:
                    break
                walker = up
        if flags & RENAME_EXCHANGE:
            assert target is not None
            await _exchange(old, source, new, target)
            if self.watched:
                self.notify_moved(old.parent, old.name, new.parent, new.name, source, None)
                self.notify_moved(new.parent, new.name, old.parent, old.name, target, None)
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
            elif _is_mount_point(new.parent, new.name):
                raise Errno(EBUSY)
            await new.parent.remove(new.name, target)
        await old.parent.move(old.name, source, new.parent, new.name)
        if self.watched:
            self.notify_moved(old.parent, old.name, new.parent, new.name, source, target)

    # --- attributes ---------------------------------------------------------------------------------

    @operation
    async def setattr(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool,
                      attrs: Attrs) -> None:
        if not path:  # AT_EMPTY_PATH
            inode, place = await self.target(caller, root, start, path, follow), self.place(self.file(start))
        else:
            found = await self.walk(caller, root, start, path, follow=follow)
            assert found.inode is not None
            inode, place = found.inode, (found.parent, found.name)
        await change_attributes(caller, inode, attrs)
        if self.watched:
            self.notify(inode, attribute_events(attrs), *place)

    @operation
    async def truncate(self, caller: Caller, root: Handle, start: Handle, path: bytes, length: int) -> None:
        found = await self.walk(caller, root, start, path)
        inode = found.inode
        assert inode is not None
        if isinstance(inode, Dir):
            raise Errno(EISDIR)
        if inode.kind != S_IFREG:
            raise Errno(EINVAL)
        _check_writable(inode)
        permission(caller.creds, inode, MAY_WRITE)
        check_size_limit(caller, length)
        await remove_privileges(caller.creds, inode)
        await inode.truncate(length)
        if self.watched:
            self.notify(inode, IN_MODIFY, found.parent, found.name)


async def _exchange(old: Lookup, source: Inode, new: Lookup, target: Inode) -> None:
    """RENAME_EXCHANGE: swap two names (kept in the Sentry; under ``--rw`` one renameat2 in the gofer)."""
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


def _is_mount_point(directory: Dir, name: bytes) -> bool:
    """Whether the file ``directory``/``name`` has something mounted on it (a file mount; a
    directory's own mount shows as its mounted root instead)."""
    entry = directory.children.get(name)
    return entry is not None and not isinstance(entry, Dir) and entry.covered_by is not None
