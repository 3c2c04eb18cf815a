"""Looking into an image's root directory from the host, confined to it.

The CLI reads a few things from an image before a sandbox exists: ``/etc/passwd`` and
``/etc/group`` for ``-u NAME``, and the guest's ``PATH`` for a command without a slash. The
image is untrusted, so every path is resolved by the host kernel with ``openat2(RESOLVE_IN_ROOT
| RESOLVE_NO_MAGICLINKS)`` on a descriptor of the root: symlinks and ``..`` resolve as if the
image were ``/``, and no path can name a host file outside it. (``kernel/image.py`` does the
same for execve until the VFS serves executables through the gofer; then it goes, and this
module, which the CLI needs before any sandbox exists, stays.)
"""

from __future__ import annotations

import ctypes
import os
import stat
import struct

_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_OPEN_HOW = struct.Struct("<QQQ")  # flags, mode, resolve

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class ImageFiles:
    """An image's root directory, held open; use as a context manager."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def open(self, path: str, flags: int = os.O_RDONLY) -> int:
        """A host fd for ``path`` resolved inside the image; OSError as open(2) would fail."""
        how = _OPEN_HOW.pack(flags | os.O_CLOEXEC, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        fd = _syscall(_SYS_OPENAT2, self._fd, ctypes.c_char_p(os.fsencode(path)), ctypes.c_char_p(how),
                      len(how))
        if fd < 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number), path)
        return fd

    def read_text(self, path: str, limit: int = 1 << 20) -> str:
        """The first ``limit`` bytes of a regular file, decoded; "" if it is missing or not a file."""
        try:
            fd = self.open(path)
        except OSError:
            return ""
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ""
            return os.read(fd, limit).decode("utf-8", "replace")
        finally:
            os.close(fd)

    def is_executable(self, path: str) -> bool:
        """Whether ``path`` is a regular file with an execute bit."""
        try:
            fd = self.open(path)
        except OSError:
            return False
        try:
            info = os.fstat(fd)
        finally:
            os.close(fd)
        return stat.S_ISREG(info.st_mode) and bool(info.st_mode & 0o111)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> ImageFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
