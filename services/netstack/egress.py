"""The way out of the sandbox (``--network sandbox``): guest connections to host addresses.

A guest's TCP connect to an address that is not the sandbox's own goes out as an ordinary host
connection that the net helper opens (:mod:`services.netstack.gate`, :mod:`netgate`): the guest
socket waits in SYN_SENT while the helper connects, then becomes ESTABLISHED with a *peer*
socket that stands for the remote end, or fails with the helper's errno (ECONNREFUSED,
ETIMEDOUT ...), as a connect does. A relay then carries bytes between that peer and the host
socket, each way, with the netstack's own back-pressure; an end of data becomes a FIN the other
way, and a reset either way resets the other side. So a non-blocking connect, SO_ERROR,
half-close and poll/epoll readiness come from the same state machines as inside the sandbox.

Addresses: the guest is 10.0.2.15 on eth0; 10.0.2.2 is the host's loopback (only with
``--allow-host-loopback``, else ECONNREFUSED); other addresses of 10.0.2.0/24 do not answer
(EHOSTUNREACH), and what the policy refuses is unreachable (ENETUNREACH). The net helper checks
the same policy again (:mod:`netgate.policy`).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import TYPE_CHECKING

import trio

from abi.creds import KERNEL_CALLER
from abi.errno import ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, Errno
from abi.socket import SHUT_WR, TCP_CLOSE, unmapped
from netgate.policy import GATEWAY, GUEST_ADDRESS, SANDBOX_SUBNET, Policy
from netgate.protocol import TCP
from services.netstack.base import Blocked, Reading, Writing

if TYPE_CHECKING:
    from services.netstack.gate import NetGate
    from services.netstack.inet import TcpSocket

log = logging.getLogger("sentrio.netstack")

#: Bytes relayed at a time in each direction.
CHUNK = 64 * 1024
_HOST_LOOPBACK = bytes([127, 0, 0, 1])


class Egress:
    """Connections out of one sandbox, through its net helper."""

    def __init__(self, gate: NetGate) -> None:
        self.gate = gate
        self.policy: Policy = gate.policy
        #: The guest's address on eth0: the source of its connections out.
        self.source = GUEST_ADDRESS.packed
        self._nursery: trio.Nursery | None = None

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the helper's reply reader and every relay, until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.gate.run)
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    def target(self, host: bytes) -> bytes:
        """The host address a guest's destination ``host`` (4 bytes) stands for; Errno if it
        may not be reached."""
        address = ipaddress.IPv4Address(host)
        if address == GATEWAY:
            if not self.policy.allow_host_loopback:
                raise Errno(ECONNREFUSED)
            return _HOST_LOOPBACK
        if address in SANDBOX_SUBNET:
            raise Errno(EHOSTUNREACH)  # no other machine on the sandbox's link
        if self.policy.refusal(address) is not None:
            raise Errno(ENETUNREACH)
        return host

    # --- TCP ---------------------------------------------------------------------------------------

    def connect(self, client: TcpSocket) -> None:
        """Start ``client``'s connection out (it is in SYN_SENT); answered by a task."""
        assert self._nursery is not None and client.remote is not None
        self._nursery.start_soon(self._tcp, client, client.attempt)

    async def _tcp(self, client: TcpSocket, attempt: int) -> None:
        assert client.remote is not None
        inner = unmapped(client.remote.host) if len(client.remote.host) == 16 else client.remote.host
        port = client.remote.port
        try:
            if inner is None:
                raise Errno(ENETUNREACH)  # IPv6 has no way out (the sandbox has no IPv6 route)
            host = await self.gate.open(TCP, self.target(inner), port)
        except Errno as error:
            if client.connecting(attempt):
                client.refused(error.errno)
            return
        with host:
            if not client.connecting(attempt):
                host.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
                return  # closed, or connected elsewhere, meanwhile
            peer = client.joined_outside()
            await _relay(peer, trio.socket.from_stdlib_socket(host))


_LINGER_ABORT = (1).to_bytes(4, "little") + (0).to_bytes(4, "little")


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
    host.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
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
