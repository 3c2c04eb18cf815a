"""The files a container's network is described by: /etc/hosts, /etc/hostname, /etc/resolv.conf.

As an engine does, ``run`` writes them for each sandbox and mounts each over the image's file
(a ``file`` mount, kept in the sandbox's memory: the guest may edit them, the image is never
touched). Under ``--network sandbox`` the resolver they name is the sandbox's own, 10.0.2.3,
which the netstack forwards to the upstream resolvers (``--dns``, else the host's
/etc/resolv.conf): Docker's embedded DNS works the same way, so ``--dns`` changes where queries
go, not what the guest's resolv.conf says. ``--network none`` keeps the image's resolv.conf
(there is no resolver to name) and an /etc/hosts of loopback names only. As podman's,
``--no-hosts``, ``--no-hostname`` and ``--dns none`` leave the image's file in its place.

Everything here is pure: the host's resolv.conf is read by the caller, once, before the Sentry
confines itself.
"""

from __future__ import annotations

import ipaddress

from kernel.oci import MountSpec
from netgate.policy import GATEWAY, GUEST_ADDRESS, NETWORK_NONE, RESOLVER, IPAddress

#: ``--dns none``: no resolv.conf of the sandbox's (podman's word).
DNS_NONE = "none"
#: --add-host's word for the gateway address (Docker's ``host-gateway``).
HOST_GATEWAY = "host-gateway"
#: The names the gateway has in /etc/hosts when it reaches the host (podman's and Docker's).
GATEWAY_NAMES = ("host.containers.internal", "host.docker.internal")

_LOOPBACK_LINES = (
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
)


class NetworkFlagError(ValueError):
    """A --dns or --add-host value that cannot be used."""


def parse_dns(values: list[str]) -> tuple[IPAddress, ...]:
    """``--dns IP`` values as addresses (NetworkFlagError names a bad one); ``none`` is no
    address (the caller leaves resolv.conf alone)."""
    servers = []
    for value in values:
        if value == DNS_NONE:
            continue
        try:
            servers.append(ipaddress.ip_address(value))
        except ValueError:
            raise NetworkFlagError(f"--dns {value!r}: expected an IP address") from None
    return tuple(servers)


def parse_add_host(value: str) -> tuple[str, IPAddress]:
    """``--add-host NAME:IP`` (or ``NAME=IP``; IP may be ``host-gateway``, or an IPv6 address,
    which has colons of its own) as (name, address)."""
    separator = "=" if "=" in value else ":"
    name, _, address = value.partition(separator)
    if not name or not address or any(c.isspace() for c in name):
        raise NetworkFlagError(f"--add-host {value!r}: expected NAME:IP")
    if address == HOST_GATEWAY:
        return name, GATEWAY
    try:
        return name, ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        raise NetworkFlagError(f"--add-host {value!r}: {address!r} is not an IP address") from None


def hosts_file(hostname: str, network: str, allow_host_loopback: bool,
               added: list[tuple[str, IPAddress]]) -> bytes:
    """/etc/hosts: loopback names, ``--add-host``'s, the gateway's names when it reaches the
    host, and the sandbox's own name on its eth0 address."""
    lines = list(_LOOPBACK_LINES)
    lines += [f"{address}\t{name}" for name, address in added]
    if network != NETWORK_NONE:
        if allow_host_loopback:
            lines.append(f"{GATEWAY}\t{' '.join(GATEWAY_NAMES)}")
        lines.append(f"{GUEST_ADDRESS}\t{hostname}")
    return ("\n".join(lines) + "\n").encode()


def resolv_conf(host_resolv_conf: str) -> bytes:
    """/etc/resolv.conf naming the sandbox's resolver, keeping the host's ``search`` and
    ``options`` lines (as engines do) and none of its nameservers."""
    kept = [line.strip() for line in host_resolv_conf.splitlines()
            if line.split()[:1] in (["search"], ["domain"], ["options"])]
    return ("\n".join(["# the sandbox's resolver (Sentrio forwards its queries)", f"nameserver {RESOLVER}", *kept])
            + "\n").encode()


def network_files(hostname: str, network: str, allow_host_loopback: bool, added: list[tuple[str, IPAddress]],
                  host_resolv_conf: str, *, hosts: bool = True, hostname_file: bool = True,
                  resolver: bool = True) -> list[MountSpec]:
    """The file mounts of /etc/hosts, /etc/hostname and (with a network) /etc/resolv.conf,
    each unless its flag says no."""
    files = []
    if hosts:
        files.append(MountSpec("/etc/hosts", "file", content=hosts_file(hostname, network, allow_host_loopback, added)))
    if hostname_file:
        files.append(MountSpec("/etc/hostname", "file", content=f"{hostname}\n".encode()))
    if resolver and network != NETWORK_NONE:
        files.append(MountSpec("/etc/resolv.conf", "file", content=resolv_conf(host_resolv_conf)))
    return files
