"""What every socket of the netstack shares: identity, shutdown state, pending error, buffer
sizes and timeouts, the SOL_SOCKET options, and the queued message (Linux's sk_buff).

A socket object is a sans-IO state machine: its methods change state and say what happened,
never wait. The actor (:mod:`services.netstack.actor`) does the waiting, on the socket's
:class:`~services.netstack.contract.SocketWatch`, which every change rings.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from abi.errno import EACCES, EDOM, EINVAL, ENOPROTOOPT, ENOTCONN, EOPNOTSUPP, EPERM, Errno
from abi.creds import CAP_NET_ADMIN
from abi.linux import POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM, POLLWRBAND, POLLWRNORM
from abi.socket import (
    IFNAMSIZ,
    LINGER,
    SO_ACCEPTCONN,
    SO_BINDTODEVICE,
    SO_BROADCAST,
    SO_BSDCOMPAT,
    SO_BUF_LOCK,
    SO_BUSY_POLL,
    SO_COOKIE,
    SO_DEBUG,
    SO_DOMAIN,
    SO_DONTROUTE,
    SO_ERROR,
    SO_INCOMING_CPU,
    SO_KEEPALIVE,
    SO_LINGER,
    SO_MARK,
    SO_NO_CHECK,
    SO_OOBINLINE,
    SO_PASSCRED,
    SO_PEEK_OFF,
    SO_PEERCRED,
    SO_PEERNAME,
    SO_PRIORITY,
    SO_PROTOCOL,
    SO_RCVBUF,
    SO_RCVBUFFORCE,
    SO_RCVLOWAT,
    SO_RCVTIMEO_NEW,
    SO_RCVTIMEO_OLD,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_RXQ_OVFL,
    SO_SNDBUF,
    SO_SNDBUFFORCE,
    SO_SNDLOWAT,
    SO_SNDTIMEO_NEW,
    SO_SNDTIMEO_OLD,
    SO_TIMESTAMP_NEW,
    SO_TIMESTAMP_OLD,
    SO_TIMESTAMPNS_NEW,
    SO_TIMESTAMPNS_OLD,
    SO_TYPE,
    SO_ZEROCOPY,
    UCRED,
)
from services.netstack.contract import Carried, Creds, Node, SocketWatch

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.netstack.stack import Stack

#: sysctl net.core.{w,r}mem_default and {w,r}mem_max, as a stock kernel sets them.
WMEM_DEFAULT = RMEM_DEFAULT = 212992
WMEM_MAX = RMEM_MAX = 212992
#: The smallest buffers setsockopt leaves (SOCK_MIN_SNDBUF, SOCK_MIN_RCVBUF).
SOCK_MIN_SNDBUF = 4608
SOCK_MIN_RCVBUF = 2304
#: sysctl net.core.somaxconn: listen(2)'s backlog is capped here.
SOMAXCONN = 4096
#: Timeouts are kept in jiffies, as Linux keeps them (HZ of a stock distribution kernel).
HZ = 250
_INT_MAX = 0x7FFF_FFFF

RCV_SHUTDOWN = 1
SEND_SHUTDOWN = 2
SHUTDOWN_MASK = 3

_INT = struct.Struct("<i")
_TIMEVAL = struct.Struct("<qq")


def truesize(length: int) -> int:
    """What a message of ``length`` bytes costs against a buffer, as an sk_buff's truesize:
    the sk_buff (256 bytes) plus a slab for the data and its shared info (kmalloc rounds
    small ones to a power of two), so that many tiny messages fill a buffer as on Linux."""
    data = ((length + 63) & ~63) + 320
    if data <= 8192:
        slab = 512
        while slab < data:
            slab *= 2
        return 256 + slab
    return 256 + ((data + 4095) & ~4095)


@dataclass(slots=True, eq=False)
class Message:
    """One queued message (an sk_buff): its bytes, who sent it, and its ancillary data.

    ``charged`` is what it holds of its sender's send buffer until it is consumed.
    """

    data: bytes
    sender: Socket | None = None
    address: bytes = b""
    rights: list[Carried] = field(default_factory=list)
    creds: Creds | None = None
    charged: int = 0
    #: Bytes of a stream message already read.
    offset: int = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.offset

    def release(self) -> None:
        """The message left its queue: its sender's send buffer has the room again."""
        sender, charged = self.sender, self.charged
        if sender is not None and charged:
            self.charged = 0
            sender.wmem -= charged
            sender.changed()

    def discard(self) -> None:
        """The message is thrown away unread: release it and drop the files it carried."""
        self.release()
        rights, self.rights = self.rights, []
        for carried in rights:
            carried.drop()


class Blocked(Exception):
    """A state machine cannot go on now: the actor waits for ``watch`` to change and retries
    (or fails with EAGAIN, or returns the progress already made)."""

    def __init__(self, watch: SocketWatch) -> None:
        super().__init__()
        self.watch = watch


@dataclass(slots=True, eq=False)
class Reading:
    """A recvmsg in progress: where its bytes go and what it has collected so far."""

    buffers: list[memoryview]
    flags: int
    size: int = 0
    copied: int = 0
    #: msg_flags to report (MSG_TRUNC, MSG_CTRUNC, MSG_EOR).
    msg_flags: int = 0
    address: bytes = b""
    rights: list[Carried] = field(default_factory=list)
    creds: Creds | None = None
    #: The value recvmsg returns, when it is not ``copied`` (MSG_TRUNC on a datagram).
    result: int | None = None
    #: The caller may not wait (a datagram socket then fails with EAGAIN even after shutdown).
    nonblock: bool = False

    def __post_init__(self) -> None:
        self.size = sum(len(view) for view in self.buffers)

    @property
    def progress(self) -> int:
        return self.copied


@dataclass(slots=True, eq=False)
class Writing:
    """A sendmsg in progress: its bytes, its ancillary data, and how much went out."""

    data: bytes | memoryview
    flags: int
    creds: Creds
    rights: list[Carried] = field(default_factory=list)
    sent: int = 0

    @property
    def progress(self) -> int:
        return self.sent


def gather(buffers: list[memoryview]) -> bytes:
    """The bytes of ``buffers`` (guest memory) as one value."""
    if len(buffers) == 1:
        return bytes(buffers[0])
    return b"".join(buffers)


def scatter(data: bytes | memoryview, buffers: list[memoryview], start: int = 0) -> int:
    """Copy ``data`` into ``buffers`` from byte ``start`` of them on: the bytes copied."""
    copied = 0
    for view in buffers:
        if start >= len(view):
            start -= len(view)
            continue
        take = min(len(view) - start, len(data) - copied)
        view[start:start + take] = data[copied:copied + take]
        copied += take
        start = 0
        if copied == len(data):
            break
    return copied


def jiffies_of(raw: bytes) -> int:
    """SO_RCVTIMEO/SO_SNDTIMEO: a struct timeval as a timeout in jiffies (0: none), rounding
    up as sock_set_timeout does. EINVAL for a short value, EDOM for bad microseconds."""
    if len(raw) < _TIMEVAL.size:
        raise Errno(EINVAL)
    seconds, micros = (int(value) for value in _TIMEVAL.unpack_from(raw))
    if not 0 <= micros < 1_000_000:
        raise Errno(EDOM)
    if seconds < 0:
        return 0
    if seconds == 0 and micros == 0:
        return 0
    per_jiffy = 1_000_000 // HZ
    jiffies = seconds * HZ + (micros + per_jiffy - 1) // per_jiffy
    return min(jiffies, _INT_MAX)


def timeval_of(jiffies: int) -> bytes:
    seconds, rest = divmod(jiffies, HZ)
    return _TIMEVAL.pack(seconds, rest * (1_000_000 // HZ))


def pack_int(value: int) -> bytes:
    return _INT.pack(value)


def int_value(raw: bytes) -> int:
    """An int option's value; EINVAL if fewer than 4 bytes were given."""
    if len(raw) < _INT.size:
        raise Errno(EINVAL)
    return int(_INT.unpack_from(raw)[0])


class Socket:
    """State every socket has, and the SOL_SOCKET options."""

    family = 0
    #: Whether the socket is connection-oriented (stream, seqpacket).
    connection = False

    def __init__(self, stack: Stack, type: int, protocol: int, uid: int) -> None:
        self.stack = stack
        self.sid, self.ino = stack.add(self)
        self.type = type
        self.protocol = protocol
        #: The creator's effective uid (SO_REUSEPORT groups, /proc/net).
        self.uid = uid
        self.watch = SocketWatch(self.poll, self.queued)
        #: RCV_SHUTDOWN | SEND_SHUTDOWN, as sk_shutdown (set by either end).
        self.shut = 0
        #: The pending error SO_ERROR reports (sk_err), 0 for none.
        self.error = 0
        #: Bytes of messages this socket sent that their receivers still queue (sk_wmem_alloc).
        self.wmem = 0
        self.sndbuf = WMEM_DEFAULT
        self.rcvbuf = RMEM_DEFAULT
        self.rcvtimeo = 0
        self.sndtimeo = 0
        self.rcvlowat = 1
        self.sndlowat = 1
        self.linger: tuple[int, int] = (0, 0)
        self.passcred = False
        self.reuseaddr = False
        self.reuseport = False
        #: Options that are only stored and read back (SO_KEEPALIVE, SO_BROADCAST ...).
        self.flags: dict[int, int] = {}
        #: SO_BINDTODEVICE's interface name (b"": none); the actor checks it exists.
        self.device = b""
        self.closed = False

    # --- readiness ---------------------------------------------------------------------------

    def poll(self) -> int:
        raise NotImplementedError

    def queued(self) -> tuple[int, int]:
        """(FIONREAD, SIOCOUTQ)."""
        return (0, 0)

    def changed(self) -> None:
        self.watch.changed()

    def take_error(self) -> int:
        """sock_error: the pending error, cleared (0 if none)."""
        error, self.error = self.error, 0
        if error:
            self.changed()
        return error

    def raise_error(self) -> None:
        """Fail with the pending error, if there is one."""
        error = self.take_error()
        if error:
            raise Errno(error)

    # --- options -----------------------------------------------------------------------------

    @property
    def listening(self) -> bool:
        return False

    def peer_creds(self) -> Creds | None:
        """SO_PEERCRED: the peer's (pid, euid, egid) when it connected, None if unknown."""
        return None

    def peer_name(self) -> bytes:
        """getpeername(2); ENOTCONN unless connected."""
        raise Errno(ENOTCONN)

    def get_socket_option(self, name: int, size: int) -> bytes:
        """getsockopt(SOL_SOCKET, ``name``) cut to ``size`` bytes, as sk_getsockopt copies."""
        if size < 0:
            raise Errno(EINVAL)
        if name == SO_PEERCRED:
            creds = self.peer_creds() or (0, -1 & 0xFFFF_FFFF, -1 & 0xFFFF_FFFF)
            return UCRED.pack(*creds)[:size]
        if name == SO_PEERNAME:
            address = self.peer_name()
            if len(address) < size:
                raise Errno(EINVAL)
            return address[:size]
        if name == SO_LINGER:
            return LINGER.pack(*self.linger)[:size]
        if name in (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW, SO_SNDTIMEO_OLD, SO_SNDTIMEO_NEW):
            jiffies = self.rcvtimeo if name in (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW) else self.sndtimeo
            return timeval_of(jiffies)[:size]
        if name == SO_COOKIE:
            return struct.pack("<Q", self.ino)[:size]
        if name == SO_BINDTODEVICE:
            return (self.device + b"\0")[:size] if self.device else b""
        return pack_int(self._int_option(name))[:size]

    def _int_option(self, name: int) -> int:
        if name == SO_ERROR:
            return self.take_error()
        if name in _COMPUTED:
            return int(getattr(self, _COMPUTED[name]))
        if name in _STORED:
            return self.flags.get(name, _STORED[name])
        raise Errno(ENOPROTOOPT)

    def set_socket_option(self, caller: Caller, name: int, value: bytes) -> None:
        """setsockopt(SOL_SOCKET, ``name``, ``value``) with sk_setsockopt's rules."""
        if name in (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW):
            self.rcvtimeo = jiffies_of(value)
            return
        if name in (SO_SNDTIMEO_OLD, SO_SNDTIMEO_NEW):
            self.sndtimeo = jiffies_of(value)
            return
        if name == SO_LINGER:
            if len(value) < LINGER.size:
                raise Errno(EINVAL)
            onoff, seconds = LINGER.unpack_from(value)
            self.linger = (1 if onoff else 0, max(seconds, 0) if onoff else self.linger[1])
            return
        if name == SO_BINDTODEVICE:
            self.device = value.split(b"\0", 1)[0][:IFNAMSIZ - 1]
            return
        number = int_value(value)
        if name in (SO_SNDBUF, SO_SNDBUFFORCE, SO_RCVBUF, SO_RCVBUFFORCE):
            self._set_buffer(caller, name, number)
        elif name == SO_REUSEADDR:
            self.reuseaddr = number != 0
        elif name == SO_REUSEPORT:
            self.reuseport = number != 0
        elif name == SO_PASSCRED:
            self.passcred = number != 0
        elif name == SO_RCVLOWAT:
            self.rcvlowat = _INT_MAX if number < 0 else max(number, 1)
            self.changed()
        elif name == SO_DEBUG and number and not caller.creds.has_cap(CAP_NET_ADMIN):
            raise Errno(EACCES)
        elif name == SO_PRIORITY and not 0 <= number <= 6 and not caller.creds.has_cap(CAP_NET_ADMIN):
            raise Errno(EPERM)
        elif name == SO_MARK and not caller.creds.has_cap(CAP_NET_ADMIN):
            raise Errno(EPERM)
        elif name in _STORED:
            self.flags[name] = number if name in (SO_PRIORITY, SO_MARK, SO_BUSY_POLL, SO_PEEK_OFF,
                                                  SO_INCOMING_CPU) else int(number != 0)
        else:  # read-only (SO_TYPE, SO_ERROR, SO_PEERCRED ...) or unknown
            raise Errno(ENOPROTOOPT)

    def _set_buffer(self, caller: Caller, name: int, number: int) -> None:
        forced = name in (SO_SNDBUFFORCE, SO_RCVBUFFORCE)
        if forced and not caller.creds.has_cap(CAP_NET_ADMIN):
            raise Errno(EPERM)
        send = name in (SO_SNDBUF, SO_SNDBUFFORCE)
        unsigned = number & 0xFFFF_FFFF
        if forced:
            unsigned = max(number, 0)
        else:
            unsigned = min(unsigned, WMEM_MAX if send else RMEM_MAX)
        doubled = min(unsigned, _INT_MAX // 2) * 2
        if send:
            self.sndbuf = max(doubled, SOCK_MIN_SNDBUF)
        else:
            self.rcvbuf = max(doubled, SOCK_MIN_RCVBUF)
        self.changed()

    def copy_options_to(self, other: Socket) -> None:
        """What an accepted socket inherits from its listener (sk_clone_lock copies the sock)."""
        other.sndbuf, other.rcvbuf = self.sndbuf, self.rcvbuf
        other.rcvtimeo, other.sndtimeo, other.rcvlowat = self.rcvtimeo, self.sndtimeo, self.rcvlowat
        other.linger, other.passcred = self.linger, self.passcred
        other.reuseaddr = self.reuseaddr
        other.flags = dict(self.flags)

    # --- what each kind of socket implements (defaults: Linux's sock_no_* answers) -------------

    def bind(self, caller: Caller, address: bytes, node: Node | None) -> None:
        raise Errno(EOPNOTSUPP)

    def listen(self, caller: Caller, backlog: int) -> None:
        raise Errno(EOPNOTSUPP)

    def accept(self) -> Socket:
        """The next connection (Blocked while there is none)."""
        raise Errno(EOPNOTSUPP)

    def connect(self, caller: Caller, address: bytes, node: Node | None, nonblock: bool) -> None:
        """Connect, or go on connecting after a wait (Blocked until it may go on)."""
        raise Errno(EOPNOTSUPP)

    def send(self, caller: Caller, writing: Writing, address: bytes | None, node: Node | None) -> None:
        """Send what may be sent of ``writing`` now (Blocked if nothing more can go yet)."""
        raise Errno(EOPNOTSUPP)

    def recv(self, reading: Reading) -> None:
        """Fill ``reading`` as far as the call's rules want (Blocked to wait for more)."""
        raise Errno(EOPNOTSUPP)

    def shutdown(self, how: int) -> None:
        raise Errno(EOPNOTSUPP)

    def sockname(self) -> bytes:
        raise NotImplementedError

    def get_option(self, caller: Caller, level: int, name: int, size: int) -> bytes:
        """getsockopt at a level other than SOL_SOCKET (sock_no_getsockopt: EOPNOTSUPP)."""
        raise Errno(EOPNOTSUPP)

    def set_option(self, caller: Caller, level: int, name: int, value: bytes) -> None:
        raise Errno(EOPNOTSUPP)

    def close(self) -> None:
        """The last file reference is gone (or, for a connection never accepted, its listener's)."""
        self.closed = True
        self.stack.forget(self)

    # --- shared poll bits ----------------------------------------------------------------------

    def shutdown_events(self) -> int:
        """The bits sk_shutdown and sk_err give every socket's poll."""
        events = POLLERR if self.error else 0
        if self.shut == SHUTDOWN_MASK:
            events |= POLLHUP
        if self.shut & RCV_SHUTDOWN:
            events |= POLLRDHUP | POLLIN | POLLRDNORM
        return events


#: Writable in a poll's answer.
WRITABLE = POLLOUT | POLLWRNORM | POLLWRBAND
READABLE = POLLIN | POLLRDNORM

#: Options read from the socket's attributes.
_COMPUTED = {
    SO_TYPE: "type", SO_PROTOCOL: "protocol", SO_DOMAIN: "family", SO_SNDBUF: "sndbuf", SO_RCVBUF: "rcvbuf",
    SO_REUSEADDR: "reuseaddr", SO_REUSEPORT: "reuseport", SO_PASSCRED: "passcred", SO_ACCEPTCONN: "listening",
    SO_RCVLOWAT: "rcvlowat", SO_SNDLOWAT: "sndlowat",
}
#: Options only kept and read back, with their defaults.
_STORED = {
    SO_DEBUG: 0, SO_DONTROUTE: 0, SO_BROADCAST: 0, SO_KEEPALIVE: 0, SO_OOBINLINE: 0, SO_NO_CHECK: 0,
    SO_PRIORITY: 0, SO_BSDCOMPAT: 0, SO_TIMESTAMP_OLD: 0, SO_TIMESTAMPNS_OLD: 0, SO_TIMESTAMP_NEW: 0,
    SO_TIMESTAMPNS_NEW: 0, SO_MARK: 0, SO_RXQ_OVFL: 0, SO_PEEK_OFF: -1, SO_BUSY_POLL: 0,
    SO_INCOMING_CPU: -1, SO_ZEROCOPY: 0, SO_BUF_LOCK: 0,
}
