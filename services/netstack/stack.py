"""The netstack's shared state: every socket by id, the AF_UNIX names, the ports of TCP and UDP,
the interfaces, and the traffic counters /proc/net/dev shows.

Sockets register here when made (:meth:`Stack.add`) and leave when closed, so a connection's
server end (made by connect, before any accept) has an id from the start.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from abi.errno import EBADF, Errno
from services.netstack.interfaces import InterfaceTable
from services.netstack.ports import PortTable
from services.netstack.unix import UnixNamespace

if TYPE_CHECKING:
    from services.netstack.base import Socket
    from services.netstack.egress import Egress
    from services.netstack.netlink import NetlinkSocket

#: Socket inode numbers start here (sockfs numbers its inodes apart from every file system).
FIRST_INO = 40_000


class Stack:
    """Everything the sockets of one sandbox share."""

    def __init__(self, *, eth0: bool = False) -> None:
        self.sockets: dict[int, Socket] = {}
        self._sids = itertools.count(1)
        self._inos = itertools.count(FIRST_INO)
        self.unix = UnixNamespace()
        self.ports = PortTable()
        self.interfaces = InterfaceTable(eth0=eth0)
        #: Bound netlink sockets by port id.
        self.netlink_ports: dict[int, NetlinkSocket] = {}
        #: The way out of the sandbox (``--network sandbox``), None for loopback only.
        self.egress: Egress | None = None

    def add(self, socket: Socket) -> tuple[int, int]:
        """Register a new socket: its id and its inode number."""
        sid = next(self._sids)
        self.sockets[sid] = socket
        return sid, next(self._inos)

    def get(self, sid: int) -> Socket:
        """The socket ``sid`` names; EBADF if it is gone."""
        socket = self.sockets.get(sid)
        if socket is None:
            raise Errno(EBADF)
        return socket

    def forget(self, socket: Socket) -> None:
        """A closed socket leaves the table."""
        if self.sockets.get(socket.sid) is socket:
            del self.sockets[socket.sid]
