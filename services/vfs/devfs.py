"""devfs: the devices a program expects in /dev, all served by the Sentry.

null, zero, full, random, urandom and tty are character devices with Linux's numbers; fd,
stdin, stdout and stderr are the usual symlinks into /proc/self/fd; /dev/shm is a directory and
/dev/pts the mount point of the sandbox's devpts (:mod:`services.vfs.devpts`), with /dev/ptmx a
symlink into it, as docker makes it. No host device is ever opened.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from abi.errno import ENOSPC, ENXIO
from abi.linux import O_PATH, S_IFCHR
from abi.errno import Errno
from kernel import bus
from services.vfs.file import File, PathFile
from services.vfs.inode import Device, Dir, Filesystem, Inode, Symlink

if TYPE_CHECKING:
    from abi.creds import Caller

#: Opens /dev/tty for a caller: its controlling terminal, or ENXIO.
TerminalOpener = Callable[[int, "Caller"], Awaitable[File]]


def _fill(buffers: list[memoryview], byte_source: bytes | None) -> int:
    total = 0
    for view in buffers:
        view[:] = bus.random_bytes(len(view)) if byte_source is None else bytes(len(view))
        total += len(view)
    return total


class _DeviceFile(File):
    """Offsets are ignored by these devices; lseek always gives 0."""

    async def pread(self, buffers: list[memoryview], offset: int) -> int:
        return await self.read(buffers)

    async def pwrite(self, buffers: list[memoryview], offset: int) -> int:
        return await self.write(buffers)

    async def seek(self, offset: int, whence: int) -> int:
        return 0


class NullFile(_DeviceFile):
    async def read(self, buffers: list[memoryview]) -> int:
        return 0

    async def write(self, buffers: list[memoryview]) -> int:
        return sum(len(b) for b in buffers)


class ZeroFile(NullFile):
    maps_anonymous = True

    async def read(self, buffers: list[memoryview]) -> int:
        return _fill(buffers, b"")


class FullFile(ZeroFile):
    maps_anonymous = False

    async def write(self, buffers: list[memoryview]) -> int:
        raise Errno(ENOSPC)


class RandomFile(NullFile):
    async def read(self, buffers: list[memoryview]) -> int:
        return _fill(buffers, None)


class ControllingTerminal(Inode):
    """/dev/tty: the opening process's controlling terminal, as ``open_terminal`` finds it;
    ENXIO for a process without one, as on Linux (and always, given no opener)."""

    def __init__(self, fs: Filesystem, open_terminal: TerminalOpener | None) -> None:
        super().__init__(fs, S_IFCHR | 0o666, rdev=_dev(5, 0))
        self._open_terminal = open_terminal

    async def open(self, flags: int, caller: Caller) -> File:
        if flags & O_PATH:
            return PathFile(flags, self)
        if self._open_terminal is None:
            raise Errno(ENXIO)
        return await self._open_terminal(flags, caller)


def _dev(major: int, minor: int) -> int:
    return (major << 8) | minor


def make_devfs(open_terminal: TerminalOpener | None = None) -> Dir:
    """A fresh /dev; ``open_terminal`` opens /dev/tty for the calling process."""
    fs = Filesystem(name=b"devtmpfs")
    root = Dir(fs, 0o755)
    devices = {
        b"null": (_dev(1, 3), NullFile), b"zero": (_dev(1, 5), ZeroFile), b"full": (_dev(1, 7), FullFile),
        b"random": (_dev(1, 8), RandomFile), b"urandom": (_dev(1, 9), RandomFile),
    }
    for name, (rdev, file_type) in devices.items():
        root.children[name] = Device(fs, rdev, file_type)
    root.children[b"tty"] = ControllingTerminal(fs, open_terminal)
    links = {b"fd": b"/proc/self/fd", b"stdin": b"/proc/self/fd/0", b"stdout": b"/proc/self/fd/1",
             b"stderr": b"/proc/self/fd/2", b"ptmx": b"pts/ptmx"}
    for name, target in links.items():
        root.children[name] = Symlink(fs, target)
    for name in (b"shm", b"pts"):
        root.children[name] = Dir(fs, 0o1777 if name == b"shm" else 0o755, parent=root, name=name)
    return root
