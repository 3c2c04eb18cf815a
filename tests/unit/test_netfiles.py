"""kernel/netfiles.py: --dns and --add-host, and the /etc files a sandbox's network is described by."""

from __future__ import annotations

import ipaddress

import pytest

from kernel.netfiles import NetworkFlagError, hosts_file, network_files, parse_add_host, parse_dns, resolv_conf


def test_add_host_takes_names_addresses_and_the_gateway() -> None:
    assert parse_add_host("db:192.0.2.5") == ("db", ipaddress.ip_address("192.0.2.5"))
    assert parse_add_host("db=192.0.2.5") == ("db", ipaddress.ip_address("192.0.2.5"))
    assert parse_add_host("v6:2001:db8::1") == ("v6", ipaddress.ip_address("2001:db8::1"))
    assert parse_add_host("v6=[2001:db8::1]") == ("v6", ipaddress.ip_address("2001:db8::1"))
    assert parse_add_host("host:host-gateway") == ("host", ipaddress.ip_address("10.0.2.2"))
    for bad in ("nocolon", ":1.2.3.4", "name:", "name:not-an-address", "two words:1.2.3.4"):
        with pytest.raises(NetworkFlagError):
            parse_add_host(bad)


def test_dns_takes_addresses_only() -> None:
    assert parse_dns(["192.0.2.53", "2001:db8::53"]) == (ipaddress.ip_address("192.0.2.53"),
                                                          ipaddress.ip_address("2001:db8::53"))
    with pytest.raises(NetworkFlagError, match="--dns 'resolver.example'"):
        parse_dns(["resolver.example"])


def test_hosts_names_the_sandbox_on_eth0_and_the_gateway_when_it_reaches_the_host() -> None:
    added = [("db", ipaddress.ip_address("192.0.2.5"))]
    lines = hosts_file("box", "sandbox", True, added).decode().splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[-3:] == ["192.0.2.5\tdb", "10.0.2.2\thost.containers.internal host.docker.internal",
                          "10.0.2.15\tbox"]
    assert "host.containers.internal" not in hosts_file("box", "sandbox", False, []).decode()
    assert hosts_file("box", "none", True, added).decode().splitlines()[-1] == "192.0.2.5\tdb"


def test_resolv_conf_names_the_sandbox_resolver_and_keeps_search_and_options() -> None:
    host = "nameserver 127.0.0.53\nsearch corp.example\noptions edns0 trust-ad\n# a comment\n\n"
    assert resolv_conf(host).decode().splitlines()[1:] == [
        "nameserver 10.0.2.3", "search corp.example", "options edns0 trust-ad"]


def test_network_none_keeps_the_images_resolv_conf() -> None:
    destinations = [spec.destination for spec in network_files("box", "none", False, [], "")]
    assert destinations == ["/etc/hosts", "/etc/hostname"]
    specs = network_files("box", "sandbox", False, [], "")
    assert [(spec.destination, spec.kind) for spec in specs] == [
        ("/etc/hosts", "file"), ("/etc/hostname", "file"), ("/etc/resolv.conf", "file")]
    assert specs[1].content == b"box\n"


def test_each_file_may_be_left_to_the_image() -> None:
    """podman's --no-hosts, --no-hostname and --dns none."""
    def destinations(**keep: bool) -> list[str]:
        return [spec.destination for spec in network_files("box", "sandbox", False, [], "", **keep)]

    assert destinations(hosts=False) == ["/etc/hostname", "/etc/resolv.conf"]
    assert destinations(hostname_file=False) == ["/etc/hosts", "/etc/resolv.conf"]
    assert destinations(resolver=False) == ["/etc/hosts", "/etc/hostname"]
    assert parse_dns(["none"]) == ()


def test_a_bundles_network_namespace_decides_the_way_out() -> None:
    """runc's rules: no network namespace listed shares the runtime's (our sandbox network), a
    new one is empty (none), a path is joined; --network overrides them all."""
    from kernel.oci import Bundle
    from kernel.runspec import _network

    def bundle(netns: str | None) -> Bundle:
        return Bundle(path="/b", rootfs="/b/rootfs", network_namespace=netns)

    assert _network(None, None) == ("sandbox", None)
    assert _network(None, bundle(None)) == ("sandbox", None)
    assert _network(None, bundle("")) == ("none", None)
    assert _network(None, bundle("/run/netns/x")) == ("sandbox", "/run/netns/x")
    assert _network("none", bundle("/run/netns/x")) == ("none", None)
