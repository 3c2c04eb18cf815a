"""TCP and UDP over the sandbox's own addresses (tcp(7), udp(7), ip(7), ipv6(7)), as sans-IO
state machines.

No packets exist: a TCP connection is two sockets pointing at each other, each writing into
the other's receive buffer, within the receiver's SO_RCVBUF plus the sender's SO_SNDBUF (the
back-pressure); the handshake, FIN and RST are state changes made at once, with the errors
and states Linux shows (ECONNREFUSED, ECONNRESET, EPIPE, CLOSE_WAIT ...). A UDP datagram is
queued on the socket the port table picks, or dropped when that socket's receive buffer is
full; a connected UDP socket sending to a port nobody holds gets ECONNREFUSED on its next call,
as the ICMP error would give it.

Addresses are kept in the socket's own family: an AF_INET6 socket talking to IPv4 sees
v4-mapped addresses (::ffff:127.0.0.1). Only the sandbox's addresses are reachable; anything
else is ENETUNREACH (there is no route out yet).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from abi.creds import CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, CAP_NET_RAW
from abi.errno import (
    EACCES,
    EADDRINUSE,
    EADDRNOTAVAIL,
    EAFNOSUPPORT,
    EAGAIN,
    EALREADY,
    ECONNABORTED,
    ECONNREFUSED,
    ECONNRESET,
    EDESTADDRREQ,
    EINPROGRESS,
    EINVAL,
    EISCONN,
    EMSGSIZE,
    ENETUNREACH,
    ENOENT,
    ENOPROTOOPT,
    ENOTCONN,
    EOPNOTSUPP,
    EPERM,
    EPIPE,
    Errno,
)
from abi.linux import POLLERR, POLLHUP, POLLRDHUP
from abi.socket import (
    AF_INET,
    AF_INET6,
    AF_UNSPEC,
    IN6ADDR_ANY,
    IN6ADDR_LOOPBACK,
    INADDR_ANY,
    INADDR_LOOPBACK,
    IP_BIND_ADDRESS_NO_PORT,
    IP_FREEBIND,
    IP_MTU,
    IP_MTU_DISCOVER,
    IP_MULTICAST_LOOP,
    IP_MULTICAST_TTL,
    IP_PKTINFO,
    IP_RECVERR,
    IP_RECVOPTS,
    IP_RECVTOS,
    IP_RECVTTL,
    IP_TOS,
    IP_TRANSPARENT,
    IP_TTL,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPV6_MTU,
    IPV6_MTU_DISCOVER,
    IPV6_MULTICAST_HOPS,
    IPV6_MULTICAST_LOOP,
    IPV6_RECVERR,
    IPV6_RECVPKTINFO,
    IPV6_RECVTCLASS,
    IPV6_TCLASS,
    IPV6_UNICAST_HOPS,
    IPV6_V6ONLY,
    MSG_ERRQUEUE,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    MSG_WAITALL,
    SOCK_DGRAM,
    SOCK_STREAM,
    SOL_IP,
    SOL_IPV6,
    SOL_TCP,
    SOL_UDP,
    TCP_CLOSE,
    TCP_CLOSE_WAIT,
    TCP_CONGESTION,
    TCP_CORK,
    TCP_DEFER_ACCEPT,
    TCP_ESTABLISHED,
    TCP_FASTOPEN,
    TCP_FIN_WAIT2,
    TCP_INFO,
    TCP_INQ,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_LAST_ACK,
    TCP_LINGER2,
    TCP_LISTEN,
    TCP_MAXSEG,
    TCP_NODELAY,
    TCP_NOTSENT_LOWAT,
    TCP_QUICKACK,
    TCP_SYN_SENT,
    TCP_SYNCNT,
    TCP_USER_TIMEOUT,
    TCP_WINDOW_CLAMP,
    InetAddress,
    inet_sockaddr,
    parse_inet,
    sockaddr_family,
    unmapped,
    v4_mapped,
)
from services.netstack.base import (
    READABLE,
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    SHUTDOWN_MASK,
    SOCK_MIN_RCVBUF,
    SOMAXCONN,
    WRITABLE,
    Blocked,
    Message,
    Reading,
    Socket,
    Writing,
    int_value,
    pack_int,
    scatter,
    truesize,
)
from services.netstack.ports import UNPRIVILEGED_PORT_START, Claim, claims, destination

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.netstack.contract import Node
    from services.netstack.stack import Stack

#: sock->state: whether connect(2) is in progress or done (apart from the TCP state).
SS_UNCONNECTED = 1
SS_CONNECTING = 2
SS_CONNECTED = 3

#: sysctl net.ipv4.tcp_wmem[1] and tcp_rmem[1]: a TCP socket's first buffers.
TCP_WMEM_DEFAULT = 16384
TCP_RMEM_DEFAULT = 131072
TCP_MSS_DEFAULT = 536
#: Largest UDP payloads: 65535 less the IP and UDP headers.
UDP_MAX_V4 = 65507
UDP_MAX_V6 = 65527
DEFAULT_TTL = 64
#: Bytes of headers a loopback segment carries (IPv4 + TCP with timestamps; IPv4 + UDP).
_TCP_OVERHEAD = 52
_UDP_OVERHEAD = 28
#: Linux 5.x and later fill this much of struct tcp_info.
TCP_INFO_SIZE = 232
#: struct tcp_info's head: eight bytes of state, then 24 u32 (rto ... total_retrans).
_TCP_INFO = struct.Struct("<8B24I")


def _any(family: int) -> bytes:
    return INADDR_ANY if family == AF_INET else IN6ADDR_ANY


def in_family(family: int, claim: Claim) -> bytes:
    """An address as a socket of ``family`` shows it (v4-mapped in an AF_INET6 socket)."""
    version, host = claim
    assert host is not None
    if family == AF_INET6 and version == 4:
        return v4_mapped(host)
    return host


class InetSocket(Socket):
    """What TCP and UDP sockets share: the local and remote address, the port, IP options."""

    #: IPPROTO_TCP or IPPROTO_UDP: the port table this socket's ports are in.
    transport = 0

    def __init__(self, stack: Stack, family: int, type: int, protocol: int, uid: int) -> None:
        super().__init__(stack, type, protocol, uid)
        self.family = family
        self.state = TCP_CLOSE
        self.host = _any(family)
        self.port = 0
        #: bind(2) fixed the address or the port (SOCK_BINDADDR_LOCK, SOCK_BINDPORT_LOCK).
        self.address_locked = False
        self.port_locked = False
        self.remote: InetAddress | None = None
        self.v6only = False
        #: IP-level options only stored and read back, by (level, name).
        self.ip_options: dict[tuple[int, int], int] = {}

    # --- addresses -------------------------------------------------------------------------------

    def claims(self) -> list[Claim]:
        return claims(self.family, self.host, self.v6only)

    def sockname(self) -> bytes:
        return inet_sockaddr(InetAddress(self.family, self.host, self.port))

    def peer_name(self) -> bytes:
        if self.remote is None or self.state in (TCP_CLOSE, TCP_SYN_SENT) and self.type == SOCK_STREAM:
            raise Errno(ENOTCONN)
        if self.type == SOCK_DGRAM and self.state != TCP_ESTABLISHED:
            raise Errno(ENOTCONN)
        return inet_sockaddr(self.remote)

    def parse(self, address: bytes) -> InetAddress:
        """A destination sockaddr of this socket's family; an AF_INET6 socket also takes an
        AF_INET one as its v4-mapped form (EAFNOSUPPORT for other families, EINVAL if short)."""
        if self.family == AF_INET6 and len(address) >= 2 and sockaddr_family(address) == AF_INET:
            inner = parse_inet(address, AF_INET)
            return InetAddress(AF_INET6, v4_mapped(inner.host), inner.port)
        return parse_inet(address, self.family)

    def route(self, host: bytes) -> tuple[bytes, bytes]:
        """(destination, source) for a packet to ``host``: the wildcard means loopback, and
        only the sandbox's own addresses have a route (ENETUNREACH otherwise)."""
        family = self.family
        inner = unmapped(host) if family == AF_INET6 else host
        if family == AF_INET6 and inner is not None and self.v6only:
            raise Errno(ENETUNREACH)
        if inner is not None:
            if inner == INADDR_ANY:
                inner = INADDR_LOOPBACK
            if self.stack.interfaces.is_local(AF_INET, inner):
                own = INADDR_LOOPBACK
            elif self.stack.egress is not None:
                own = self.stack.egress.source  # out of the sandbox by eth0 (services/netstack/egress.py)
            else:
                raise Errno(ENETUNREACH)
            source = self.host if self.address_locked else (v4_mapped(own) if family == AF_INET6 else own)
            return (v4_mapped(inner) if family == AF_INET6 else inner), source
        if host == IN6ADDR_ANY:
            host = IN6ADDR_LOOPBACK
        if not self.stack.interfaces.is_local(AF_INET6, host):
            raise Errno(ENETUNREACH)
        return host, self.host if self.address_locked else IN6ADDR_LOOPBACK

    def bind(self, caller: Caller, address: bytes, node: Node | None) -> None:
        """inet_bind/inet6_bind: the address must be the sandbox's (or the wildcard), a port
        below 1024 needs CAP_NET_BIND_SERVICE, and the port must be free for it."""
        family = self.family
        if family == AF_INET:
            if len(address) < 16:
                raise Errno(EINVAL)
            sa_family = sockaddr_family(address)
            if sa_family == AF_UNSPEC and address[4:8] == INADDR_ANY:
                address = struct.pack("<H", AF_INET) + address[2:]
            elif sa_family != AF_INET:
                raise Errno(EAFNOSUPPORT)
        elif len(address) >= 2 and sockaddr_family(address) != AF_INET6:
            raise Errno(EINVAL if len(address) < 24 else EAFNOSUPPORT)
        wanted = parse_inet(address, family)
        host, port = wanted.host, wanted.port
        free = self.ip_options.get((SOL_IP, IP_FREEBIND)) or self.ip_options.get((SOL_IP, IP_TRANSPARENT))
        inner = unmapped(host) if family == AF_INET6 else host
        if family == AF_INET6 and inner is None and host != IN6ADDR_ANY and not free:
            if not self.stack.interfaces.is_local(AF_INET6, host):
                raise Errno(EADDRNOTAVAIL)
        if port and port < UNPRIVILEGED_PORT_START and not caller.creds.has_cap(CAP_NET_BIND_SERVICE):
            raise Errno(EACCES)
        if self.state != TCP_CLOSE or self.port:
            raise Errno(EINVAL)
        if inner is not None:
            if family == AF_INET6 and self.v6only:
                raise Errno(EINVAL)
            if inner != INADDR_ANY and not free and not self.stack.interfaces.is_local(AF_INET, inner):
                raise Errno(EADDRNOTAVAIL)
        previous = self.host
        self.host = host
        try:
            self.port = self.stack.ports.take(self.transport, self, port)
        except Errno:
            self.host = previous
            raise
        self.address_locked = host != _any(family)
        self.port_locked = port != 0

    def autobind(self) -> None:
        """An ephemeral port for a socket that sends or connects unbound."""
        if not self.port:
            self.port = self.stack.ports.take(self.transport, self, 0)

    def unbind(self) -> None:
        if self.port:
            self.stack.ports.release(self.transport, self, self.port)
            self.port = 0

    # --- options -----------------------------------------------------------------------------------

    def get_option(self, caller: Caller, level: int, name: int, size: int) -> bytes:
        if size < 0:
            raise Errno(EINVAL)
        if level == SOL_IP:
            value = self._get_ip(name)
            if 0 < size < 4 and 0 <= value <= 255:
                return bytes([value])
            return pack_int(value)[:size]
        if level == SOL_IPV6 and self.family == AF_INET6:
            return pack_int(self._get_ipv6(name))[:size]
        raise Errno(ENOPROTOOPT)

    def set_option(self, caller: Caller, level: int, name: int, value: bytes) -> None:
        if level == SOL_IP:
            self._set_ip(caller, name, value)
        elif level == SOL_IPV6 and self.family == AF_INET6:
            self._set_ipv6(name, value)
        else:
            raise Errno(ENOPROTOOPT)

    def _mtu(self) -> int:
        if self.remote is None or self.state == TCP_CLOSE and self.type == SOCK_STREAM:
            raise Errno(ENOTCONN)
        return self.stack.interfaces.all()[0].mtu

    def _get_ip(self, name: int) -> int:
        if name == IP_MTU:
            return self._mtu()
        if name == IP_TTL:
            ttl = self.ip_options.get((SOL_IP, IP_TTL), -1)
            return DEFAULT_TTL if ttl == -1 else ttl
        if name == IP_MULTICAST_TTL:
            return self.ip_options.get((SOL_IP, name), 1)
        if name == IP_MULTICAST_LOOP:
            return self.ip_options.get((SOL_IP, name), 1)
        if name == IP_MTU_DISCOVER:
            return self.ip_options.get((SOL_IP, name), 1)
        if name in _IP_STORED:
            return self.ip_options.get((SOL_IP, name), 0)
        raise Errno(ENOPROTOOPT)

    def _set_ip(self, caller: Caller, name: int, value: bytes) -> None:
        """ip_setsockopt: an int, or a single byte, with each option's range."""
        number = int.from_bytes(value[:4], "little", signed=True) if len(value) >= 4 else (value[0] if value else 0)
        if name == IP_TTL:
            if number != -1 and not 1 <= number <= 255:
                raise Errno(EINVAL)
        elif name == IP_TOS:
            if self.type == SOCK_STREAM:
                number = (number & ~3) | (self.ip_options.get((SOL_IP, IP_TOS), 0) & 3)
            number &= 0xFF
        elif name == IP_MTU_DISCOVER:
            if not 0 <= number <= 5:
                raise Errno(EINVAL)
        elif name == IP_MULTICAST_TTL:
            if number == -1:
                number = 1
            if not 0 <= number <= 255:
                raise Errno(EINVAL)
        elif name == IP_TRANSPARENT:
            if not (caller.creds.has_cap(CAP_NET_RAW) or caller.creds.has_cap(CAP_NET_ADMIN)):
                raise Errno(EPERM)
            number = int(number != 0)
        elif name in (IP_RECVTOS, IP_RECVTTL, IP_PKTINFO, IP_RECVERR, IP_FREEBIND, IP_MULTICAST_LOOP,
                      IP_BIND_ADDRESS_NO_PORT, IP_RECVOPTS):
            number = int(number != 0)
        elif name not in _IP_STORED:
            raise Errno(ENOPROTOOPT)
        self.ip_options[(SOL_IP, name)] = number

    def _get_ipv6(self, name: int) -> int:
        if name == IPV6_V6ONLY:
            return int(self.v6only)
        if name == IPV6_MTU:
            return self._mtu()
        if name in (IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS):
            hops = self.ip_options.get((SOL_IPV6, name), -1)
            return (DEFAULT_TTL if name == IPV6_UNICAST_HOPS else 1) if hops == -1 else hops
        if name == IPV6_TCLASS:
            return max(self.ip_options.get((SOL_IPV6, name), 0), 0)
        if name == IPV6_MULTICAST_LOOP:
            return self.ip_options.get((SOL_IPV6, name), 1)
        if name == IPV6_MTU_DISCOVER:
            return self.ip_options.get((SOL_IPV6, name), 1)
        if name in (IPV6_RECVPKTINFO, IPV6_RECVTCLASS, IPV6_RECVERR):
            return self.ip_options.get((SOL_IPV6, name), 0)
        raise Errno(ENOPROTOOPT)

    def _set_ipv6(self, name: int, value: bytes) -> None:
        if name not in (IPV6_V6ONLY, IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS, IPV6_TCLASS, IPV6_MULTICAST_LOOP,
                        IPV6_MTU_DISCOVER, IPV6_RECVPKTINFO, IPV6_RECVTCLASS, IPV6_RECVERR):
            raise Errno(ENOPROTOOPT)
        number = int_value(value)
        if name == IPV6_V6ONLY:
            if self.port:
                raise Errno(EINVAL)
            self.v6only = number != 0
            return
        if name in (IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS, IPV6_TCLASS) and not -1 <= number <= 255:
            raise Errno(EINVAL)
        if name == IPV6_MTU_DISCOVER and not 0 <= number <= 5:
            raise Errno(EINVAL)
        if name in (IPV6_MULTICAST_LOOP, IPV6_RECVPKTINFO, IPV6_RECVTCLASS, IPV6_RECVERR):
            number = int(number != 0)
        self.ip_options[(SOL_IPV6, name)] = number

    def traffic(self, length: int, overhead: int, packets: int = 1) -> None:
        extra = 20 if self.family == AF_INET6 else 0
        self.stack.interfaces.loopback_traffic(length + packets * (overhead + extra), packets)


_IP_STORED = frozenset({IP_TOS, IP_RECVTOS, IP_RECVTTL, IP_PKTINFO, IP_RECVERR, IP_FREEBIND, IP_TRANSPARENT,
                        IP_BIND_ADDRESS_NO_PORT, IP_RECVOPTS, IP_MULTICAST_LOOP, IP_MULTICAST_TTL, IP_TTL,
                        IP_MTU_DISCOVER})


class TcpSocket(InetSocket):
    """A TCP socket (tcp(7))."""

    transport = IPPROTO_TCP
    connection = True

    def __init__(self, stack: Stack, family: int, uid: int) -> None:
        super().__init__(stack, family, SOCK_STREAM, IPPROTO_TCP, uid)
        self.sndbuf = TCP_WMEM_DEFAULT
        self.rcvbuf = TCP_RMEM_DEFAULT
        self.sock_state = SS_UNCONNECTED
        self.peer: TcpSocket | None = None
        #: Bytes received and not yet read.
        self.rcv = bytearray()
        #: The peer's FIN arrived (SOCK_DONE): reads end after the data.
        self.fin_received = False
        self.fin_sent = False
        #: A listener's connections not yet accepted, and the connects waiting for room.
        self.accept_queue: deque[TcpSocket] = deque()
        self.waiting: deque[TcpSocket] = deque()
        self.max_backlog = 0
        #: The listener a connect waits on (SYN_SENT with a full accept queue).
        self.listener: TcpSocket | None = None
        self.tcp: dict[int, int] = {}
        self.congestion = b"cubic"
        self.bytes_sent = 0
        self.bytes_received = 0
        #: Counts connect attempts, so that an answer from outside finds the attempt it is for.
        self.attempt = 0

    @property
    def listening(self) -> bool:
        return self.state == TCP_LISTEN

    # --- connections ---------------------------------------------------------------------------

    def listen(self, caller: Caller, backlog: int) -> None:
        """inet_listen: only a closed or listening socket, never one being connected."""
        if self.sock_state != SS_UNCONNECTED or self.state not in (TCP_CLOSE, TCP_LISTEN):
            raise Errno(EINVAL)
        if backlog & 0xFFFF_FFFF > SOMAXCONN:
            backlog = SOMAXCONN
        self.max_backlog = backlog
        if self.state == TCP_LISTEN:
            self._admit_waiting()
            return
        if self.port:
            if self.stack.ports.conflict(IPPROTO_TCP, self, self.port):
                raise Errno(EADDRINUSE)
        else:
            self.autobind()
        self.state = TCP_LISTEN
        self.changed()

    def accept(self) -> TcpSocket:
        if self.state != TCP_LISTEN:
            raise Errno(EINVAL)
        if not self.accept_queue:
            raise Blocked(self.watch)
        child = self.accept_queue.popleft()
        self._admit_waiting()
        self.changed()
        return child

    def _admit_waiting(self) -> None:
        """Connects waiting for room in the accept queue get it, oldest first."""
        while self.waiting and len(self.accept_queue) <= self.max_backlog:
            self._establish(self.waiting.popleft())

    def connect(self, caller: Caller, address: bytes, node: Node | None, nonblock: bool) -> None:
        """__inet_stream_connect: start a connection, or report how the one started ended."""
        if len(address) < 2:
            raise Errno(EINVAL)
        if sockaddr_family(address) == AF_UNSPEC:
            self._disconnect()
            return
        if self.sock_state == SS_CONNECTED:
            raise Errno(EISCONN)
        if self.sock_state == SS_CONNECTING:
            return self._connect_progress(nonblock)
        if self.state != TCP_CLOSE:
            raise Errno(EISCONN)
        if self.family == AF_INET6 and sockaddr_family(address) == AF_INET and len(address) < 24:
            raise Errno(EINVAL)
        wanted = parse_inet(address, AF_INET) if self.family == AF_INET else self.parse(address)
        if len(address) < (16 if self.family == AF_INET else 24):
            raise Errno(EINVAL)
        host, source = self.route(wanted.host)
        if not self.address_locked:
            self.host = source
        try:
            self.autobind()
        except Errno:
            raise Errno(EADDRNOTAVAIL) from None
        self.remote = InetAddress(self.family, host, wanted.port)
        self.sock_state = SS_CONNECTING
        self.state = TCP_SYN_SENT
        self.traffic(0, 40)  # the SYN
        target = destination(self.family, host)
        self.attempt += 1
        if self.stack.egress is not None and not self.stack.interfaces.is_local(self.family, host):
            self.stack.egress.connect(self)  # answered later: joined_outside or refused
        else:
            self._connect_inside(wanted.port, target)
        if nonblock:
            raise Errno(EINPROGRESS)
        self._connect_progress(nonblock)

    def _connect_inside(self, port: int, target: Claim) -> None:
        """The SYN reaches a listener of the sandbox (or nothing: an RST comes back)."""
        listeners = self.stack.ports.find(IPPROTO_TCP, port, target, lambda s: s.state == TCP_LISTEN)
        if not listeners:
            self.receive_reset()
        else:
            listener = listeners[self.port % len(listeners)] if all(s.reuseport for s in listeners) else listeners[0]
            assert isinstance(listener, TcpSocket)
            if len(listener.accept_queue) > listener.max_backlog:
                self.listener = listener
                listener.waiting.append(self)
            else:
                listener._establish(self)

    def connecting(self, attempt: int) -> bool:
        """Whether connect attempt number ``attempt`` is still waiting for its answer."""
        return self.attempt == attempt and self.state == TCP_SYN_SENT and not self.closed

    def joined_outside(self) -> TcpSocket:
        """A connection out of the sandbox was made: this socket is ESTABLISHED, and its peer is
        a socket standing for the remote end, which the egress relay drives (it is in no port
        table and no fd names it)."""
        assert self.remote is not None
        peer = TcpSocket(self.stack, self.family, self.uid)
        self.stack.forget(peer)
        peer.host, peer.port = self.remote.host, self.remote.port
        peer.remote = InetAddress(self.family, self.host, self.port)
        peer.state = TCP_ESTABLISHED
        peer.sock_state = SS_CONNECTED
        peer.peer, self.peer = self, peer
        self.state = TCP_ESTABLISHED
        self.traffic(0, 40, 2)  # SYN-ACK and ACK
        self.changed()
        return peer

    def refused(self, error: int) -> None:
        """A connection out of the sandbox failed with ``error`` (ECONNREFUSED, ETIMEDOUT,
        ENETUNREACH ...): reported as a failed connect is, by connect again or SO_ERROR."""
        self.error = error
        self.state = TCP_CLOSE
        self.shut = SHUTDOWN_MASK
        self.changed()

    def _connect_progress(self, nonblock: bool) -> None:
        """A connect in progress: still waiting (EALREADY, or wait), done, or refused."""
        if self.state == TCP_SYN_SENT:
            if nonblock:
                raise Errno(EALREADY)
            raise Blocked(self.watch)
        if self.state == TCP_CLOSE:
            # sock_error, then tcp_disconnect: the socket is as new (its shutdown forgotten)
            self.sock_state = SS_UNCONNECTED
            error = self.take_error() or ECONNABORTED
            self.shut = 0
            self.fin_received = self.fin_sent = False
            self.rcv.clear()
            self.unbind_if_not_locked()
            raise Errno(error)
        self.sock_state = SS_CONNECTED

    def unbind_if_not_locked(self) -> None:
        """tcp_disconnect: a port the socket only had for a connect is given back."""
        if not self.port_locked:
            self.unbind()
        if not self.address_locked:
            self.host = _any(self.family)
        self.remote = None

    def _establish(self, client: TcpSocket) -> None:
        """The handshake with ``client``: a child joins the accept queue, both are ESTABLISHED."""
        assert client.remote is not None
        child = TcpSocket(self.stack, self.family, self.uid)
        self.copy_options_to(child)
        child.tcp = dict(self.tcp)
        child.ip_options = dict(self.ip_options)
        child.v6only = self.v6only
        child.host = in_family(self.family, destination(client.family, client.remote.host))
        child.port = self.port
        child.remote = InetAddress(self.family, in_family(self.family, destination(client.family, client.host)),
                                   client.port)
        child.state = TCP_ESTABLISHED
        child.sock_state = SS_CONNECTED
        child.peer, client.peer = client, child
        self.stack.ports.share(IPPROTO_TCP, child, child.port)
        client.state = TCP_ESTABLISHED
        client.listener = None
        self.accept_queue.append(child)
        client.traffic(0, 40, 2)  # SYN-ACK and ACK
        self.changed()
        client.changed()

    def _disconnect(self) -> None:
        """connect(AF_UNSPEC): tcp_disconnect, a reset of whatever the socket was doing."""
        if self.state == TCP_LISTEN:
            self._stop_listening()
        elif self.peer is not None and self.state not in (TCP_CLOSE,):
            self.peer.receive_reset()
        self._leave_listener()
        self.peer = None
        self.state = TCP_CLOSE
        self.sock_state = SS_UNCONNECTED
        self.shut = 0
        self.fin_received = self.fin_sent = False
        self.rcv.clear()
        self.unbind_if_not_locked()
        self.changed()

    def _leave_listener(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None and self in listener.waiting:
            listener.waiting.remove(self)

    def receive_reset(self) -> None:
        """tcp_reset: an RST arrived. ECONNREFUSED while connecting, EPIPE after the peer's
        FIN, ECONNRESET otherwise; the socket is closed both ways."""
        if self.state == TCP_CLOSE:
            return
        if self.state == TCP_SYN_SENT:
            self.error = ECONNREFUSED
        else:
            self.error = EPIPE if self.state == TCP_CLOSE_WAIT else ECONNRESET
        self._leave_listener()
        self.state = TCP_CLOSE
        self.shut = SHUTDOWN_MASK
        self.changed()

    def _send_fin(self) -> None:
        """This side is done sending: the peer reads end of file after the data."""
        if self.fin_sent:
            return
        self.fin_sent = True
        self.traffic(0, 40)
        peer = self.peer
        self.state = TCP_LAST_ACK if self.state == TCP_CLOSE_WAIT else TCP_FIN_WAIT2
        if peer is not None and not peer.closed and peer.state != TCP_CLOSE:
            peer.fin_received = True
            peer.shut |= RCV_SHUTDOWN
            if peer.state == TCP_ESTABLISHED:
                peer.state = TCP_CLOSE_WAIT
            elif peer.state in (TCP_FIN_WAIT2, TCP_LAST_ACK):
                peer.state = TCP_CLOSE  # both FINs crossed: the connection is over (TIME_WAIT aside)
                self.state = TCP_CLOSE
            peer.changed()
        self.changed()

    def shutdown(self, how: int) -> None:
        """inet_shutdown and tcp_shutdown: SHUT_WR sends a FIN; an unconnected socket says
        ENOTCONN (after noting the shutdown); a listener stops listening on SHUT_RD."""
        mode = how + 1
        if mode & ~SHUTDOWN_MASK or not mode:
            raise Errno(EINVAL)
        if self.state == TCP_CLOSE:
            self.shut |= mode
            self.changed()
            raise Errno(ENOTCONN)
        if self.state == TCP_LISTEN:
            if mode & RCV_SHUTDOWN:
                self._stop_listening()
                self.state = TCP_CLOSE
                self.changed()
            return
        if self.state == TCP_SYN_SENT:
            self._disconnect()
            return
        self.shut |= mode
        if mode & SEND_SHUTDOWN:
            self._send_fin()
        self.changed()

    def _stop_listening(self) -> None:
        """Connections not accepted are reset; connects waiting for room are refused."""
        queue, self.accept_queue = self.accept_queue, deque()
        waiting, self.waiting = self.waiting, deque()
        for child in queue:
            if child.peer is not None:
                child.peer.receive_reset()
            child.peer = None
            child.close()
        for client in waiting:
            client.listener = None
            client.receive_reset()

    # --- data ------------------------------------------------------------------------------------

    def _limit(self, peer: TcpSocket) -> int:
        """How many unread bytes may be on the way to ``peer``: its receive buffer plus our
        send buffer."""
        return peer.rcvbuf + self.sndbuf

    def send(self, caller: Caller, writing: Writing, address: bytes | None, node: Node | None) -> None:
        """tcp_sendmsg: wait for a connect in progress; EPIPE (or the pending error) when
        the socket cannot send; bytes go into the peer's receive buffer as room allows."""
        if self.state == TCP_SYN_SENT:
            raise Blocked(self.watch)
        if self.error or self.shut & SEND_SHUTDOWN or self.state not in (TCP_ESTABLISHED, TCP_CLOSE_WAIT):
            raise Errno(self.take_error() or EPIPE)
        peer = self.peer
        total = len(writing.data)
        if peer is None or peer.closed or peer.state == TCP_CLOSE:
            # the peer is gone: these bytes go out, and an RST comes back for them
            writing.sent = total
            self.traffic(total, _TCP_OVERHEAD)
            self.receive_reset()
            return
        while writing.sent < total:
            room = self._limit(peer) - len(peer.rcv)
            if room <= 0:
                raise Blocked(self.watch)
            chunk = writing.data[writing.sent:writing.sent + room]
            peer.rcv += chunk
            writing.sent += len(chunk)
            self.bytes_sent += len(chunk)
            peer.bytes_received += len(chunk)
            self.traffic(len(chunk), _TCP_OVERHEAD)
            peer.changed()

    def recv(self, reading: Reading) -> None:
        """tcp_recvmsg: the bytes there are, at least SO_RCVLOWAT (all with MSG_WAITALL)
        unless end of file, an error or a reset comes first."""
        flags = reading.flags
        if self.state == TCP_LISTEN:
            raise Errno(ENOTCONN)
        if flags & MSG_OOB:
            raise Errno(EINVAL)
        if flags & MSG_ERRQUEUE:
            raise Errno(EAGAIN)
        target = (reading.size if flags & MSG_WAITALL else min(self.rcvlowat, reading.size)) or 1
        peek = bool(flags & MSG_PEEK)
        if peek:
            reading.copied = 0
        available = len(self.rcv)
        if available and reading.copied < reading.size:
            take = min(available, reading.size - reading.copied)
            if not flags & MSG_TRUNC:
                scatter(memoryview(self.rcv)[:take], reading.buffers, reading.copied)
            reading.copied += take
            if not peek:
                del self.rcv[:take]
                self.changed()
                if self.peer is not None:
                    self.peer.changed()  # room again for the sender
        if reading.copied >= target or reading.copied >= reading.size:
            return
        if reading.copied:
            if self.error or self.state == TCP_CLOSE or self.shut & RCV_SHUTDOWN:
                return
            raise Blocked(self.watch)
        if self.fin_received:
            return
        if self.error:
            raise Errno(self.take_error())
        if self.shut & RCV_SHUTDOWN:
            return
        if self.state == TCP_CLOSE:
            raise Errno(ENOTCONN)
        raise Blocked(self.watch)

    # --- readiness ---------------------------------------------------------------------------------

    def queued(self) -> tuple[int, int]:
        if self.state == TCP_LISTEN:
            raise Errno(EINVAL)  # tcp_ioctl: a listener has no queue to measure
        peer = self.peer
        unsent = max(0, len(peer.rcv) - peer.rcvbuf) if peer is not None and not peer.closed else 0
        return (len(self.rcv), unsent)

    def poll(self) -> int:
        """tcp_poll."""
        state = self.state
        if state == TCP_LISTEN:
            return READABLE if self.accept_queue else 0
        events = POLLERR if self.error else 0
        if self.shut == SHUTDOWN_MASK or state == TCP_CLOSE:
            events |= POLLHUP
        if self.shut & RCV_SHUTDOWN:
            events |= READABLE | POLLRDHUP
        if state != TCP_SYN_SENT:
            if len(self.rcv) >= min(self.rcvlowat, 1 << 30) or (self.rcv and self.fin_received):
                events |= READABLE
            if not self.shut & SEND_SHUTDOWN:
                if self._writable():
                    events |= WRITABLE
            else:
                events |= WRITABLE
        return events

    def _writable(self) -> bool:
        peer = self.peer
        if peer is None or peer.closed:
            return True
        return (self._limit(peer) - len(peer.rcv)) * 3 >= self._limit(peer)

    # --- the end -------------------------------------------------------------------------------------

    def close(self) -> None:
        """tcp_close: a listener resets what it queued; unread data, or SO_LINGER with a zero
        timeout, makes the close an RST; otherwise the peer gets a FIN."""
        super().close()
        if self.state == TCP_LISTEN:
            self._stop_listening()
        elif self.state == TCP_SYN_SENT:
            self._leave_listener()
        elif self.peer is not None and self.state != TCP_CLOSE:
            if self.rcv or self.linger == (1, 0):
                self.traffic(0, 40)
                self.peer.receive_reset()
            else:
                self._send_fin()
        self.state = TCP_CLOSE
        self.rcv.clear()
        self.unbind()

    # --- options -------------------------------------------------------------------------------------

    def get_option(self, caller: Caller, level: int, name: int, size: int) -> bytes:
        if level != SOL_TCP:
            return super().get_option(caller, level, name, size)
        if size < 0:
            raise Errno(EINVAL)
        if name == TCP_INFO:
            return self._info()[:size]
        if name == TCP_CONGESTION:
            return self.congestion.ljust(16, b"\0")[:size]
        return pack_int(self._get_tcp(name))[:size]

    def _get_tcp(self, name: int) -> int:
        tcp = self.tcp
        if name == TCP_MAXSEG:
            user = tcp.get(TCP_MAXSEG, 0)
            if user and self.state in (TCP_CLOSE, TCP_LISTEN):
                return user
            if self.state in (TCP_CLOSE, TCP_LISTEN, TCP_SYN_SENT):
                return TCP_MSS_DEFAULT
            mss = self._mss()
            return min(mss, user) if user else mss
        if name == TCP_LINGER2:
            value = tcp.get(name, 0)
            return value if value else 60
        if name == TCP_NOTSENT_LOWAT:
            return tcp.get(name, -1)
        if name == TCP_QUICKACK:
            return tcp.get(name, 1)
        if name in _TCP_DEFAULTS:
            return tcp.get(name, _TCP_DEFAULTS[name])
        raise Errno(ENOPROTOOPT)

    def _mss(self) -> int:
        """The MSS over loopback as a stock kernel reports it: the MTU less the IP and TCP
        headers, the timestamp option and one byte (65483 over IPv4, 65463 over IPv6)."""
        ip_header = 40 if self.family == AF_INET6 and unmapped(self.host) is None else 20
        return self.stack.interfaces.all()[0].mtu - ip_header - 20 - 12 - 1

    def set_option(self, caller: Caller, level: int, name: int, value: bytes) -> None:
        if level != SOL_TCP:
            super().set_option(caller, level, name, value)
            return
        if name == TCP_CONGESTION:
            algorithm = value.split(b"\0", 1)[0]
            if algorithm not in (b"cubic", b"reno"):
                raise Errno(ENOENT)
            self.congestion = algorithm
            return
        if name == TCP_INFO:
            raise Errno(ENOPROTOOPT)
        number = int_value(value)
        check = _TCP_RANGES.get(name)
        if check is None and name not in _TCP_DEFAULTS:
            raise Errno(ENOPROTOOPT)
        if check is not None and not check(number):
            raise Errno(EINVAL)
        if name == TCP_LINGER2:
            number = -1 if number < 0 else min(number, 120)
        elif name == TCP_WINDOW_CLAMP:
            if not number and self.state != TCP_CLOSE:
                raise Errno(EINVAL)
            number = max(number, SOCK_MIN_RCVBUF // 2) if number else 0
        elif name in (TCP_NODELAY, TCP_CORK, TCP_QUICKACK, TCP_INQ):
            number = int(number != 0)
        self.tcp[name] = number
        self.changed()

    def _info(self) -> bytes:
        """struct tcp_info, with what a loopback connection has to say."""
        connected = self.state not in (TCP_CLOSE, TCP_LISTEN, TCP_SYN_SENT)
        mss = self._mss() if connected else TCP_MSS_DEFAULT
        state = (self.state, 0, 0, 0, 0, 0x7 if connected else 0, 0x77 if connected else 0, 0)
        words = {
            "rto": 203_333, "ato": 40_000 if connected else 0, "snd_mss": mss, "rcv_mss": mss if connected else 0,
            "unacked": 0, "sacked": 0, "lost": 0, "retrans": 0, "fackets": 0, "last_data_sent": 0,
            "last_ack_sent": 0, "last_data_recv": 0, "last_ack_recv": 0, "pmtu": self._pmtu(),
            "rcv_ssthresh": 64_076, "rtt": 50, "rttvar": 25, "snd_ssthresh": 0x7FFF_FFFF, "snd_cwnd": 10,
            "advmss": mss, "reordering": 3, "rcv_rtt": 0, "rcv_space": 0, "total_retrans": 0,
        }
        head = _TCP_INFO.pack(*state, *words.values())
        counters = struct.pack("<QQQQ", 0, 0, self.bytes_sent, self.bytes_received)
        return (head + counters).ljust(TCP_INFO_SIZE, b"\0")

    def _pmtu(self) -> int:
        return self.stack.interfaces.all()[0].mtu


_TCP_RANGES: dict[int, Callable[[int], bool]] = {
    TCP_MAXSEG: lambda v: v == 0 or 88 <= v <= 32767,
    TCP_KEEPIDLE: lambda v: 1 <= v <= 32767,
    TCP_KEEPINTVL: lambda v: 1 <= v <= 32767,
    TCP_KEEPCNT: lambda v: 1 <= v <= 127,
    TCP_SYNCNT: lambda v: 1 <= v <= 127,
    TCP_USER_TIMEOUT: lambda v: v >= 0,
    TCP_FASTOPEN: lambda v: v >= 0,
    TCP_LINGER2: lambda v: True,
    TCP_WINDOW_CLAMP: lambda v: True,
}
_TCP_DEFAULTS = {
    TCP_NODELAY: 0, TCP_CORK: 0, TCP_KEEPIDLE: 7200, TCP_KEEPINTVL: 75, TCP_KEEPCNT: 9, TCP_SYNCNT: 6,
    TCP_DEFER_ACCEPT: 0, TCP_WINDOW_CLAMP: 0, TCP_USER_TIMEOUT: 0, TCP_FASTOPEN: 0, TCP_INQ: 0,
    TCP_MAXSEG: 0, TCP_LINGER2: 0, TCP_QUICKACK: 1, TCP_NOTSENT_LOWAT: -1,
}


class UdpSocket(InetSocket):
    """A UDP socket (udp(7))."""

    transport = IPPROTO_UDP

    def __init__(self, stack: Stack, family: int, uid: int) -> None:
        super().__init__(stack, family, SOCK_DGRAM, IPPROTO_UDP, uid)
        self.queue: deque[Message] = deque()
        #: Bytes of queued datagrams as the receive buffer counts them.
        self.rmem = 0
        self.drops = 0
        self.udp: dict[int, int] = {}

    def connect(self, caller: Caller, address: bytes, node: Node | None, nonblock: bool) -> None:
        """ip4_datagram_connect: fix the destination (AF_UNSPEC: forget it); the source
        address and an ephemeral port are chosen now."""
        if len(address) < 2:
            raise Errno(EINVAL)
        if sockaddr_family(address) == AF_UNSPEC:
            self._disconnect()
            return
        if len(address) < (16 if self.family == AF_INET else 24) and sockaddr_family(address) == self.family:
            raise Errno(EINVAL)
        wanted = self.parse(address)
        host, source = self.route(wanted.host)
        if not self.address_locked:
            if self.port:
                self.stack.ports.release(IPPROTO_UDP, self, self.port)
                self.host = source
                self.stack.ports.share(IPPROTO_UDP, self, self.port)
            else:
                self.host = source
        self.autobind()
        self.remote = InetAddress(self.family, host, wanted.port)
        self.state = TCP_ESTABLISHED
        self.changed()

    def _disconnect(self) -> None:
        """__udp_disconnect: no destination; an address or port the connect chose goes."""
        self.remote = None
        self.state = TCP_CLOSE
        if not self.address_locked:
            if self.port:
                self.stack.ports.release(IPPROTO_UDP, self, self.port)
                self.host = _any(self.family)
                self.stack.ports.share(IPPROTO_UDP, self, self.port)
            else:
                self.host = _any(self.family)
        if not self.port_locked:
            self.unbind()
        self.changed()

    def shutdown(self, how: int) -> None:
        mode = how + 1
        if mode & ~SHUTDOWN_MASK or not mode:
            raise Errno(EINVAL)
        self.shut |= mode
        self.changed()
        if self.state == TCP_CLOSE:
            raise Errno(ENOTCONN)

    def send(self, caller: Caller, writing: Writing, address: bytes | None, node: Node | None) -> None:
        """udp_sendmsg: one datagram to ``address`` or the connected peer. A pending error
        (the ICMP answer to an earlier datagram) fails this one instead, as
        sock_alloc_send_skb reports it; so does a shutdown for writing (EPIPE)."""
        if address:
            if self.family == AF_INET and len(address) >= 2 and sockaddr_family(address) == AF_UNSPEC:
                address = struct.pack("<H", AF_INET) + address[2:]
            if len(address) < (16 if self.family == AF_INET or sockaddr_family(address) == AF_INET else 24):
                raise Errno(EINVAL)
            wanted = self.parse(address)
            if wanted.port == 0:
                raise Errno(EINVAL)
        else:
            if self.state != TCP_ESTABLISHED or self.remote is None:
                raise Errno(EDESTADDRREQ)
            wanted = self.remote
        length = len(writing.data)
        over_ipv4 = self.family == AF_INET or unmapped(wanted.host) is not None
        if over_ipv4 and writing.flags & MSG_OOB:
            raise Errno(EOPNOTSUPP)  # udp_sendmsg refuses it; the IPv6 path never looks
        if length > (UDP_MAX_V4 if over_ipv4 else UDP_MAX_V6):
            raise Errno(EMSGSIZE)
        host, source = self.route(wanted.host)
        if self.shut & SEND_SHUTDOWN:
            raise Errno(EPIPE)
        self.raise_error()
        self.autobind()
        sender = InetAddress(self.family, self.host if self.address_locked or self.remote else source, self.port)
        egress = self.stack.egress
        if egress is not None and not self.stack.interfaces.is_local(self.family, host):
            egress.send_datagram(self, host, wanted.port, bytes(writing.data))  # out of the sandbox
            self.traffic(length, _UDP_OVERHEAD)
            writing.sent = length
            return
        self.traffic(length, _UDP_OVERHEAD)
        writing.sent = length
        target = self._receiver(host, wanted.port, sender)
        if target is None:
            if self.state == TCP_ESTABLISHED:
                self.error = ECONNREFUSED  # the ICMP port unreachable, for a connected socket
                self.changed()
            return
        target.deliver(bytes(writing.data), sender)

    def _receiver(self, host: bytes, port: int, sender: InetAddress) -> UdpSocket | None:
        """__udp4_lib_lookup: a socket connected to the sender before the others."""
        source = destination(sender.family, sender.host)

        def accepts(sock: InetSocket) -> bool:
            remote = sock.remote
            if sock.state != TCP_ESTABLISHED or remote is None:
                return True
            return destination(remote.family, remote.host) == source and remote.port == sender.port

        found = self.stack.ports.find(IPPROTO_UDP, port, destination(self.family, host), accepts)
        found.sort(key=lambda sock: sock.state != TCP_ESTABLISHED)
        if not found:
            return None
        chosen = found[0]
        if chosen.reuseport:
            group = [sock for sock in found if sock.reuseport and sock.state == chosen.state]
            chosen = group[sender.port % len(group)]
        assert isinstance(chosen, UdpSocket)
        return chosen

    def deliver(self, data: bytes, sender: InetAddress) -> None:
        """Queue a datagram, or drop it if the receive buffer is full (as UDP does)."""
        cost = truesize(len(data))
        if self.rmem + cost > self.rcvbuf:
            self.drops += 1
            return
        host = in_family(self.family, destination(sender.family, sender.host))
        address = inet_sockaddr(InetAddress(self.family, host, sender.port))
        self.queue.append(Message(data, None, address, charged=cost))
        self.rmem += cost
        self.changed()

    def recv(self, reading: Reading) -> None:
        """udp_recvmsg: a pending error first, then one datagram (MSG_OOB means nothing)."""
        flags = reading.flags
        if flags & MSG_ERRQUEUE:
            raise Errno(EAGAIN)
        error = self.take_error()
        if error:
            raise Errno(error)
        if not self.queue:
            if self.shut & RCV_SHUTDOWN and not reading.nonblock:
                return
            raise Blocked(self.watch)
        message = self.queue[0]
        reading.copied = scatter(message.data, reading.buffers)
        reading.address = message.address
        if len(message.data) > reading.copied:
            reading.msg_flags |= MSG_TRUNC
        if flags & MSG_TRUNC:
            reading.result = len(message.data)
        if flags & MSG_PEEK:
            return
        self.queue.popleft()
        self.rmem -= message.charged
        self.changed()

    def queued(self) -> tuple[int, int]:
        return (len(self.queue[0].data) if self.queue else 0, 0)

    def poll(self) -> int:
        events = self.shutdown_events()
        if self.queue:
            events |= READABLE
        return events | WRITABLE

    def get_option(self, caller: Caller, level: int, name: int, size: int) -> bytes:
        if level == SOL_UDP:
            if size < 0:
                raise Errno(EINVAL)
            if name not in (1, 100, 101, 102, 103, 104):  # UDP_CORK, UDP_ENCAP, ..., UDP_SEGMENT, UDP_GRO
                raise Errno(ENOPROTOOPT)
            return pack_int(self.udp.get(name, 0))[:size]
        return super().get_option(caller, level, name, size)

    def set_option(self, caller: Caller, level: int, name: int, value: bytes) -> None:
        if level == SOL_UDP:
            if name not in (1, 100, 101, 102, 103, 104):
                raise Errno(ENOPROTOOPT)
            self.udp[name] = int_value(value)
            return
        super().set_option(caller, level, name, value)

    def close(self) -> None:
        super().close()
        self.queue.clear()
        self.rmem = 0
        self.unbind()
        if self.stack.egress is not None:
            self.stack.egress.forget(self)
