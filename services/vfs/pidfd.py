"""pidfd_open(2): a process as a file.

The file names one process, not a pid: it holds the process's exit event, which the kernel
compares with the process now behind the pid, so a pid reused after a reap is not reached by an
old pidfd. It is readable (POLLIN) once the process has exited; reads themselves fail (EINVAL).
A PIDFD_THREAD pidfd names one thread the same way, by the event of the thread's end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from abi.errno import EBADF, Errno
from abi.events import PIDFD_THREAD
from abi.linux import O_NONBLOCK, POLLHUP, POLLIN, POLLRDNORM, PROC_SUPER_MAGIC
from kernel.bus import operation
from services.vfs.contract import Handle, PidFdTarget
from services.vfs.core import VfsCore
from services.vfs.eventfd import AnonInodeFile

if TYPE_CHECKING:
    from abi.creds import Caller


class PidFd(AnonInodeFile):
    """A pidfd: the pid and exit event of the process it names."""

    epollable = True

    def __init__(self, pid: int, exited: trio.Event, flags: int, thread: bool) -> None:
        super().__init__(flags)
        self.pid = pid
        self.exited = exited
        self.thread = thread

    def poll(self, caller: Caller | None = None) -> int:
        if not self.exited.is_set():
            return 0
        # an ended thread is released at once, and Linux's pidfd_poll finds no task: a hang-up too
        return POLLIN | POLLRDNORM | (POLLHUP if self.thread else 0)

    async def wait(self, events: int) -> None:
        if self.exited.is_set():
            await trio.sleep_forever()
        await self.exited.wait()

    @property
    def changes(self) -> int:
        return 1 if self.exited.is_set() else 0

    def proc_target(self) -> bytes:
        return b"anon_inode:[pidfd]"


class PidFds(VfsCore):
    """pidfd_open, and what the kernel asks of a pidfd."""

    @operation
    async def pidfd_open(self, caller: Caller, pid: int, exited: trio.Event, flags: int) -> Handle:
        return self.new_handle(PidFd(pid, exited, flags & O_NONBLOCK, bool(flags & PIDFD_THREAD)))

    @operation
    async def pidfd_target(self, handle: Handle) -> PidFdTarget:
        file = self.file(handle)
        if not isinstance(file, PidFd):
            raise Errno(EBADF)
        return PidFdTarget(file.pid, file.exited, bool(file.flags & O_NONBLOCK), file.thread)

    @operation
    async def proc_pid(self, handle: Handle) -> int:
        directory = self.file(handle).directory
        parent = directory.parent if directory is not None else None
        at_top = parent is not None and parent.fs is directory.fs and parent.mountpoint is not None
        if directory is None or directory.fs.magic != PROC_SUPER_MAGIC or not at_top or not directory.name.isdigit():
            raise Errno(EBADF)  # (only a PID directory at the top of a procfs names a process)
        return int(directory.name)
