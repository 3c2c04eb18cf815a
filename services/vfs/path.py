"""Path resolution, done in the Sentry: the gofer only ever sees single names.

A walk starts at the sandbox's root for an absolute path and at ``start`` (the cwd or a dirfd's
directory) otherwise, and needs search permission on every directory it looks a name up in
(checked with the caller's credentials, :mod:`services.vfs.permissions`). ".." never climbs
above the root; a symlink's target is walked in the sandbox's namespace (an absolute target
starts again at the root), at most :data:`MAXSYMLINKS` times per resolution (ELOOP past it); a
name longer than NAME_MAX is ENAMETOOLONG; a directory covered by a mount is replaced by the
mounted root.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from abi.errno import ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR, EXDEV
from abi.linux import MAXSYMLINKS, NAME_MAX, PATH_MAX
from abi.errno import Errno
from services.vfs.inode import Dir, Inode, Symlink
from services.vfs.permissions import search

if TYPE_CHECKING:
    from abi.creds import Caller


@dataclass(slots=True)
class Lookup:
    """Where a path leads: the directory holding its last name, that name, and the file (if any).

    For a path ending in "." or ".." (or "/"), ``name`` is that component and ``inode`` is the
    directory it names.
    """

    parent: Dir
    name: bytes
    inode: Inode | None
    #: The path ended with "/": its file must be a directory.
    trailing_slash: bool


def parent_of(directory: Dir, root: Dir) -> Dir:
    """".." of ``directory``, which stays at ``root`` and crosses mount points upwards."""
    while directory is not root and directory.mountpoint is not None:
        directory = directory.mountpoint
    return directory if directory is root else directory.parent


def mounted(inode: Inode) -> Inode:
    """The root of whatever is mounted on ``inode``, or ``inode``."""
    while inode.covered_by is not None:
        inode = inode.covered_by
    return inode


async def resolve(caller: Caller, root: Dir, start: Dir, path: bytes, *, follow: bool = True, parent: bool = False,
                  beneath: bool = False, no_symlinks: bool = False, no_xdev: bool = False) -> Lookup:
    """Walk ``path`` for ``caller``; with ``parent`` a missing last name is not an error
    (``inode`` is None).

    ``follow`` says whether a symlink in the last position is followed (a trailing slash
    always follows it). openat2's restrictions: ``beneath`` (RESOLVE_BENEATH) fails with EXDEV
    for anything that would leave ``start`` (an absolute path or symlink, ".." above it);
    ``no_symlinks`` fails with ELOOP at any symlink; ``no_xdev`` with EXDEV at a mount.
    """
    if not path:
        raise Errno(ENOENT)
    if len(path) >= PATH_MAX:
        raise Errno(ENAMETOOLONG)
    if beneath and path.startswith(b"/"):
        raise Errno(EXDEV)
    trailing = path.endswith(b"/")
    current: Dir = root if path.startswith(b"/") else start
    # The names still to walk, last first: the next is popped off the end, and a symlink's
    # target is pushed back onto it.
    parts = [name for name in path.split(b"/") if name]
    parts.reverse()
    links = 0
    fresh = 0  # names ahead that the last lookup brought up to date
    if not parts:  # "/" or "///": the start itself
        return Lookup(current, b".", current, trailing)
    creds = caller.creds
    while parts:
        name = parts.pop()
        last = not parts
        if not isinstance(current, Dir):
            raise Errno(ENOTDIR)
        if len(name) > NAME_MAX:
            raise Errno(ENAMETOOLONG)
        search(creds, current)
        if name == b"." or name == b"..":
            fresh = 0
            if name == b"..":
                if beneath and current is start or no_xdev and current.mountpoint is not None:
                    raise Errno(EXDEV)
                current = parent_of(current, root)
            if last:
                return Lookup(current, name, current, trailing)
            continue
        child = current.children.get(name) if fresh else current.cached_child(name)
        if child is not None:
            fresh = fresh - 1 if fresh else 0
        else:
            try:
                child, fresh = await current.lookup_ahead(name, parts[::-1])
            except Errno as error:
                if error.errno == ENOENT and last and parent:
                    return Lookup(current, name, None, trailing)
                raise
        if child.covered_by is not None:  # a mount, on a directory or a file (a symlink's name too)
            if no_xdev:
                raise Errno(EXDEV)
            fresh = 0
            child = mounted(child)
        if isinstance(child, Symlink) and (not last or follow or trailing):
            magic = child.magic(caller)
            if magic is not None:
                child = magic  # the open file itself, as Linux does
            if isinstance(child, Symlink):
                fresh = 0
                if no_symlinks:
                    raise Errno(ELOOP)
                links += 1
                if links > MAXSYMLINKS:
                    raise Errno(ELOOP)
                target = await child.readlink(caller)
                if not target:
                    raise Errno(ENOENT)
                if target.startswith(b"/"):
                    if beneath:
                        raise Errno(EXDEV)
                    current = root
                parts.extend(reversed([n for n in target.split(b"/") if n]))
                if not parts:  # the target was "/"
                    return Lookup(current, b".", current, trailing)
                continue
        if last:
            if trailing and not isinstance(child, (Dir, Symlink)):
                raise Errno(ENOTDIR)
            return Lookup(current, name, child, trailing)
        current = child  # type: ignore[assignment]
    raise AssertionError("unreachable")


def path_of(directory: Dir, root: Dir, *, unreachable: bytes = b"") -> bytes:
    """The absolute path of ``directory`` as seen from ``root`` (getcwd, /proc/PID/fd).

    A directory that ``root`` does not contain (a cwd left above a chroot) is named from the top
    of the whole tree, after ``unreachable``: getcwd passes Linux's "(unreachable)"."""
    names: list[bytes] = []
    while directory is not root:
        while directory.mountpoint is not None and directory is not root:
            directory = directory.mountpoint
        if directory is root:
            break
        if directory.parent is directory:  # the top of everything, and root was not on the way
            return unreachable + b"/" + b"/".join(reversed(names))
        names.append(directory.name)
        directory = directory.parent
    return b"/" + b"/".join(reversed(names))
