"""The netstack's contract: every operation the network stack offers on the bus.

The netstack owns every socket of the sandbox: AF_UNIX sockets, TCP and UDP over the loopback
interface, and NETLINK_ROUTE. A socket is named by an integer *socket id*; the kernel keeps only
that id (in a socket's open file description) and the immutable facts of :class:`Opened`.
Addresses travel as the guest wrote them, as sockaddr bytes; an AF_UNIX address naming a path
also carries the ``node`` key, ``(device, inode)``, of the socket file the VFS found or made for
it, since the netstack never walks paths. Data moves by reference: ``buffers`` are memoryviews
of guest memory, filled or drained by the operation itself.

Operations that may wait (accept, connect, sendmsg, recvmsg) wait inside the call, as a system
call sleeps, and honour ``nonblock`` (the file's O_NONBLOCK or MSG_DONTWAIT: EAGAIN instead of
waiting) and the socket's SO_RCVTIMEO/SO_SNDTIMEO (EAGAIN when it expires, or the bytes moved so
far). The caller's task may cancel a wait (a signal): a call that moved bytes then returns them.

A file's ``poll`` cannot await the bus, so each socket comes with a :class:`SocketWatch`: a
read-only view of its readiness that the netstack keeps current, as the signals actor's
PendingWatch is for signalfd.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

import trio

from kernel.bus import Contract, operation

if TYPE_CHECKING:
    from abi.creds import Caller

#: A socket, as the kernel names it.
SocketId = int
#: The (device, inode) of an AF_UNIX socket file in the VFS.
Node = tuple[int, int]
#: SCM_CREDENTIALS: pid, uid, gid.
Creds = tuple[int, int, int]


class Carried(Protocol):
    """Something an SCM_RIGHTS message carries: a reference to an open file description,
    held while it is in flight; the netstack drops it if nobody receives it."""

    def clone(self) -> Carried:
        """Another reference to the same file (MSG_PEEK hands out copies)."""
        ...

    def drop(self) -> None:
        """Give the reference up (the file is released with its last one)."""
        ...


class SocketWatch:
    """The readiness of one socket, kept current by the netstack.

    ``poll()`` answers POLL* bits as Linux's socket poll does; ``count`` moves at every change
    (edge-triggered epoll compares it) and ``wait()`` returns at the next change.
    """

    __slots__ = ("_poll", "_queued", "count", "_event", "fasync")

    def __init__(self, poll: Callable[[], int], queued: Callable[[], tuple[int, int]]) -> None:
        self._poll = poll
        self._queued = queued
        self.count = 0
        #: Made by the first waiter after a change, so a change nobody waits for costs nothing.
        self._event: trio.Event | None = None
        #: Called at each change while the socket's description has O_ASYNC and an owner (the
        #: VFS's services/vfs/fasync.py), so its signal is sent before the change's call returns.
        self.fasync: Callable[[], None] | None = None

    def poll(self) -> int:
        """The POLL* events the socket is ready for now."""
        return self._poll()

    def readable(self) -> int:
        """FIONREAD/SIOCINQ: bytes a read would return now (a datagram socket: the next one's)."""
        return self._queued()[0]

    def unsent(self) -> int:
        """SIOCOUTQ: bytes sent and not yet taken by the other end."""
        return self._queued()[1]

    def changed(self) -> None:
        """The netstack changed the socket: wake every waiter (only the netstack calls this)."""
        self.count += 1
        event = self._event
        if event is not None:
            self._event = None
            event.set()
        if self.fasync is not None:
            self.fasync()

    async def wait(self) -> None:
        event = self._event
        if event is None:
            event = self._event = trio.Event()
        await event.wait()


class Opened(NamedTuple):
    """A new socket: its id, the inode number fstat and /proc/net show, and its watch."""

    sid: SocketId
    ino: int
    watch: SocketWatch


class Ancillary(NamedTuple):
    """What a sendmsg carries besides data: SCM_RIGHTS references, and SCM_CREDENTIALS the
    sender gave explicitly (checked by the netstack; None: the sender's own)."""

    rights: tuple[Carried, ...] = ()
    creds: Creds | None = None


class Received(NamedTuple):
    """What a recvmsg got: ``size`` (bytes copied, or the real length with MSG_TRUNC), the
    msg_flags (MSG_TRUNC, MSG_CTRUNC, MSG_EOR), the sender's sockaddr (b"" for none), the file
    references that came with the data (the receiver installs them and drops each), and the
    sender's credentials when the socket has SO_PASSCRED."""

    size: int
    flags: int
    address: bytes
    rights: tuple[Carried, ...] = ()
    creds: Creds | None = None


class Interface(NamedTuple):
    """A network interface as SIOCGIF* and RTM_GETLINK show it.

    ``addresses`` are (family, address bytes, prefix length) triples.
    """

    ifindex: int
    name: bytes
    flags: int
    mtu: int
    kind: int
    hwaddr: bytes
    txqlen: int
    addresses: tuple[tuple[int, bytes, int], ...]


class NetstackContract(Contract):
    """The netstack's operations. Every failure is the errno Linux gives for it."""

    service = "netstack"

    @operation
    async def socket(self, caller: Caller, family: int, type: int, protocol: int) -> Opened:
        """socket(2) (``type`` without SOCK_NONBLOCK/SOCK_CLOEXEC). EAFNOSUPPORT for a family the
        sandbox has not (AF_PACKET with CAP_NET_RAW, ...), ESOCKTNOSUPPORT/EPROTONOSUPPORT/EPROTOTYPE
        for a type or protocol the family has not, EPERM for raw or packet sockets without
        CAP_NET_RAW, EINVAL for a bad family or type number."""
        raise NotImplementedError

    @operation
    async def socketpair(self, caller: Caller, family: int, type: int, protocol: int) -> tuple[Opened, Opened]:
        """socketpair(2): two connected AF_UNIX sockets. EOPNOTSUPP for another family (after
        the checks socket(2) makes), EPROTONOSUPPORT for a protocol other than 0."""
        raise NotImplementedError

    @operation
    async def bind(self, caller: Caller, sid: SocketId, address: bytes, node: Node | None) -> None:
        """bind(2). EINVAL (bad length, already bound), EAFNOSUPPORT (another family),
        EADDRINUSE, EADDRNOTAVAIL (not an address of the sandbox), EACCES (a port below 1024
        without CAP_NET_BIND_SERVICE). ``node`` is the socket file made for a path address."""
        raise NotImplementedError

    @operation
    async def listen(self, caller: Caller, sid: SocketId, backlog: int) -> None:
        """listen(2). EINVAL (an unbound AF_UNIX socket, a connected one), EOPNOTSUPP (a
        datagram socket), EADDRINUSE (another listener took the port)."""
        raise NotImplementedError

    @operation
    async def accept(self, caller: Caller, sid: SocketId, nonblock: bool) -> tuple[Opened, bytes]:
        """accept(2): the next connection and its peer's sockaddr; waits for one. EINVAL (not
        listening), EOPNOTSUPP (a datagram socket), EAGAIN."""
        raise NotImplementedError

    @operation
    async def connect(self, caller: Caller, sid: SocketId, address: bytes, node: Node | None,
                      nonblock: bool) -> None:
        """connect(2). ECONNREFUSED, EPROTOTYPE (another AF_UNIX type), EISCONN, EALREADY,
        EINPROGRESS (non-blocking TCP), EAGAIN (a full AF_UNIX backlog, non-blocking),
        ENETUNREACH (no route out of the sandbox), EAFNOSUPPORT, EINVAL."""
        raise NotImplementedError

    @operation
    async def shutdown(self, caller: Caller, sid: SocketId, how: int) -> None:
        """shutdown(2). EINVAL (bad ``how``), ENOTCONN (an unconnected INET socket)."""
        raise NotImplementedError

    @operation
    async def sendmsg(self, caller: Caller, sid: SocketId, buffers: list[memoryview], flags: int,
                      nonblock: bool, address: bytes | None, node: Node | None, ancillary: Ancillary) -> int:
        """sendmsg(2) and its forms: the bytes sent. EPIPE (the kernel layer adds SIGPIPE
        unless MSG_NOSIGNAL), ENOTCONN, EDESTADDRREQ, EISCONN, EMSGSIZE, ECONNREFUSED,
        ECONNRESET, EAGAIN, EPERM (bad SCM_CREDENTIALS), EOPNOTSUPP (unsupported flags)."""
        raise NotImplementedError

    @operation
    async def recvmsg(self, caller: Caller, sid: SocketId, buffers: list[memoryview], flags: int,
                      nonblock: bool) -> Received:
        """recvmsg(2) and its forms. EAGAIN, EINVAL (an unconnected AF_UNIX stream socket),
        ENOTCONN, ECONNRESET, ECONNREFUSED (a connected UDP socket's pending error)."""
        raise NotImplementedError

    @operation
    async def getsockopt(self, caller: Caller, sid: SocketId, level: int, name: int, size: int) -> bytes:
        """getsockopt(2): the option's value, already cut to ``size`` bytes as Linux copies
        it. ENOPROTOOPT, EOPNOTSUPP (a level the family has not), ENOTCONN, EINVAL."""
        raise NotImplementedError

    @operation
    async def setsockopt(self, caller: Caller, sid: SocketId, level: int, name: int, value: bytes) -> None:
        """setsockopt(2). ENOPROTOOPT, EOPNOTSUPP, EINVAL (short value, out of range), EDOM (a
        bad timeval), EPERM/EACCES (options that need a capability)."""
        raise NotImplementedError

    @operation
    async def getsockname(self, sid: SocketId) -> bytes:
        """getsockname(2): the socket's own sockaddr."""
        raise NotImplementedError

    @operation
    async def getpeername(self, sid: SocketId) -> bytes:
        """getpeername(2): the peer's sockaddr. ENOTCONN."""
        raise NotImplementedError

    @operation
    async def interrupted(self, sid: SocketId, sending: bool) -> int:
        """The errno a signal gives a call that was waiting on the socket: ERESTARTSYS, or
        EINTR when the wait had a timeout (SO_RCVTIMEO, SO_SNDTIMEO), as sock_intr_errno."""
        raise NotImplementedError

    @operation
    async def release(self, sid: SocketId) -> None:
        """The socket's last file reference is gone. Never waits (a closing file cannot)."""
        raise NotImplementedError

    @operation
    async def interfaces(self) -> tuple[Interface, ...]:
        """The sandbox's network interfaces, in index order."""
        raise NotImplementedError

    @operation
    async def proc_net(self, table: str) -> bytes:
        """The text of /proc/net/``table``: "tcp", "tcp6", "udp", "udp6", "unix" or "dev".
        ENOENT for another name."""
        raise NotImplementedError
