"""The mount table: what is mounted where, and the file systems a run's mount specs ask for.

The VFS mounts the image on "/", then its own /dev, /tmp, /proc and /sys, then what the run
asks for (:class:`kernel.oci.MountSpec`: ``-v``, ``--tmpfs``, a bundle's ``mounts``):

* ``bind`` (a volume): a host directory served by a gofer of its own, written through (``rw``)
  or refusing every change with EROFS (``ro``);
* ``tmpfs``: an empty tmpfs (``mode=`` sets its root's permissions, ``ro`` makes it read-only);
* ``proc``, ``sysfs``, ``devtmpfs`` (and a ``tmpfs`` on /dev, as OCI bundles ask for one),
  ``devpts``: the sandbox already has them, so such a spec is honoured by what is there;
* ``mqueue``, ``cgroup``, ``cgroup2``: not provided; skipped with a debug log line.

Every mount is recorded here for /proc/mounts and /proc/self/mountinfo.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass

from abi.mount import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_SHARED, MS_SLAVE, MS_UNBINDABLE
from services.vfs.inode import Dir, Filesystem, Inode

log = logging.getLogger("sentrio.vfs.mounts")

#: Kernel file systems the VFS always mounts itself, by the guest path it mounts them on.
PROVIDED = {"proc": "/proc", "sysfs": "/sys", "devtmpfs": "/dev", "devpts": "/dev/pts"}
#: Kernel file systems a spec may ask for that the sandbox does not have.
SKIPPED = frozenset({"mqueue", "cgroup", "cgroup2"})
#: The permissions of a tmpfs's root unless ``mode=`` says otherwise (docker's and runc's).
TMPFS_MODE = 0o1777


@dataclass(slots=True)
class Mount:
    """One entry of the mount table."""

    id: int
    parent_id: int
    source: bytes
    point: bytes
    kind: bytes
    read_only: bool
    #: The mounted file system's root: a directory, or a file for a file mount (/etc/hosts).
    root: Inode
    #: The directory (or file) it is mounted on (None for the sandbox's root).
    covered: Inode | None = None
    #: Per-mount flags (MS_NOSUID, MS_NODEV, MS_NOEXEC) and the propagation type
    #: (MS_SHARED, MS_PRIVATE, MS_SLAVE or MS_UNBINDABLE): recorded and shown, not propagated.
    flags: int = 0
    propagation: int = MS_PRIVATE
    #: The path of ``root`` inside its file system: "/" but for a bind mount of a subdirectory.
    fs_path: bytes = b"/"
    #: A bind mount shares ``root`` with the mount it was made from.
    bind: bool = False
    #: Marked by umount2(MNT_EXPIRE) and not used since.
    expiring: bool = False

    def options(self) -> bytes:
        words = [b"ro" if self.read_only else b"rw"]
        words += [name for bit, name in _FLAG_NAMES if self.flags & bit]
        return b",".join(words + [b"relatime"])


_FLAG_NAMES = ((MS_NOSUID, b"nosuid"), (MS_NODEV, b"nodev"), (MS_NOEXEC, b"noexec"))


class MountTable:
    """Every mount of the sandbox, in mount order."""

    #: Linux numbers the first mount of a namespace after some internal ones; so do we.
    FIRST_ID = 20

    def __init__(self) -> None:
        self.mounts: list[Mount] = []
        self._ids = itertools.count(self.FIRST_ID)

    def add(self, source: bytes, point: bytes, kind: bytes, read_only: bool, root: Inode,
            covered: Inode | None = None) -> Mount:
        """Record a mount of ``root`` on the guest path ``point`` (normalised, absolute)."""
        mount_id = next(self._ids)
        parent = self.covering(point)
        mount = Mount(mount_id, parent.id if parent is not None else mount_id, source, point, kind,
                      read_only, root, covered)
        self.mounts.append(mount)
        return mount

    def covering(self, point: bytes) -> Mount | None:
        """The mount the path ``point`` lies in (the last one mounted on it or on a parent)."""
        for mount in reversed(self.mounts):
            if mount.point == b"/" or point == mount.point or point.startswith(mount.point + b"/"):
                return mount
        return None

    def below(self, mount: Mount) -> list[Mount]:
        """The mounts made inside ``mount`` (on it or under it), the deepest last."""
        prefix = mount.point.rstrip(b"/") + b"/"
        return [m for m in self.mounts if m is not mount and m.point.startswith(prefix)
                and self.mounts.index(m) > self.mounts.index(mount)]

    def proc_mounts(self) -> bytes:
        """/proc/mounts: ``source point type options 0 0`` per mount."""
        return b"".join(b"%s %s %s %s 0 0\n" % (_escape(m.source), _escape(m.point), m.kind, m.options())
                        for m in self.mounts)

    def mountinfo(self) -> bytes:
        """/proc/self/mountinfo (proc(5)): ids, device, root, point, options, optional fields
        (``shared:N``, ``master:N``, ``unbindable``), type, source, super options."""
        lines = []
        for m in self.mounts:
            dev = m.root.fs.dev
            lines.append(b"%d %d %d:%d %s %s %s %s- %s %s %s\n" % (
                m.id, m.parent_id, dev >> 8, dev & 0xFF, _escape(m.fs_path), _escape(m.point), m.options(),
                _optional_fields(m), m.kind, _escape(m.source), b"ro" if m.root.fs.read_only else b"rw"))
        return b"".join(lines)


def _optional_fields(mount: Mount) -> bytes:
    """mountinfo's optional fields for ``mount``'s propagation type, each followed by a space."""
    if mount.propagation == MS_SHARED:
        return b"shared:%d " % mount.id
    if mount.propagation == MS_SLAVE:
        return b"master:%d " % mount.parent_id
    if mount.propagation == MS_UNBINDABLE:
        return b"unbindable "
    return b""


def _escape(field: bytes) -> bytes:
    """Spaces, tabs, newlines and backslashes as the octal escapes /proc/mounts uses."""
    for char in b"\\ \t\n":
        field = field.replace(bytes([char]), b"\\%03o" % char)
    return field


def tmpfs_root(options: tuple[str, ...], read_only: bool, memory: int) -> Dir:
    """The root of a new, empty tmpfs. Among ``options``, ``mode=OCTAL`` sets its root's
    permissions, ``uid=`` and ``gid=`` its owner, and ``size=`` its capacity (bytes, with a k,
    m or g suffix, or a percentage of ``memory``, the sandbox's memory); without one it may take
    half of ``memory``, as Linux's tmpfs takes half of RAM. ValueError names an option that cannot be understood."""
    mode, capacity, uid, gid = TMPFS_MODE, memory // 2, 0, 0
    for option in options:
        key, _, value = option.partition("=")
        if key == "mode":
            try:
                mode = int(value, 8) & 0o7777
            except ValueError:
                raise ValueError(f"tmpfs option {option!r}: the mode must be octal") from None
        elif key == "size":
            capacity = tmpfs_size(value, memory)
        elif key in ("uid", "gid"):
            if not value.isdigit():
                raise ValueError(f"tmpfs option {option!r}: expected a number")
            uid, gid = (int(value), gid) if key == "uid" else (uid, int(value))
        else:
            log.debug("tmpfs: ignoring the option %r", option)
    return Dir(Filesystem(read_only=read_only, capacity=capacity), mode, uid, gid)


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def tmpfs_size(value: str, memory: int) -> int:
    """tmpfs's ``size=``: ``N``, ``Nk``, ``Nm``, ``Ng`` or ``N%`` of ``memory``."""
    text = value.strip().lower()
    try:
        if text.endswith("%"):
            size = memory * int(text[:-1]) // 100
        else:
            unit = text[-1:] if text[-1:] in "kmg" else ""
            size = int(text[:len(text) - len(unit)]) * _UNITS[unit]
    except ValueError:
        raise ValueError(f"tmpfs option 'size={value}': expected a size like 64m or 10%") from None
    if size <= 0:
        raise ValueError(f"tmpfs option 'size={value}': the size must be positive")
    return size


def guest_path(destination: str) -> bytes:
    """A spec's destination as the VFS walks it: absolute and normalised."""
    path = os.path.normpath("/" + destination.lstrip("/"))
    return os.fsencode(path)


# --- how a gofer mount's cached metadata is kept true (docs/caching.md) ---------------------------

#: Only the Sentry changes the files (the image under the default overlay, as runsc's
#: ``--file-access=exclusive``): names, attributes, listings and symlink targets are cached until
#: the Sentry's own changes update them, and never asked again.
EXCLUSIVE = "exclusive"
#: The host may change the files too (``--rw``, ``--read-only``, volumes; runsc's
#: ``--file-access=shared``): every path resolution revalidates the names it walks through the
#: gofer, in one round trip however many they are; a directory is listed again at each open; a
#: symlink's target is read again when its attributes changed.
SHARED = "shared"


def file_access(mode: str) -> str:
    """The revalidation policy of a gofer mount served in ``mode`` (overlay, rw or ro)."""
    return EXCLUSIVE if mode == "overlay" else SHARED
