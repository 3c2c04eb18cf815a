"""Reading an image directory from the host side, before a sandbox boots, confined to it.

The running guest reaches the image only through the gofer and the VFS. Before boot, the CLI
reads a few things itself (``/etc/passwd`` for ``-u NAME``, the guest PATH's lookup of a bare
command, an imported image's config) — only through ``openat2(RESOLVE_IN_ROOT |
RESOLVE_NO_MAGICLINKS)`` on a directory fd of the image root, so the kernel resolves every
symlink and ``..`` as if the image were ``/``: no path can name a host file outside it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct

from kernel.errors import Errno

_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_OPEN_HOW = struct.Struct("<QQQ")  # flags, mode, resolve

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class ImageRoot:
    """The image's root directory, held open."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._fd = os.open(self.path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def open(self, guest_path: bytes, flags: int = os.O_RDONLY) -> int:
        """A host fd for ``guest_path`` resolved inside the image; raises Errno as open(2) would."""
        how = _OPEN_HOW.pack(flags | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        fd = _syscall(_SYS_OPENAT2, self._fd, ctypes.c_char_p(guest_path), ctypes.c_char_p(how), len(how))
        if fd < 0:
            raise Errno(ctypes.get_errno())
        return fd

    def open_executable(self, guest_path: bytes) -> ExecutableFile:
        """Open a program for execve: EACCES unless it is a regular file with an x bit."""
        fd = self.open(guest_path)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not info.st_mode & 0o111:
            os.close(fd)
            raise Errno(errno.EACCES)
        return ExecutableFile(fd, info.st_size)

    def close(self) -> None:
        os.close(self._fd)


class ExecutableFile:
    """A program file opened for loading; satisfies the ELF loader's reader protocol."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size

    def pread(self, length: int, offset: int) -> bytes:
        return os.pread(self.fd, length, offset)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> ExecutableFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
