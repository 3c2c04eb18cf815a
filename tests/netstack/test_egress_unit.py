"""The netstack's way out (services/netstack/egress.py) with a stand-in for the net helper:
UDP flows (one per destination, answers from where the guest sent, ended with their socket or
when idle), the resolver's forwarding, the policy's errnos, and an ICMP error's ECONNREFUSED.
The stand-in hands out one end of a socketpair for each socket the helper would open; the test
holds the other end as the remote host."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from abi.creds import Caller, Credentials
from abi.errno import ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, Errno
from abi.socket import AF_INET, SOCK_DGRAM, InetAddress, inet_sockaddr, parse_inet
from kernel.bus import Bus, FailCallSupervisor
from netgate.policy import Policy
from netgate.protocol import UDP
from services.netstack.actor import Netstack
from services.netstack.contract import Ancillary
from services.netstack.egress import UDP_IDLE

ROOT = Caller(10, 10, Credentials())
UPSTREAM = "192.0.2.53"


class FakeGate:
    """What services/netstack/gate.py's NetGate offers the egress, without a process."""

    def __init__(self, allow_host_loopback: bool = False) -> None:
        self.policy = Policy(allow_host_loopback=allow_host_loopback,
                             resolvers=(ipaddress.ip_address(UPSTREAM),))
        #: (kind, host, port) of each socket asked for, and the remote end of each.
        self.opened: list[tuple[int, str, int]] = []
        self.remotes: list[socket.socket] = []
        self.closed = False

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep_forever()

    async def open(self, kind: int, host: bytes, port: int) -> socket.socket:
        ours, remote = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.opened.append((kind, str(ipaddress.ip_address(host)), port))
        self.remotes.append(remote)
        return ours

    def close(self) -> None:
        self.closed = True


@pytest.fixture
async def gate() -> AsyncIterator[FakeGate]:
    fake = FakeGate()
    yield fake
    for remote in fake.remotes:
        remote.close()


@pytest.fixture
async def bus(gate: FakeGate) -> AsyncIterator[Bus]:
    netstack = Netstack(gate)  # type: ignore[arg-type]
    bus = Bus(FailCallSupervisor(strict=True))
    bus.register(netstack)
    async with trio.open_nursery() as nursery:
        await nursery.start(netstack.serve)
        yield bus
        nursery.cancel_scope.cancel()


def to(host: str, port: int) -> bytes:
    return inet_sockaddr(InetAddress(AF_INET, ipaddress.IPv4Address(host).packed, port))


async def udp(bus: Bus) -> int:
    opened = await bus.call("netstack", "socket", ROOT, AF_INET, SOCK_DGRAM, 0)
    return int(opened.sid)


async def sendto(bus: Bus, sid: int, data: bytes, address: bytes | None) -> int:
    return int(await bus.call("netstack", "sendmsg", ROOT, sid, [memoryview(data)], 0, True, address, None,
                              Ancillary()))


async def recvfrom(bus: Bus, sid: int) -> tuple[bytes, str, int]:
    buffer = bytearray(100)
    with trio.fail_after(5):
        received = await bus.call("netstack", "recvmsg", ROOT, sid, [memoryview(buffer)], 0, False)
    sender = parse_inet(received.address, AF_INET)
    return bytes(buffer[:received.size]), str(ipaddress.IPv4Address(sender.host)), sender.port


async def settle() -> None:
    """Let the egress's tasks run (the helper's answer, a datagram carried)."""
    for _ in range(20):
        await trio.sleep(0.005)


async def test_a_datagram_out_and_its_answer_back_on_one_flow(bus: Bus, gate: FakeGate) -> None:
    sid = await udp(bus)
    assert await sendto(bus, sid, b"ping", to("203.0.113.5", 7)) == 4
    assert await sendto(bus, sid, b"again", to("203.0.113.5", 7)) == 5
    await settle()
    assert gate.opened == [(UDP, "203.0.113.5", 7)]  # one flow for one destination
    remote = gate.remotes[0]
    assert remote.recv(100) == b"ping" and remote.recv(100) == b"again"
    remote.send(b"pong")
    assert await recvfrom(bus, sid) == (b"pong", "203.0.113.5", 7)
    await sendto(bus, sid, b"other", to("203.0.113.6", 9))
    await settle()
    assert gate.opened[-1] == (UDP, "203.0.113.6", 9)


async def test_the_resolver_is_forwarded_to_the_upstream_one(bus: Bus, gate: FakeGate) -> None:
    sid = await udp(bus)
    await sendto(bus, sid, b"query", to("10.0.2.3", 53))
    await settle()
    assert gate.opened == [(UDP, UPSTREAM, 53)]
    gate.remotes[0].send(b"answer")
    assert await recvfrom(bus, sid) == (b"answer", "10.0.2.3", 53)  # from the address asked


@pytest.mark.parametrize(("host", "port", "errno"), [
    ("169.254.169.254", 80, ENETUNREACH),  # the cloud metadata service
    ("224.0.0.1", 5353, ENETUNREACH),
    ("10.0.2.9", 53, EHOSTUNREACH),  # nobody else on the sandbox's link
    ("10.0.2.2", 8080, ECONNREFUSED),  # the gateway, without --allow-host-loopback
    ("10.0.2.3", 80, ECONNREFUSED),  # the resolver serves port 53 only
])
async def test_what_the_policy_refuses_fails_the_send(bus: Bus, gate: FakeGate, host: str, port: int,
                                                     errno: int) -> None:
    sid = await udp(bus)
    with pytest.raises(Errno) as refused:
        await sendto(bus, sid, b"x", to(host, port))
    assert refused.value.errno == errno
    assert gate.opened == []


async def test_a_closed_socket_ends_its_flows(bus: Bus, gate: FakeGate) -> None:
    sid = await udp(bus)
    await sendto(bus, sid, b"x", to("203.0.113.5", 7))
    await settle()
    await bus.call("netstack", "release", sid)
    await settle()
    with pytest.raises(ConnectionRefusedError):  # the host socket is closed: nobody to send to
        gate.remotes[0].send(b"late")


async def test_an_unreachable_port_is_a_connected_sockets_econnrefused(bus: Bus, gate: FakeGate) -> None:
    sid = await udp(bus)
    await bus.call("netstack", "connect", ROOT, sid, to("203.0.113.5", 7), None, False)
    await sendto(bus, sid, b"first", None)
    await settle()
    gate.remotes[0].close()  # the host now answers with ICMP port unreachable
    await sendto(bus, sid, b"second", None)
    await settle()
    with pytest.raises(Errno) as refused:
        await recvfrom(bus, sid)
    assert refused.value.errno == ECONNREFUSED


async def test_an_idle_flow_is_forgotten(gate: FakeGate, autojump_clock: trio.testing.MockClock) -> None:
    netstack = Netstack(gate)  # type: ignore[arg-type]
    bus = Bus(FailCallSupervisor(strict=True))
    bus.register(netstack)
    async with trio.open_nursery() as nursery:
        await nursery.start(netstack.serve)
        sid = await udp(bus)
        await sendto(bus, sid, b"x", to("203.0.113.5", 7))
        await trio.sleep(UDP_IDLE / 2)
        await sendto(bus, sid, b"y", to("203.0.113.5", 7))  # used: kept
        await trio.sleep(UDP_IDLE / 2 + 1)
        assert len(gate.opened) == 1
        await trio.sleep(UDP_IDLE)  # unused for longer than UDP_IDLE: gone
        await sendto(bus, sid, b"z", to("203.0.113.5", 7))
        await trio.sleep(1)
        assert len(gate.opened) == 2
        nursery.cancel_scope.cancel()


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)
