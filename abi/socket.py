"""Sockets in the Linux x86-64 ABI: families, types, options, flags, ioctls, netlink, and the
layouts of the structures that cross the system call boundary (sockaddr_*, msghdr, cmsghdr,
ucred, ifreq, nlmsghdr and the rtnetlink messages).

Numbers come from <linux/socket.h>, <asm-generic/socket.h>, <linux/in.h>, <linux/in6.h>,
<linux/tcp.h>, <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if.h> and <linux/sockios.h>.
Addresses travel between the Sentry and the netstack as the guest wrote them (sockaddr bytes);
the helpers at the end turn them into values and back.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from abi.errno import EAFNOSUPPORT, EINVAL, Errno

# --- address families <linux/socket.h> ---------------------------------------------------------
AF_UNSPEC = 0
AF_UNIX = 1
AF_INET = 2
AF_AX25 = 3
AF_IPX = 4
AF_APPLETALK = 5
AF_INET6 = 10
AF_KEY = 15
AF_NETLINK = 16
AF_PACKET = 17
AF_RDS = 21
AF_LLC = 26
AF_CAN = 29
AF_TIPC = 30
AF_BLUETOOTH = 31
AF_ALG = 38
AF_VSOCK = 40
AF_XDP = 44
AF_MCTP = 45
AF_MAX = 46

# --- socket types <linux/net.h> ----------------------------------------------------------------
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOCK_RDM = 4
SOCK_SEQPACKET = 5
SOCK_DCCP = 6
SOCK_PACKET = 10
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK = 0o4000
SOCK_CLOEXEC = 0o2000000

# --- protocols <linux/in.h> --------------------------------------------------------------------
IPPROTO_IP = 0
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ICMPV6 = 58
IPPROTO_SCTP = 132
IPPROTO_UDPLITE = 136
IPPROTO_RAW = 255
IPPROTO_MPTCP = 262

# --- option levels -----------------------------------------------------------------------------
SOL_IP = 0
SOL_SOCKET = 1
SOL_TCP = 6
SOL_UDP = 17
SOL_IPV6 = 41
SOL_RAW = 255
SOL_NETLINK = 270

# --- SOL_SOCKET options <asm-generic/socket.h> ---------------------------------------------------
SO_DEBUG = 1
SO_REUSEADDR = 2
SO_TYPE = 3
SO_ERROR = 4
SO_DONTROUTE = 5
SO_BROADCAST = 6
SO_SNDBUF = 7
SO_RCVBUF = 8
SO_KEEPALIVE = 9
SO_OOBINLINE = 10
SO_NO_CHECK = 11
SO_PRIORITY = 12
SO_LINGER = 13
SO_BSDCOMPAT = 14
SO_REUSEPORT = 15
SO_PASSCRED = 16
SO_PEERCRED = 17
SO_RCVLOWAT = 18
SO_SNDLOWAT = 19
SO_RCVTIMEO_OLD = 20
SO_SNDTIMEO_OLD = 21
SO_BINDTODEVICE = 25
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_PEERNAME = 28
SO_TIMESTAMP_OLD = 29
SO_ACCEPTCONN = 30
SO_PEERSEC = 31
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SO_PASSSEC = 34
SO_TIMESTAMPNS_OLD = 35
SO_MARK = 36
SO_TIMESTAMPING_OLD = 37
SO_PROTOCOL = 38
SO_DOMAIN = 39
SO_RXQ_OVFL = 40
SO_PEEK_OFF = 42
SO_BUSY_POLL = 46
SO_INCOMING_CPU = 49
SO_COOKIE = 57
SO_PEERGROUPS = 59
SO_ZEROCOPY = 60
SO_BINDTOIFINDEX = 62
SO_TIMESTAMP_NEW = 63
SO_TIMESTAMPNS_NEW = 64
SO_RCVTIMEO_NEW = 66
SO_SNDTIMEO_NEW = 67
SO_BUF_LOCK = 72
SO_PASSPIDFD = 76
SO_PEERPIDFD = 77

# --- control messages ------------------------------------------------------------------------------
SCM_RIGHTS = 1
SCM_CREDENTIALS = 2
SCM_SECURITY = 3
SCM_PIDFD = 4
#: The most fds one SCM_RIGHTS message may carry (<net/scm.h>).
SCM_MAX_FD = 253

# --- send/recv flags <linux/socket.h> ----------------------------------------------------------------
MSG_OOB = 0x1
MSG_PEEK = 0x2
MSG_DONTROUTE = 0x4
MSG_CTRUNC = 0x8
MSG_PROXY = 0x10
MSG_TRUNC = 0x20
MSG_DONTWAIT = 0x40
MSG_EOR = 0x80
MSG_WAITALL = 0x100
MSG_FIN = 0x200
MSG_SYN = 0x400
MSG_CONFIRM = 0x800
MSG_RST = 0x1000
MSG_ERRQUEUE = 0x2000
MSG_NOSIGNAL = 0x4000
MSG_MORE = 0x8000
MSG_WAITFORONE = 0x10000
MSG_BATCH = 0x40000
MSG_ZEROCOPY = 0x4000000
MSG_FASTOPEN = 0x20000000
MSG_CMSG_CLOEXEC = 0x40000000

# --- shutdown(2) ---------------------------------------------------------------------------------------
SHUT_RD = 0
SHUT_WR = 1
SHUT_RDWR = 2

# --- SOL_TCP options <linux/tcp.h> ------------------------------------------------------------------------
TCP_NODELAY = 1
TCP_MAXSEG = 2
TCP_CORK = 3
TCP_KEEPIDLE = 4
TCP_KEEPINTVL = 5
TCP_KEEPCNT = 6
TCP_SYNCNT = 7
TCP_LINGER2 = 8
TCP_DEFER_ACCEPT = 9
TCP_WINDOW_CLAMP = 10
TCP_INFO = 11
TCP_QUICKACK = 12
TCP_CONGESTION = 13
TCP_USER_TIMEOUT = 18
TCP_FASTOPEN = 23
TCP_NOTSENT_LOWAT = 25
TCP_FASTOPEN_CONNECT = 30
TCP_INQ = 36

#: TCP states as tcp_info and /proc/net/tcp number them (<net/tcp_states.h>).
TCP_ESTABLISHED = 1
TCP_SYN_SENT = 2
TCP_SYN_RECV = 3
TCP_FIN_WAIT1 = 4
TCP_FIN_WAIT2 = 5
TCP_TIME_WAIT = 6
TCP_CLOSE = 7
TCP_CLOSE_WAIT = 8
TCP_LAST_ACK = 9
TCP_LISTEN = 10
TCP_CLOSING = 11

# --- SOL_IP options <linux/in.h> -----------------------------------------------------------------------
IP_TOS = 1
IP_TTL = 2
IP_HDRINCL = 3
IP_OPTIONS = 4
IP_RECVOPTS = 6
IP_PKTINFO = 8
IP_MTU_DISCOVER = 10
IP_RECVERR = 11
IP_RECVTTL = 12
IP_RECVTOS = 13
IP_MTU = 14
IP_FREEBIND = 15
IP_TRANSPARENT = 19
IP_BIND_ADDRESS_NO_PORT = 24
IP_MULTICAST_IF = 32
IP_MULTICAST_TTL = 33
IP_MULTICAST_LOOP = 34
IP_ADD_MEMBERSHIP = 35
IP_DROP_MEMBERSHIP = 36

# --- SOL_IPV6 options <linux/in6.h> ----------------------------------------------------------------------
IPV6_UNICAST_HOPS = 16
IPV6_MULTICAST_IF = 17
IPV6_MULTICAST_HOPS = 18
IPV6_MULTICAST_LOOP = 19
IPV6_MTU_DISCOVER = 23
IPV6_MTU = 24
IPV6_RECVERR = 25
IPV6_V6ONLY = 26
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50
IPV6_RECVTCLASS = 66
IPV6_TCLASS = 67

# --- socket ioctls <linux/sockios.h> --------------------------------------------------------------------
SIOCINQ = 0x541B  # FIONREAD
SIOCOUTQ = 0x5411  # TIOCOUTQ
SIOCATMARK = 0x8905
SIOCGSTAMP = 0x8906
SIOCGIFNAME = 0x8910
SIOCGIFCONF = 0x8912
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCGIFADDR = 0x8915
SIOCGIFDSTADDR = 0x8917
SIOCGIFBRDADDR = 0x8919
SIOCGIFNETMASK = 0x891B
SIOCGIFMETRIC = 0x891D
SIOCGIFMTU = 0x8921
SIOCGIFHWADDR = 0x8927
SIOCGIFINDEX = 0x8933
SIOCGIFCOUNT = 0x8938
SIOCGIFTXQLEN = 0x8942
SIOCETHTOOL = 0x8946
SIOCOUTQNSD = 0x894B
SIOCGIFMAP = 0x8970

# --- interfaces <linux/if.h>, <linux/if_arp.h> -------------------------------------------------------------
IFNAMSIZ = 16
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10
IFF_RUNNING = 0x40
IFF_NOARP = 0x80
IFF_PROMISC = 0x100
IFF_MULTICAST = 0x1000
IFF_LOWER_UP = 0x10000
ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
#: struct ifreq: a name and a 24-byte union.
IFREQ = struct.Struct("<16s24s")
#: struct ifconf: a length and a pointer to ifreqs.
IFCONF = struct.Struct("<i4xQ")
#: struct ifmap.
IFMAP = struct.Struct("<QQHBBB3x")

# --- netlink <linux/netlink.h> ---------------------------------------------------------------------------
NETLINK_ROUTE = 0
NETLINK_UNUSED = 1
NETLINK_USERSOCK = 2
NETLINK_FIREWALL = 3
NETLINK_SOCK_DIAG = 4
NETLINK_NFLOG = 5
NETLINK_XFRM = 6
NETLINK_SELINUX = 7
NETLINK_ISCSI = 8
NETLINK_AUDIT = 9
NETLINK_FIB_LOOKUP = 10
NETLINK_CONNECTOR = 11
NETLINK_NETFILTER = 12
NETLINK_IP6_FW = 13
NETLINK_DNRTMSG = 14
NETLINK_KOBJECT_UEVENT = 15
NETLINK_GENERIC = 16
NETLINK_SCSITRANSPORT = 18
NETLINK_ECRYPTFS = 19
NETLINK_RDMA = 20
NETLINK_CRYPTO = 21
NETLINK_SMC = 22
#: Netlink protocols are numbered below this.
MAX_LINKS = 32

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLMSG_MIN_TYPE = 0x10

NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_ECHO = 0x8
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_CAPPED = 0x100

NETLINK_ADD_MEMBERSHIP = 1
NETLINK_DROP_MEMBERSHIP = 2
NETLINK_PKTINFO = 3
NETLINK_BROADCAST_ERROR = 4
NETLINK_NO_ENOBUFS = 5
NETLINK_LISTEN_ALL_NSID = 8
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NETLINK_GET_STRICT_CHK = 12

#: struct nlmsghdr: length, type, flags, sequence number, port id.
NLMSGHDR = struct.Struct("<IHHII")
#: struct nlmsgerr's error, followed by the request's nlmsghdr.
NLMSGERR = struct.Struct("<i")
#: struct rtattr: length and type.
RTATTR = struct.Struct("<HH")
NLMSG_ALIGNTO = 4

# --- rtnetlink <linux/rtnetlink.h>, <linux/if_link.h>, <linux/if_addr.h> -------------------------------------
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_SETLINK = 19
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTM_NEWNEIGH = 28
RTM_GETNEIGH = 30
RTM_GETRULE = 34
RTM_GETQDISC = 38
RTM_GETNETCONF = 82

IFLA_ADDRESS = 1
IFLA_BROADCAST = 2
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_QDISC = 6
IFLA_STATS = 7
IFLA_TXQLEN = 13
IFLA_OPERSTATE = 16
IFLA_LINKMODE = 17
IFLA_STATS64 = 23
IFLA_GROUP = 27
IFLA_PROMISCUITY = 30
IFLA_NUM_TX_QUEUES = 31
IFLA_NUM_RX_QUEUES = 32
IFLA_CARRIER = 33
IFLA_MIN_MTU = 50
IFLA_MAX_MTU = 51

IF_OPER_UNKNOWN = 0
IF_OPER_UP = 6

IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4
IFA_CACHEINFO = 6
IFA_FLAGS = 8
IFA_F_NODAD = 0x02
IFA_F_PERMANENT = 0x80
IFA_F_NOPREFIXROUTE = 0x200

RTA_DST = 1
RTA_SRC = 2
RTA_IIF = 3
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_PREFSRC = 7
RTA_TABLE = 15
RTA_PREF = 20

RT_TABLE_UNSPEC = 0
RT_TABLE_MAIN = 254
RT_TABLE_LOCAL = 255
RTN_UNICAST = 1
RTN_LOCAL = 2
RTN_BROADCAST = 3
RTN_MULTICAST = 5
RTPROT_KERNEL = 2
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RT_SCOPE_HOST = 254

#: struct ifinfomsg: family, pad, type, index, flags, change.
IFINFOMSG = struct.Struct("<BxHiII")
#: struct ifaddrmsg: family, prefix length, flags, scope, index.
IFADDRMSG = struct.Struct("<BBBBI")
#: struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
RTMSG = struct.Struct("<BBBBBBBBI")
#: struct ifa_cacheinfo: preferred, valid, created, updated.
IFA_CACHEINFO_STRUCT = struct.Struct("<IIII")
#: struct rtnl_link_stats: 24 u32 counters; rtnl_link_stats64: 24 u64 counters.
RTNL_LINK_STATS = struct.Struct("<24I")
RTNL_LINK_STATS64 = struct.Struct("<24Q")

# --- packet sockets <linux/if_ether.h> ------------------------------------------------------------------
ETH_P_ALL = 0x0003

# --- structures -------------------------------------------------------------------------------------------
#: struct msghdr: name, namelen, iov, iovlen, control, controllen, flags.
MSGHDR = struct.Struct("<QI4xQQQQi4x")
#: struct mmsghdr: a msghdr and the length the call transferred.
MMSGHDR = struct.Struct("<QI4xQQQQi4xI4x")
#: struct cmsghdr: length (including this header), level, type.
CMSGHDR = struct.Struct("<Qii")
#: struct ucred: pid, uid, gid.
UCRED = struct.Struct("<iII")
#: struct linger: on/off, seconds.
LINGER = struct.Struct("<ii")
#: sa_family_t.
SA_FAMILY = struct.Struct("<H")
#: sizeof(struct sockaddr_un): the family and a 108-byte path.
SOCKADDR_UN_SIZE = 110
UNIX_PATH_MAX = 108
SOCKADDR_IN_SIZE = 16
SOCKADDR_IN6_SIZE = 28
#: struct sockaddr_nl: family, pad, port id, groups.
SOCKADDR_NL = struct.Struct("<HHII")
#: sizeof(struct sockaddr_storage).
SOCKADDR_STORAGE_SIZE = 128
#: sizeof(struct tcp_info) as Linux 6.x fills it.
TCP_INFO_SIZE = 248

_SOCKADDR_IN = struct.Struct("<H2s4s8x")
_SOCKADDR_IN6 = struct.Struct("<H2s4s16sI")
_PORT = struct.Struct(">H")
_FLOWINFO = struct.Struct(">I")


def cmsg_align(length: int) -> int:
    """CMSG_ALIGN: control messages are padded to 8 bytes on x86-64."""
    return (length + 7) & ~7


def cmsg_space(length: int) -> int:
    """CMSG_SPACE: room one control message with ``length`` bytes of data takes."""
    return CMSGHDR.size + cmsg_align(length)


def cmsg_len(length: int) -> int:
    """CMSG_LEN: a control message's cmsg_len for ``length`` bytes of data."""
    return CMSGHDR.size + length


def nlmsg_align(length: int) -> int:
    """NLMSG_ALIGN (and RTA_ALIGN): netlink pads to 4 bytes."""
    return (length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1)


# --- addresses as values -----------------------------------------------------------------------------------


class InetAddress(NamedTuple):
    """An IPv4 or IPv6 endpoint: ``host`` is 4 or 16 bytes in network order."""

    family: int
    host: bytes
    port: int
    flowinfo: int = 0
    scope_id: int = 0


def sockaddr_family(raw: bytes) -> int:
    """The sa_family of a sockaddr; EINVAL if it is too short to have one."""
    if len(raw) < SA_FAMILY.size:
        raise Errno(EINVAL)
    return int(SA_FAMILY.unpack_from(raw)[0])


def unix_name(raw: bytes) -> bytes:
    """The name a sockaddr_un carries, as unix(7) reads it: b"" for an unnamed (autobind)
    address, a name starting with NUL for the abstract namespace, else a path ending at its
    first NUL. EINVAL for a length out of range or another family."""
    if not SA_FAMILY.size <= len(raw) <= SOCKADDR_UN_SIZE or sockaddr_family(raw) != AF_UNIX:
        raise Errno(EINVAL)
    name = raw[SA_FAMILY.size:]
    if name[:1] == b"\0":
        return name
    return name.split(b"\0", 1)[0]


def unix_sockaddr(name: bytes) -> bytes:
    """The sockaddr_un getsockname shows for ``name``: a path gets its terminating NUL."""
    if name and name[:1] != b"\0":
        name += b"\0"
    return SA_FAMILY.pack(AF_UNIX) + name


def parse_inet(raw: bytes, family: int) -> InetAddress:
    """A sockaddr_in (``family`` AF_INET) or sockaddr_in6 as a value; EINVAL if too short,
    EAFNOSUPPORT if it is of another family."""
    if family == AF_INET:
        if len(raw) < SOCKADDR_IN_SIZE:
            raise Errno(EINVAL)
        sa_family, port, host = _SOCKADDR_IN.unpack_from(raw)
        if sa_family != AF_INET:
            raise Errno(EAFNOSUPPORT)
        return InetAddress(AF_INET, host, _PORT.unpack(port)[0])
    if len(raw) < 24:  # SIN6_LEN_RFC2133: sin6_scope_id may be left out
        raise Errno(EINVAL)
    raw = raw[:SOCKADDR_IN6_SIZE].ljust(SOCKADDR_IN6_SIZE, b"\0")
    sa_family, port, flowinfo, host, scope_id = _SOCKADDR_IN6.unpack(raw)
    if sa_family != AF_INET6:
        raise Errno(EAFNOSUPPORT)
    return InetAddress(AF_INET6, host, _PORT.unpack(port)[0], _FLOWINFO.unpack(flowinfo)[0], scope_id)


def inet_sockaddr(address: InetAddress) -> bytes:
    """The sockaddr_in or sockaddr_in6 for ``address``."""
    port = _PORT.pack(address.port)
    if address.family == AF_INET:
        return _SOCKADDR_IN.pack(AF_INET, port, address.host)
    return _SOCKADDR_IN6.pack(AF_INET6, port, _FLOWINFO.pack(address.flowinfo), address.host, address.scope_id)


def netlink_sockaddr(port_id: int, groups: int = 0) -> bytes:
    """The sockaddr_nl of a netlink port."""
    return SOCKADDR_NL.pack(AF_NETLINK, 0, port_id, groups)


#: The IPv4-mapped IPv6 prefix (::ffff:0:0/96).
V4_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
INADDR_ANY = bytes(4)
INADDR_LOOPBACK = bytes([127, 0, 0, 1])
IN6ADDR_ANY = bytes(16)
IN6ADDR_LOOPBACK = bytes(15) + b"\x01"


def v4_mapped(host: bytes) -> bytes:
    """An IPv4 address as the IPv6 address ::ffff:a.b.c.d."""
    return V4_MAPPED_PREFIX + host


def unmapped(host: bytes) -> bytes | None:
    """The IPv4 address inside a v4-mapped IPv6 address, None if it is not one."""
    return host[12:] if len(host) == 16 and host[:12] == V4_MAPPED_PREFIX else None
