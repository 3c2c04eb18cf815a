"""TCP and UDP ports: who holds which, the bind conflict rules, and ephemeral ports.

A bound socket *claims* addresses on its port: an IPv4 address or the IPv4 wildcard, an IPv6
address or the IPv6 wildcard; an IPv6 wildcard socket without IPV6_V6ONLY claims both
wildcards, and a v4-mapped IPv6 address claims the IPv4 address. Two sockets on one port
conflict when their claims overlap, unless SO_REUSEADDR is set on both and (for TCP) the one
already there is not listening, or SO_REUSEPORT is set on both by the same user
(inet_csk_bind_conflict, udp_lib_lport_inuse).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from abi.errno import EADDRINUSE, Errno
from abi.socket import AF_INET, IPPROTO_TCP, IPPROTO_UDP, TCP_LISTEN, unmapped

if TYPE_CHECKING:
    from services.netstack.inet import InetSocket

#: sysctl net.ipv4.ip_local_port_range.
EPHEMERAL_FIRST = 32768
EPHEMERAL_LAST = 60999
#: Ports below this need CAP_NET_BIND_SERVICE (net.ipv4.ip_unprivileged_port_start).
UNPRIVILEGED_PORT_START = 1024

#: One claimed address: (4 or 6, the address, or None for the wildcard).
Claim = tuple[int, bytes | None]


def claims(family: int, host: bytes, v6only: bool) -> list[Claim]:
    """The addresses a socket of ``family`` bound to ``host`` answers for."""
    if family == AF_INET:
        return [(4, None if host == bytes(4) else host)]
    inner = unmapped(host)
    if inner is not None:
        return [(4, None if inner == bytes(4) else inner)]
    if host == bytes(16):
        return [(6, None)] if v6only else [(6, None), (4, None)]
    return [(6, host)]


def overlap(a: list[Claim], b: list[Claim]) -> bool:
    return any(x[0] == y[0] and (x[1] is None or y[1] is None or x[1] == y[1]) for x in a for y in b)


def destination(family: int, host: bytes) -> Claim:
    """Where a packet to ``host`` (of a socket of ``family``) goes, as a claim to match."""
    if family == AF_INET:
        return (4, host)
    inner = unmapped(host)
    return (4, inner) if inner is not None else (6, host)


class PortTable:
    """The bound sockets of each protocol, by port."""

    def __init__(self) -> None:
        self._owners: dict[int, dict[int, list[InetSocket]]] = {IPPROTO_TCP: {}, IPPROTO_UDP: {}}
        self._random = random.Random()

    def owners(self, protocol: int, port: int) -> list[InetSocket]:
        return self._owners[protocol].get(port, [])

    def all(self, protocol: int) -> list[InetSocket]:
        """Every socket holding a port, in port order (for /proc/net)."""
        table = self._owners[protocol]
        return [sock for port in sorted(table) for sock in table[port]]

    def conflict(self, protocol: int, sock: InetSocket, port: int) -> bool:
        """Whether ``sock`` may not hold ``port`` beside the sockets already there (asked again
        at listen(2): two SO_REUSEADDR sockets may share a port until one listens)."""
        mine = sock.claims()
        for other in self.owners(protocol, port):
            if other is sock or not overlap(mine, other.claims()):
                continue
            if sock.reuseaddr and other.reuseaddr and (protocol == IPPROTO_UDP or other.state != TCP_LISTEN):
                continue
            if sock.reuseport and other.reuseport and sock.uid == other.uid:
                continue
            return True
        return False

    def take(self, protocol: int, sock: InetSocket, port: int) -> int:
        """Give ``sock`` ``port`` (0: a free ephemeral one); EADDRINUSE if it conflicts or no
        ephemeral port is free."""
        if port == 0:
            port = self._ephemeral(protocol, sock)
        elif self.conflict(protocol, sock, port):
            raise Errno(EADDRINUSE)
        self._owners[protocol].setdefault(port, []).append(sock)
        return port

    def _ephemeral(self, protocol: int, sock: InetSocket) -> int:
        count = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1
        start = self._random.randrange(count)
        for offset in range(count):
            port = EPHEMERAL_FIRST + (start + offset) % count
            if not self.owners(protocol, port):
                return port
        raise Errno(EADDRINUSE)

    def share(self, protocol: int, sock: InetSocket, port: int) -> None:
        """An accepted connection holds its listener's port too (as inet_inherit_port does)."""
        self._owners[protocol].setdefault(port, []).append(sock)

    def release(self, protocol: int, sock: InetSocket, port: int) -> None:
        owners = self._owners[protocol].get(port)
        if owners and sock in owners:
            owners.remove(sock)
            if not owners:
                del self._owners[protocol][port]

    def find(self, protocol: int, port: int, target: Claim, wanted: object = None) -> list[InetSocket]:
        """The sockets a packet to (``target``, ``port``) may reach, best match first: those
        bound to exactly the address before wildcards (``wanted`` filters, e.g. listeners)."""
        exact: list[InetSocket] = []
        wild: list[InetSocket] = []
        for sock in self.owners(protocol, port):
            if wanted is not None and not wanted(sock):  # type: ignore[operator]
                continue
            for family, host in sock.claims():
                if family == target[0] and host == target[1]:
                    exact.append(sock)
                    break
                if family == target[0] and host is None:
                    wild.append(sock)
                    break
        return exact + wild
