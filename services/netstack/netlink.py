"""NETLINK_ROUTE sockets (netlink(7), rtnetlink(7)): what getifaddrs, ``ip addr`` and
``ip route`` ask the kernel.

A request sent to the kernel (port 0) is answered at once into the socket's own queue, as
datagrams: RTM_GETLINK, RTM_GETADDR and RTM_GETROUTE, dumped (NLM_F_DUMP: the messages, then
NLMSG_DONE) or for one interface or destination. Requests that would change the network need
CAP_NET_ADMIN (EPERM) and are refused (EOPNOTSUPP): the sandbox's interfaces are fixed.
Unknown message types get EOPNOTSUPP; NLM_F_ACK gets an acknowledgement. Netlink sockets may
also send datagrams to one another by port id.
"""

from __future__ import annotations

import os
import struct
import time
from collections import deque
from typing import TYPE_CHECKING

from abi.creds import CAP_NET_ADMIN
from abi.errno import (
    EADDRINUSE,
    ECONNREFUSED,
    EINVAL,
    EMSGSIZE,
    ENETUNREACH,
    ENODEV,
    ENOPROTOOPT,
    EOPNOTSUPP,
    EPERM,
    Errno,
)
from abi.socket import (
    AF_INET,
    AF_INET6,
    AF_NETLINK,
    AF_UNSPEC,
    IFA_ADDRESS,
    IFA_CACHEINFO,
    IFA_CACHEINFO_STRUCT,
    IFA_F_PERMANENT,
    IFA_FLAGS,
    IFA_LABEL,
    IFA_LOCAL,
    IFADDRMSG,
    IFINFOMSG,
    IFLA_ADDRESS,
    IFLA_BROADCAST,
    IFLA_CARRIER,
    IFLA_GROUP,
    IFLA_IFNAME,
    IFLA_LINKMODE,
    IFLA_MAX_MTU,
    IFLA_MIN_MTU,
    IFLA_MTU,
    IFLA_NUM_RX_QUEUES,
    IFLA_NUM_TX_QUEUES,
    IFLA_OPERSTATE,
    IFLA_PROMISCUITY,
    IFLA_QDISC,
    IFLA_STATS,
    IFLA_STATS64,
    IFLA_TXQLEN,
    IFF_LOWER_UP,
    IF_OPER_UNKNOWN,
    MSG_ERRQUEUE,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    NETLINK_ADD_MEMBERSHIP,
    NETLINK_BROADCAST_ERROR,
    NETLINK_CAP_ACK,
    NETLINK_DROP_MEMBERSHIP,
    NETLINK_EXT_ACK,
    NETLINK_GET_STRICT_CHK,
    NETLINK_LISTEN_ALL_NSID,
    NETLINK_NO_ENOBUFS,
    NETLINK_PKTINFO,
    NLM_F_ACK,
    NLM_F_CAPPED,
    NLM_F_DUMP,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSG_MIN_TYPE,
    NLMSGERR,
    NLMSGHDR,
    RT_SCOPE_HOST,
    RT_SCOPE_LINK,
    RT_SCOPE_UNIVERSE,
    RT_TABLE_LOCAL,
    RT_TABLE_MAIN,
    RTA_DST,
    RTA_OIF,
    RTA_PREF,
    RTA_PREFSRC,
    RTA_PRIORITY,
    RTA_TABLE,
    RTATTR,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWROUTE,
    RTMSG,
    RTN_BROADCAST,
    RTN_LOCAL,
    RTN_UNICAST,
    RTNL_LINK_STATS,
    RTNL_LINK_STATS64,
    RTPROT_KERNEL,
    SOCKADDR_NL,
    SOL_NETLINK,
    netlink_sockaddr,
    nlmsg_align,
)
from services.netstack.base import READABLE, WRITABLE, Blocked, Message, Reading, Socket, Writing, scatter, truesize

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.netstack.contract import Interface, Node
    from services.netstack.interfaces import Counters
    from services.netstack.stack import Stack

#: What one dump datagram holds at most (NLMSG_GOODSIZE on 4 KiB pages).
DUMP_SIZE = 3776
_U32 = struct.Struct("<I")
_BOOT = time.monotonic()


def _booted_now() -> None:
    """A zygote's run boots when it is forked, not when the zygote imported this."""
    global _BOOT
    _BOOT = time.monotonic()


os.register_at_fork(after_in_child=_booted_now)


class NetlinkSocket(Socket):
    """An AF_NETLINK socket of protocol NETLINK_ROUTE."""

    family = AF_NETLINK

    def __init__(self, stack: Stack, type: int, protocol: int, uid: int) -> None:
        super().__init__(stack, type, protocol, uid)
        self.port_id = 0
        self.groups = 0
        self.destination = (0, 0)
        self.queue: deque[Message] = deque()
        self.rmem = 0
        self.options: dict[int, int] = {}

    # --- addresses -------------------------------------------------------------------------------

    def _parse(self, address: bytes) -> tuple[int, int]:
        if len(address) < SOCKADDR_NL.size:
            raise Errno(EINVAL)
        family, _, port_id, groups = SOCKADDR_NL.unpack_from(address)
        if family != AF_NETLINK:
            raise Errno(EINVAL)
        return port_id, groups

    def bind(self, caller: Caller, address: bytes, node: Node | None) -> None:
        """netlink_bind: a port id of one's own choosing, or 0 for one the kernel picks."""
        port_id, groups = self._parse(address)
        if self.port_id and port_id != self.port_id:
            raise Errno(EINVAL)
        self.groups = groups
        if self.port_id:
            return
        if port_id:
            if port_id in self.stack.netlink_ports:
                raise Errno(EADDRINUSE)
            self._take(port_id)
        else:
            self.autobind(caller)

    def autobind(self, caller: Caller) -> None:
        """netlink_autobind: the process's pid if it is free, else a negative number."""
        if self.port_id:
            return
        ports = self.stack.netlink_ports
        port_id = caller.pid
        candidate = -4096
        while port_id in ports:
            port_id = candidate & 0xFFFF_FFFF
            candidate -= 1
        self._take(port_id)

    def _take(self, port_id: int) -> None:
        self.port_id = port_id
        self.stack.netlink_ports[port_id] = self

    def sockname(self) -> bytes:
        return netlink_sockaddr(self.port_id, self.groups & 0xFFFF_FFFF)

    def peer_name(self) -> bytes:
        return netlink_sockaddr(*self.destination)

    def connect(self, caller: Caller, address: bytes, node: Node | None, nonblock: bool) -> None:
        if len(address) >= 2 and int.from_bytes(address[:2], "little") == AF_UNSPEC:
            self.destination = (0, 0)
            return
        self.destination = self._parse(address)
        self.autobind(caller)

    # --- data ------------------------------------------------------------------------------------

    def send(self, caller: Caller, writing: Writing, address: bytes | None, node: Node | None) -> None:
        port_id, group = self._parse(address) if address else self.destination
        if group and not caller.creds.has_cap(CAP_NET_ADMIN):
            raise Errno(EPERM)
        self.autobind(caller)
        data = bytes(writing.data)
        if len(data) > self.sndbuf - 32:
            raise Errno(EMSGSIZE)
        if port_id:
            other = self.stack.netlink_ports.get(port_id)
            if other is None:
                raise Errno(ECONNREFUSED)
            other.deliver(data, self.port_id)
        else:
            for datagram in self._answer(caller, data):
                self.deliver(datagram, 0)
        writing.sent = len(data)

    def deliver(self, data: bytes, sender: int) -> None:
        cost = truesize(len(data))
        self.queue.append(Message(data, None, netlink_sockaddr(sender), charged=cost))
        self.rmem += cost
        self.changed()

    def recv(self, reading: Reading) -> None:
        """netlink_recvmsg: one datagram; MSG_TRUNC gives its whole length."""
        flags = reading.flags
        if flags & (MSG_OOB | MSG_ERRQUEUE):
            raise Errno(EOPNOTSUPP)
        error = self.take_error()
        if error:
            raise Errno(error)
        if not self.queue:
            raise Blocked(self.watch)
        message = self.queue[0]
        reading.copied = scatter(message.data, reading.buffers)
        reading.address = message.address
        if len(message.data) > reading.copied:
            reading.msg_flags |= MSG_TRUNC
        if flags & MSG_TRUNC:
            reading.result = len(message.data)
        if not flags & MSG_PEEK:
            self.queue.popleft()
            self.rmem -= message.charged
            self.changed()

    def queued(self) -> tuple[int, int]:
        return (len(self.queue[0].data) if self.queue else 0, 0)

    def poll(self) -> int:
        return self.shutdown_events() | (READABLE if self.queue else 0) | WRITABLE

    def shutdown(self, how: int) -> None:
        if not 0 <= how <= 2:
            raise Errno(EINVAL)
        self.shut |= how + 1
        self.changed()

    # --- options ---------------------------------------------------------------------------------

    def get_option(self, caller: Caller, level: int, name: int, size: int) -> bytes:
        if level != SOL_NETLINK:
            raise Errno(ENOPROTOOPT)
        if size < 4:
            raise Errno(EINVAL)
        if name not in _FLAGS:
            raise Errno(ENOPROTOOPT)
        return _U32.pack(self.options.get(name, 0))

    def set_option(self, caller: Caller, level: int, name: int, value: bytes) -> None:
        if level != SOL_NETLINK:
            raise Errno(ENOPROTOOPT)
        if len(value) < 4:
            raise Errno(EINVAL)
        (number,) = _U32.unpack_from(value)
        if name in (NETLINK_ADD_MEMBERSHIP, NETLINK_DROP_MEMBERSHIP):
            if number and number <= 32:
                bit = 1 << (number - 1)
                self.groups = self.groups | bit if name == NETLINK_ADD_MEMBERSHIP else self.groups & ~bit
            return
        if name not in _FLAGS:
            raise Errno(ENOPROTOOPT)
        self.options[name] = int(number != 0)

    def close(self) -> None:
        super().close()
        if self.port_id and self.stack.netlink_ports.get(self.port_id) is self:
            del self.stack.netlink_ports[self.port_id]
        self.queue.clear()

    # --- the kernel's side: rtnetlink ---------------------------------------------------------------

    def _answer(self, caller: Caller, data: bytes) -> list[bytes]:
        """netlink_rcv_skb over each message of ``data``: replies, as datagrams."""
        out: list[bytes] = []
        offset = 0
        while offset + NLMSGHDR.size <= len(data):
            length, kind, flags, seq, _ = NLMSGHDR.unpack_from(data, offset)
            if length < NLMSGHDR.size or offset + length > len(data):
                break
            request = data[offset:offset + length]
            offset += nlmsg_align(length)
            error = 0
            dumped = False
            if flags & NLM_F_REQUEST and kind >= NLMSG_MIN_TYPE:
                try:
                    replies, dumped = self._request(caller, kind, flags, seq, request)
                    out.extend(replies)
                except Errno as failure:
                    error = failure.errno
            if not dumped and (flags & NLM_F_ACK or error):
                out.append(self._ack(request, seq, error))
        return out

    def _request(self, caller: Caller, kind: int, flags: int, seq: int, request: bytes) -> tuple[list[bytes], bool]:
        """One rtnetlink request: (the datagrams of its answer, whether it was a dump)."""
        if kind > RTM_GETROUTE + 60 or kind not in _KNOWN:
            raise Errno(EOPNOTSUPP)
        if (kind - RTM_NEWLINK) & 3 != 2 and not caller.creds.has_cap(CAP_NET_ADMIN):
            raise Errno(EPERM)
        if kind not in (RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE):
            raise Errno(EOPNOTSUPP)
        body = request[NLMSGHDR.size:]
        family = body[0] if body else AF_UNSPEC
        interfaces = self.stack.interfaces
        if flags & NLM_F_DUMP == NLM_F_DUMP:
            if kind == RTM_GETLINK:
                messages = [self._link(i, seq, NLM_F_MULTI) for i in interfaces.all()]
            elif kind == RTM_GETADDR:
                messages = [self._address(i, entry, seq, NLM_F_MULTI) for fam in (AF_INET, AF_INET6)
                            if family in (AF_UNSPEC, fam) for i in interfaces.all()
                            for entry in i.addresses if entry[0] == fam]
            else:
                messages = [self._route(route, seq, NLM_F_MULTI) for route in _routes(interfaces.all())
                            if family in (AF_UNSPEC, route[0])]
            return self._dump(messages, seq), True
        if kind == RTM_GETLINK:
            return [self._link(self._one_link(body), seq, 0)], False
        if kind == RTM_GETROUTE:
            return [self._route(self._lookup_route(body), seq, 0)], False
        raise Errno(EOPNOTSUPP)

    def _dump(self, messages: list[bytes], seq: int) -> list[bytes]:
        """Messages packed into datagrams of at most DUMP_SIZE, NLMSG_DONE after the last."""
        done = self._message(NLMSG_DONE, NLM_F_MULTI, seq, _U32.pack(0))
        datagrams: list[bytes] = []
        current = b""
        for message in [*messages, done]:
            if current and len(current) + len(message) > DUMP_SIZE:
                datagrams.append(current)
                current = b""
            current += message
        datagrams.append(current)
        return datagrams

    def _message(self, kind: int, flags: int, seq: int, payload: bytes) -> bytes:
        length = NLMSGHDR.size + len(payload)
        return (NLMSGHDR.pack(length, kind, flags, seq, self.port_id) + payload).ljust(nlmsg_align(length), b"\0")

    def _ack(self, request: bytes, seq: int, error: int) -> bytes:
        """NLMSG_ERROR: the error (0: an acknowledgement) and the request's header (with its
        payload too for an error, unless NETLINK_CAP_ACK)."""
        capped = not error or self.options.get(NETLINK_CAP_ACK)
        echoed = request[:NLMSGHDR.size] if capped else request
        return self._message(NLMSG_ERROR, NLM_F_CAPPED if capped else 0, seq, NLMSGERR.pack(-error) + echoed)

    def _one_link(self, body: bytes) -> Interface:
        """The interface a non-dump RTM_GETLINK names by index or IFLA_IFNAME; ENODEV if none."""
        interfaces = self.stack.interfaces
        if len(body) < IFINFOMSG.size:
            raise Errno(EINVAL)
        index = IFINFOMSG.unpack_from(body)[2]
        name = _attributes(body[IFINFOMSG.size:]).get(IFLA_IFNAME)
        found = interfaces.by_index(index) if index > 0 else (
            interfaces.by_name(name.split(b"\0", 1)[0]) if name is not None else None)
        if found is None:
            raise Errno(ENODEV if index > 0 or name is not None else EINVAL)
        return found

    def _lookup_route(self, body: bytes) -> tuple[int, int, bytes, int, int, int, int]:
        """A route lookup (``ip route get``): the sandbox's destinations only."""
        if len(body) < RTMSG.size:
            raise Errno(EINVAL)
        family = body[0]
        target = _attributes(body[RTMSG.size:]).get(RTA_DST)
        if family not in (AF_INET, AF_INET6) or target is None:
            raise Errno(EINVAL)
        if not self.stack.interfaces.is_local(family, target):
            raise Errno(ENETUNREACH)
        return (family, len(target) * 8, target, RT_TABLE_LOCAL, RTN_LOCAL, RT_SCOPE_HOST, 0)

    # --- message bodies ---------------------------------------------------------------------------

    def _link(self, interface: Interface, seq: int, flags: int) -> bytes:
        counters = self.stack.interfaces.counters[interface.ifindex]
        stats = _stats(counters)
        body = IFINFOMSG.pack(AF_UNSPEC, interface.kind, interface.ifindex, interface.flags | IFF_LOWER_UP, 0)
        body += _attr(IFLA_IFNAME, interface.name + b"\0")
        body += _attr(IFLA_TXQLEN, _U32.pack(interface.txqlen))
        body += _attr(IFLA_OPERSTATE, bytes([IF_OPER_UNKNOWN]))
        body += _attr(IFLA_LINKMODE, b"\0")
        body += _attr(IFLA_MTU, _U32.pack(interface.mtu))
        body += _attr(IFLA_MIN_MTU, _U32.pack(0))
        body += _attr(IFLA_MAX_MTU, _U32.pack(0))
        body += _attr(IFLA_GROUP, _U32.pack(0))
        body += _attr(IFLA_PROMISCUITY, _U32.pack(0))
        body += _attr(IFLA_NUM_TX_QUEUES, _U32.pack(1))
        body += _attr(IFLA_NUM_RX_QUEUES, _U32.pack(1))
        body += _attr(IFLA_CARRIER, b"\1")
        body += _attr(IFLA_QDISC, b"noqueue\0")
        body += _attr(IFLA_ADDRESS, interface.hwaddr)
        body += _attr(IFLA_BROADCAST, interface.hwaddr)
        body += _attr(IFLA_STATS64, RTNL_LINK_STATS64.pack(*stats))
        body += _attr(IFLA_STATS, RTNL_LINK_STATS.pack(*(value & 0xFFFF_FFFF for value in stats)))
        return self._message(RTM_NEWLINK, flags, seq, body)

    def _address(self, interface: Interface, entry: tuple[int, bytes, int], seq: int, flags: int) -> bytes:
        family, address, prefix = entry
        scope = RT_SCOPE_HOST if interface.flags & 0x8 else RT_SCOPE_UNIVERSE
        body = IFADDRMSG.pack(family, prefix, IFA_F_PERMANENT, scope, interface.ifindex)
        body += _attr(IFA_ADDRESS, address)
        if family == AF_INET:
            body += _attr(IFA_LOCAL, address)
            body += _attr(IFA_LABEL, interface.name + b"\0")
        body += _attr(IFA_FLAGS, _U32.pack(IFA_F_PERMANENT))
        stamp = int((time.monotonic() - _BOOT) * 100) & 0xFFFF_FFFF
        body += _attr(IFA_CACHEINFO, IFA_CACHEINFO_STRUCT.pack(0xFFFF_FFFF, 0xFFFF_FFFF, stamp, stamp))
        return self._message(RTM_NEWADDR, flags, seq, body)

    def _route(self, route: tuple[int, int, bytes, int, int, int, int], seq: int, flags: int) -> bytes:
        family, prefix, target, table, kind, scope, priority = route
        body = RTMSG.pack(family, prefix, 0, 0, table, RTPROT_KERNEL, scope, kind, 0)
        body += _attr(RTA_TABLE, _U32.pack(table))
        body += _attr(RTA_DST, target)
        if family == AF_INET:
            body += _attr(RTA_PREFSRC, bytes([127, 0, 0, 1]))
        else:
            body += _attr(RTA_PRIORITY, _U32.pack(priority))
        body += _attr(RTA_OIF, _U32.pack(1))
        if family == AF_INET6:
            body += _attr(RTA_PREF, b"\0")
        return self._message(RTM_NEWROUTE, flags, seq, body)


#: The message types rtnetlink has handlers for (links, addresses, routes, neighbours, rules ...).
_KNOWN = frozenset(range(RTM_NEWLINK, RTM_GETROUTE + 1)) | frozenset(range(28, 31)) | frozenset({34, 38, 82})
_FLAGS = frozenset({NETLINK_PKTINFO, NETLINK_BROADCAST_ERROR, NETLINK_NO_ENOBUFS, NETLINK_LISTEN_ALL_NSID,
                    NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GET_STRICT_CHK})


def _attr(kind: int, value: bytes) -> bytes:
    length = RTATTR.size + len(value)
    return (RTATTR.pack(length, kind) + value).ljust(nlmsg_align(length), b"\0")


def _attributes(data: bytes) -> dict[int, bytes]:
    """The rtattrs of a request body, by type."""
    found: dict[int, bytes] = {}
    offset = 0
    while offset + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, offset)
        if length < RTATTR.size or offset + length > len(data):
            break
        found[kind & 0x3FFF] = data[offset + RTATTR.size:offset + length]
        offset += nlmsg_align(length)
    return found


def _stats(counters: Counters) -> list[int]:
    """rtnl_link_stats' 24 counters: rx/tx packets, rx/tx bytes, then errors and the rest."""
    return [counters.rx_packets, counters.tx_packets, counters.rx_bytes, counters.tx_bytes] + [0] * 20


def _routes(interfaces: tuple[Interface, ...]) -> list[tuple[int, int, bytes, int, int, int, int]]:
    """The routing tables of a sandbox with loopback only, as (family, prefix length, target,
    table, type, scope, priority): the local table's 127.0.0.0/8, 127.0.0.1 and its broadcast,
    and ::1 in the main and local tables."""
    del interfaces
    return [
        (AF_INET, 8, bytes([127, 0, 0, 0]), RT_TABLE_LOCAL, RTN_LOCAL, RT_SCOPE_HOST, 0),
        (AF_INET, 32, bytes([127, 0, 0, 1]), RT_TABLE_LOCAL, RTN_LOCAL, RT_SCOPE_HOST, 0),
        (AF_INET, 32, bytes([127, 255, 255, 255]), RT_TABLE_LOCAL, RTN_BROADCAST, RT_SCOPE_LINK, 0),
        (AF_INET6, 128, bytes(15) + b"\1", RT_TABLE_MAIN, RTN_UNICAST, RT_SCOPE_UNIVERSE, 256),
        (AF_INET6, 128, bytes(15) + b"\1", RT_TABLE_LOCAL, RTN_LOCAL, RT_SCOPE_UNIVERSE, 0),
    ]
