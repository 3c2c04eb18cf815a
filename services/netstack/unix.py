"""AF_UNIX sockets (unix(7)): stream, datagram and seqpacket, as Linux's net/unix/af_unix.c
behaves, as sans-IO state machines.

Names live in a :class:`UnixNamespace`: abstract names (a leading NUL) by their bytes, path
names by the ``(device, inode)`` of the socket file the VFS made at bind. A connection is two
sockets pointing at each other; connecting to a listener makes the server's end at once (an
"embryo" queued on the listener until accept takes it), so the client may write before accept.

Every message is queued on its receiver, charged to its sender's send buffer until read
(sk_wmem_alloc against SO_SNDBUF: that is the back-pressure). A datagram receiver also holds at
most ``max_dgram_qlen`` + 1 messages from senders it is not connected to. Stream reads join
messages, except across a message carrying files (SCM_RIGHTS) and, with SO_PASSCRED, across
writers with other credentials.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import TYPE_CHECKING

from abi.errno import (
    EADDRINUSE,
    ECONNREFUSED,
    ECONNRESET,
    EINVAL,
    EISCONN,
    EMSGSIZE,
    ENOTCONN,
    EOPNOTSUPP,
    EPERM,
    EPIPE,
    EPROTOTYPE,
    Errno,
)
from abi.linux import POLLHUP, POLLPRI
from abi.socket import (
    AF_UNIX,
    AF_UNSPEC,
    MSG_OOB,
    MSG_PEEK,
    MSG_TRUNC,
    MSG_WAITALL,
    SOCK_SEQPACKET,
    SOCK_STREAM,
    TCP_CLOSE,
    TCP_ESTABLISHED,
    TCP_LISTEN,
    sockaddr_family,
    unix_name,
    unix_sockaddr,
)
from services.netstack.base import (
    READABLE,
    RCV_SHUTDOWN,
    SEND_SHUTDOWN,
    SHUTDOWN_MASK,
    SOMAXCONN,
    WRITABLE,
    Blocked,
    Message,
    Reading,
    Socket,
    Writing,
    scatter,
    truesize,
)

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.netstack.contract import Creds, Node
    from services.netstack.stack import Stack

#: sysctl net.unix.max_dgram_qlen.
MAX_DGRAM_QLEN = 10


class UnixNamespace:
    """Every bound AF_UNIX name of the sandbox. Abstract names are kept per socket type (as
    Linux hashes them), so a stream and a datagram socket may hold the same one."""

    def __init__(self) -> None:
        self.abstract: dict[tuple[int, bytes], UnixSocket] = {}
        self.paths: dict[Node, UnixSocket] = {}
        self._autobind = itertools.count(0x1_0000)

    def find(self, type: int, name: bytes, node: Node | None) -> UnixSocket:
        """The socket bound to ``name`` (abstract, of ``type``) or ``node`` (a path, of any
        type: the caller checks it); ECONNREFUSED if none."""
        if node is not None:
            found = self.paths.get(node)
        else:
            found = self.abstract.get((type, name)) if name[:1] == b"\0" else None
        if found is None or found.closed:
            raise Errno(ECONNREFUSED)
        return found

    def autobind_name(self, type: int) -> bytes:
        """A fresh abstract name of five hex digits, as unix_autobind makes them."""
        while True:
            name = b"\0%05x" % (next(self._autobind) & 0xFFFFF)
            if (type, name) not in self.abstract:
                return name


class UnixSocket(Socket):
    """One AF_UNIX socket."""

    family = AF_UNIX

    def __init__(self, stack: Stack, type: int, caller: Caller) -> None:
        super().__init__(stack, type, 0, caller.creds.euid)
        self.connection = type in (SOCK_STREAM, SOCK_SEQPACKET)
        self.namespace = stack.unix
        self.state = TCP_CLOSE
        #: The bound name (a path, or abstract with a leading NUL); None while unbound.
        self.name: bytes | None = None
        self.node: Node | None = None
        #: The path as the binder wrote it, for /proc/net/unix.
        self.path = b""
        #: The other end (connected), or the default destination of a datagram socket.
        self.peer: UnixSocket | None = None
        #: (pid, euid, egid) of the peer when the connection was made (SO_PEERCRED).
        self.peercred: Creds | None = None
        self.queue: deque[Message] = deque()
        #: Data bytes in :attr:`queue` not yet read.
        self.queued_bytes = 0
        #: listen(2)'s backlog, or the datagram queue's limit.
        self.max_backlog = MAX_DGRAM_QLEN
        #: A listener's connections not yet accepted (their server ends).
        self.pending: deque[UnixSocket] = deque()
        #: The listener an embryo waits in.
        self.listener: UnixSocket | None = None
        #: The out-of-band byte a stream peer sent with MSG_OOB, until read with MSG_OOB.
        self.oob: bytes | None = None

    # --- names ---------------------------------------------------------------------------------

    def sockname(self) -> bytes:
        return unix_sockaddr(self.name or b"")

    def peer_name(self) -> bytes:
        if self.peer is None or (self.connection and self.state != TCP_ESTABLISHED):
            raise Errno(ENOTCONN)
        return self.peer.sockname()

    def peer_creds(self) -> Creds | None:
        return self.peercred

    @property
    def listening(self) -> bool:
        return self.state == TCP_LISTEN

    def bind(self, caller: Caller, address: bytes, node: Node | None) -> None:
        """bind(2): a sockaddr_un of just the family autobinds; a path comes with its node."""
        name = unix_name(address)
        if name and name[:1] != b"\0" and node is None:
            raise Errno(EINVAL)  # the kernel layer makes the socket file first
        self.bind_name(name, node, name if node is not None else b"")

    def bind_name(self, name: bytes, node: Node | None, path: bytes = b"") -> None:
        """Give the socket ``name`` (b"": an autobound abstract name). EINVAL if it has one,
        EADDRINUSE if an abstract name is taken."""
        if self.name is not None:
            raise Errno(EINVAL)
        namespace = self.namespace
        if not name:
            name = namespace.autobind_name(self.type)
        if node is not None:
            if node in namespace.paths and not namespace.paths[node].closed:
                raise Errno(EADDRINUSE)
            namespace.paths[node] = self
        else:
            if (self.type, name) in namespace.abstract:
                raise Errno(EADDRINUSE)
            namespace.abstract[(self.type, name)] = self
        self.name, self.node, self.path = name, node, path

    def autobind(self) -> None:
        """Bind to a fresh abstract name if unbound (SO_PASSCRED senders must have a name)."""
        if self.name is None:
            self.bind_name(b"", None)

    # --- connections ---------------------------------------------------------------------------

    def listen(self, caller: Caller, backlog: int) -> None:
        if not self.connection:
            raise Errno(EOPNOTSUPP)
        if self.name is None or self.state not in (TCP_CLOSE, TCP_LISTEN):
            raise Errno(EINVAL)
        if backlog & 0xFFFF_FFFF > SOMAXCONN:
            backlog = SOMAXCONN
        self.max_backlog = backlog
        if self.state != TCP_LISTEN:
            self.state = TCP_LISTEN
            self.peercred = _creds_of(caller)
        self.changed()

    def backlog_full(self) -> bool:
        """unix_recvq_full: more queued than the backlog (so a backlog of N holds N + 1)."""
        return len(self.pending if self.state == TCP_LISTEN else self.queue) > self.max_backlog

    def connect(self, caller: Caller, address: bytes, node: Node | None, nonblock: bool) -> None:
        """connect(2): a stream or seqpacket socket connects to a listener; a datagram socket
        picks its default destination (AF_UNSPEC: none)."""
        if not self.connection and len(address) >= 2 and sockaddr_family(address) == AF_UNSPEC:
            self.connect_dgram(None)
            return
        if len(address) <= 2:
            raise Errno(EINVAL)
        name = unix_name(address)
        if self.passcred:
            self.autobind()
        target = self.namespace.find(self.type, name, node)
        if self.connection:
            self.connect_stream(caller, target)
        else:
            self.connect_dgram(target)

    def connect_stream(self, caller: Caller, listener: UnixSocket) -> None:
        """connect(2) of a stream or seqpacket socket to ``listener``; ``new`` becomes the
        server's end. Checks come in unix_stream_connect's order (the target first)."""
        if listener.type != self.type:
            raise Errno(EPROTOTYPE)
        if listener.state != TCP_LISTEN or listener.shut & RCV_SHUTDOWN:
            raise Errno(ECONNREFUSED)
        if listener.backlog_full():
            raise Blocked(listener.watch)
        if self.state == TCP_ESTABLISHED:
            raise Errno(EISCONN)
        if self.state != TCP_CLOSE:
            raise Errno(EINVAL)
        new = UnixSocket(self.stack, self.type, caller)  # made by the connecting process, as Linux does
        new.state = TCP_ESTABLISHED
        new.name = listener.name
        new.path = listener.path
        new.peer, self.peer = self, new
        new.peercred = _creds_of(caller)
        new.passcred = listener.passcred
        new.listener = listener
        self.peercred = listener.peercred
        self.state = TCP_ESTABLISHED
        listener.pending.append(new)
        listener.changed()
        self.changed()

    def pair_with(self, other: UnixSocket, caller: Caller) -> None:
        """socketpair(2): two ends connected from the start, with the creator's credentials."""
        self.peer, other.peer = other, self
        self.peercred = other.peercred = _creds_of(caller)
        if self.connection:
            self.state = other.state = TCP_ESTABLISHED

    def accept(self) -> UnixSocket:
        """The next connection's server end; EINVAL if not listening."""
        if not self.connection:
            raise Errno(EOPNOTSUPP)
        if self.state != TCP_LISTEN:
            raise Errno(EINVAL)
        if not self.pending:
            raise Blocked(self.watch)
        new = self.pending.popleft()
        new.listener = None
        self.changed()  # a connect waiting for room may go on
        return new

    def connect_dgram(self, target: UnixSocket | None) -> None:
        """connect(2) of a datagram socket: ``target`` becomes its default destination (None,
        for AF_UNSPEC: no destination). EPERM if the target only talks to another socket."""
        if target is not None:
            if target.type != self.type:
                raise Errno(EPROTOTYPE)
            if target.peer is not None and target.peer is not self:
                raise Errno(EPERM)
        old = self.peer
        self.peer = target
        if old is not None and old is not target:
            self._disconnected_from(old)
        self.changed()

    def _disconnected_from(self, old: UnixSocket) -> None:
        """unix_dgram_disconnected: leaving a peer drops what it sent us; if it was connected
        back to us, it learns (ECONNRESET)."""
        if self.queue:
            queue, self.queue = self.queue, deque()
            self.queued_bytes = 0
            for message in queue:
                message.discard()
            if not old.closed and old.peer is self:
                old.error = ECONNRESET
        old.changed()

    def shutdown(self, how: int) -> None:
        """shutdown(2): SHUT_RD/WR/RDWR (0, 1, 2); a connected peer learns of it at once."""
        mode = how + 1
        if mode & ~SHUTDOWN_MASK or not mode:
            raise Errno(EINVAL)
        self.shut |= mode
        self.changed()
        peer = self.peer
        if peer is not None and self.connection:
            peer_mode = (SEND_SHUTDOWN if mode & RCV_SHUTDOWN else 0) | (RCV_SHUTDOWN if mode & SEND_SHUTDOWN else 0)
            peer.shut |= peer_mode
            peer.changed()

    # --- sending -------------------------------------------------------------------------------

    def send(self, caller: Caller, writing: Writing, address: bytes | None, node: Node | None) -> None:
        if self.type == SOCK_STREAM:
            self.send_stream(writing, address)
            return
        target = None
        if address and self.type != SOCK_SEQPACKET:
            if len(address) <= 2:
                raise Errno(EINVAL)
            target = self.namespace.find(self.type, unix_name(address), node)
        self.send_dgram(writing, target)

    def recv(self, reading: Reading) -> None:
        if self.type == SOCK_STREAM:
            self.recv_stream(reading)
        else:
            self.recv_dgram(reading)

    def send_stream(self, writing: Writing, address: bytes | None) -> None:
        """Queue as much of ``writing`` on the peer as the send buffer lets (in chunks of at
        most half of it, as unix_stream_sendmsg cuts them); Blocked if none fits now. With
        MSG_OOB the last byte is the out-of-band byte, read only with recv(MSG_OOB)."""
        if address:
            raise Errno(EISCONN if self.state == TCP_ESTABLISHED else EOPNOTSUPP)
        peer = self.peer
        if peer is None or self.state != TCP_ESTABLISHED:
            raise Errno(ENOTCONN)
        if self.shut & SEND_SHUTDOWN:
            raise Errno(EPIPE)
        total = len(writing.data)
        inband = total - 1 if writing.flags & MSG_OOB and total else total
        while writing.sent < inband or (not total and not writing.sent and writing.rights):
            if self.wmem >= self.sndbuf:
                raise Blocked(self.watch)
            if peer.closed or peer.shut & RCV_SHUTDOWN:
                raise Errno(EPIPE)
            size = min(inband - writing.sent, (self.sndbuf >> 1) - 64)
            rights, writing.rights = writing.rights, []  # the files ride on the first message
            message = Message(bytes(writing.data[writing.sent:writing.sent + size]), self, b"", rights, writing.creds)
            self._deliver(peer, message)
            writing.sent += size
            if not total:
                return
        if inband < total:
            if peer.closed or peer.shut & RCV_SHUTDOWN:
                raise Errno(EPIPE)
            peer.oob = bytes(writing.data[inband:total])
            writing.sent = total
            peer.changed()

    def send_dgram(self, writing: Writing, target: UnixSocket | None) -> None:
        """Queue one datagram on ``target`` (None: the connected peer), as unix_dgram_sendmsg."""
        if writing.flags & MSG_OOB:
            raise Errno(EOPNOTSUPP)
        if self.type == SOCK_SEQPACKET:
            if self.state != TCP_ESTABLISHED:
                raise Errno(ENOTCONN)
            target = None
        if target is None:
            target = self.peer
            if target is None:
                raise Errno(ENOTCONN)
        elif target.type != self.type:
            raise Errno(EPROTOTYPE)
        if self.passcred:
            self.autobind()
        if len(writing.data) > self.sndbuf - 32:
            raise Errno(EMSGSIZE)
        if self.shut & SEND_SHUTDOWN:  # sock_alloc_send_pskb's checks, then its wait
            raise Errno(EPIPE)
        self.raise_error()
        if self.wmem >= self.sndbuf:
            raise Blocked(self.watch)
        if target.peer is not None and target.peer is not self and not target.closed:
            raise Errno(EPERM)
        if target.closed:
            if self.peer is target:
                self.peer = None
                if self.type == SOCK_SEQPACKET:
                    raise Errno(EPIPE)
            raise Errno(ECONNREFUSED)
        if target.shut & RCV_SHUTDOWN:
            raise Errno(EPIPE)
        if target.peer is not self and len(target.queue) > target.max_backlog:
            raise Blocked(target.watch)
        address = unix_sockaddr(self.name) if self.name is not None else b""
        rights, writing.rights = writing.rights, []
        self._deliver(target, Message(bytes(writing.data), self, address, rights, writing.creds))
        writing.sent = len(writing.data)

    def _deliver(self, receiver: UnixSocket, message: Message) -> None:
        message.charged = truesize(len(message.data))
        self.wmem += message.charged
        receiver.queue.append(message)
        receiver.queued_bytes += len(message.data)
        receiver.changed()

    # --- receiving -----------------------------------------------------------------------------

    def recv_stream(self, reading: Reading) -> None:
        """Read from the queue as unix_stream_read_generic does: up to the buffer's size, at
        least SO_RCVLOWAT (everything with MSG_WAITALL) unless end of file or an error comes
        first. A read stops after a message that carried files, and with SO_PASSCRED before
        a message from a writer with other credentials."""
        if self.state != TCP_ESTABLISHED:
            raise Errno(EINVAL)
        flags = reading.flags
        if flags & MSG_OOB:
            if self.oob is None:
                raise Errno(EINVAL)
            reading.copied = scatter(self.oob, reading.buffers)
            if not flags & MSG_PEEK and reading.copied:
                self.oob = None
                self.changed()
            return
        target = (reading.size if flags & MSG_WAITALL else min(self.rcvlowat, reading.size)) or 1
        peek = bool(flags & MSG_PEEK)
        if peek:  # a peek starts over each time it is retried
            reading.copied = 0
            for carried in reading.rights:
                carried.drop()
            reading.rights.clear()
        check_creds = self.passcred and reading.copied > 0
        index = 0
        while True:
            message = self.queue[index] if index < len(self.queue) else None
            if message is None:
                if reading.copied >= target:
                    return
                error = self.take_error()
                if error:
                    if reading.copied:
                        return
                    raise Errno(error)
                if self.shut & RCV_SHUTDOWN:
                    return
                raise Blocked(self.watch)
            if check_creds:
                if message.creds != reading.creds:
                    return
            elif self.passcred:
                reading.creds = message.creds
                check_creds = True
            chunk = scatter(memoryview(message.data)[message.offset:], reading.buffers, reading.copied)
            reading.copied += chunk
            if peek:
                if message.rights:
                    reading.rights.extend(carried.clone() for carried in message.rights)
                    return
                index += 1
            else:
                message.offset += chunk
                self.queued_bytes -= chunk
                carried_files = bool(message.rights)
                reading.rights.extend(message.rights)
                message.rights = []
                if message.remaining:
                    self.changed()
                    return
                self.queue.popleft()
                message.release()
                self.changed()
                if carried_files:
                    return
            if reading.copied >= reading.size:
                return

    def recv_dgram(self, reading: Reading) -> None:
        """Take one datagram (leave it with MSG_PEEK); a longer one is cut (MSG_TRUNC)."""
        flags = reading.flags
        if flags & MSG_OOB:
            raise Errno(EOPNOTSUPP)
        if self.type == SOCK_SEQPACKET and self.state != TCP_ESTABLISHED:
            raise Errno(ENOTCONN)
        error = self.take_error()  # __skb_try_recv_datagram: a pending error comes first
        if error:
            raise Errno(error)
        if not self.queue:
            if self.shut & RCV_SHUTDOWN and (not reading.nonblock or self.type == SOCK_SEQPACKET):
                return  # end of file (a non-blocking datagram read still says EAGAIN)
            raise Blocked(self.watch)
        message = self.queue[0]
        reading.copied = scatter(message.data, reading.buffers)
        reading.address = message.address
        if len(message.data) > reading.copied:
            reading.msg_flags |= MSG_TRUNC
        if flags & MSG_TRUNC:
            reading.result = len(message.data)
        if self.passcred:
            reading.creds = message.creds
        if flags & MSG_PEEK:
            reading.rights.extend(carried.clone() for carried in message.rights)
            return
        self.queue.popleft()
        self.queued_bytes -= len(message.data)
        reading.rights.extend(message.rights)
        message.rights = []
        message.release()
        self.changed()

    # --- readiness -----------------------------------------------------------------------------

    def queued(self) -> tuple[int, int]:
        if self.state == TCP_LISTEN:
            raise Errno(EINVAL)  # unix_inq_len, unix_outq_len: not for a listener
        if self.type == SOCK_STREAM:
            readable = self.queued_bytes
        else:
            readable = len(self.queue[0].data) if self.queue else 0
        return (readable, self.wmem)

    def writable(self) -> bool:
        """unix_writable: not listening, and at most a quarter of the send buffer in flight."""
        return self.state != TCP_LISTEN and self.wmem << 2 <= self.sndbuf

    def poll(self) -> int:
        events = self.shutdown_events()
        if self.queue or (self.state == TCP_LISTEN and self.pending):
            events |= READABLE
        if self.oob is not None:
            events |= POLLPRI
        if self.connection and self.state == TCP_CLOSE:
            events |= POLLHUP
        if self.type == SOCK_STREAM:
            if self.writable():
                events |= WRITABLE
            return events
        writable = self.writable()
        peer = self.peer
        if writable and peer is not None and peer.peer is not self and len(peer.queue) > peer.max_backlog:
            writable = False
        return events | (WRITABLE if writable else 0)

    # --- the end -------------------------------------------------------------------------------

    def close(self, embryo: bool = False) -> None:
        """unix_release_sock: unbind, tell the peer (ECONNRESET if data was left unread or the
        connection was never accepted), reset the connections waiting in a listener, and
        drop every queued message with the files it carried."""
        super().close()
        namespace = self.namespace
        if self.name is not None:
            if self.node is not None and namespace.paths.get(self.node) is self:
                del namespace.paths[self.node]
            elif namespace.abstract.get((self.type, self.name)) is self:
                del namespace.abstract[(self.type, self.name)]
        was_listening = self.state == TCP_LISTEN
        self.state = TCP_CLOSE
        self.shut = SHUTDOWN_MASK
        peer, self.peer = self.peer, None
        if peer is not None and self.connection:
            if self.queue or embryo:
                peer.error = ECONNRESET
            peer.shut = SHUTDOWN_MASK
            peer.changed()
        elif peer is not None:
            peer.changed()  # a datagram sender blocked on our queue learns we are gone
        self.changed()
        if was_listening:
            pending, self.pending = self.pending, deque()
            for new in pending:
                new.listener = None
                new.close(embryo=True)
        queue, self.queue = self.queue, deque()
        self.queued_bytes = 0
        for message in queue:
            message.discard()


def _creds_of(caller: Caller) -> Creds:
    """SO_PEERCRED's view of a process: pid, effective uid and gid."""
    return (caller.pid, caller.creds.euid, caller.creds.egid)
