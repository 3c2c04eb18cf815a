"""The Sentry's end of the net helper (:mod:`netgate`): starting it, and asking it for sockets.

The helper is started before confinement, in the host's network namespace, as the gofers are
(in a session of its own, so that a terminal's Ctrl-C is the guest's and not the helper's);
afterwards the Sentry reaches the host's network only through it. :meth:`NetGate.open` sends
one request and waits for its reply: a connected host socket, or the errno the connection
failed with. Replies may come in any order (a TCP connect to a slow host does not hold up the
others); one task (:meth:`NetGate.run`) reads them all and wakes each asker.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import socket
import subprocess
import sys

import trio

from abi.errno import ECONNREFUSED, ENETUNREACH, Errno
from gofer import spawn
from netgate.policy import Policy
from netgate.protocol import REPLY, TCP, pack_request

log = logging.getLogger("sentrio.netstack")

def _netgate_main() -> spawn.Main:
    from netgate.__main__ import main

    return main


#: SCM_RIGHTS room for the one fd a reply carries.
_ANCILLARY = socket.CMSG_SPACE(4)


class NetGate:
    """The helper process and the Sentry's end of its socketpair."""

    def __init__(self, process: spawn.Child | None, channel: socket.socket, policy: Policy) -> None:
        self.process = process
        self.policy = policy
        self._channel = channel
        self._ids = itertools.count(1)
        #: Requests sent and not yet answered: id -> where the reply goes.
        self._waiting: dict[int, _Pending] = {}
        self._gone = False

    @classmethod
    def start(cls, policy: Policy, netns: str | None = None) -> NetGate:
        """Start the net helper (a fork, or ``python -m netgate``: :mod:`gofer.spawn`) in the
        host's network namespace (or ``netns``, an engine's, which it joins first), with this
        policy."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = ["--fd", str(theirs.fileno()), *policy.args()]
        argv += ["--netns", netns] if netns else []
        try:
            process = spawn.start("netgate", _netgate_main, argv, pass_fds=[theirs.fileno()],
                                  stdout=None, stderr=sys.stderr.fileno())
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # only the helper holds its end: its death is our EOF
        return cls(process, ours, policy)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read replies and hand each to its asker, until the helper is gone."""
        channel = trio.socket.from_stdlib_socket(self._channel)
        task_status.started()
        try:
            while True:
                message, ancillary, _, _ = await channel.recvmsg(REPLY.size, _ANCILLARY)
                if not message:
                    break
                request_id, code = REPLY.unpack(message)
                fds = [int.from_bytes(data[:4], sys.byteorder, signed=True)
                       for level, kind, data in ancillary if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS]
                pending = self._waiting.pop(request_id, None)
                if pending is None:  # its asker gave up (a signal, a close): the socket is not wanted
                    for fd in fds:
                        os.close(fd)
                    continue
                pending.answer(code, fds)
        except OSError as error:
            log.warning("the net helper's channel failed: %s", error)
        finally:
            self._gone = True
            for pending in self._waiting.values():
                pending.answer(ENETUNREACH, [])
            self._waiting.clear()
        log.warning("the net helper is gone: no more connections out of the sandbox")

    async def open(self, kind: int, host: bytes, port: int) -> socket.socket:
        """A host socket of ``kind`` (TCP or UDP) connected to ``host`` (4 or 16 bytes) ``port``;
        Errno with why it could not be made (ECONNREFUSED, ETIMEDOUT, ENETUNREACH ...)."""
        if self._gone:
            raise Errno(ENETUNREACH)
        request_id = next(self._ids)
        pending = _Pending()
        self._waiting[request_id] = pending
        try:
            await trio.lowlevel.wait_writable(self._channel)
            self._channel.send(pack_request(request_id, kind, host, port), socket.MSG_DONTWAIT)
            await pending.done.wait()
        except OSError as error:
            raise Errno(ENETUNREACH) from error
        except BaseException:
            for fd in pending.fds:  # answered, but the asker is gone (a signal, a close)
                os.close(fd)
            raise
        finally:
            self._waiting.pop(request_id, None)
        if pending.code == errno.EACCES:  # the helper's policy refused it (the Sentry's let it by)
            raise Errno(ECONNREFUSED)
        if pending.code or not pending.fds:
            raise Errno(pending.code or ENETUNREACH)
        family = socket.AF_INET if len(host) == 4 else socket.AF_INET6
        sock_type = socket.SOCK_STREAM if kind == TCP else socket.SOCK_DGRAM
        # family, type and protocol given: the socket module asks the host nothing
        return socket.socket(family, sock_type, 0, fileno=pending.fds[0])

    def close(self) -> None:
        """Close the channel (the helper then exits) and reap the helper."""
        self._channel.close()
        process, self.process = self.process, None
        if process is not None:
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class _Pending:
    """One request's reply: its errno and the fds beside it."""

    __slots__ = ("done", "code", "fds")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.code = 0
        self.fds: list[int] = []

    def answer(self, code: int, fds: list[int]) -> None:
        self.code, self.fds = code, fds
        self.done.set()
