"""Host streams: the Sentry's own stdin, stdout and stderr as open file descriptions.

The kernel hands these host fds to the VFS at boot (``host_streams``); the first process's fd
table then holds their handles, and fork and dup share them like any description. Data moves
between the host fd and guest memory with readv/writev on memoryviews of the memory file: no
copy through Python objects. Pipes, sockets and terminals are waited on with trio, so a guest
blocked reading its stdin does not stall the other tasks.

Under ``run -t`` the streams are the slave of a pty the Sentry made (:class:`SandboxTerminal`):
the guest's own terminal, whose modes it may set; once the host's input has ended, the guest's
reads see an end of file whatever the modes (see :meth:`HostFile.read`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import stat
import termios
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from abi.errno import Errno
from abi.linux import O_PATH, O_RDONLY, O_WRONLY, TIOCGPTPEER
from services.vfs.contract import PtyInfo, Stat
from services.vfs.file import File, seek_position
from services.vfs.inode import Filesystem, Inode

if TYPE_CHECKING:
    from abi.creds import Caller

_HOST_FS = Filesystem(name=b"host")


class SandboxTerminal:
    """The ``run -t`` pty as the VFS knows it: the device the guest's stdio is, and what the
    host's end of input means for it."""

    def __init__(self, pty: PtyInfo) -> None:
        #: The master side, where the Sentry types the host's keys (and, here, an end of file).
        self.master = pty.master
        #: The slave's device number: a host fd is the sandbox's terminal when it is this device.
        self.rdev = pty.rdev
        #: The slave's host path, to open it again (/dev/tty in the guest); empty if unknown.
        self.slave_path = pty.slave_path
        #: Set when the host's input has ended (``-i`` with a closed stdin).
        self.input_ended = trio.Event()

    def open_slave(self) -> HostFile:
        """A new description of the pty for reading and writing (the guest opening /dev/tty)."""
        try:  # TIOCGPTPEER: from the master, with no path (a confined Sentry has none to open)
            fd = fcntl.ioctl(self.master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as error:
            raise Errno(error.errno) from None
        return HostFile(fd, self, owned=True)

    def is_slave(self, fd: int) -> bool:
        """Whether host ``fd`` is this pty's slave."""
        try:
            st = os.fstat(fd)
        except OSError:
            return False
        return stat.S_ISCHR(st.st_mode) and st.st_rdev == self.rdev and os.isatty(fd)

    def send_eof(self) -> bool:
        """Type the slave's end-of-file character (VEOF) if it has one in canonical mode: the
        line discipline then ends the pending line, or makes a read return 0. False if not."""
        try:
            modes = termios.tcgetattr(self.master)
            eof = modes[6][termios.VEOF]
            eof = eof if isinstance(eof, bytes) else bytes([eof])
            if not modes[3] & termios.ICANON or eof == b"\0":  # no EOF character without ICANON
                return False
            return os.write(self.master, eof) == 1
        except OSError:  # termios.error is one; a full input queue too
            return False


def epoll_accepts(fd: int) -> bool:
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

    def __init__(self, fd: int, mode: int, pty: SandboxTerminal | None) -> None:
        super().__init__(_HOST_FS, (mode & 0o170000) | 0o620)
        self.host_fd = fd
        self.pty = pty

    async def open(self, flags: int, caller: Caller) -> File:
        if flags & O_PATH:
            return await super().open(flags, caller)
        return HostFile(self.host_fd, self.pty)


class HostFile(File):
    """A host file descriptor the sandbox was given (stdin/stdout/stderr)."""

    def __init__(self, fd: int, pty: SandboxTerminal | None = None, owned: bool = False) -> None:
        super().__init__(O_RDONLY if fd == 0 else O_WRONLY)
        self.fd = fd
        #: Whether the host fd is this description's own (closed with it), not one of the
        #: Sentry's standard streams.
        self.owned = owned
        #: The sandbox's own terminal, when this fd is its slave (``run -t``); else None.
        self.pty = pty if pty is not None and pty.is_slave(fd) else None
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            mode = 0
        self.mode = mode
        #: Writes ask the host not to wait (RWF_NOWAIT), which pipes and sockets honour: the
        #: host fd is shared with the user's shell, so it cannot be made O_NONBLOCK, and a
        #: blocking write to a reader that lags would stall the whole Sentry.
        self._nowait_writes = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
        #: An inode of its own, so path calls given this fd (AT_EMPTY_PATH) have a file to act on.
        self.inode = _HostInode(fd, mode, self.pty)
        if mode:
            self.flags = fcntl.fcntl(fd, fcntl.F_GETFL) & (os.O_ACCMODE | os.O_APPEND)
            self.set_access(self.flags)
        self.present = mode != 0
        self.is_terminal = self.present and os.isatty(fd)
        self.is_pty = self.pty is not None
        self.pollable = self.present and epoll_accepts(fd)
        self.epollable = self.may_block = self.pollable
        self.seekable = stat.S_ISREG(mode) or stat.S_ISBLK(mode)
        # Trio lets one task at a time wait on an fd; guest processes sharing a stream
        # (every process of a shell writes to the same stderr) take turns.
        self._reading = trio.Lock()
        self._writing = trio.Lock()

    def read_nowait(self, buffers: list[memoryview]) -> int | None:
        """The read done now if the host fd has data (the sandbox's pty: always the full path,
        which also knows about the end of the host's input)."""
        if self.pty is not None or not self._ready(select.POLLIN):
            return None
        try:
            return os.readv(self.fd, buffers)
        except BlockingIOError:
            return None
        except OSError as error:
            raise Errno(error.errno) from None

    def write_nowait(self, buffers: list[memoryview]) -> int | None:
        """The write done now if the host fd takes data: a write that need not wait cannot be
        interrupted by a signal, as on Linux. A write that asks the host not to wait
        (RWF_NOWAIT) needs no poll before it: it says itself when nothing fits."""
        if not self._nowait_writes and not self._ready(select.POLLOUT):
            return None
        try:
            return self._write_once(buffers)
        except BlockingIOError:
            return None
        except OSError as error:
            raise Errno(error.errno) from None

    def _ready(self, events: int) -> bool:
        """Whether the host fd is ready for ``events`` now (never waits); False if it cannot be
        polled, so a file that does not block (regular, /dev/null) takes the plain path."""
        if not self.pollable:
            return False
        probe = select.poll()
        probe.register(self.fd, events)
        return bool(probe.poll(0))

    async def read(self, buffers: list[memoryview]) -> int:
        async with self._reading:
            while True:
                if self.pty is not None:
                    await self._readable_or_input_ended()
                    if self.pty.input_ended.is_set():
                        return await self._read_after_input_ended(buffers)
                elif self.pollable:
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
                    return self._write_once(buffers)
                except BlockingIOError:
                    continue
                except OSError as error:
                    raise Errno(error.errno) from None

    def _write_once(self, buffers: list[memoryview]) -> int:
        """One host write that does not block the Sentry where the host can promise that: it
        takes what fits and raises BlockingIOError when nothing does."""
        if self._nowait_writes:
            try:
                return os.pwritev(self.fd, buffers, -1, os.RWF_NOWAIT)
            except OSError as error:
                if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                # An older host kernel: plain writes from now on, each after a wait for room.
                self._nowait_writes = False
                raise BlockingIOError(errno.EAGAIN, "retry once the fd is writable") from None
        return os.writev(self.fd, buffers)

    async def _readable_or_input_ended(self) -> None:
        """Until the sandbox's pty has something to read or the host's input has ended."""
        assert self.pty is not None
        async def readable() -> None:
            try:
                await trio.lowlevel.wait_readable(self.fd)
            except trio.BusyResourceError:  # another task waits on this fd: look every ms
                while not select.select([self.fd], [], [], 0)[0]:
                    await trio.sleep(0.001)

        async with trio.open_nursery() as nursery:
            async def first(wait: Callable[[], Awaitable[object]]) -> None:
                await wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(first, readable)
            nursery.start_soon(first, self.pty.input_ended.wait)

    async def _read_after_input_ended(self, buffers: list[memoryview]) -> int:
        """A read of the pty once the host's input has ended: what is queued, then an end of
        file instead of waiting, as from a pipe whose writer has gone.

        The end of file cannot be a byte sent at the end of input: a program that turns
        ICANON off before reading (busybox's line editor, readline) would read the VEOF
        character as data, or the NUL the line discipline leaves when ICANON goes off. So it
        is decided here, when a read would wait: in canonical mode the VEOF character is typed
        then (it ends a pending partial line, or gives the 0 itself), otherwise the read is 0.
        """
        assert self.pty is not None
        os.set_blocking(self.fd, False)  # a read that would wait must say so (EAGAIN)
        sent_eof = False
        while True:
            try:
                return os.readv(self.fd, buffers)  # an empty queue flushes the input in flight first
            except BlockingIOError:
                pass
            except OSError as error:
                raise Errno(error.errno) from None
            if sent_eof or not self.pty.send_eof():
                return 0
            sent_eof = True
            await trio.lowlevel.wait_readable(self.fd)

    def release(self) -> None:
        if self.owned:
            os.close(self.fd)

    def proc_target(self) -> bytes:
        """Named as Linux names what the stream is, without revealing any host path: a pipe or
        socket by its inode, a terminal as the pty, anything else (a file, /dev/null) as null."""
        ino = self.inode.ino if self.inode is not None else 0
        if stat.S_ISFIFO(self.mode):
            return b"pipe:[%d]" % ino
        if stat.S_ISSOCK(self.mode):
            return b"socket:[%d]" % ino
        return b"/dev/pts/0" if os.isatty(self.fd) else b"/dev/null"

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

    def ioctl_write(self, request: int, arg: bytes | int) -> None:
        """A terminal ioctl that changes the sandbox's pty: ``arg`` is the struct's raw bytes
        (TCSETS*, TIOCSWINSZ) or the integer argument (TCFLSH, TCXONC, TCSBRK). ENOTTY for any
        other file, a host terminal included: the guest may only change its own terminal."""
        if self.pty is None:
            raise Errno(errno.ENOTTY)
        try:
            fcntl.ioctl(self.fd, request, arg)
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

    def poll(self, caller: Caller | None = None) -> int:
        """The host fd's readiness, asked of the host (poll with no timeout); the sandbox's pty
        is readable once the host's input has ended (a read gives data or the end of file)."""
        if not self.pollable:
            return super().poll()
        probe = select.poll()
        probe.register(self.fd, select.POLLIN | select.POLLOUT | select.POLLPRI)
        ready = sum(events for _, events in probe.poll(0))
        if self.pty is not None and self.pty.input_ended.is_set():
            ready |= select.POLLIN | select.POLLRDNORM
        return ready

    async def wait(self, events: int) -> None:
        if not self.pollable:
            await trio.sleep_forever()
        try:
            if events & select.POLLIN and self.pty is not None:
                await self._readable_or_input_ended()
            elif events & select.POLLIN:
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
