"""The netstack actor: every socket of the sandbox, reached through the bus.

Each operation looks the socket up by id and asks its state machine (:mod:`.unix`,
:mod:`.inet`, :mod:`.netlink`) to act. A state machine that cannot go on raises
:class:`~services.netstack.base.Blocked` naming the watch to wait on; :meth:`Netstack._drive`
then waits (in the caller's task, so a signal cancels it), fails with EAGAIN when the caller
may not wait or the socket's timeout passed, or returns the progress already made.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from kernel.errors import Interrupted
from abi.creds import CAP_NET_RAW, CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN
from abi.errno import (
    EACCES,
    EAFNOSUPPORT,
    EBADF,
    EAGAIN,
    EINPROGRESS,
    EINTR,
    EINVAL,
    ENODEV,
    ENOENT,
    EOPNOTSUPP,
    EPERM,
    EPROTONOSUPPORT,
    ERESTARTSYS,
    ESOCKTNOSUPPORT,
    Errno,
)
from abi.socket import (
    AF_INET,
    AF_INET6,
    AF_MAX,
    AF_NETLINK,
    AF_PACKET,
    AF_UNIX,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_IP,
    IPPROTO_TCP,
    IPPROTO_UDP,
    MAX_LINKS,
    NETLINK_ROUTE,
    SO_BINDTODEVICE,
    SOCK_DGRAM,
    SOCK_PACKET,
    SOCK_RAW,
    SOCK_SEQPACKET,
    SOCK_STREAM,
    SOL_SOCKET,
)
from services.netstack.base import HZ, Blocked, Reading, Socket, Writing
from services.netstack.egress import Egress
from services.netstack.contract import (
    Ancillary,
    Creds,
    Interface,
    NetstackContract,
    Node,
    Opened,
    Received,
    SocketId,
)
from services.netstack.inet import TcpSocket, UdpSocket
from services.netstack.netlink import NetlinkSocket
from services.netstack.procnet import proc_net_text
from services.netstack.stack import Stack
from services.netstack.unix import UnixSocket

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.netstack.gate import NetGate

#: Types socket(2) accepts at all (SOCK_MAX).
_SOCK_MAX = 11


class Netstack(NetstackContract):
    """The sandbox's network stack: AF_UNIX, TCP and UDP over loopback, NETLINK_ROUTE."""

    def __init__(self, gate: NetGate | None = None) -> None:
        self.stack = Stack(eth0=gate is not None)
        if gate is not None:
            self.stack.egress = Egress(gate)

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The way out of the sandbox, if it has one (its relays live as long as the actor)."""
        egress = self.stack.egress
        if egress is None:
            task_status.started()
            return
        await egress.serve(task_status=task_status)

    async def close(self) -> None:
        if self.stack.egress is not None:
            self.stack.egress.gate.close()

    # --- making sockets -----------------------------------------------------------------------

    def _create(self, caller: Caller, family: int, type: int, protocol: int) -> Socket:
        """__sock_create's checks, then the family's own (unix_create, inet_create ...)."""
        if not 0 <= family < AF_MAX:
            raise Errno(EAFNOSUPPORT)
        if not 0 <= type < _SOCK_MAX:
            raise Errno(EINVAL)
        if family == AF_INET and type == SOCK_PACKET:
            family = AF_PACKET
        stack = self.stack
        if family == AF_UNIX:
            if protocol not in (0, AF_UNIX):
                raise Errno(EPROTONOSUPPORT)
            if type == SOCK_RAW:
                type = SOCK_DGRAM
            if type not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
                raise Errno(ESOCKTNOSUPPORT)
            return UnixSocket(stack, type, caller)
        if family in (AF_INET, AF_INET6):
            return self._create_inet(caller, family, type, protocol)
        if family == AF_NETLINK:
            if type not in (SOCK_RAW, SOCK_DGRAM):
                raise Errno(ESOCKTNOSUPPORT)
            if not 0 <= protocol < MAX_LINKS or protocol != NETLINK_ROUTE:
                raise Errno(EPROTONOSUPPORT)  # as a kernel with no such netlink family
            return NetlinkSocket(stack, type, protocol, caller.creds.euid)
        if family == AF_PACKET:
            if not caller.creds.has_cap(CAP_NET_RAW):
                raise Errno(EPERM)
            if type not in (SOCK_DGRAM, SOCK_RAW, SOCK_PACKET):
                raise Errno(ESOCKTNOSUPPORT)
        raise Errno(EAFNOSUPPORT)  # a family the sandbox has not, as a kernel without it

    def _create_inet(self, caller: Caller, family: int, type: int, protocol: int) -> Socket:
        """inet_create/inet6_create: the (type, protocol) pairs of inetsw."""
        icmp = IPPROTO_ICMP if family == AF_INET else IPPROTO_ICMPV6
        if type == SOCK_STREAM:
            if protocol not in (IPPROTO_IP, IPPROTO_TCP):
                raise Errno(EPROTONOSUPPORT)
            return TcpSocket(self.stack, family, caller.creds.euid)
        if type == SOCK_DGRAM:
            if protocol in (IPPROTO_IP, IPPROTO_UDP):
                return UdpSocket(self.stack, family, caller.creds.euid)
            if protocol == icmp:
                raise Errno(EACCES)  # ping sockets: net.ipv4.ping_group_range is "1 0", no group may
            raise Errno(EPROTONOSUPPORT)
        if type == SOCK_RAW:
            if not caller.creds.has_cap(CAP_NET_RAW):
                raise Errno(EPERM)
            raise Errno(EPROTONOSUPPORT)  # no raw IP in the sandbox (documented limit)
        raise Errno(ESOCKTNOSUPPORT)

    def _opened(self, sock: Socket) -> Opened:
        return Opened(sock.sid, sock.ino, sock.watch)

    # --- waiting --------------------------------------------------------------------------------

    async def _drive(self, sock: Socket, step: Callable[[], None], progress: Callable[[], int], nonblock: bool,
                     jiffies: int, timeout_errno: int = EAGAIN) -> None:
        """Run ``step`` until it finishes without :class:`Blocked`.

        Blocked with nothing done yet: EAGAIN if the caller may not wait, ``timeout_errno``
        once the socket's timeout (``jiffies``, 0: none) passes, else wait for the watch and
        try again. Blocked after some progress, or a wait cancelled by a signal after some
        progress: return, the progress is the answer.
        """
        deadline = math.inf
        while True:
            try:
                step()
                return
            except Blocked as blocked:
                watch = blocked.watch
            if nonblock:
                if progress():
                    return
                raise Errno(EAGAIN)
            if deadline == math.inf and jiffies:
                deadline = trio.current_time() + jiffies / HZ
            if trio.current_time() >= deadline:
                if progress():
                    return
                raise Errno(timeout_errno)
            try:
                if deadline == math.inf:  # no cancel scope to build (~10 µs) without a timeout
                    await watch.wait()
                else:
                    with trio.move_on_at(deadline):
                        await watch.wait()
            except (trio.Cancelled, Interrupted):
                if progress():
                    return  # a signal after some bytes moved: the call returns them
                raise
            if sock.closed:
                raise Errno(EBADF)  # another thread closed the socket's last fd meanwhile

    # --- operations ------------------------------------------------------------------------------

    async def socket(self, caller: Caller, family: int, type: int, protocol: int) -> Opened:
        return self._opened(self._create(caller, family, type, protocol))

    async def socketpair(self, caller: Caller, family: int, type: int, protocol: int) -> tuple[Opened, Opened]:
        if family != AF_UNIX:
            self._create(caller, family, type, protocol).close()  # its errors come first
            raise Errno(EOPNOTSUPP)
        first = self._create(caller, family, type, protocol)
        second = self._create(caller, family, type, protocol)
        assert isinstance(first, UnixSocket) and isinstance(second, UnixSocket)
        first.pair_with(second, caller)
        return self._opened(first), self._opened(second)

    async def bind(self, caller: Caller, sid: SocketId, address: bytes, node: Node | None) -> None:
        self.stack.get(sid).bind(caller, address, node)

    async def listen(self, caller: Caller, sid: SocketId, backlog: int) -> None:
        self.stack.get(sid).listen(caller, backlog)

    async def accept(self, caller: Caller, sid: SocketId, nonblock: bool) -> tuple[Opened, bytes]:
        sock = self.stack.get(sid)
        accepted: list[Socket] = []
        await self._drive(sock, lambda: accepted.append(sock.accept()), lambda: 0, nonblock, sock.rcvtimeo)
        new = accepted[0]
        try:
            peer = new.peer_name()
        except Errno:
            peer = b""  # the peer is gone already (accept4 then fails with ECONNABORTED)
        return self._opened(new), peer

    async def connect(self, caller: Caller, sid: SocketId, address: bytes, node: Node | None,
                      nonblock: bool) -> None:
        sock = self.stack.get(sid)
        timeout_errno = EINPROGRESS if isinstance(sock, TcpSocket) else EAGAIN
        # TCP answers a non-blocking connect itself (EINPROGRESS, EALREADY); AF_UNIX waits
        # for room in the listener's backlog, or says EAGAIN.
        await self._drive(sock, lambda: sock.connect(caller, address, node, nonblock), lambda: 0,
                          nonblock and not isinstance(sock, TcpSocket), sock.sndtimeo, timeout_errno)

    async def shutdown(self, caller: Caller, sid: SocketId, how: int) -> None:
        self.stack.get(sid).shutdown(how)

    async def sendmsg(self, caller: Caller, sid: SocketId, buffers: list[memoryview], flags: int,
                      nonblock: bool, address: bytes | None, node: Node | None, ancillary: Ancillary) -> int:
        sock = self.stack.get(sid)
        creds = self._sender_creds(caller, ancillary.creds)
        data: bytes | memoryview = buffers[0] if len(buffers) == 1 else b"".join(buffers)
        writing = Writing(data, flags, creds, list(ancillary.rights))
        try:
            await self._drive(sock, lambda: sock.send(caller, writing, address, node), lambda: writing.sent,
                              nonblock, sock.sndtimeo)
        finally:
            for carried in writing.rights:  # not sent: the references go back
                carried.drop()
        return writing.sent

    async def recvmsg(self, caller: Caller, sid: SocketId, buffers: list[memoryview], flags: int,
                      nonblock: bool) -> Received:
        sock = self.stack.get(sid)
        reading = Reading(buffers, flags, nonblock=nonblock)
        try:
            await self._drive(sock, lambda: sock.recv(reading), lambda: reading.copied, nonblock, sock.rcvtimeo)
        except BaseException:
            for carried in reading.rights:
                carried.drop()
            raise
        size = reading.copied if reading.result is None else reading.result
        return Received(size, reading.msg_flags, reading.address, tuple(reading.rights), reading.creds)

    async def getsockopt(self, caller: Caller, sid: SocketId, level: int, name: int, size: int) -> bytes:
        sock = self.stack.get(sid)
        if level == SOL_SOCKET:
            return sock.get_socket_option(name, size)
        return sock.get_option(caller, level, name, size)

    async def setsockopt(self, caller: Caller, sid: SocketId, level: int, name: int, value: bytes) -> None:
        sock = self.stack.get(sid)
        if level == SOL_SOCKET:
            if name == SO_BINDTODEVICE:
                device = value.split(b"\0", 1)[0]
                if device and self.stack.interfaces.by_name(device) is None:
                    raise Errno(ENODEV)
            sock.set_socket_option(caller, name, value)
            return
        sock.set_option(caller, level, name, value)

    async def getsockname(self, sid: SocketId) -> bytes:
        return self.stack.get(sid).sockname()

    async def getpeername(self, sid: SocketId) -> bytes:
        return self.stack.get(sid).peer_name()

    async def interrupted(self, sid: SocketId, sending: bool) -> int:
        sock = self.stack.sockets.get(sid)
        if sock is None:
            return ERESTARTSYS
        return EINTR if (sock.sndtimeo if sending else sock.rcvtimeo) else ERESTARTSYS

    async def release(self, sid: SocketId) -> None:
        sock = self.stack.sockets.get(sid)
        if sock is not None:
            sock.close()

    async def interfaces(self) -> tuple[Interface, ...]:
        return self.stack.interfaces.all()

    async def proc_net(self, table: str) -> bytes:
        text = proc_net_text(self.stack, table)
        if text is None:
            raise Errno(ENOENT)
        return text

    # --- credentials -------------------------------------------------------------------------------

    def _sender_creds(self, caller: Caller, given: Creds | None) -> Creds:
        """The credentials a message carries: the sender's own (pid, uid, gid), or those it gave
        in SCM_CREDENTIALS if it may claim them (scm_check_creds: EPERM otherwise)."""
        creds = caller.creds
        if given is None:
            return (caller.pid, creds.uid, creds.gid)
        pid, uid, gid = given
        if uid == 0xFFFF_FFFF or gid == 0xFFFF_FFFF:
            raise Errno(EINVAL)
        if ((pid == caller.pid or creds.has_cap(CAP_SYS_ADMIN))
                and (uid in (creds.uid, creds.euid, creds.suid) or creds.has_cap(CAP_SETUID))
                and (gid in (creds.gid, creds.egid, creds.sgid) or creds.has_cap(CAP_SETGID))):
            return given
        raise Errno(EPERM)

