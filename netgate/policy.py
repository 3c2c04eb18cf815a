"""Which host addresses a sandbox may reach, decided alike by the Sentry and the net helper.

The sandbox's own network (slirp4netns' and passt's layout): the guest is 10.0.2.15 on eth0 in
10.0.2.0/24, the gateway 10.0.2.2 stands for the host's own loopback, and 10.0.2.3 is the
resolver the netstack forwards to the host's DNS servers.

Refused unless ``--allow-host-loopback``: the host's loopback (127.0.0.0/8, ::1), which is
where a host's private services listen. Refused always: "this network" (0.0.0.0/8, ::),
link-local (169.254.0.0/16 with the cloud metadata services, fe80::/10), multicast and
broadcast, and the sandbox's own subnet, which is not the host's to reach. Allowed always:
port 53 of the upstream resolvers the sandbox's DNS is forwarded to (``--dns``, else the
host's /etc/resolv.conf), even on the host's loopback (a host running systemd-resolved names
127.0.0.53). Under ``--network none`` everything is refused.
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The sandbox's subnet, its gateway (the host's loopback), its resolver and the guest's address.
SANDBOX_SUBNET = ipaddress.IPv4Network("10.0.2.0/24")
GATEWAY = ipaddress.IPv4Address("10.0.2.2")
RESOLVER = ipaddress.IPv4Address("10.0.2.3")
GUEST_ADDRESS = ipaddress.IPv4Address("10.0.2.15")

#: The port of the resolver's service (DNS over UDP and TCP).
DNS_PORT = 53

#: ``--network`` values: the default carries connections out; ``none`` keeps loopback only.
NETWORK_SANDBOX = "sandbox"
NETWORK_NONE = "none"
NETWORK_MODES = (NETWORK_SANDBOX, NETWORK_NONE)

_NEVER = (
    ipaddress.IPv4Network("0.0.0.0/8"),
    ipaddress.IPv4Network("169.254.0.0/16"),
    ipaddress.IPv4Network("224.0.0.0/4"),
    ipaddress.IPv4Network("240.0.0.0/4"),  # reserved, and 255.255.255.255 with it
    SANDBOX_SUBNET,
    ipaddress.IPv6Network("::/128"),
    ipaddress.IPv6Network("fe80::/10"),
    ipaddress.IPv6Network("ff00::/8"),
)
_LOOPBACK = (ipaddress.IPv4Network("127.0.0.0/8"), ipaddress.IPv6Network("::1/128"))


class Policy:
    """What one sandbox's connections out may reach (``--network``, ``--allow-host-loopback``)."""

    def __init__(self, network: str = NETWORK_SANDBOX, *, allow_host_loopback: bool = False,
                 resolvers: tuple[IPAddress, ...] = ()) -> None:
        if network not in NETWORK_MODES:
            raise ValueError(f"--network {network!r}: one of {', '.join(NETWORK_MODES)}")
        self.network = network
        self.allow_host_loopback = allow_host_loopback
        #: The upstream resolvers, in the order they are tried.
        self.resolvers = tuple(_unmapped(address) for address in resolvers)

    def refusal(self, address: IPAddress, port: int) -> str | None:
        """Why ``address`` ``port`` may not be reached from the sandbox, or None if it may."""
        if self.network == NETWORK_NONE:
            return "--network none"
        address = _unmapped(address)
        if port == DNS_PORT and address in self.resolvers:
            return None
        if any(address in network for network in _LOOPBACK if network.version == address.version):
            return None if self.allow_host_loopback else "the host's loopback (--allow-host-loopback)"
        if any(address in network for network in _NEVER if network.version == address.version):
            return "not a host address the sandbox may reach"
        return None

    def args(self) -> list[str]:
        """The helper's command-line flags for this policy."""
        flags = ["--network", self.network] + (["--allow-host-loopback"] if self.allow_host_loopback else [])
        for resolver in self.resolvers:
            flags += ["--resolver", str(resolver)]
        return flags


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it stands for."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def nameservers(resolv_conf: str) -> tuple[IPAddress, ...]:
    """The ``nameserver`` addresses of a resolv.conf(5) text, in its order."""
    found: list[IPAddress] = []
    for line in resolv_conf.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                found.append(ipaddress.ip_address(words[1].split("%")[0]))
            except ValueError:
                continue
    return tuple(found)
