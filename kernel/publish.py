"""``run -p [IP:]HOST_PORT:GUEST_PORT[/udp]``: a host TCP (or UDP) port that reaches a guest's
server, as ``docker run -p`` publishes a container's port.

The Sentry is confined to a network namespace of its own (docs/security.md), so the host ports
are bound before confinement, as the control socket is: a listening socket keeps working in
the namespace it was made in. Each connection accepted on the host becomes a connection
inside the sandbox, made through the netstack's own operations to the guest port on the
sandbox's loopback address (the sandbox's only one), with the kernel as the caller; two tasks
then copy bytes each way, and the end of one direction half-closes the other side, so request
and response protocols that shut down their sending side work end to end.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from abi.creds import KERNEL_CALLER
from abi.errno import EADDRNOTAVAIL, ECONNREFUSED, Errno
from abi.socket import (
    AF_INET,
    AF_INET6,
    IN6ADDR_LOOPBACK,
    INADDR_LOOPBACK,
    MSG_NOSIGNAL,
    SHUT_WR,
    SOCK_DGRAM,
    SOCK_STREAM,
    InetAddress,
    inet_sockaddr,
)
from services.netstack.contract import Ancillary, SocketId

if TYPE_CHECKING:
    from kernel.kernel import Kernel

log = logging.getLogger("sentrio.publish")

#: Bytes copied at a time in each direction.
CHUNK = 64 * 1024
#: Connections a published port holds waiting to be accepted.
BACKLOG = 128


#: A UDP client's relay ends after this long without a datagram either way (docker-proxy's
#: UDP connections time out the same way).
UDP_IDLE_SECONDS = 90.0
#: The largest UDP payload.
UDP_MAX = 65535


class PublishError(ValueError):
    """A ``-p`` value that is not ``[IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]``, or a host port that
    cannot be bound."""


@dataclass(frozen=True)
class PublishedPort:
    """One ``-p``: where the host listens, and the guest port it reaches."""

    host_ip: str
    host_port: int
    guest_port: int
    #: "tcp" or "udp".
    protocol: str = "tcp"

    @classmethod
    def parse(cls, spec: str) -> PublishedPort:
        """``[IP:]HOST_PORT:GUEST_PORT[/tcp|/udp]``, as docker spells it (IPv6 hosts in brackets)."""
        text, _, protocol = spec.partition("/")
        if protocol not in ("", "tcp", "udp"):
            raise PublishError(f"-p {spec}: only tcp and udp ports can be published")
        host_ip, guest = "0.0.0.0", text
        if text.startswith("["):
            address, bracket, rest = text[1:].partition("]")
            if not bracket or not rest.startswith(":"):
                raise PublishError(f"-p {spec}: expected [IPV6]:HOST_PORT:GUEST_PORT")
            host_ip, guest = address, rest[1:]
        elif text.count(":") == 2:
            host_ip, guest = text.split(":", 1)
        host, colon, guest_port = guest.partition(":")
        if not colon:
            raise PublishError(f"-p {spec}: expected [IP:]HOST_PORT:GUEST_PORT")
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise PublishError(f"-p {spec}: {host_ip!r} is not an IP address") from None
        return cls(host_ip, _port(host, spec), _port(guest_port, spec), protocol or "tcp")

    def bind(self) -> socket.socket:
        """The host's listening (or, for udp, bound) socket, made before the Sentry leaves the
        host's network."""
        family = socket.AF_INET6 if ":" in self.host_ip else socket.AF_INET
        udp = self.protocol == "udp"
        listener = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host_ip, self.host_port))
            if not udp:
                listener.listen(BACKLOG)
        except OSError as error:
            listener.close()
            raise PublishError(f"-p {self}: cannot listen on the host: {error.strerror or error}") from None
        listener.setblocking(False)
        return listener

    def __str__(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{host}:{self.host_port}:{self.guest_port}" + ("/udp" if self.protocol == "udp" else "")


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise PublishError(f"-p {spec}: {text!r} is not a port number (1-65535)")
    return int(text)


class Publisher:
    """The sandbox's published ports: bound at construction, served by :meth:`serve`."""

    def __init__(self, ports: tuple[PublishedPort, ...]) -> None:
        self._listeners: list[tuple[PublishedPort, socket.socket]] = []
        try:
            for port in ports:
                self._listeners.append((port, port.bind()))
        except PublishError:
            self.close()
            raise

    def close(self) -> None:
        for _, listener in self._listeners:
            listener.close()
        self._listeners.clear()

    async def serve(self, kernel: Kernel, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept on every published port until cancelled."""
        async with trio.open_nursery() as nursery:
            for port, listener in self._listeners:
                relay = self._relay_udp if port.protocol == "udp" else self._accept
                nursery.start_soon(relay, kernel, port, trio.socket.from_stdlib_socket(listener), nursery)
            task_status.started()

    async def _accept(self, kernel: Kernel, port: PublishedPort, listener: trio.socket.SocketType,
                      nursery: trio.Nursery) -> None:
        while True:
            try:
                connection, _ = await listener.accept()
            except OSError as error:  # e.g. EMFILE: the client is dropped, the port stays open
                log.warning("-p %s: accept failed: %s", port, error.strerror or error)
                await trio.sleep(0.1)
                continue
            nursery.start_soon(_forward, kernel, port, trio.SocketStream(connection))


    async def _relay_udp(self, kernel: Kernel, port: PublishedPort, host: trio.socket.SocketType,
                         nursery: trio.Nursery) -> None:
        """Each host client (address) gets a UDP socket of its own in the netstack, connected to
        the guest's port on loopback: its datagrams go in through it, and the guest's replies to
        it come back to that client, as docker-proxy relays UDP."""
        clients: dict[Any, _UdpClient] = {}
        while True:
            try:
                data, address = await host.recvfrom(UDP_MAX)
            except OSError as error:
                log.warning("-p %s: receive failed: %s", port, error.strerror or error)
                await trio.sleep(0.1)
                continue
            client = clients.get(address)
            if client is None:
                client = await _UdpClient.connect(kernel, port.guest_port)
                if client is None:
                    continue
                clients[address] = client
                nursery.start_soon(client.replies, kernel, host, address, clients)
            await client.send(kernel, data)


class _UdpClient:
    """One host client's socket in the netstack, and when it last carried a datagram."""

    def __init__(self, sid: SocketId) -> None:
        self.sid = sid
        self.last = trio.current_time()

    @classmethod
    async def connect(cls, kernel: Kernel, guest_port: int) -> _UdpClient | None:
        bus = kernel.bus
        opened = await bus.call("netstack", "socket", KERNEL_CALLER, AF_INET, SOCK_DGRAM, 0)
        try:
            address = inet_sockaddr(InetAddress(AF_INET, INADDR_LOOPBACK, guest_port))
            await bus.call("netstack", "connect", KERNEL_CALLER, opened.sid, address, None, False)
        except Errno as error:
            await bus.call("netstack", "release", opened.sid)
            log.warning("-p to guest udp port %d: %s", guest_port, error)
            return None
        return cls(opened.sid)

    async def send(self, kernel: Kernel, data: bytes) -> None:
        self.last = trio.current_time()
        try:
            await kernel.bus.call("netstack", "sendmsg", KERNEL_CALLER, self.sid, [memoryview(data)], MSG_NOSIGNAL,
                                  True, None, None, Ancillary())
        except Errno as error:  # no room, or nothing listens on the guest port: dropped, as UDP is
            log.debug("-p udp: datagram dropped: %s", error)

    async def replies(self, kernel: Kernel, host: trio.socket.SocketType, address: Any,
                      clients: dict[Any, _UdpClient]) -> None:
        """The guest's datagrams to this client, until it has been idle for UDP_IDLE_SECONDS."""
        bus = kernel.bus
        buffer = bytearray(UDP_MAX)
        try:
            while True:
                with trio.move_on_after(UDP_IDLE_SECONDS):
                    try:
                        received = await bus.call("netstack", "recvmsg", KERNEL_CALLER, self.sid,
                                                  [memoryview(buffer)], 0, False)
                    except Errno:  # ECONNREFUSED: the guest's port was closed; the client may retry
                        continue
                    self.last = trio.current_time()
                    await host.sendto(bytes(buffer[:received.size]), address)
                    continue
                if trio.current_time() - self.last >= UDP_IDLE_SECONDS:
                    return
        finally:
            clients.pop(address, None)
            with trio.CancelScope(shield=True):
                await bus.call("netstack", "release", self.sid)


async def _forward(kernel: Kernel, port: PublishedPort, host: trio.SocketStream) -> None:
    """Carry one host connection to the guest's server and back."""
    async with host:
        sid = await _connect(kernel, port.guest_port)
        if sid is None:
            return  # nothing listens on the guest port: the host client sees the connection close
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_host_to_guest, kernel, host, sid, nursery.cancel_scope)
                nursery.start_soon(_guest_to_host, kernel, host, sid, nursery.cancel_scope)
        finally:
            with trio.CancelScope(shield=True):
                await kernel.bus.call("netstack", "release", sid)


async def _connect(kernel: Kernel, guest_port: int) -> SocketId | None:
    """A netstack socket connected to the guest's port on loopback (IPv4, then IPv6); None
    if the guest has no server there."""
    bus = kernel.bus
    for family, host in ((AF_INET, INADDR_LOOPBACK), (AF_INET6, IN6ADDR_LOOPBACK)):
        opened = await bus.call("netstack", "socket", KERNEL_CALLER, family, SOCK_STREAM, 0)
        try:
            address = inet_sockaddr(InetAddress(family, host, guest_port))
            await bus.call("netstack", "connect", KERNEL_CALLER, opened.sid, address, None, False)
        except Errno as error:
            await bus.call("netstack", "release", opened.sid)
            if error.errno not in (ECONNREFUSED, EADDRNOTAVAIL):
                log.warning("-p to guest port %d: connect failed: %s", guest_port, error)
                return None
            continue
        sid: SocketId = opened.sid
        return sid
    log.info("-p: nothing listens on guest port %d", guest_port)
    return None


async def _host_to_guest(kernel: Kernel, host: trio.SocketStream, sid: SocketId, both: trio.CancelScope) -> None:
    """Host bytes into the guest's connection; the host's end of data becomes a shutdown."""
    bus = kernel.bus
    try:
        while data := await host.receive_some(CHUNK):
            view = memoryview(data)
            while view:
                sent = await bus.call("netstack", "sendmsg", KERNEL_CALLER, sid, [view], MSG_NOSIGNAL,
                                      False, None, None, Ancillary())
                view = view[sent:]
        await bus.call("netstack", "shutdown", KERNEL_CALLER, sid, SHUT_WR)
    except (Errno, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        both.cancel()  # a reset on either side ends the whole connection


async def _guest_to_host(kernel: Kernel, host: trio.SocketStream, sid: SocketId, both: trio.CancelScope) -> None:
    """The guest's bytes out to the host client; the guest's end of data becomes a half-close."""
    bus = kernel.bus
    buffer = bytearray(CHUNK)
    try:
        while True:
            received = await bus.call("netstack", "recvmsg", KERNEL_CALLER, sid, [memoryview(buffer)], 0, False)
            if received.size == 0:
                break
            await host.send_all(buffer[:received.size])
        await host.send_eof()
    except (Errno, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        both.cancel()
