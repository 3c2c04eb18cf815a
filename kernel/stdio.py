"""The Sentry's own standard input, output and error, as guest fds 0, 1 and 2.

Until the VFS owns file descriptors, these three "host files" are all a guest can read or
write. Data moves between the host fd and guest memory with readv/writev on memoryviews of the
memory file: no copy through Python objects. Pipes, sockets and terminals are waited on with
trio so a guest blocked reading its stdin does not stall the other tasks.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import stat

import trio

from kernel.errors import Errno


def _epoll_accepts(fd: int) -> bool:
    """Whether trio can wait on ``fd``: pipes, sockets and terminals yes; regular files and
    devices like /dev/null no (epoll refuses them with EPERM, and they never block anyway)."""
    probe = select.epoll()
    try:
        probe.register(fd, select.EPOLLIN | select.EPOLLOUT)
        return True
    except OSError:
        return False
    finally:
        probe.close()


class HostFile:
    """A host file descriptor the sandbox was given (stdin/stdout/stderr)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            mode = 0
        self.present = mode != 0
        self.pollable = self.present and _epoll_accepts(fd)
        self.seekable = stat.S_ISREG(mode) or stat.S_ISBLK(mode)

    async def readv(self, buffers: list[memoryview]) -> int:
        while True:
            if self.pollable:
                await trio.lowlevel.wait_readable(self.fd)
            try:
                return os.readv(self.fd, buffers)
            except BlockingIOError:
                continue
            except OSError as error:
                raise Errno(error.errno) from None

    async def writev(self, buffers: list[memoryview]) -> int:
        while True:
            if self.pollable:
                await trio.lowlevel.wait_writable(self.fd)
            try:
                return os.writev(self.fd, buffers)
            except BlockingIOError:
                continue
            except OSError as error:
                raise Errno(error.errno) from None

    def preadv(self, buffers: list[memoryview], offset: int) -> int:
        self.require_seekable()
        try:
            return os.preadv(self.fd, buffers, offset)
        except OSError as error:
            raise Errno(error.errno) from None

    def pwritev(self, buffers: list[memoryview], offset: int) -> int:
        self.require_seekable()
        try:
            return os.pwritev(self.fd, buffers, offset)
        except OSError as error:
            raise Errno(error.errno) from None

    def require_seekable(self) -> None:
        """ESPIPE unless the file has offsets (pipes, sockets and terminals do not)."""
        if not self.seekable:
            raise Errno(errno.ESPIPE)

    def ioctl_read(self, request: int, size: int) -> bytes:
        """A terminal ioctl that reads ``size`` bytes of state (TCGETS, TIOCGWINSZ)."""
        if not os.isatty(self.fd):
            raise Errno(errno.ENOTTY)
        try:
            return fcntl.ioctl(self.fd, request, bytes(size))
        except OSError as error:
            raise Errno(error.errno) from None


class Stdio:
    """The sandbox's fds 0-2."""

    def __init__(self) -> None:
        self._files = [HostFile(fd) for fd in range(3)]

    def get(self, fd: int) -> HostFile:
        """The host file behind guest ``fd``; EBADF for anything else."""
        if 0 <= fd < 3 and self._files[fd].present:
            return self._files[fd]
        raise Errno(errno.EBADF)
