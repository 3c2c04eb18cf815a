"""A POSIX message queue's open file description: the VFS's side of a queue the ``ipc``
service owns.

As a socket's description, it holds no queue state: the kernel sends mq_timedsend and
mq_timedreceive to the ``ipc`` service with the queue id it asks of the description
(:meth:`MqueueFiles.mq_identity`), readiness comes from the queue's
:class:`~services.ipc.mqueue.QueueWatch`, read(2) shows the queue's status line, and the last
close tells the ``ipc`` service. What the description keeps is the access mode and O_NONBLOCK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EBADF, Errno
from abi.linux import MQUEUE_MAGIC, O_ACCMODE, O_NONBLOCK, S_IFREG
from kernel.bus import call_now, operation
from services.vfs.core import VfsCore
from services.vfs.file import File, scatter
from services.vfs.inode import Filesystem, Inode

if TYPE_CHECKING:
    from abi.creds import Caller
    from kernel.bus import Bus
    from services.ipc.mqueue import QueueOpened
    from services.vfs.contract import Handle

_mqueuefs = Filesystem(magic=MQUEUE_MAGIC, name=b"mqueue")


class MqueueFile(File):
    """An fd's view of one POSIX message queue."""

    epollable = True

    def __init__(self, bus: Bus, queue: QueueOpened, name: bytes, flags: int) -> None:
        super().__init__(flags & (O_ACCMODE | O_NONBLOCK), Inode(_mqueuefs, S_IFREG | queue.mode, queue.uid, queue.gid))
        self.bus = bus
        self.qid = queue.qid
        self.watch = queue.watch
        self.path = b"/" + name

    async def read(self, buffers: list[memoryview]) -> int:
        """The queue's status line (read(2) of a descriptor, as Linux's mqueue file shows it)."""
        status = await self.bus.call("ipc", "mq_status", self.qid)
        if self.offset >= len(status):
            return 0
        count = scatter(memoryview(status)[self.offset:], buffers)
        self.offset += count
        return count

    def poll(self, caller: Caller | None = None) -> int:
        return self.watch.poll()

    async def wait(self, events: int) -> None:
        await self.watch.wait()

    @property
    def changes(self) -> int:
        return self.watch.count

    def proc_target(self) -> bytes | None:
        return self.path

    def release(self) -> None:
        """The last descriptor closed: the ``ipc`` service forgets it (never waits)."""
        call_now(self.bus, "ipc", "mq_close", self.qid)


class MqueueFiles(VfsCore):
    """The VFS operations that make and identify message queue descriptors."""

    @operation
    async def mqueue_file(self, caller: Caller, queue: QueueOpened, name: bytes, flags: int) -> Handle:
        file = MqueueFile(self.bus, queue, name, flags)
        return self.new_handle(file)

    @operation
    async def mq_identity(self, handle: Handle) -> tuple[int, int]:
        file = self.file(handle)
        if not isinstance(file, MqueueFile):
            raise Errno(EBADF)
        return file.qid, file.flags



