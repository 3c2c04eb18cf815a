"""The VFS's anonymous files: pipes, eventfds, signalfds, memfds and sockets' descriptions, made by
their system calls rather than opened by a name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EINVAL, Errno
from abi.linux import EFD_SEMAPHORE, O_LARGEFILE, O_NONBLOCK, O_RDWR
from kernel.bus import operation
from services.vfs.contract import Handle, Opened
from services.vfs.core import VfsCore
from services.vfs.eventfd import EventFd
from services.vfs.file import RegularFile
from services.vfs.inode import RegularInode
from services.vfs.pipe import new_pipe
from services.vfs.signalfd import SignalFd
from services.vfs.socket import SocketFile

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.netstack.contract import Opened as SocketOpened


class AnonymousFiles(VfsCore):
    """pipe2, eventfd2, signalfd4, memfd_create."""

    @operation
    async def pipe(self, caller: Caller, flags: int) -> tuple[Handle, Handle]:
        reader, writer = new_pipe(flags & O_NONBLOCK, caller.creds.fsuid, caller.creds.fsgid, self.account)
        return self.new_handle(reader), self.new_handle(writer)

    @operation
    async def eventfd(self, caller: Caller, initval: int, flags: int) -> Handle:
        return self.new_handle(EventFd(initval, flags & O_NONBLOCK, bool(flags & EFD_SEMAPHORE)))

    @operation
    async def eventfd_signal(self, handle: Handle, value: int) -> None:
        file = self.file(handle)
        if not isinstance(file, EventFd):
            raise Errno(EINVAL)
        file.signal(value)

    @operation
    async def signalfd(self, caller: Caller, handle: Handle | None, mask: int, flags: int) -> Handle:
        if handle is not None:
            file = self.file(handle)
            if not isinstance(file, SignalFd):
                raise Errno(EINVAL)
            file.mask = mask
            file.watch.changed()
            return handle
        watch = await self.bus.call("signals", "watch")
        return self.new_handle(SignalFd(self.bus, watch, mask, flags & O_NONBLOCK))

    @operation
    async def socket_file(self, caller: Caller, socket: SocketOpened, family: int, type: int, protocol: int,
                          flags: int) -> Opened:
        file = SocketFile(self.bus, socket, family, type, protocol, flags, caller.creds.fsuid, caller.creds.fsgid)
        return self.opened(file)

    @operation
    async def facts(self, handle: Handle) -> Opened:
        file = self.file(handle)
        return Opened(handle, terminal=file.is_terminal, pty=file.is_pty, socket=file.socket_identity,
                      pts=file.pts_index)

    @operation
    async def memfd_create(self, caller: Caller, name: bytes, flags: int) -> Handle:
        inode = RegularInode(self.memfd_fs, 0o777, caller.creds.fsuid, caller.creds.fsgid)
        inode.nlink = 0
        file = RegularFile(O_RDWR | O_LARGEFILE, inode, await inode.data_fd(O_RDWR))
        file.path = b"/memfd:" + name + b" (deleted)"
        file.opener = caller.creds
        return self.new_handle(file)
