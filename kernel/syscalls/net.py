"""Sockets: socket, socketpair, bind, listen, accept/accept4, connect, shutdown, the send and
receive calls, get/setsockopt, getsockname/getpeername, and the socket ioctls.

Each handler does what net/socket.c does before the protocol: finds the socket (EBADF,
ENOTSOCK), copies addresses, iovecs and control messages in and out of guest memory, and makes
one call to the netstack actor. AF_UNIX path names are the VFS's business: bind makes the
socket file (mknod, S_IFSOCK) and connect/sendto look it up; the netstack gets the file's
``(device, inode)``. A call that waits does so inside :meth:`Task.blocking`, so a signal ends it
with ERESTARTSYS, or EINTR for a socket with a timeout, as sock_intr_errno says.

A socket fd's open file description is the VFS's (it reads, writes and polls through the
netstack); the fd table's entry carries the socket's identity (:class:`SocketIdentity`), so the
handlers here find the socket id without asking. The generic ioctl handler
(:mod:`kernel.syscalls.readwrite`) hands a socket's own ioctls to :func:`socket_ioctl`.
"""

from __future__ import annotations

import struct
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from abi.creds import CAP_NET_ADMIN
from abi.errno import (
    EADDRINUSE,
    EADDRNOTAVAIL,
    EBADF,
    ECONNABORTED,
    ECONNREFUSED,
    EEXIST,
    EINVAL,
    EMSGSIZE,
    ENOBUFS,
    ENODEV,
    ENOENT,
    ENOTSOCK,
    ENOTTY,
    EOPNOTSUPP,
    EPERM,
    EPIPE,
    ERESTARTSYS,
    Errno,
)
from abi.linux import AT_FDCWD, FIOGETOWN, FIONREAD, FIOSETOWN, MAX_RW_COUNT, O_NONBLOCK, S_IFMT, S_IFSOCK, SIOCGPGRP
from abi.linux import SIOCSPGRP, TIOCOUTQ, W_OK, Signal
from abi.socket import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    CMSGHDR,
    IFCONF,
    IFNAMSIZ,
    IFREQ,
    MMSGHDR,
    MSG_CMSG_CLOEXEC,
    MSG_CTRUNC,
    MSG_DONTWAIT,
    MSG_NOSIGNAL,
    MSG_WAITFORONE,
    MSGHDR,
    SCM_CREDENTIALS,
    SCM_MAX_FD,
    SCM_RIGHTS,
    SIOCATMARK,
    SIOCGIFADDR,
    SIOCGIFBRDADDR,
    SIOCGIFCONF,
    SIOCGIFDSTADDR,
    SIOCGIFFLAGS,
    SIOCGIFHWADDR,
    SIOCGIFINDEX,
    SIOCGIFMAP,
    SIOCGIFMETRIC,
    SIOCGIFMTU,
    SIOCGIFNAME,
    SIOCGIFNETMASK,
    SIOCGIFTXQLEN,
    SIOCGSTAMP,
    SIOCINQ,
    SIOCOUTQ,
    SOCK_CLOEXEC,
    SOCK_NONBLOCK,
    SOCK_STREAM,
    SOCK_TYPE_MASK,
    SOCKADDR_STORAGE_SIZE,
    SOL_SOCKET,
    UCRED,
    InetAddress,
    cmsg_align,
    cmsg_len,
    cmsg_space,
    inet_sockaddr,
    sockaddr_family,
    unix_name,
)
from abi import structs
from abi.structs import I32, TIMESPEC
from kernel.bus import Bus, call_now
from kernel.files import install, nofile_limit, release, vfs
from kernel.sigio import getown, setown
from kernel.syscalls.args import Addr, Fd, Int, UInt, ULong
from kernel.syscalls.paths import start_handle
from kernel.syscalls.signals import signal_self
from kernel.syscalls.table import syscall
from services.netstack.contract import Ancillary, Interface, Node, Received
from services.vfs.contract import Opened, SocketIdentity

if TYPE_CHECKING:
    from kernel.task import Task

T = TypeVar("T")

#: Most iovecs one message may have (UIO_MAXIOV).
UIO_MAXIOV = 1024
_INT_MAX = 0x7FFF_FFFF
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


# --- finding the socket -------------------------------------------------------------------------------


def _socket(t: Task, fd: int) -> SocketIdentity:
    """sockfd_lookup: EBADF for no fd, ENOTSOCK for an fd that is not a socket."""
    socket = t.process.fds.get(fd).socket
    if socket is None:
        raise Errno(ENOTSOCK)
    return socket


async def _nonblock(t: Task, fd: int) -> bool:
    """Whether the socket's description has O_NONBLOCK (it belongs to the file, not the socket)."""
    return bool(await t.kernel.bus.call("vfs", "get_flags", t.process.fds.handle(fd)) & O_NONBLOCK)


async def netstack(t: Task, op: str, *args: Any) -> Any:
    return await t.kernel.bus.call("netstack", op, *args)


async def _waiting(t: Task, sock: SocketIdentity, call: Awaitable[T], nonblock: bool, sending: bool) -> T:
    """Await a netstack call that may wait: a signal ends the wait with the errno Linux gives."""
    if nonblock:
        return await call
    try:
        return await t.blocking(call)
    except Errno as error:
        if error.errno != ERESTARTSYS:
            raise
        raise Errno(await netstack(t, "interrupted", sock.sid, sending)) from None


class HeldFile:
    """A file an SCM_RIGHTS message carries: one reference to its VFS handle, held while it is
    in flight (the netstack's :class:`~services.netstack.contract.Carried`)."""

    __slots__ = ("bus", "handle")

    def __init__(self, bus: Bus, handle: int) -> None:
        self.bus = bus
        self.handle = handle

    def clone(self) -> HeldFile:
        call_now(self.bus, "vfs", "hold", (self.handle,))
        return HeldFile(self.bus, self.handle)

    def drop(self) -> None:
        call_now(self.bus, "vfs", "drop", (self.handle,), 0)


# --- addresses -----------------------------------------------------------------------------------------


async def _address_in(t: Task, addr: int, addrlen: int) -> bytes:
    """move_addr_to_kernel: EINVAL for a length out of [0, 128], EFAULT for bad memory."""
    if not 0 <= addrlen <= SOCKADDR_STORAGE_SIZE:
        raise Errno(EINVAL)
    if addrlen == 0:
        return b""
    return await t.mm.copy_in(addr, addrlen)


async def _address_out(t: Task, address: bytes, addr: int, addrlen_addr: int) -> None:
    """move_addr_to_user: copy at most the guest's length, then write the real length."""
    (room,) = await t.mm.read_struct(I32, addrlen_addr)
    if room < 0:
        raise Errno(EINVAL)
    size = min(room, len(address))
    if size:
        await t.mm.copy_out(addr, address[:size])
    await t.mm.write_struct(I32, addrlen_addr, len(address))


def _is_path(sock: SocketIdentity, address: bytes) -> bool:
    """Whether ``address`` names an AF_UNIX socket by path (the VFS must find or make it)."""
    if sock.family != AF_UNIX or len(address) <= 2 or sockaddr_family(address) != AF_UNIX:
        return False
    return address[2:3] != b"\0"


async def _path_node(t: Task, address: bytes) -> Node:
    """unix_find_bsd: the socket file a path names, which the caller must be allowed to
    write to (EACCES, the VFS decides); ECONNREFUSED if it is not a socket."""
    path = unix_name(address)
    start = start_handle(t, AT_FDCWD, path)
    st = await vfs(t, "stat", t.process.root, start, path, True)
    await vfs(t, "access", t.process.root, start, path, W_OK, True, True)
    if st.mode & S_IFMT != S_IFSOCK:
        raise Errno(ECONNREFUSED)
    return (st.dev, st.ino)


async def _node_for(t: Task, sock: SocketIdentity, address: bytes | None) -> Node | None:
    return await _path_node(t, address) if address is not None and _is_path(sock, address) else None


# --- creating ---------------------------------------------------------------------------------------------


async def _describe(t: Task, made: Any, family: int, type: int, protocol: int, flags: int) -> Opened:
    """The VFS's description of a socket the netstack made (its last reference releases it)."""
    return await vfs(t, "socket_file", made, family, type, protocol, flags & SOCK_NONBLOCK)


async def _real_type(t: Task, family: int, type: int, sid: int) -> int:
    """The type the netstack gave the socket (AF_UNIX SOCK_RAW is SOCK_DGRAM)."""
    if family != AF_UNIX:
        return type
    return int(I32.unpack(await netstack(t, "getsockopt", t.caller, sid, SOL_SOCKET, 3, 4))[0])


@syscall
async def socket(t: Task, domain: Int, type: Int, protocol: Int) -> int:
    flags = type & ~SOCK_TYPE_MASK
    if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
        raise Errno(EINVAL)
    kind = type & SOCK_TYPE_MASK
    made = await netstack(t, "socket", t.caller, domain, kind, protocol)
    try:
        kind = await _real_type(t, domain, kind, made.sid)
    except Errno:
        await netstack(t, "release", made.sid)
        raise
    return await install(t, await _describe(t, made, domain, kind, protocol, flags), bool(flags & SOCK_CLOEXEC))


@syscall
async def socketpair(t: Task, domain: Int, type: Int, protocol: Int, sv: Addr) -> int:
    flags = type & ~SOCK_TYPE_MASK
    if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
        raise Errno(EINVAL)
    fds = t.process.fds
    limit = nofile_limit(t)
    fds.lowest_free(fds.lowest_free(0, limit) + 1, limit)  # EMFILE unless two fds are free
    await t.mm.copy_in(sv, 2 * I32.size)  # EFAULT before the sockets exist, as Linux orders it
    kind = type & SOCK_TYPE_MASK
    first, second = await netstack(t, "socketpair", t.caller, domain, kind, protocol)
    kind = await _real_type(t, domain, kind, first.sid)
    described = [await _describe(t, made, domain, kind, protocol, flags) for made in (first, second)]
    cloexec = bool(flags & SOCK_CLOEXEC)
    installed = [fds.install(opened, limit, cloexec) for opened in described]  # two were free
    try:
        await t.mm.copy_out(sv, I32.pack(installed[0]) + I32.pack(installed[1]))
    except Errno:
        await release(t.kernel.bus, fds.id, [fds.close(fd) for fd in installed])
        raise
    return 0


# --- naming and connecting ---------------------------------------------------------------------------------


@syscall
async def bind(t: Task, sockfd: Fd, addr: Addr, addrlen: Int) -> int:
    sock = _socket(t, sockfd)
    address = await _address_in(t, addr, addrlen)
    if not _is_path(sock, address):
        await netstack(t, "bind", t.caller, sock.sid, address, None)
        return 0
    # unix_bind_bsd: make the socket file, bind, and take the file away again if bind fails
    path = unix_name(address)
    root, start = t.process.root, start_handle(t, AT_FDCWD, path)
    mode = S_IFSOCK | (0o777 & ~t.process.umask)
    try:
        await vfs(t, "mknod", root, start, path, mode, 0)
    except Errno as error:
        raise Errno(EADDRINUSE if error.errno == EEXIST else error.errno) from None
    try:
        st = await vfs(t, "stat", root, start, path, False)
        await netstack(t, "bind", t.caller, sock.sid, address, (st.dev, st.ino))
    except Errno:
        await vfs(t, "unlink", root, start, path, False)
        raise
    return 0


@syscall
async def listen(t: Task, sockfd: Fd, backlog: Int) -> int:
    await netstack(t, "listen", t.caller, _socket(t, sockfd).sid, backlog)
    return 0


@syscall
async def accept(t: Task, sockfd: Fd, addr: Addr, addrlen: Addr) -> int:
    return int(await accept4(t, sockfd, addr, addrlen, 0))


@syscall
async def accept4(t: Task, sockfd: Fd, addr: Addr, addrlen: Addr, flags: Int) -> int:
    if flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK):
        raise Errno(EINVAL)
    sock = _socket(t, sockfd)
    nonblock = await _nonblock(t, sockfd)
    t.process.fds.lowest_free(0, nofile_limit(t))  # EMFILE before waiting, as get_unused_fd_flags
    call = netstack(t, "accept", t.caller, sock.sid, nonblock)
    made, peer = await _waiting(t, sock, call, nonblock, sending=False)
    new = await _describe(t, made, sock.family, sock.type, sock.protocol, flags)
    if addr:
        try:
            if not peer:
                raise Errno(ECONNABORTED)
            await _address_out(t, peer, addr, addrlen)
        except Errno:
            await release(t.kernel.bus, t.process.fds.id, (new,))
            raise
    return await install(t, new, bool(flags & SOCK_CLOEXEC))


@syscall
async def connect(t: Task, sockfd: Fd, addr: Addr, addrlen: Int) -> int:
    sock = _socket(t, sockfd)
    nonblock = await _nonblock(t, sockfd)
    address = await _address_in(t, addr, addrlen)
    node = await _node_for(t, sock, address)
    call = netstack(t, "connect", t.caller, sock.sid, address, node, nonblock)
    await _waiting(t, sock, call, nonblock, sending=True)
    return 0


@syscall
async def shutdown(t: Task, sockfd: Fd, how: Int) -> int:
    await netstack(t, "shutdown", t.caller, _socket(t, sockfd).sid, how)
    return 0


@syscall
async def getsockname(t: Task, sockfd: Fd, addr: Addr, addrlen: Addr) -> int:
    await _address_out(t, await netstack(t, "getsockname", _socket(t, sockfd).sid), addr, addrlen)
    return 0


@syscall
async def getpeername(t: Task, sockfd: Fd, addr: Addr, addrlen: Addr) -> int:
    await _address_out(t, await netstack(t, "getpeername", _socket(t, sockfd).sid), addr, addrlen)
    return 0


# --- options ------------------------------------------------------------------------------------------------


@syscall
async def getsockopt(t: Task, sockfd: Fd, level: Int, optname: Int, optval: Addr, optlen: Addr) -> int:
    sock = _socket(t, sockfd)
    (size,) = await t.mm.read_struct(I32, optlen)
    if size < 0:
        raise Errno(EINVAL)
    value = await netstack(t, "getsockopt", t.caller, sock.sid, level, optname, size)
    if value:
        await t.mm.copy_out(optval, value)
    await t.mm.write_struct(I32, optlen, len(value))
    return 0


@syscall
async def setsockopt(t: Task, sockfd: Fd, level: Int, optname: Int, optval: Addr, optlen: Int) -> int:
    sock = _socket(t, sockfd)
    if optlen < 0:
        raise Errno(EINVAL)
    value = b""
    if optlen:
        try:
            value = await t.mm.copy_in(optval, min(optlen, 256))
        except Errno:  # options read only what they need: a short buffer with a long optlen works
            value = await t.mm.copy_in(optval, min(optlen, 16))
    await netstack(t, "setsockopt", t.caller, sock.sid, level, optname, value)
    return 0


# --- sending -----------------------------------------------------------------------------------------------------


async def _iovecs(t: Task, iov: int, iovlen: int, write: bool) -> list[memoryview]:
    """The guest memory a msghdr's iovec array describes."""
    if iovlen > UIO_MAXIOV:
        raise Errno(EMSGSIZE)
    if iovlen == 0:
        return []
    buffers: list[memoryview] = []
    for base, length in structs.IOVEC.iter_unpack(await t.mm.copy_in(iov, structs.IOVEC.size * iovlen)):
        if length > (1 << 63) - 1:
            raise Errno(EINVAL)
        if length:
            buffers.extend(await t.mm.iovecs(base, min(length, MAX_RW_COUNT), write))
    return buffers


async def _ancillary(t: Task, sock: SocketIdentity, control: bytes) -> Ancillary:
    """__scm_send: SCM_RIGHTS (AF_UNIX only; EBADF for a bad fd, EINVAL past SCM_MAX_FD) and
    SCM_CREDENTIALS; EINVAL for a malformed or unknown SOL_SOCKET message. Other levels are
    the protocol's (and ignored by it here)."""
    rights: list[HeldFile] = []
    creds = None
    offset = 0
    try:
        while offset + CMSGHDR.size <= len(control):
            length, level, kind = CMSGHDR.unpack_from(control, offset)
            if length < CMSGHDR.size or length > len(control) - offset:
                raise Errno(EINVAL)
            data = control[offset + CMSGHDR.size:offset + length]
            offset += cmsg_align(length)
            if level != SOL_SOCKET:
                continue
            if kind == SCM_RIGHTS:
                if sock.family != AF_UNIX:
                    if sock.family in (AF_INET, AF_INET6):
                        continue  # sock_cmsg_send ignores them
                    raise Errno(EINVAL)
                fds = [fd for (fd,) in I32.iter_unpack(data[:len(data) // 4 * 4])]
                if len(rights) + len(fds) > SCM_MAX_FD:
                    raise Errno(EINVAL)
                for fd in fds:
                    try:
                        handle = t.process.fds.handle(fd)
                    except Errno:
                        raise Errno(EBADF) from None
                    await t.kernel.bus.call("vfs", "hold", (handle,))
                    rights.append(HeldFile(t.kernel.bus, handle))
            elif kind == SCM_CREDENTIALS:
                if sock.family in (AF_INET, AF_INET6):
                    continue
                if length != cmsg_len(UCRED.size):
                    raise Errno(EINVAL)
                creds = UCRED.unpack(data)
            elif sock.family not in (AF_INET, AF_INET6) or kind not in (36, 37, 61):  # SO_MARK, TIMESTAMPING, TXTIME
                raise Errno(EINVAL)
    except Errno:
        for carried in rights:
            carried.drop()
        raise
    return Ancillary(tuple(rights), creds)


async def _send(t: Task, sock: SocketIdentity, nonblock: bool, buffers: list[memoryview], flags: int,
                address: bytes | None, ancillary: Ancillary) -> int:
    nonblock = nonblock or bool(flags & MSG_DONTWAIT)
    try:
        node = await _node_for(t, sock, address)
    except Errno:
        for carried in ancillary.rights:
            carried.drop()
        raise
    call = netstack(t, "sendmsg", t.caller, sock.sid, buffers, flags, nonblock, address, node, ancillary)
    try:
        return await _waiting(t, sock, call, nonblock, sending=True)
    except Errno as error:
        if error.errno == EPIPE and sock.type == SOCK_STREAM and not flags & MSG_NOSIGNAL:
            await signal_self(t, Signal.SIGPIPE)
        raise


@syscall
async def sendto(t: Task, sockfd: Fd, buf: Addr, len: ULong, flags: Int, dest_addr: Addr, addrlen: Int) -> int:
    sock = _socket(t, sockfd)
    size = min(len, MAX_RW_COUNT)
    buffers = await t.mm.iovecs(buf, size, False) if size else []
    address = await _address_in(t, dest_addr, addrlen) if dest_addr else None
    return await _send(t, sock, await _nonblock(t, sockfd), buffers, flags, address or None, Ancillary())


async def _sendmsg(t: Task, sock: SocketIdentity, nonblock: bool, msg: int, flags: int) -> int:
    name, namelen, iov, iovlen, control, controllen, _ = await t.mm.read_struct(MSGHDR, msg)
    if namelen > _INT_MAX:
        raise Errno(EINVAL)
    address = None
    if name and namelen:
        address = await _address_in(t, name, min(namelen, SOCKADDR_STORAGE_SIZE))
    buffers = await _iovecs(t, iov, iovlen, write=False)
    ancillary = Ancillary()
    if controllen:
        if controllen > _INT_MAX:
            raise Errno(ENOBUFS)
        ancillary = await _ancillary(t, sock, await t.mm.copy_in(control, controllen))
    return await _send(t, sock, nonblock, buffers, flags, address, ancillary)


@syscall
async def sendmsg(t: Task, sockfd: Fd, msg: Addr, flags: Int) -> int:
    return await _sendmsg(t, _socket(t, sockfd), await _nonblock(t, sockfd), msg, flags)


@syscall
async def sendmmsg(t: Task, sockfd: Fd, msgvec: Addr, vlen: UInt, flags: Int) -> int:
    """Send each message in turn; an error after the first only ends the batch."""
    sock = _socket(t, sockfd)
    nonblock = await _nonblock(t, sockfd)
    vlen = min(vlen, UIO_MAXIOV)
    sent = 0
    while sent < vlen:
        entry = msgvec + sent * MMSGHDR.size
        try:
            count = await _sendmsg(t, sock, nonblock, entry, flags)
        except Errno:
            if sent:
                return sent
            raise
        await t.mm.write_struct(_U32, entry + MSGHDR.size, count)
        sent += 1
    return sent


# --- receiving ----------------------------------------------------------------------------------------------------


async def _recv(t: Task, sock: SocketIdentity, nonblock: bool, buffers: list[memoryview], flags: int) -> Received:
    nonblock = nonblock or bool(flags & MSG_DONTWAIT)
    call = netstack(t, "recvmsg", t.caller, sock.sid, buffers, flags, nonblock)
    received: Received = await _waiting(t, sock, call, nonblock, sending=False)
    return received


@syscall
async def recvfrom(t: Task, sockfd: Fd, buf: Addr, len: ULong, flags: Int, src_addr: Addr, addrlen: Addr) -> int:
    sock = _socket(t, sockfd)
    size = min(len, MAX_RW_COUNT)
    buffers = await t.mm.iovecs(buf, size, True) if size else []
    received = await _recv(t, sock, await _nonblock(t, sockfd), buffers, flags)
    for carried in received.rights:
        carried.drop()
    if src_addr:
        await _address_out(t, received.address, src_addr, addrlen)
    return received.size


class _Control:
    """The control buffer recvmsg fills (put_cmsg, scm_detach_fds)."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.data = bytearray()
        self.flags = 0

    def put(self, level: int, kind: int, payload: bytes) -> None:
        """put_cmsg: a message that does not fit is cut, and MSG_CTRUNC says so."""
        if self.room < CMSGHDR.size:
            self.flags |= MSG_CTRUNC
            return
        length = cmsg_len(len(payload))
        if self.room < length:
            self.flags |= MSG_CTRUNC
            length = self.room
        message = CMSGHDR.pack(length, level, kind) + payload
        self.data += message[:length]
        used = min(cmsg_space(len(payload)), self.room)
        self.data += bytes(used - length)
        self.room -= used


async def _install_rights(t: Task, control: _Control, rights: tuple[Any, ...], flags: int) -> None:
    """scm_detach_fds: as many received files as the control buffer has room for become fds;
    the others are closed, and MSG_CTRUNC says some were lost."""
    room = (control.room - CMSGHDR.size) // 4 if control.room > CMSGHDR.size else 0
    fds: list[int] = []
    cloexec = bool(flags & MSG_CMSG_CLOEXEC)
    for carried in rights[:max(room, 0)]:
        try:
            t.process.fds.lowest_free(0, nofile_limit(t))  # EMFILE: the rest are lost
        except Errno:
            break
        handle = carried.handle
        await t.kernel.bus.call("vfs", "hold", (handle,))
        fds.append(await install(t, await t.kernel.bus.call("vfs", "facts", handle), cloexec))
    for carried in rights:
        carried.drop()
    if fds:
        payload = b"".join(I32.pack(fd) for fd in fds)
        control.put(SOL_SOCKET, SCM_RIGHTS, payload)
    if len(fds) < len(rights):
        control.flags |= MSG_CTRUNC


async def _recvmsg(t: Task, sock: SocketIdentity, nonblock: bool, msg: int, flags: int) -> tuple[int, int]:
    name, namelen, iov, iovlen, control, controllen, _ = await t.mm.read_struct(MSGHDR, msg)
    if namelen > _INT_MAX:
        raise Errno(EINVAL)
    buffers = await _iovecs(t, iov, iovlen, write=True)
    received = await _recv(t, sock, nonblock, buffers, flags)
    cmsgs = _Control(controllen if control else 0)
    if received.creds is not None:
        cmsgs.put(SOL_SOCKET, SCM_CREDENTIALS, UCRED.pack(*received.creds))
    if received.rights:
        await _install_rights(t, cmsgs, received.rights, flags)
    if name:
        address = received.address
        size = min(namelen, len(address))
        if size:
            await t.mm.copy_out(name, address[:size])
        await t.mm.write_struct(_U32, msg + 8, len(address))
    if cmsgs.data:
        await t.mm.copy_out(control, bytes(cmsgs.data))
    await t.mm.write_struct(_U64, msg + 40, len(cmsgs.data))
    await t.mm.write_struct(I32, msg + 48, received.flags | cmsgs.flags)
    return received.size, received.flags | cmsgs.flags


@syscall
async def recvmsg(t: Task, sockfd: Fd, msg: Addr, flags: Int) -> int:
    return (await _recvmsg(t, _socket(t, sockfd), await _nonblock(t, sockfd), msg, flags))[0]


@syscall
async def recvmmsg(t: Task, sockfd: Fd, msgvec: Addr, vlen: UInt, flags: Int, timeout: Addr) -> int:
    """Receive up to ``vlen`` messages; MSG_WAITFORONE waits only for the first. The timeout
    is looked at between messages (as Linux does), and written back with what is left."""
    sock = _socket(t, sockfd)
    nonblock = await _nonblock(t, sockfd)
    deadline = None
    if timeout:
        seconds, nanoseconds = await t.mm.read_struct(TIMESPEC, timeout)
        if seconds < 0 or not 0 <= nanoseconds < 1_000_000_000:
            raise Errno(EINVAL)
        deadline = _now() + seconds + nanoseconds / 1e9
    vlen = min(vlen, UIO_MAXIOV)
    count = 0
    while count < vlen:
        entry = msgvec + count * MMSGHDR.size
        try:
            size, _ = await _recvmsg(t, sock, nonblock, entry, flags)
        except Errno:
            if count:
                break
            raise
        await t.mm.write_struct(_U32, entry + MSGHDR.size, size)
        count += 1
        if flags & MSG_WAITFORONE:
            flags |= MSG_DONTWAIT
        if deadline is not None:
            left = deadline - _now()
            if left <= 0:
                await t.mm.write_struct(TIMESPEC, timeout, 0, 0)
                break
            await t.mm.write_struct(TIMESPEC, timeout, int(left), int((left % 1) * 1e9))
    return count


def _now() -> float:
    return trio.current_time()


# --- ioctls -----------------------------------------------------------------------------------------------------

#: SIOCDEVPRIVATE: sixteen ioctls each device driver may give a meaning.
SIOCDEVPRIVATE = 0x89F0
_SIOCSIF = frozenset({0x8914, 0x8916, 0x8918, 0x891A, 0x891C, 0x891E, 0x8922, 0x8924, 0x8934, 0x8943})


async def socket_ioctl(t: Task, opened: Opened, request: int, arg: int) -> int:
    """A socket's own ioctls (the generic ones, FIOCLEX, FIONCLEX and FIONBIO, are not)."""
    sock = opened.socket
    assert sock is not None
    if request in (SIOCINQ, SIOCOUTQ):  # FIONREAD and TIOCOUTQ: the description answers
        queued = await vfs(t, "ioctl", opened.handle, FIONREAD if request == SIOCINQ else TIOCOUTQ, 0)
        await t.mm.write_struct(I32, arg, min(queued, _INT_MAX))
        return 0
    if request == SIOCATMARK:
        if sock.type != SOCK_STREAM:
            raise Errno(ENOTTY if sock.family == AF_UNIX else EINVAL)
        await t.mm.write_struct(I32, arg, 0)
        return 0
    if request == SIOCGSTAMP:
        raise Errno(ENOENT)
    if request in (FIOSETOWN, SIOCSPGRP):  # sock_do_ioctl: F_SETOWN's, through a pointer
        (who,) = await t.mm.read_struct(I32, arg)
        await setown(t, opened, who)
        return 0
    if request in (FIOGETOWN, SIOCGPGRP):
        await t.mm.write_struct(I32, arg, await getown(t, opened))
        return 0
    if request == SIOCGIFCONF:
        return await _ifconf(t, arg)
    if request in _SIOCSIF:
        if not t.process.creds.has_cap(CAP_NET_ADMIN):
            raise Errno(EPERM)
        raise Errno(EOPNOTSUPP)
    if request in (SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR, SIOCGIFDSTADDR) and sock.family != AF_INET:
        raise Errno(ENOTTY)
    if request in _IFREQ_READERS:
        return await _ifreq(t, request, arg)
    if SIOCDEVPRIVATE <= request <= SIOCDEVPRIVATE + 15:
        await _interface_named(t, arg)
        raise Errno(EOPNOTSUPP)  # no interface of the sandbox has private ioctls
    raise Errno(ENOTTY)


def _ipv4(interface: Interface) -> tuple[bytes, int] | None:
    for family, address, prefix in interface.addresses:
        if family == AF_INET:
            return address, prefix
    return None


def _sockaddr_in(host: bytes) -> bytes:
    return inet_sockaddr(InetAddress(AF_INET, host, 0))


async def _ifconf(t: Task, arg: int) -> int:
    """SIOCGIFCONF: an ifreq with the IPv4 address of each interface that has one; with a NULL
    buffer, the length they would take."""
    length, buffer = await t.mm.read_struct(IFCONF, arg)
    entries = [IFREQ.pack(i.name, _sockaddr_in(found[0]).ljust(24, b"\0"))
               for i in await netstack(t, "interfaces") if (found := _ipv4(i)) is not None]
    if buffer == 0:
        await t.mm.write_struct(IFCONF, arg, len(entries) * IFREQ.size, 0)
        return 0
    fitting = entries[:max(length, 0) // IFREQ.size]
    if fitting:
        await t.mm.copy_out(buffer, b"".join(fitting))
    await t.mm.write_struct(IFCONF, arg, len(fitting) * IFREQ.size, buffer)
    return 0


async def _ifreq(t: Task, request: int, arg: int) -> int:
    """The SIOCGIF* requests that read one interface, named in (or, for SIOCGIFNAME, indexed
    by) a struct ifreq."""
    raw_name, union = IFREQ.unpack(await t.mm.copy_in(arg, IFREQ.size))
    interfaces: tuple[Interface, ...] = await netstack(t, "interfaces")
    if request == SIOCGIFNAME:
        (index,) = struct.unpack_from("<i", union)
        found = next((i for i in interfaces if i.ifindex == index), None)
        if found is None:
            raise Errno(ENODEV)
        await t.mm.copy_out(arg, found.name.ljust(IFNAMSIZ, b"\0"))
        return 0
    found = _named(interfaces, raw_name)
    await t.mm.copy_out(arg + IFNAMSIZ, _IFREQ_READERS[request](found).ljust(24, b"\0"))
    return 0


def _named(interfaces: tuple[Interface, ...], raw_name: bytes) -> Interface:
    """The interface an ifreq's name field names (at most IFNAMSIZ - 1 bytes); ENODEV if none."""
    name = raw_name[:IFNAMSIZ - 1].split(b"\0", 1)[0]
    found = next((i for i in interfaces if i.name == name), None)
    if found is None:
        raise Errno(ENODEV)
    return found


async def _interface_named(t: Task, arg: int) -> Interface:
    return _named(await netstack(t, "interfaces"), await t.mm.copy_in(arg, IFNAMSIZ))


def _address_of(interface: Interface) -> bytes:
    found = _ipv4(interface)
    if found is None:
        raise Errno(EADDRNOTAVAIL)
    return _sockaddr_in(found[0])


def _netmask_of(interface: Interface) -> bytes:
    found = _ipv4(interface)
    if found is None:
        raise Errno(EADDRNOTAVAIL)
    prefix = found[1]
    return _sockaddr_in(((0xFFFF_FFFF << (32 - prefix)) & 0xFFFF_FFFF).to_bytes(4, "big"))


def _broadcast_of(interface: Interface) -> bytes:
    _address_of(interface)
    return _sockaddr_in(bytes(4))


_IFREQ_READERS: dict[int, Callable[[Interface], bytes]] = {
    SIOCGIFFLAGS: lambda i: struct.pack("<H", i.flags & 0xFFFF),
    SIOCGIFINDEX: lambda i: struct.pack("<i", i.ifindex),
    SIOCGIFMTU: lambda i: struct.pack("<i", i.mtu),
    SIOCGIFMETRIC: lambda i: struct.pack("<i", 0),
    SIOCGIFTXQLEN: lambda i: struct.pack("<i", i.txqlen),
    SIOCGIFHWADDR: lambda i: struct.pack("<H", i.kind) + i.hwaddr,
    SIOCGIFMAP: lambda i: bytes(24),
    SIOCGIFADDR: _address_of,
    SIOCGIFNETMASK: _netmask_of,
    SIOCGIFBRDADDR: _broadcast_of,
    SIOCGIFDSTADDR: _address_of,
    SIOCGIFNAME: lambda i: b"",
}
