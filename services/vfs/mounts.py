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

import logging
import os
from dataclasses import dataclass

from services.vfs.inode import Dir, Filesystem

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
    root: Dir

    def options(self) -> bytes:
        return b"ro,relatime" if self.read_only else b"rw,relatime"


class MountTable:
    """Every mount of the sandbox, in mount order."""

    #: Linux numbers the first mount of a namespace after some internal ones; so do we.
    FIRST_ID = 20

    def __init__(self) -> None:
        self.mounts: list[Mount] = []

    def add(self, source: bytes, point: bytes, kind: bytes, read_only: bool, root: Dir) -> Mount:
        """Record a mount of ``root`` on the guest path ``point`` (normalised, absolute)."""
        mount_id = self.FIRST_ID + len(self.mounts)
        parent = self.covering(point)
        mount = Mount(mount_id, parent.id if parent is not None else mount_id, source, point, kind,
                      read_only, root)
        self.mounts.append(mount)
        return mount

    def covering(self, point: bytes) -> Mount | None:
        """The mount the path ``point`` lies in (the last one mounted on it or on a parent)."""
        for mount in reversed(self.mounts):
            if mount.point == b"/" or point == mount.point or point.startswith(mount.point + b"/"):
                return mount
        return None

    def proc_mounts(self) -> bytes:
        """/proc/mounts: ``source point type options 0 0`` per mount."""
        return b"".join(b"%s %s %s %s 0 0\n" % (_escape(m.source), _escape(m.point), m.kind, m.options())
                        for m in self.mounts)

    def mountinfo(self) -> bytes:
        """/proc/self/mountinfo (proc(5)): ids, device, root, point, options, type, source."""
        lines = []
        for m in self.mounts:
            dev = m.root.fs.dev
            lines.append(b"%d %d %d:%d / %s %s - %s %s %s\n" % (
                m.id, m.parent_id, dev >> 8, dev & 0xFF, _escape(m.point), m.options(), m.kind,
                _escape(m.source), b"ro" if m.read_only else b"rw"))
        return b"".join(lines)


def _escape(field: bytes) -> bytes:
    """Spaces, tabs, newlines and backslashes as the octal escapes /proc/mounts uses."""
    for char in b"\\ \t\n":
        field = field.replace(bytes([char]), b"\\%03o" % char)
    return field


def tmpfs_root(options: tuple[str, ...], read_only: bool, memory: int) -> Dir:
    """The root of a new, empty tmpfs. Among ``options``, ``mode=OCTAL`` sets its root's
    permissions and ``size=`` its capacity (bytes, with a k, m or g suffix, or a percentage of
    ``memory``, the sandbox's memory); without one it may take half of ``memory``, as Linux's
    tmpfs takes half of RAM. ValueError names an option that cannot be understood."""
    mode, capacity = TMPFS_MODE, memory // 2
    for option in options:
        key, _, value = option.partition("=")
        if key == "mode":
            try:
                mode = int(value, 8) & 0o7777
            except ValueError:
                raise ValueError(f"tmpfs option {option!r}: the mode must be octal") from None
        elif key == "size":
            capacity = tmpfs_size(value, memory)
        else:
            log.debug("tmpfs: ignoring the option %r", option)
    return Dir(Filesystem(read_only=read_only, capacity=capacity), mode)


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
