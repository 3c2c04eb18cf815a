"""The messages between the Sentry and the net helper, over a SOCK_SEQPACKET socketpair.

A request names what to open: ``(id, kind, family, port, address)``. The reply is ``(id,
errno)``: 0 with the connected socket beside it (SCM_RIGHTS), or the errno the connection
failed with (ECONNREFUSED, ETIMEDOUT, ENETUNREACH ...; EACCES when the policy refuses it).
A TCP socket is handed over only once its connection is made, so the Sentry never holds a
socket it could point elsewhere; a UDP socket is connected to the one address it may send to.
"""

from __future__ import annotations

import socket
import struct

#: kind: a TCP connection, a UDP socket connected to the address.
TCP = 1
UDP = 2
#: id u32, kind u8, family (4 or 6) u8, port u16, address (4 or 16 bytes, zero-padded to 16).
REQUEST = struct.Struct("<IBBH16s")
#: id u32, errno i32.
REPLY = struct.Struct("<Ii")


def pack_request(request_id: int, kind: int, host: bytes, port: int) -> bytes:
    return REQUEST.pack(request_id, kind, 4 if len(host) == 4 else 6, port, host.ljust(16, b"\0"))


def unpack_request(data: bytes) -> tuple[int, int, int, bytes, int]:
    """(id, kind, socket family, address, port) of a request; ValueError if malformed."""
    if len(data) != REQUEST.size:
        raise ValueError("a request of the wrong size")
    request_id, kind, version, port, host = REQUEST.unpack(data)
    if kind not in (TCP, UDP) or version not in (4, 6) or not 0 < port < 65536:
        raise ValueError("a malformed request")
    if version == 4:
        return request_id, kind, socket.AF_INET, host[:4], port
    return request_id, kind, socket.AF_INET6, host, port
