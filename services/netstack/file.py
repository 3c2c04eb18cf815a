"""A socket's open file description: a socket id, and every operation sent to the netstack.

The description holds no socket state: reads, writes and the final release are bus calls to the
netstack by socket id; readiness comes from the :class:`~services.netstack.contract.SocketWatch`
the netstack handed out when the socket was made. What the description keeps is only what never
changes (family, type, protocol, inode number) and what belongs to the file (O_NONBLOCK).

:class:`Passed` is a file riding in an SCM_RIGHTS message: a reference that keeps the file open
until the receiver installs it or the netstack drops it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from abi.creds import Caller, Credentials
from abi.errno import Errno
from abi.linux import O_NONBLOCK, O_RDWR, S_IFSOCK
from services.netstack.contract import Ancillary, Opened
from services.signals.watch import current_thread
from services.vfs.file import File
from services.vfs.inode import Filesystem, Inode

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from typing import Any

    from kernel.bus import Bus

log = logging.getLogger("sentrio.netstack")

SOCKFS_MAGIC = 0x534F434B
_sockfs = Filesystem(magic=SOCKFS_MAGIC, name=b"sockfs")
_NOBODY = Caller(0, 0, Credentials())


def calling() -> Caller:
    """The guest thread the current task serves, as the netstack's messages carry it."""
    thread = current_thread.get(None)
    caller = getattr(thread, "caller", None)
    return caller if isinstance(caller, Caller) else _NOBODY


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

    @property
    def nonblock(self) -> bool:
        return bool(self.flags & O_NONBLOCK)

    async def read(self, buffers: list[memoryview]) -> int:
        """read(2) is recv with no flags; files that came with the data are closed."""
        if not buffers:
            return 0
        received = await self.bus.call("netstack", "recvmsg", calling(), self.sid, buffers, 0, self.nonblock)
        for carried in received.rights:
            carried.drop()
        return int(received.size)

    async def write(self, buffers: list[memoryview]) -> int:
        """write(2) is send with no flags (a zero-length write still sends an empty datagram)."""
        return int(await self.bus.call("netstack", "sendmsg", calling(), self.sid, buffers, 0, self.nonblock,
                                       None, None, Ancillary()))

    def readable_bytes(self) -> int:
        return self.watch.readable()

    def poll(self) -> int:
        return self.watch.poll()

    async def wait(self, events: int) -> None:
        await self.watch.wait()

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


class Passed:
    """An open file description in flight in an SCM_RIGHTS message (a reference to it)."""

    __slots__ = ("file",)

    def __init__(self, file: File) -> None:
        self.file = file
        file.refs += 1

    def clone(self) -> Passed:
        return Passed(self.file)

    def drop(self) -> None:
        file = self.file
        file.refs -= 1
        if file.refs == 0:
            file.fd_closed(self, last=True)
            file.release()


def call_now(bus: Bus, service: str, op: str, *args: Any) -> None:
    """Make a bus call from synchronous code, for an operation that never waits.

    The call's coroutine is stepped once: without a waiting interceptor it finishes at once.
    If an interceptor makes it wait (a fault rule's delay), it is abandoned and sent again
    from a system task, which delivers it a moment later.
    """
    call: Coroutine[Any, Any, Any] = bus.call(service, op, *args)
    try:
        call.send(None)
    except StopIteration:
        return
    except Errno as error:
        log.debug("%s.%s%r failed with errno %d", service, op, args, error.errno)
        return
    call.close()
    trio.lowlevel.spawn_system_task(_call_later, bus, service, op, args)


async def _call_later(bus: Bus, service: str, op: str, args: tuple[Any, ...]) -> None:
    try:
        await bus.call(service, op, *args)
    except Errno as error:
        log.debug("%s.%s%r failed with errno %d", service, op, args, error.errno)
