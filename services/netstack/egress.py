"""The way out of the sandbox (``--network sandbox``): guest connections to host addresses.

A guest's TCP connect to an address that is not the sandbox's own goes out as an ordinary host
connection that the net helper opens (:mod:`services.netstack.gate`, :mod:`netgate`): the guest
socket waits in SYN_SENT while the helper connects, then becomes ESTABLISHED with a *peer*
socket that stands for the remote end, or fails with the helper's errno (ECONNREFUSED,
ETIMEDOUT ...), as a connect does. A relay then carries bytes between that peer and the host
socket, each way, with the netstack's own back-pressure; an end of data becomes a FIN the other
way, and a reset either way resets the other side. So a non-blocking connect, SO_ERROR,
half-close and poll/epoll readiness come from the same state machines as inside the sandbox.

A guest's UDP datagram to such an address goes out on a *flow*: a host UDP socket the helper
connects to that one destination, made at the first datagram and kept while the guest socket
is open and the flow is used (for :data:`UDP_IDLE` seconds at most without a datagram either
way, as a NAT forgets a UDP mapping). Datagrams sent before the helper answers wait, up to
:data:`UDP_BACKLOG` of them (more are dropped, as a full queue drops them); the answers come
back into the guest socket from the address it sent to, and an ICMP "port unreachable" (the
host socket's ECONNREFUSED) is the guest's pending error when it is connected there, as on
Linux.

Addresses: the guest is 10.0.2.15 on eth0; 10.0.2.2 is the host's loopback (only with
``--allow-host-loopback``, else ECONNREFUSED); 10.0.2.3 is the sandbox's resolver, whose port
53 (UDP and TCP) is forwarded to the first upstream resolver (``--dns``, else the host's
resolv.conf); other addresses of 10.0.2.0/24 do not answer (EHOSTUNREACH), and what the policy
refuses is unreachable (ENETUNREACH). The net helper checks the same policy again
(:mod:`netgate.policy`).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
from typing import TYPE_CHECKING

import trio

from abi.creds import KERNEL_CALLER
from abi.errno import ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, Errno
from abi.socket import SHUT_WR, TCP_CLOSE, TCP_ESTABLISHED, InetAddress, unmapped
from netgate.policy import DNS_PORT, GATEWAY, GUEST_ADDRESS, RESOLVER, SANDBOX_SUBNET, Policy
from netgate.protocol import TCP, UDP
from services.netstack.base import Blocked, Reading, Writing

if TYPE_CHECKING:
    from services.netstack.gate import NetGate
    from services.netstack.inet import TcpSocket, UdpSocket

log = logging.getLogger("sentrio.netstack")

#: Bytes relayed at a time in each direction.
CHUNK = 64 * 1024
#: A UDP flow unused this long (seconds) is closed; datagrams waiting for its host socket.
UDP_IDLE = 120.0
UDP_BACKLOG = 64
#: The largest datagram a host UDP socket can hand back.
_UDP_MAX = 65535
_HOST_LOOPBACK = bytes([127, 0, 0, 1])


class Egress:
    """Connections out of one sandbox, through its net helper."""

    def __init__(self, gate: NetGate) -> None:
        self.gate = gate
        self.policy: Policy = gate.policy
        #: The guest's address on eth0: the source of its connections out.
        self.source = GUEST_ADDRESS.packed
        self._nursery: trio.Nursery | None = None
        #: Open UDP flows: guest socket -> (destination host, port) -> flow.
        self._flows: dict[UdpSocket, dict[tuple[bytes, int], _UdpFlow]] = {}

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the helper's reply reader and every relay, until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.gate.run)
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def target(self, host: bytes, port: int) -> bytes:
        """The host address a guest's destination ``host`` (4 bytes, or 16 of an IPv4-mapped
        one) ``port`` stands for; Errno if it may not be reached."""
        inner = unmapped(host) if len(host) == 16 else host
        if inner is None:
            raise Errno(ENETUNREACH)  # IPv6 has no way out (the sandbox has no IPv6 route)
        address = ipaddress.IPv4Address(inner)
        if address == GATEWAY:
            if not self.policy.allow_host_loopback:
                raise Errno(ECONNREFUSED)
            return _HOST_LOOPBACK
        if address == RESOLVER:
            if port != DNS_PORT or not self.policy.resolvers:
                raise Errno(ECONNREFUSED)
            return self.policy.resolvers[0].packed
        if address in SANDBOX_SUBNET:
            raise Errno(EHOSTUNREACH)  # no other machine on the sandbox's link
        if self.policy.refusal(address, port) is not None:
            raise Errno(ENETUNREACH)
        return inner

    # --- TCP ---------------------------------------------------------------------------------------

    def connect(self, client: TcpSocket) -> None:
        """Start ``client``'s connection out (it is in SYN_SENT); answered by a task."""
        assert self._nursery is not None and client.remote is not None
        self._nursery.start_soon(self._tcp, client, client.attempt)

    async def _tcp(self, client: TcpSocket, attempt: int) -> None:
        assert client.remote is not None
        port = client.remote.port
        try:
            host = await self.gate.open(TCP, self.target(client.remote.host, port), port)
        except Errno as error:
            if client.connecting(attempt):
                client.refused(error.errno)
            return
        with host:
            if not client.connecting(attempt):
                _reset_at_close(host)
                return  # closed, or connected elsewhere, meanwhile
            peer = client.joined_outside()
            await _relay(peer, trio.socket.from_stdlib_socket(host))

    # --- UDP ---------------------------------------------------------------------------------------

    def send_datagram(self, guest: UdpSocket, host: bytes, port: int, data: bytes) -> None:
        """Send ``data`` from ``guest`` to ``host`` ``port`` (as the guest named it, in its
        socket's family) on their flow, made now if there is none; Errno at once if the
        destination may not be reached."""
        key = (host, port)
        flows = self._flows.setdefault(guest, {})
        flow = flows.get(key)
        if flow is None:
            target = self.target(host, port)
            assert self._nursery is not None
            flow = flows[key] = _UdpFlow(guest, InetAddress(guest.family, host, port))
            self._nursery.start_soon(self._udp, flow, target)
        flow.queue(data)

    def forget(self, guest: UdpSocket) -> None:
        """``guest`` is closed: its flows end."""
        for flow in self._flows.pop(guest, {}).values():
            flow.scope.cancel()

    async def _udp(self, flow: _UdpFlow, target: bytes) -> None:
        port = flow.remote.port
        try:
            with flow.scope:
                try:
                    host = await self.gate.open(UDP, target, port)
                except Errno as error:
                    flow.unreachable(error.errno)
                    return
                with host:
                    await flow.carry(trio.socket.from_stdlib_socket(host))
        finally:
            flows = self._flows.get(flow.guest)
            if flows is not None and flows.get((flow.remote.host, port)) is flow:
                del flows[(flow.remote.host, port)]
                if not flows:
                    del self._flows[flow.guest]


class _UdpFlow:
    """One guest UDP socket's datagrams to one destination, and the answers from it."""

    def __init__(self, guest: UdpSocket, remote: InetAddress) -> None:
        self.guest = guest
        self.remote = remote
        self.scope = trio.CancelScope(deadline=trio.current_time() + UDP_IDLE)
        self._outgoing: list[bytes] = []
        self._wake = trio.Event()

    def queue(self, data: bytes) -> None:
        if len(self._outgoing) < UDP_BACKLOG:
            self._outgoing.append(data)
            self._wake.set()

    def _used(self) -> None:
        self.scope.deadline = trio.current_time() + UDP_IDLE

    def unreachable(self, error: int) -> None:
        """An ICMP error from the destination: the guest's pending error if it is connected there."""
        guest = self.guest
        if guest.state == TCP_ESTABLISHED and guest.remote == self.remote:
            guest.error = error
            guest.changed()

    async def carry(self, host: trio.socket.SocketType) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._out, host)
            nursery.start_soon(self._in, host)

    async def _out(self, host: trio.socket.SocketType) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            waiting, self._outgoing = self._outgoing, []
            for data in waiting:
                try:
                    await host.send(data)
                except OSError as error:
                    self.unreachable(error.errno or ECONNREFUSED)
            self._used()

    async def _in(self, host: trio.socket.SocketType) -> None:
        while True:
            try:
                data = await host.recv(_UDP_MAX)
            except OSError as error:  # an ICMP error for an earlier datagram
                self.unreachable(error.errno or ECONNREFUSED)
                continue
            guest = self.guest
            if guest.state != TCP_ESTABLISHED or guest.remote == self.remote:  # else not the guest's peer
                guest.deliver(data, self.remote)
            self._used()


#: SO_LINGER on, for 0 seconds: the close of a host socket resets its connection.
_LINGER_ABORT = struct.pack("ii", 1, 0)


def _reset_at_close(host: socket.socket | trio.socket.SocketType) -> None:
    host.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)


async def _relay(peer: TcpSocket, host: trio.socket.SocketType) -> None:
    """Carry bytes between ``peer`` (the remote end of the guest's connection) and ``host``
    until both directions end; a reset on either side ends both."""
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_host_to_guest, peer, host, nursery.cancel_scope)
            nursery.start_soon(_guest_to_host, peer, host, nursery.cancel_scope)
    finally:
        peer.close()


def _abort(host: trio.socket.SocketType, both: trio.CancelScope) -> None:
    """The guest reset its connection (or is gone): the host's is reset too, by its close."""
    _reset_at_close(host)
    both.cancel()


def _reset_guest(peer: TcpSocket, both: trio.CancelScope) -> None:
    """The host reset the connection: so is the guest's, and the peer goes silently."""
    client, peer.peer = peer.peer, None
    if client is not None:
        client.receive_reset()
    both.cancel()


async def _host_to_guest(peer: TcpSocket, host: trio.socket.SocketType, both: trio.CancelScope) -> None:
    """The host's bytes into the guest's receive buffer; its end of data becomes our FIN."""
    creds = (0, 0, 0)
    try:
        while data := await host.recv(CHUNK):
            writing = Writing(data, 0, creds)
            while writing.sent < len(data):
                try:
                    peer.send(KERNEL_CALLER, writing, None, None)
                except Blocked as blocked:
                    await blocked.watch.wait()
        if peer.state != TCP_CLOSE:
            peer.shutdown(SHUT_WR)
    except Errno:
        _abort(host, both)
    except OSError:
        _reset_guest(peer, both)


async def _guest_to_host(peer: TcpSocket, host: trio.socket.SocketType, both: trio.CancelScope) -> None:
    """The guest's bytes out to the host; the guest's FIN becomes a half-close of the host socket."""
    view = memoryview(bytearray(CHUNK))
    try:
        while True:
            reading = Reading([view], 0)
            try:
                peer.recv(reading)
            except Blocked as blocked:
                await blocked.watch.wait()
                continue
            if not reading.copied:
                break
            sent = 0
            while sent < reading.copied:
                sent += await host.send(view[sent:reading.copied])
        host.shutdown(socket.SHUT_WR)
    except Errno:
        _abort(host, both)
    except OSError:
        _reset_guest(peer, both)
