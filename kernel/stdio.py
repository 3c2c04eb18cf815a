"""The Sentry's own standard input, output and error, as guest fds 0, 1 and 2 of the first process.

These three "host files" are open file descriptions like any other (the first process's fd
table holds them; fork and dup share them). Data moves between the host fd and guest memory
with readv/writev on memoryviews of the memory file: no copy through Python objects. Pipes,
sockets and terminals are waited on with trio so a guest blocked reading its stdin does not stall the other tasks.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import stat

import trio

from kernel.abi.linux import O_PATH, O_RDONLY, O_WRONLY
from kernel.errors import Errno
from services.vfs.file import File, seek_position
from services.vfs.inode import Filesystem, Inode, Stat

_HOST_FS = Filesystem(name=b"host")


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


class _HostInode(Inode):
    """The inode of a host stdio file: opening it again (/dev/stdin) gives another description."""

    def __init__(self, fd: int, mode: int) -> None:
        super().__init__(_HOST_FS, (mode & 0o170000) | 0o620)
        self.host_fd = fd

    async def open(self, flags: int) -> File:
        if flags & O_PATH:
            return await super().open(flags)
        return HostFile(self.host_fd)


class HostFile(File):
    """A host file descriptor the sandbox was given (stdin/stdout/stderr)."""

    def __init__(self, fd: int) -> None:
        super().__init__(O_RDONLY if fd == 0 else O_WRONLY)
        self.fd = fd
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            mode = 0
        self.mode = mode
        #: An inode of its own, so path calls given this fd (AT_EMPTY_PATH) have a file to act on.
        self.inode = _HostInode(fd, mode)
        if mode:
            self.flags = fcntl.fcntl(fd, fcntl.F_GETFL) & (os.O_ACCMODE | os.O_APPEND)
        self.present = mode != 0
        self.pollable = self.present and _epoll_accepts(fd)
        self.epollable = self.may_block = self.pollable
        self.seekable = stat.S_ISREG(mode) or stat.S_ISBLK(mode)
        # Trio lets one task at a time wait on an fd; guest processes sharing a stream
        # (every process of a shell writes to the same stderr) take turns.
        self._reading = trio.Lock()
        self._writing = trio.Lock()

    async def read(self, buffers: list[memoryview]) -> int:
        async with self._reading:
            while True:
                if self.pollable:
                    await trio.lowlevel.wait_readable(self.fd)
                try:
                    return os.readv(self.fd, buffers)
                except BlockingIOError:
                    continue
                except OSError as error:
                    raise Errno(error.errno) from None

    async def write(self, buffers: list[memoryview]) -> int:
        async with self._writing:
            while True:
                if self.pollable:
                    await trio.lowlevel.wait_writable(self.fd)
                try:
                    return os.writev(self.fd, buffers)
                except BlockingIOError:
                    continue
                except OSError as error:
                    raise Errno(error.errno) from None

    async def pread(self, buffers: list[memoryview], offset: int) -> int:
        self.require_seekable()
        try:
            return os.preadv(self.fd, buffers, offset)
        except OSError as error:
            raise Errno(error.errno) from None

    async def pwrite(self, buffers: list[memoryview], offset: int) -> int:
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


    async def seek(self, offset: int, whence: int) -> int:
        self.require_seekable()
        try:
            size = os.fstat(self.fd).st_size
            position = seek_position(os.lseek(self.fd, 0, os.SEEK_CUR), size, offset, whence)
            return os.lseek(self.fd, position, os.SEEK_SET)
        except OSError as error:
            raise Errno(error.errno) from None

    async def stat(self) -> Stat:
        """The host file's type and size; no host identity (device, inode) leaks."""
        try:
            st = os.fstat(self.fd)
        except OSError as error:
            raise Errno(error.errno) from None
        return Stat(0x0D, 1 + self.fd, st.st_mode, 1, 0, 0, st.st_rdev if stat.S_ISCHR(st.st_mode) else 0,
                    st.st_size if self.seekable else 0, st.st_blksize, st.st_blocks if self.seekable else 0,
                    st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)

    def poll(self) -> int:
        """The host fd's readiness, asked of the host (poll with no timeout)."""
        if not self.pollable:
            return super().poll()
        probe = select.poll()
        probe.register(self.fd, select.POLLIN | select.POLLOUT | select.POLLPRI)
        return sum(events for _, events in probe.poll(0))

    async def wait(self, events: int) -> None:
        if not self.pollable:
            await trio.sleep_forever()
        try:
            if events & select.POLLIN:
                await trio.lowlevel.wait_readable(self.fd)
            else:
                await trio.lowlevel.wait_writable(self.fd)
        except trio.BusyResourceError:  # another task waits on this fd already: poll again soon
            await trio.sleep(0.001)

    def readable_bytes(self) -> int:
        try:
            return int.from_bytes(fcntl.ioctl(self.fd, 0x541B, bytes(4)), "little")
        except OSError as error:
            raise Errno(error.errno) from None


def standard_streams() -> dict[int, HostFile]:
    """The Sentry's fds 0-2 that exist, as host files by fd (an absent one is left out)."""
    return {fd: file for fd in range(3) if (file := HostFile(fd)).present}
