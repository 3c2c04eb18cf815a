"""The sandbox's network interfaces and which addresses are its own.

Every sandbox has the loopback interface, ``lo`` with 127.0.0.1/8 and ::1/128, and the whole
of 127.0.0.0/8 local; that is all under ``--network none``. Under ``--network sandbox`` (the
default) it also has ``eth0`` with 10.0.2.15/24, the way out (:mod:`services.netstack.egress`). The interface table
answers SIOCGIF* ioctls, RTM_GETLINK/GETADDR/GETROUTE and /proc/net/dev, and counts what
crosses each interface.
"""

from __future__ import annotations

from dataclasses import dataclass

from abi.socket import (
    AF_INET,
    AF_INET6,
    ARPHRD_ETHER,
    ARPHRD_LOOPBACK,
    IFF_BROADCAST,
    IFF_MULTICAST,
    IFF_LOOPBACK,
    IFF_RUNNING,
    IFF_UP,
    IN6ADDR_LOOPBACK,
    INADDR_LOOPBACK,
    unmapped,
)
from netgate.policy import GUEST_ADDRESS, SANDBOX_SUBNET
from services.netstack.contract import Interface

LOOPBACK_MTU = 65536
#: eth0 under ``--network sandbox``: slirp4netns' MTU and a locally administered MAC address.
ETH0_MTU = 65520
ETH0_HWADDR = bytes([0x02, 0x42, 0x0A, 0x00, 0x02, 0x0F])


@dataclass(slots=True)
class Counters:
    """What /proc/net/dev counts for one interface."""

    rx_bytes: int = 0
    rx_packets: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0


class InterfaceTable:
    """The interfaces, by index, and their traffic."""

    def __init__(self, *, eth0: bool = False) -> None:
        lo = Interface(
            ifindex=1, name=b"lo", flags=IFF_UP | IFF_LOOPBACK | IFF_RUNNING, mtu=LOOPBACK_MTU,
            kind=ARPHRD_LOOPBACK, hwaddr=bytes(6), txqlen=1000,
            addresses=((AF_INET, INADDR_LOOPBACK, 8), (AF_INET6, IN6ADDR_LOOPBACK, 128)),
        )
        self._interfaces = {lo.ifindex: lo}
        if eth0:
            ether = Interface(
                ifindex=2, name=b"eth0", flags=IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST, mtu=ETH0_MTU,
                kind=ARPHRD_ETHER, hwaddr=ETH0_HWADDR, txqlen=1000,
                addresses=((AF_INET, GUEST_ADDRESS.packed, SANDBOX_SUBNET.prefixlen),),
            )
            self._interfaces[ether.ifindex] = ether
        self.counters = {index: Counters() for index in self._interfaces}

    def all(self) -> tuple[Interface, ...]:
        return tuple(self._interfaces[index] for index in sorted(self._interfaces))

    def by_index(self, index: int) -> Interface | None:
        return self._interfaces.get(index)

    def by_name(self, name: bytes) -> Interface | None:
        for interface in self._interfaces.values():
            if interface.name == name:
                return interface
        return None

    def is_local(self, family: int, host: bytes) -> bool:
        """Whether ``host`` is an address of the sandbox (127.0.0.0/8 is all loopback's)."""
        inner = unmapped(host) if family == AF_INET6 else host
        if inner is not None:
            return inner[0] == 127 or (AF_INET, inner) in self._addresses()
        return (AF_INET6, host) in self._addresses()

    def _addresses(self) -> set[tuple[int, bytes]]:
        return {(fam, address) for i in self._interfaces.values() for fam, address, _ in i.addresses}

    def loopback_traffic(self, length: int, packets: int = 1) -> None:
        """``packets`` carrying ``length`` bytes went out on lo and came back in."""
        counters = self.counters[1]
        counters.tx_bytes += length
        counters.rx_bytes += length
        counters.tx_packets += packets
        counters.rx_packets += packets
