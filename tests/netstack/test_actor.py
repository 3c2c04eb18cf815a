"""The netstack actor through the bus, and its state machines: what differential tests cannot
reach (the sandbox's own routing, capabilities, timeouts in virtual time, cancellation,
netlink messages byte by byte, /proc/net, files in flight)."""

from __future__ import annotations

import io
import json
import socket as host_socket
import struct
from dataclasses import replace

import pytest
import trio
import trio.testing

from abi.creds import CAP_NET_RAW, CAP_SETUID, Caller, Credentials
from abi.errno import (
    EACCES,
    EADDRINUSE,
    EADDRNOTAVAIL,
    EAFNOSUPPORT,
    EAGAIN,
    ECONNREFUSED,
    EINTR,
    EINVAL,
    ENETUNREACH,
    ENOENT,
    EOPNOTSUPP,
    EPERM,
    EPROTONOSUPPORT,
    ERESTARTSYS,
    Errno,
)
from abi.linux import POLLIN, POLLOUT, POLLPRI
from abi.socket import (
    AF_INET,
    AF_INET6,
    AF_NETLINK,
    AF_PACKET,
    AF_UNIX,
    IFINFOMSG,
    IPPROTO_ICMP,
    IPPROTO_RAW,
    MSG_OOB,
    MSG_PEEK,
    NETLINK_AUDIT,
    NETLINK_ROUTE,
    NLM_F_ACK,
    NLM_F_DUMP,
    NLM_F_MULTI,
    NLM_F_REQUEST,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSGHDR,
    RTA_DST,
    RTATTR,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETROUTE,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTMSG,
    SO_RCVBUF,
    SO_RCVTIMEO_OLD,
    SO_REUSEPORT,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_STREAM,
    SOL_SOCKET,
    InetAddress,
    inet_sockaddr,
    netlink_sockaddr,
    parse_inet,
    unix_sockaddr,
)
from kernel.bus import Bus, FailCallSupervisor, Message
from kernel.tracing import MessageTracer
from services.netstack.actor import Netstack
from services.netstack.contract import Ancillary, NetstackContract, Opened
from services.vfs.socket import SocketFile

ROOT = Caller(10, 10, Credentials())
NOBODY = Caller(20, 20, Credentials.of_user(65534, 65534))
LOOPBACK = bytes([127, 0, 0, 1])
NOTHING = Ancillary()


@pytest.fixture
def bus() -> Bus:
    bus = Bus(FailCallSupervisor(strict=True))
    bus.register(Netstack())
    return bus


async def call(bus: Bus, op: str, *args: object) -> object:
    return await bus.call("netstack", op, *args)


async def send(bus: Bus, sid: int, data: bytes, flags: int = 0, address: bytes | None = None,
               caller: Caller = ROOT, nonblock: bool = True, ancillary: Ancillary = NOTHING) -> int:
    return int(await call(bus, "sendmsg", caller, sid, [memoryview(data)], flags, nonblock, address, None, ancillary))


async def recv(bus: Bus, sid: int, size: int = 100, flags: int = 0, nonblock: bool = True) -> tuple[bytes, object]:
    buffer = bytearray(size)
    received = await call(bus, "recvmsg", ROOT, sid, [memoryview(buffer)], flags, nonblock)
    return bytes(buffer[:received.size]), received  # type: ignore[attr-defined]


async def errno_of(awaitable: object) -> int:
    with pytest.raises(Errno) as failure:
        await awaitable  # type: ignore[misc]
    return failure.value.errno


async def pair(bus: Bus, kind: int = SOCK_STREAM) -> tuple[Opened, Opened]:
    return await call(bus, "socketpair", ROOT, AF_UNIX, kind, 0)  # type: ignore[return-value]


def v4(port: int, host: bytes = LOOPBACK) -> bytes:
    return inet_sockaddr(InetAddress(AF_INET, host, port))


async def tcp_listener(bus: Bus, backlog: int = 4) -> tuple[int, int]:
    opened = await call(bus, "socket", ROOT, AF_INET, SOCK_STREAM, 0)
    await call(bus, "bind", ROOT, opened.sid, v4(0), None)
    await call(bus, "listen", ROOT, opened.sid, backlog)
    port = parse_inet(await call(bus, "getsockname", opened.sid), AF_INET).port
    return opened.sid, port


# --- the contract ---------------------------------------------------------------------------------


def test_the_actor_implements_every_operation_of_its_contract() -> None:
    assert Netstack.operations == NetstackContract.operations
    for name in NetstackContract.operations:
        assert getattr(Netstack, name) is not getattr(NetstackContract, name), name


# --- creating sockets -------------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "kind", "protocol", "caps", "expected"), [
    (AF_PACKET, SOCK_RAW, 0, 1 << CAP_NET_RAW, EAFNOSUPPORT),  # the sandbox has no packet sockets
    (AF_PACKET, SOCK_RAW, 0, 0, EPERM),
    (AF_INET, SOCK_RAW, IPPROTO_RAW, 1 << CAP_NET_RAW, EPROTONOSUPPORT),  # nor raw IP
    (AF_INET, SOCK_RAW, IPPROTO_RAW, 0, EPERM),
    (AF_INET, SOCK_DGRAM, IPPROTO_ICMP, 0, EACCES),  # ping sockets: no group is allowed
    (AF_NETLINK, SOCK_RAW, NETLINK_AUDIT, 0, EPROTONOSUPPORT),
])
async def test_what_the_sandbox_has_not(bus: Bus, family: int, kind: int, protocol: int, caps: int,
                                        expected: int) -> None:
    caller = Caller(1, 1, replace(Credentials(), cap_effective=caps))
    assert await errno_of(call(bus, "socket", caller, family, kind, protocol)) == expected


# --- AF_UNIX -------------------------------------------------------------------------------------------


async def test_stream_pair_moves_bytes_and_keeps_its_watch_current(bus: Bus) -> None:
    a, b = await pair(bus)
    assert b.watch.poll() & (POLLIN | POLLOUT) == POLLOUT
    seen = b.watch.count
    assert await send(bus, a.sid, b"hello") == 5
    assert b.watch.count > seen
    assert b.watch.poll() & POLLIN
    assert b.watch.readable() == 5
    assert a.watch.unsent() > 5  # what the message costs the sender's buffer, as on Linux
    data, _ = await recv(bus, b.sid)
    assert data == b"hello"
    assert a.watch.unsent() == 0
    assert await errno_of(recv(bus, b.sid)) == EAGAIN


async def test_a_blocked_writer_goes_on_when_the_reader_makes_room(bus: Bus) -> None:
    a, b = await pair(bus)
    big = b"x" * 1_000_000
    sent: list[int] = []

    async def writer() -> None:
        sent.append(await send(bus, a.sid, big, nonblock=False))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(writer)
        await trio.testing.wait_all_tasks_blocked()
        assert not sent  # the send buffer is full: the writer waits
        got = 0
        while got < len(big):
            data, _ = await recv(bus, b.sid, 65536, nonblock=False)
            got += len(data)
    assert sent == [len(big)]


async def test_a_signal_during_a_send_returns_what_went(bus: Bus) -> None:
    a, _ = await pair(bus)
    with trio.CancelScope() as scope:
        async def cancel_when_blocked() -> None:
            await trio.testing.wait_all_tasks_blocked()
            scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_when_blocked)
            sent = await send(bus, a.sid, b"y" * 1_000_000, nonblock=False)
    assert 0 < sent < 1_000_000


async def test_a_signal_before_anything_moved_is_the_callers_to_report(bus: Bus) -> None:
    _, b = await pair(bus)
    with trio.move_on_after(0) as scope:
        await recv(bus, b.sid, nonblock=False)
    assert scope.cancelled_caught
    assert await call(bus, "interrupted", b.sid, False) == ERESTARTSYS


async def test_a_receive_timeout_ends_with_eagain_and_makes_signals_eintr(bus: Bus, autojump_clock: object) -> None:
    _, b = await pair(bus)
    timeval = struct.pack("<qq", 0, 100_000)
    await call(bus, "setsockopt", ROOT, b.sid, SOL_SOCKET, SO_RCVTIMEO_OLD, timeval)
    start = trio.current_time()
    assert await errno_of(recv(bus, b.sid, nonblock=False)) == EAGAIN
    assert trio.current_time() - start == pytest.approx(0.1)
    assert await call(bus, "interrupted", b.sid, False) == EINTR


async def test_out_of_band_byte(bus: Bus) -> None:
    a, b = await pair(bus)
    assert await send(bus, a.sid, b"abc!", MSG_OOB) == 4
    assert b.watch.poll() & POLLPRI
    data, _ = await recv(bus, b.sid, 10, MSG_OOB)
    assert data == b"!"
    data, _ = await recv(bus, b.sid, 10)
    assert data == b"abc"
    assert await errno_of(recv(bus, b.sid, 10, MSG_OOB)) == EINVAL


class Counted:
    """A stand-in for a file in flight that counts its references."""

    def __init__(self, counter: list[int]) -> None:
        self.counter = counter
        counter[0] += 1

    def clone(self) -> Counted:
        return Counted(self.counter)

    def drop(self) -> None:
        self.counter[0] -= 1


async def test_files_in_flight_are_dropped_with_the_socket_that_holds_them(bus: Bus) -> None:
    a, b = await pair(bus, SOCK_DGRAM)
    references = [0]
    await send(bus, a.sid, b"f", ancillary=Ancillary((Counted(references),)))
    assert references == [1]
    _, peeked = await recv(bus, b.sid, flags=MSG_PEEK)
    assert len(peeked.rights) == 1 and references == [2]  # a peek hands out a copy
    peeked.rights[0].drop()
    await call(bus, "release", b.sid)
    assert references == [0]


async def test_credentials_a_sender_may_not_claim(bus: Bus) -> None:
    a, _ = await pair(bus, SOCK_DGRAM)
    own = (NOBODY.pid, 65534, 65534)
    assert await send(bus, a.sid, b"x", caller=NOBODY, ancillary=Ancillary(creds=own)) == 1
    claim = Ancillary(creds=(NOBODY.pid, 0, 65534))
    assert await errno_of(send(bus, a.sid, b"x", caller=NOBODY, ancillary=claim)) == EPERM
    setuid = Caller(NOBODY.pid, NOBODY.tid, replace(NOBODY.creds, cap_effective=1 << CAP_SETUID))
    assert await send(bus, a.sid, b"x", caller=setuid, ancillary=claim) == 1


async def test_abstract_names_and_their_listing(bus: Bus) -> None:
    server = await call(bus, "socket", ROOT, AF_UNIX, SOCK_STREAM, 0)
    await call(bus, "bind", ROOT, server.sid, unix_sockaddr(b"\0service"), None)
    await call(bus, "listen", ROOT, server.sid, 1)
    client = await call(bus, "socket", ROOT, AF_UNIX, SOCK_STREAM, 0)
    await call(bus, "connect", ROOT, client.sid, unix_sockaddr(b"\0service"), None, True)
    text = (await call(bus, "proc_net", "unix")).decode()
    lines = text.splitlines()
    assert lines[0] == "Num       RefCount Protocol Flags    Type St Inode Path"
    listening = [line for line in lines if line.endswith(f"{server.ino} @service")]
    assert listening and " 00010000 0001 01 " in listening[0]
    assert await errno_of(call(bus, "connect", ROOT, client.sid, unix_sockaddr(b"\0nobody"), None, True)) \
        == ECONNREFUSED


# --- TCP and UDP -----------------------------------------------------------------------------------------


async def test_no_route_out_of_the_sandbox(bus: Bus) -> None:
    tcp = await call(bus, "socket", ROOT, AF_INET, SOCK_STREAM, 0)
    outside = v4(53, bytes([8, 8, 8, 8]))
    assert await errno_of(call(bus, "connect", ROOT, tcp.sid, outside, None, False)) == ENETUNREACH
    udp = await call(bus, "socket", ROOT, AF_INET, SOCK_DGRAM, 0)
    assert await errno_of(send(bus, udp.sid, b"query", address=outside)) == ENETUNREACH
    assert await errno_of(call(bus, "bind", ROOT, udp.sid, v4(0, bytes([10, 0, 0, 1])), None)) == EADDRNOTAVAIL
    assert await errno_of(call(bus, "bind", NOBODY, udp.sid, v4(80), None)) == EACCES
    v6 = await call(bus, "socket", ROOT, AF_INET6, SOCK_DGRAM, 0)
    google = inet_sockaddr(InetAddress(AF_INET6, host_socket.inet_pton(AF_INET6, "2001:4860::8888"), 53))
    assert await errno_of(send(bus, v6.sid, b"q", address=google)) == ENETUNREACH


async def test_reuseport_is_for_sockets_of_one_user(bus: Bus) -> None:
    first = await call(bus, "socket", ROOT, AF_INET, SOCK_STREAM, 0)
    await call(bus, "setsockopt", ROOT, first.sid, SOL_SOCKET, SO_REUSEPORT, struct.pack("<i", 1))
    await call(bus, "bind", ROOT, first.sid, v4(0), None)
    port = parse_inet(await call(bus, "getsockname", first.sid), AF_INET).port
    same_user = await call(bus, "socket", ROOT, AF_INET, SOCK_STREAM, 0)
    await call(bus, "setsockopt", ROOT, same_user.sid, SOL_SOCKET, SO_REUSEPORT, struct.pack("<i", 1))
    await call(bus, "bind", ROOT, same_user.sid, v4(port), None)
    other_user = await call(bus, "socket", NOBODY, AF_INET, SOCK_STREAM, 0)
    await call(bus, "setsockopt", NOBODY, other_user.sid, SOL_SOCKET, SO_REUSEPORT, struct.pack("<i", 1))
    assert await errno_of(call(bus, "bind", NOBODY, other_user.sid, v4(port), None)) == EADDRINUSE


async def test_a_connect_waits_for_room_in_the_accept_queue(bus: Bus) -> None:
    listener, port = await tcp_listener(bus, backlog=0)
    first = await call(bus, "socket", ROOT, AF_INET, SOCK_STREAM, 0)
    await call(bus, "connect", ROOT, first.sid, v4(port), None, False)
    second = await call(bus, "socket", ROOT, AF_INET, SOCK_STREAM, 0)
    done: list[bool] = []

    async def connect() -> None:
        await call(bus, "connect", ROOT, second.sid, v4(port), None, False)
        done.append(True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(connect)
        await trio.testing.wait_all_tasks_blocked()
        assert not done
        await call(bus, "accept", ROOT, listener, False)
    assert done == [True]


async def test_udp_drops_what_does_not_fit_the_receive_buffer(bus: Bus) -> None:
    receiver = await call(bus, "socket", ROOT, AF_INET, SOCK_DGRAM, 0)
    await call(bus, "setsockopt", ROOT, receiver.sid, SOL_SOCKET, SO_RCVBUF, struct.pack("<i", 1))
    await call(bus, "bind", ROOT, receiver.sid, v4(0), None)
    address = await call(bus, "getsockname", receiver.sid)
    sender = await call(bus, "socket", ROOT, AF_INET, SOCK_DGRAM, 0)
    for _ in range(10):
        assert await send(bus, sender.sid, b"z" * 1000, address=address) == 1000
    kept = 0
    while True:
        try:
            await recv(bus, receiver.sid, 2000)
        except Errno:
            break
        kept += 1
    assert 0 < kept < 10
    rows = [line.split() for line in (await call(bus, "proc_net", "udp")).decode().splitlines()[1:]]
    assert [row[-1] for row in rows if row[9] == str(receiver.ino)] == [str(10 - kept)]  # the drops


async def test_proc_net_tcp_and_dev(bus: Bus) -> None:
    listener, port = await tcp_listener(bus)
    client = await call(bus, "socket", ROOT, AF_INET, SOCK_STREAM, 0)
    await call(bus, "connect", ROOT, client.sid, v4(port), None, False)
    await send(bus, client.sid, b"payload")
    lines = (await call(bus, "proc_net", "tcp")).decode().splitlines()
    assert lines[0].startswith("  sl  local_address rem_address   st tx_queue rx_queue")
    rows = [line.split() for line in lines[1:]]
    assert [row[1] for row in rows if row[3] == "0A"] == [f"0100007F:{port:04X}"]
    established = [row for row in rows if row[3] == "01"]
    assert len(established) == 2 and all(row[2].startswith("0100007F:") for row in established)
    accepted = [row for row in established if row[1] == f"0100007F:{port:04X}"]
    assert accepted[0][4] == f"00000000:{7:08X}"  # the bytes it has not read
    dev = (await call(bus, "proc_net", "dev")).decode().splitlines()
    lo = dev[2].split()
    assert lo[0] == "lo:" and int(lo[1]) > 7 and int(lo[2]) > 0 and lo[1] == lo[9]
    assert await errno_of(call(bus, "proc_net", "snmp")) == ENOENT


# --- NETLINK_ROUTE ---------------------------------------------------------------------------------------


async def netlink_request(bus: Bus, sid: int, kind: int, flags: int, body: bytes, seq: int,
                          caller: Caller = ROOT) -> list[tuple[int, int, int, int, bytes]]:
    """Send one request to the kernel; every message of every answer datagram."""
    request = NLMSGHDR.pack(NLMSGHDR.size + len(body), kind, flags, seq, 0) + body
    await send(bus, sid, request, address=netlink_sockaddr(0), caller=caller)
    messages = []
    while True:
        try:
            data, received = await recv(bus, sid, 65536)
        except Errno:
            return messages
        assert received.address == netlink_sockaddr(0)
        offset = 0
        while offset < len(data):
            length, kind_, flags_, seq_, pid = NLMSGHDR.unpack_from(data, offset)
            messages.append((kind_, flags_, seq_, pid, data[offset + NLMSGHDR.size:offset + length]))
            offset += (length + 3) & ~3


def attributes(data: bytes) -> dict[int, bytes]:
    found = {}
    offset = 0
    while offset + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, offset)
        found[kind] = data[offset + RTATTR.size:offset + length]
        offset += (length + 3) & ~3
    return found


async def test_rtnetlink_dumps_links_addresses_and_routes(bus: Bus) -> None:
    opened = await call(bus, "socket", ROOT, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)
    await call(bus, "bind", ROOT, opened.sid, netlink_sockaddr(0), None)
    port_id = struct.unpack_from("<I", await call(bus, "getsockname", opened.sid), 4)[0]
    assert port_id == ROOT.pid  # autobind takes the process's pid when it is free

    links = await netlink_request(bus, opened.sid, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, bytes(16), 7)
    assert [m[0] for m in links] == [RTM_NEWLINK, NLMSG_DONE]
    assert all(m[1] & NLM_F_MULTI and m[2] == 7 and m[3] == port_id for m in links)
    _, kind, index, flags, _ = IFINFOMSG.unpack_from(links[0][4])
    assert (kind, index, flags & 0x1) == (772, 1, 1)
    assert attributes(links[0][4][IFINFOMSG.size:])[3] == b"lo\0"

    addresses = await netlink_request(bus, opened.sid, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP,
                                      bytes([AF_INET, 0, 0, 0]), 8)
    assert [m[0] for m in addresses] == [RTM_NEWADDR, NLMSG_DONE]
    assert addresses[0][4][:2] == bytes([AF_INET, 8])
    assert attributes(addresses[0][4][8:])[1] == LOOPBACK

    route = RTMSG.pack(AF_INET, 32, 0, 0, 0, 0, 0, 0, 0) + RTATTR.pack(8, RTA_DST) + bytes([8, 8, 8, 8])
    lookup = await netlink_request(bus, opened.sid, RTM_GETROUTE, NLM_F_REQUEST, route, 9)
    assert lookup[0][0] == NLMSG_ERROR and struct.unpack_from("<i", lookup[0][4])[0] == -ENETUNREACH


async def test_rtnetlink_refuses_changes_and_acknowledges(bus: Bus) -> None:
    opened = await call(bus, "socket", NOBODY, AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE)
    answers = await netlink_request(bus, opened.sid, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, bytes(16), 1,
                                    caller=NOBODY)
    assert answers[0][0] == NLMSG_ERROR and struct.unpack_from("<i", answers[0][4])[0] == -EPERM
    answers = await netlink_request(bus, opened.sid, 200, NLM_F_REQUEST, bytes(16), 2, caller=NOBODY)
    assert struct.unpack_from("<i", answers[0][4])[0] == -EOPNOTSUPP
    name = RTATTR.pack(7, 3) + b"lo\0\0"
    answers = await netlink_request(bus, opened.sid, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, bytes(16) + name, 3,
                                    caller=NOBODY)
    assert [m[0] for m in answers] == [RTM_NEWLINK, NLMSG_ERROR]
    assert struct.unpack_from("<i", answers[1][4])[0] == 0


# --- the file and the bus ------------------------------------------------------------------------------------


async def test_releasing_a_socket_file_closes_it_even_through_a_slow_interceptor(bus: Bus) -> None:
    class Delay:
        async def __call__(self, message: Message, proceed: object) -> object:
            if message.op == "release":
                await trio.sleep(0)
            return await proceed(message)  # type: ignore[operator]

    listener, port = await tcp_listener(bus)
    opened = await call(bus, "socket", ROOT, AF_INET, SOCK_STREAM, 0)
    file = SocketFile(bus, opened, AF_INET, SOCK_STREAM, 0, 0, 0, 0)
    bus.add_interceptor(Delay())
    file.release()  # cannot finish at once: handed to a system task
    await trio.testing.wait_all_tasks_blocked()
    assert await errno_of(call(bus, "getsockname", opened.sid)) == 9  # EBADF: the socket is gone
    other = await call(bus, "socket", ROOT, AF_INET, SOCK_STREAM, 0)
    file = SocketFile(bus, other, AF_INET, SOCK_STREAM, 0, 0, 0, 0)
    await call(bus, "release", listener)
    assert await errno_of(call(bus, "connect", ROOT, other.sid, v4(port), None, False)) == ECONNREFUSED


async def test_socket_messages_can_be_traced(bus: Bus) -> None:
    stream = io.StringIO()
    bus.add_interceptor(MessageTracer(stream))
    a, b = await pair(bus)
    await send(bus, a.sid, b"traced")
    await recv(bus, b.sid)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["op"] for r in records] == ["socketpair", "sendmsg", "recvmsg"]
    assert records[1]["args"][2] == {"buffers": 1, "bytes": 6}
