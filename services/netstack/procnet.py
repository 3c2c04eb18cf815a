"""/proc/net/{tcp,tcp6,udp,udp6,unix,dev}: the sandbox's sockets and interfaces in the formats
Linux prints them (tcp4_seq_show, udp4_format_sock, unix_seq_show, dev_seq_show).

Kernel pointers show as zeros, as they do to a reader without CAP_SYSLOG (kptr_restrict).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from abi.socket import AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP, SOCK_STREAM, TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN

if TYPE_CHECKING:
    from services.netstack.inet import InetSocket
    from services.netstack.stack import Stack

_TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
_TCP6_HEADER = ("  sl  local_address                         remote_address                        st tx_queue "
                "rx_queue tr tm->when retrnsmt   uid  timeout inode")
_UDP_HEADER = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode "
               "ref pointer drops")
_UDP6_HEADER = ("  sl  local_address                         remote_address                        st tx_queue "
                "rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops")
_POINTER = "0000000000000000"
#: __SO_ACCEPTCON: /proc/net/unix's flag of a listening socket.
_ACCEPTCON = 0x10000
_SS_UNCONNECTED = 1
_SS_CONNECTED = 3


def _word(host: bytes) -> str:
    """An address as the kernel prints it: each 32-bit word of it as a native-endian number."""
    return "".join(f"{word:08X}" for word in struct.unpack(f"<{len(host) // 4}I", host))


def _inet_rows(stack: Stack, protocol: int, family: int) -> list[InetSocket]:
    """The sockets /proc/net/tcp (or udp, tcp6, udp6) lists: those of ``family`` with a port,
    where an AF_INET6 socket of IPv4 traffic still shows in the IPv6 file, as on Linux."""
    return [sock for sock in stack.ports.all(protocol) if sock.family == family and not sock.closed]


def _endpoint(family: int, host: bytes, port: int) -> str:
    return f"{_word(host)}:{port:04X}"


def tcp_text(stack: Stack, family: int) -> bytes:
    lines = [_TCP_HEADER.ljust(149) if family == AF_INET else _TCP6_HEADER]
    for index, sock in enumerate(_inet_rows(stack, IPPROTO_TCP, family)):
        remote = sock.remote
        peer_host = remote.host if remote is not None and sock.state != TCP_LISTEN else bytes(len(sock.host))
        peer_port = remote.port if remote is not None and sock.state != TCP_LISTEN else 0
        rx = len(sock.accept_queue) if sock.state == TCP_LISTEN else len(sock.rcv)  # type: ignore[attr-defined]
        tx = 0 if sock.state == TCP_LISTEN else sock.queued()[1]
        line = (f"{index:4d}: {_endpoint(family, sock.host, sock.port)} {_endpoint(family, peer_host, peer_port)} "
                f"{sock.state:02X} {tx:08X}:{rx:08X} 00:00000000 00000000 {sock.uid:5d} {0:8d} {sock.ino} 1 "
                f"{_POINTER} 20 4 30 10 -1")
        lines.append(line.ljust(149) if family == AF_INET else line)
    return ("\n".join(lines) + "\n").encode()


def udp_text(stack: Stack, family: int) -> bytes:
    lines = [_UDP_HEADER.ljust(127) if family == AF_INET else _UDP6_HEADER]
    for sock in _inet_rows(stack, IPPROTO_UDP, family):
        remote = sock.remote
        connected = sock.state == TCP_ESTABLISHED and remote is not None
        peer_host = remote.host if connected and remote is not None else bytes(len(sock.host))
        peer_port = remote.port if connected and remote is not None else 0
        state = TCP_ESTABLISHED if connected else TCP_CLOSE
        line = (f"{sock.port % 128:5d}: {_endpoint(family, sock.host, sock.port)} "
                f"{_endpoint(family, peer_host, peer_port)} {state:02X} {0:08X}:{sock.rmem:08X} "  # type: ignore[attr-defined]
                f"00:00000000 00000000 {sock.uid:5d} {0:8d} {sock.ino} 2 {_POINTER} {sock.drops}")  # type: ignore[attr-defined]
        lines.append(line.ljust(127) if family == AF_INET else line)
    return ("\n".join(lines) + "\n").encode()


def unix_text(stack: Stack) -> bytes:
    from services.netstack.unix import UnixSocket

    lines = ["Num       RefCount Protocol Flags    Type St Inode Path"]
    for sock in stack.sockets.values():
        if not isinstance(sock, UnixSocket):
            continue
        listening = sock.state == TCP_LISTEN
        connected = sock.peer is not None and (sock.state == TCP_ESTABLISHED or sock.type != SOCK_STREAM)
        state = _SS_CONNECTED if connected and not listening else _SS_UNCONNECTED
        line = (f"{_POINTER}: {2:08X} {0:08X} {_ACCEPTCON if listening else 0:08X} {sock.type:04X} {state:02X} "
                f"{sock.ino:5d}")
        if sock.name is not None:
            name = sock.path or sock.name
            line += " " + (name.replace(b"\0", b"@") if name[:1] == b"\0" else name).decode(errors="replace")
        lines.append(line)
    return ("\n".join(lines) + "\n").encode()


def dev_text(stack: Stack) -> bytes:
    lines = ["Inter-|   Receive                                                |  Transmit",
             " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
             "carrier compressed"]
    for interface in stack.interfaces.all():
        c = stack.interfaces.counters[interface.ifindex]
        lines.append(f"{interface.name.decode():>6s}: {c.rx_bytes:7d} {c.rx_packets:7d} {0:4d} {0:4d} {0:4d} {0:5d} "
                     f"{0:10d} {0:9d} {c.tx_bytes:8d} {c.tx_packets:7d} {0:4d} {0:4d} {0:4d} {0:5d} {0:7d} {0:10d}")
    return ("\n".join(lines) + "\n").encode()


def proc_net_text(stack: Stack, table: str) -> bytes | None:
    """The text of /proc/net/``table``, None for a table the netstack does not keep."""
    if table in ("tcp", "tcp6"):
        return tcp_text(stack, AF_INET if table == "tcp" else AF_INET6)
    if table in ("udp", "udp6"):
        return udp_text(stack, AF_INET if table == "udp" else AF_INET6)
    if table == "unix":
        return unix_text(stack)
    if table == "dev":
        return dev_text(stack)
    return None

