"""A socket's open file description: the VFS's side of a socket the netstack owns.

The description holds no socket state: reads, writes and the final release are bus calls to the
netstack by socket id; readiness comes from the :class:`~services.netstack.contract.SocketWatch`
the netstack handed out when the socket was made. What the description keeps is only what never
changes (family, type, protocol, inode number) and what belongs to the file (O_NONBLOCK). The
kernel learns the socket's identity from :class:`~services.vfs.contract.Opened` and makes the
socket calls (bind, connect, sendmsg ...) to the netstack itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.linux import O_NONBLOCK, O_RDWR, S_IFSOCK, SOCKFS_MAGIC
from kernel.bus import call_now
from services.netstack.contract import Ancillary, SocketWatch
from services.vfs.contract import SocketIdentity
from services.vfs.file import File
from services.vfs.inode import Filesystem, Inode

if TYPE_CHECKING:
    from abi.creds import Caller
    from kernel.bus import Bus
    from services.netstack.contract import Opened

_sockfs = Filesystem(magic=SOCKFS_MAGIC, name=b"sockfs")


class SocketFile(File):
    """An fd's view of one netstack socket."""

    epollable = True
    may_block = True

    def __init__(self, bus: Bus, opened: Opened, family: int, type: int, protocol: int, flags: int,
                 uid: int, gid: int) -> None:
        super().__init__(O_RDWR | (flags & O_NONBLOCK), Inode(_sockfs, S_IFSOCK | 0o777, uid, gid, ino=opened.ino))
        self.bus = bus
        self.sid = opened.sid
        self.watch = opened.watch
        self.family = family
        self.type = type
        self.protocol = protocol
        self.socket_identity = SocketIdentity(opened.sid, family, type, protocol)

    @property
    def nonblock(self) -> bool:
        return bool(self.flags & O_NONBLOCK)

    async def read_as(self, caller: Caller, buffers: list[memoryview]) -> int:
        """read(2) is recv with no flags; files that came with the data are closed."""
        if not buffers:
            return 0
        received = await self.bus.call("netstack", "recvmsg", caller, self.sid, buffers, 0, self.nonblock)
        for carried in received.rights:
            carried.drop()
        return int(received.size)

    async def write_as(self, caller: Caller, buffers: list[memoryview]) -> int:
        """write(2) is send with no flags (a zero-length write still sends an empty datagram)."""
        return int(await self.bus.call("netstack", "sendmsg", caller, self.sid, buffers, 0, self.nonblock,
                                       None, None, Ancillary()))

    def readable_bytes(self) -> int:
        return self.watch.readable()

    def unsent_bytes(self) -> int:
        return self.watch.unsent()

    def poll(self, caller: Caller | None = None) -> int:
        return self.watch.poll()

    async def wait(self, events: int) -> None:
        await self.watch.wait()

    def notifier(self) -> SocketWatch:
        return self.watch

    @property
    def changes(self) -> int:
        return self.watch.count

    def proc_target(self) -> bytes | None:
        assert self.inode is not None
        return b"socket:[%d]" % self.inode.ino

    def release(self) -> None:
        """The last reference went: the netstack closes the socket. release() cannot wait, and
        the netstack's close never does, so the bus call is run to its end right here."""
        call_now(self.bus, "netstack", "release", self.sid)
