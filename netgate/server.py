"""The net helper's loop: requests in, connected sockets (or errnos) out.

One epoll loop, no threads: a TCP connect is started non-blocking and answered when the socket
becomes writable (SO_ERROR then says how it ended, after the host's own SYN retries for an
address that does not answer: ETIMEDOUT, as the guest's own kernel would say). The loop ends
when the Sentry closes its end.
"""

from __future__ import annotations

import array
import errno
import ipaddress
import logging
import select
import socket

from netgate.policy import Policy
from netgate.protocol import REPLY, TCP, unpack_request

log = logging.getLogger("sentrio.netgate")


class Server:
    """Serves one Sentry over ``channel`` under ``policy``."""

    def __init__(self, channel: socket.socket, policy: Policy) -> None:
        self.channel = channel
        self.policy = policy
        self._epoll = select.epoll()
        #: Connections in progress: fd -> (request id, socket).
        self._connecting: dict[int, tuple[int, socket.socket]] = {}

    def run(self) -> None:
        channel = self.channel.fileno()
        self._epoll.register(channel, select.EPOLLIN)
        while True:
            for fd, _ in self._epoll.poll():
                if fd == channel:
                    data = self.channel.recv(64)
                    if not data:  # the Sentry is gone
                        self.channel.close()
                        return
                    self._request(data)
                else:
                    self._connected(fd)

    def _request(self, data: bytes) -> None:
        try:
            request_id, kind, family, host, port = unpack_request(data)
        except ValueError as error:
            log.warning("net helper: %s", error)
            return
        address = ipaddress.ip_address(host)
        refusal = self.policy.refusal(address, port)
        if refusal is not None:
            log.info("net helper: %s:%d refused: %s", address, port, refusal)
            self._reply(request_id, errno.EACCES)
            return
        sock_type = socket.SOCK_STREAM if kind == TCP else socket.SOCK_DGRAM
        try:
            sock = socket.socket(family, sock_type | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        except OSError as error:
            self._reply(request_id, error.errno or errno.ENOMEM)
            return
        code = sock.connect_ex((str(address), port))
        if code == errno.EINPROGRESS:
            self._connecting[sock.fileno()] = (request_id, sock)
            self._epoll.register(sock.fileno(), select.EPOLLOUT)
            return
        self._reply(request_id, code, sock if code == 0 else None)
        sock.close()

    def _connected(self, fd: int) -> None:
        self._epoll.unregister(fd)
        request_id, sock = self._connecting.pop(fd)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self._reply(request_id, code, sock if code == 0 else None)
        sock.close()

    def _reply(self, request_id: int, code: int, sock: socket.socket | None = None) -> None:
        message = REPLY.pack(request_id, code)
        rights = [] if sock is None else [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [sock.fileno()]))]
        try:
            self.channel.sendmsg([message], rights)
        except OSError as error:  # the Sentry is gone: the next recv sees it
            log.debug("net helper: reply lost: %s", error)
