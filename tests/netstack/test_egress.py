"""The way out of the sandbox (``--network sandbox``, the default), through the net helper.

A guest's TCP connection to a host address is the same as a native program's (egress.c, run
natively under chroot and under Sentrio against an echo server on the host's own non-loopback
address); ``--network none`` refuses it; the gateway 10.0.2.2 reaches the host's loopback only
with ``--allow-host-loopback`` (busybox wget of an HTTP server the test runs on 127.0.0.1).
The net helper itself, spoken to as a compromised Sentry would, refuses what the policy
refuses and is confined (no file system, no capability, nobody, seccomp).
"""

from __future__ import annotations

import array
import contextlib
import errno
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netgate.policy import NETWORK_NONE, NETWORK_SANDBOX, Policy, nameservers
from netgate.protocol import REPLY, TCP, UDP, pack_request
from tests.hostnet import HostHttpServer, global_ipv4
from tests.netstack.conftest import REPO, Images, Result

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ptrace, chroot, a host address of its own)")

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
EGRESS_IMAGE = "egress-debian-bookworm-1"
#: The address the test adds to the host when it has no non-loopback IPv4 address.
DUMMY_ADDRESS = "198.51.100.7"
#: The test's resolver's address, added to the host for it (the host's port 53 may be taken).
RESOLVER_ADDRESS = "198.51.100.53"


@contextlib.contextmanager
def _extra_address(address: str) -> Iterator[str]:
    """``address`` added to the host's ``lo`` (a local address that is not loopback's own
    127.0.0.0/8, so the policy judges it as any host address) while the test needs it."""
    subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", "lo"], check=True)
    try:
        yield address
    finally:
        subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", "lo"], check=False)


@pytest.fixture(scope="module")
def host_address() -> Iterator[str]:
    """The host's own eth0-like address, or one added for the test."""
    found = global_ipv4()
    if found is not None:
        yield found
        return
    with _extra_address(DUMMY_ADDRESS) as address:
        yield address


class EchoServer:
    """On the host: reads each connection to its end, answers with the bytes reversed, closes.
    Beside it, a bound port that nobody listens on (connections to it are refused)."""

    def __init__(self, address: str) -> None:
        self.listener = socket.create_server((address, 0))
        self.port = self.listener.getsockname()[1]
        self.closed_port_holder = socket.socket()
        self.closed_port_holder.bind((address, 0))
        self.refused_port = self.closed_port_holder.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    @staticmethod
    def _answer(connection: socket.socket) -> None:
        with connection:
            data = b""
            while chunk := connection.recv(4096):
                data += chunk
            connection.sendall(data[::-1])

    def close(self) -> None:
        self.listener.close()
        self.closed_port_holder.close()


@pytest.fixture(scope="module")
def echo(host_address: str) -> Iterator[EchoServer]:
    server = EchoServer(host_address)
    yield server
    server.close()


class UdpEcho:
    """On the host: answers each datagram with its bytes reversed. Beside it, a port nobody
    has bound (the host answers datagrams to it with ICMP port unreachable)."""

    def __init__(self, address: str) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((address, 0))
        self.port = self.socket.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((address, 0))
            self.refused_port = probe.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.socket.recvfrom(65536)
                self.socket.sendto(data[::-1], peer)
            except OSError:
                return


@pytest.fixture(scope="module")
def udp_echo(host_address: str) -> Iterator[UdpEcho]:
    server = UdpEcho(host_address)
    yield server
    server.socket.close()


class DnsServer:
    """A resolver on the host's port 53 (UDP and TCP) that knows ``*.sentrio.test`` as
    203.0.113.9 and nothing else (NXDOMAIN); it counts the queries of each transport."""

    ADDRESS = "203.0.113.9"

    def __init__(self, address: str) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((address, 53))
        self.tcp = socket.create_server((address, 53))
        self.queries = {"udp": 0, "tcp": 0}
        threading.Thread(target=self._serve_udp, daemon=True).start()
        threading.Thread(target=self._serve_tcp, daemon=True).start()

    def answer(self, query: bytes) -> bytes:
        ident = query[:2]
        end = 12
        labels = []
        while query[end]:
            labels.append(query[end + 1:end + 1 + query[end]].decode())
            end += 1 + query[end]
        qtype = int.from_bytes(query[end + 1:end + 3], "big")
        question = query[12:end + 5]
        header = ident + (0x8180 if ".".join(labels).endswith("sentrio.test") else 0x8183).to_bytes(2, "big")
        if not header.endswith(b"\x80") or qtype != 1:  # NXDOMAIN, or no address of that type
            return header + bytes([0, 1, 0, 0, 0, 0, 0, 0]) + question
        record = bytes.fromhex("c00c00010001") + (60).to_bytes(4, "big") + (4).to_bytes(2, "big")
        return header + bytes([0, 1, 0, 1, 0, 0, 0, 0]) + question + record + socket.inet_aton(self.ADDRESS)

    def _serve_udp(self) -> None:
        while True:
            try:
                query, peer = self.udp.recvfrom(512)
            except OSError:
                return
            self.queries["udp"] += 1
            self.udp.sendto(self.answer(query), peer)

    def _serve_tcp(self) -> None:
        while True:
            try:
                connection, _ = self.tcp.accept()
            except OSError:
                return
            with connection, connection.makefile("rb") as stream:
                size = int.from_bytes(stream.read(2), "big")
                reply = self.answer(stream.read(size))
                self.queries["tcp"] += 1
                connection.sendall(len(reply).to_bytes(2, "big") + reply)

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with _extra_address(RESOLVER_ADDRESS) as address:
        server = DnsServer(address)
        yield server
        server.close()


@pytest.fixture(scope="module")
def debian() -> Path:
    """A Debian image with curl and python3 (debootstrap, cached per machine)."""
    from kernel.images.build import cached_debian

    return cached_debian(EGRESS_IMAGE, ("curl", "python3-minimal"))


@pytest.fixture(scope="module")
def loopback_http() -> Iterator[int]:
    """An HTTP server on the host's 127.0.0.1 answering every GET with a known page."""
    with HostHttpServer("127.0.0.1", lambda client: b"hello from the host's loopback\n") as server:
        yield server.port


def _run(command: list[str], env: dict[str, str] | None = None) -> Result:
    process = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, cwd=REPO,
                             timeout=300, check=False)
    return Result(process.stdout, process.stderr, process.returncode)


def _sentrio(root: Path, *argv: str, flags: tuple[str, ...] = ()) -> Result:
    env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
    return _run([sys.executable, "-m", "kernel", "run", *flags, str(root), "--", *argv], env)


def _native(root: Path, *argv: str) -> Result:
    return _run([shutil.which("chroot") or "chroot", str(root), *argv], {"PATH": "/bin"})


# --- the guest's side ------------------------------------------------------------------------------


def test_a_connection_out_is_as_a_native_one(images: Images, host_address: str, echo: EchoServer) -> None:
    """Blocking and non-blocking connect, SO_ERROR, poll/epoll, half-close, a refused port."""
    args = ("/bin/egress", host_address, str(echo.port), str(echo.refused_port))
    native = _native(images.fresh(), *args)
    sandboxed = _sentrio(images.fresh(), *args)
    assert native.status == 0, native.stderr
    assert "answer olleh" in native.stdout
    assert (sandboxed.stdout, sandboxed.stderr, sandboxed.status) == (native.stdout, native.stderr, native.status)


def test_udp_out_is_as_native(images: Images, host_address: str, udp_echo: UdpEcho) -> None:
    """Datagrams out and their answers back from the server's address; a connected socket's
    ECONNREFUSED from the host's ICMP port unreachable."""
    args = ("/bin/egress_udp", host_address, str(udp_echo.port), str(udp_echo.refused_port))
    native = _native(images.fresh(), *args)
    sandboxed = _sentrio(images.fresh(), *args)
    assert native.status == 0, native.stderr
    assert "answer 5 olleh from the server 1" in native.stdout
    assert "recv(c, buf, sizeof buf, MSG_DONTWAIT) = -1 ECONNREFUSED" in native.stdout
    assert (sandboxed.stdout, sandboxed.stderr, sandboxed.status) == (native.stdout, native.stderr, native.status)


def test_network_none_has_no_way_out(images: Images, host_address: str, echo: EchoServer) -> None:
    result = _sentrio(images.fresh(), "/bin/egress", host_address, str(echo.port), str(echo.refused_port),
                      flags=("--network", "none"))
    assert result.stdout.splitlines()[0] == "connect(c, (struct sockaddr *)&echo, sizeof echo) = -1 ENETUNREACH"


def test_network_host_is_refused_with_its_reason(images: Images) -> None:
    result = _sentrio(images.fresh(), "/bin/egress", flags=("--network", "host"))
    assert result.status == 125 and "host is not offered" in result.stderr and result.stdout == ""


def _with_busybox(images: Images) -> Path:
    root = images.fresh()
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    return root


def test_the_gateway_reaches_the_host_loopback_only_when_allowed(images: Images, loopback_http: int) -> None:
    url = f"http://10.0.2.2:{loopback_http}/"
    allowed = _sentrio(_with_busybox(images), "/bin/busybox", "wget", "-q", "-O", "-", url,
                       flags=("--allow-host-loopback",))
    assert (allowed.stdout, allowed.status) == ("hello from the host's loopback\n", 0), allowed.stderr
    refused = _sentrio(_with_busybox(images), "/bin/busybox", "wget", "-q", "-O", "-", url)
    assert refused.status == 1
    assert "Connection refused" in refused.stderr
    assert refused.stdout == ""


def test_curl_reaches_the_host_through_the_gateway_only_when_allowed(debian: Path, loopback_http: int) -> None:
    """The acceptance's own words: a guest curl of a server on the host's loopback, through
    10.0.2.2 (or its /etc/hosts name) with --allow-host-loopback, and refused without it."""
    for url in (f"http://10.0.2.2:{loopback_http}/", f"http://host.containers.internal:{loopback_http}/"):
        allowed = _sentrio(debian, "curl", "-sS", url, flags=("--allow-host-loopback",))
        assert (allowed.stdout, allowed.status) == ("hello from the host's loopback\n", 0), allowed.stderr
    refused = _sentrio(debian, "curl", "-sS", f"http://10.0.2.2:{loopback_http}/")
    assert refused.status == 7 and "Couldn't connect to server" in refused.stderr, refused.stderr


def test_dns_is_forwarded_to_the_upstream_resolver(debian: Path, dns: DnsServer) -> None:
    """The guest's resolver is 10.0.2.3; its queries reach --dns's server over UDP, and over
    TCP when the guest asks for it (RES_OPTIONS=use-vc); a name it does not know is NXDOMAIN."""
    script = ("getent hosts web.sentrio.test; echo status $?; getent hosts nowhere.example; echo status $?; "
              "RES_OPTIONS=use-vc getent hosts tcp.sentrio.test; echo status $?; "
              "grep nameserver /etc/resolv.conf")
    before = dict(dns.queries)
    result = _sentrio(debian, "sh", "-c", script, flags=("--dns", RESOLVER_ADDRESS))
    assert result.stdout.split("\n") == [
        f"{DnsServer.ADDRESS}     web.sentrio.test", "status 0", "status 2",
        f"{DnsServer.ADDRESS}     tcp.sentrio.test", "status 0", "nameserver 10.0.2.3", ""], result.stderr
    assert dns.queries["udp"] > before["udp"] and dns.queries["tcp"] > before["tcp"]


def test_only_port_53_of_the_resolver_answers(debian: Path, dns: DnsServer) -> None:
    script = "exec 3<>/dev/tcp/10.0.2.3/80 && echo connected"
    result = _sentrio(debian, "bash", "-c", script, flags=("--dns", RESOLVER_ADDRESS))
    assert result.status == 1 and "Connection refused" in result.stderr, result.stderr


def test_the_etc_files_describe_the_sandbox(debian: Path) -> None:
    """/etc/hosts (with --add-host and the sandbox's name), /etc/hostname and resolv.conf are
    the sandbox's, mounted over the image's: writable, not removable, the image untouched."""
    image_file = debian / "etc" / "hosts"
    image_hosts = image_file.read_bytes() if image_file.exists() else None  # debootstrap's minbase has none
    script = ("cat /etc/hosts /etc/hostname; getent hosts db gw box; echo '192.0.2.77 extra' >> /etc/hosts; "
              "getent hosts extra; rm /etc/hosts; grep -c ' /etc/' /proc/mounts")
    result = _sentrio(debian, "sh", "-c", script,
                      flags=("--hostname", "box", "--add-host", "db:192.0.2.50", "--add-host", "gw:host-gateway"))
    lines = result.stdout.splitlines()
    assert lines[:6] == ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
                         "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]
    assert lines[6:] == ["192.0.2.50\tdb", "10.0.2.2\tgw", "10.0.2.15\tbox", "box",
                         "192.0.2.50      db", "10.0.2.2        gw", "10.0.2.15       box",
                         "192.0.2.77      extra", "3"], result.stderr
    assert "rm: cannot remove '/etc/hosts': Device or resource busy" in result.stderr
    assert (image_file.read_bytes() if image_file.exists() else None) == image_hosts
    none = _sentrio(debian, "sh", "-c", "cat /etc/hosts; grep -c nameserver /etc/resolv.conf",
                    flags=("--network", "none", "--hostname", "box"))
    assert "box" not in none.stdout and "10.0.2.3" not in none.stdout


def test_the_guest_is_on_eth0(images: Images, host_address: str, echo: EchoServer) -> None:
    """A connection out leaves from the guest's eth0 address, which getifaddrs shows."""
    root = _with_busybox(images)
    result = _sentrio(root, "/bin/busybox", "ip", "-4", "addr", "show", "dev", "eth0")
    assert "inet 10.0.2.15/24" in result.stdout, result.stderr
    none = _sentrio(_with_busybox(images), "/bin/busybox", "ip", "-4", "addr", "show", "dev", "eth0",
                    flags=("--network", "none"))
    assert none.status != 0


# --- the net helper, as a compromised Sentry would see it ------------------------------------------


class Helper:
    """A net helper started as the Sentry starts it, and its socket."""

    def __init__(self, *flags: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.process = subprocess.Popen([sys.executable, "-m", "netgate", "--fd", str(theirs.fileno()), *flags],
                                        pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True)
        theirs.close()
        self.channel = ours
        self.channel.settimeout(60)
        self._ids = 0

    def ask(self, kind: int, host: str, port: int) -> tuple[int, socket.socket | None]:
        """The errno of a request for ``host``:``port``, and the socket handed over with it."""
        self._ids += 1
        self.channel.send(pack_request(self._ids, kind, ipaddress.ip_address(host).packed, port))
        return self.answer(self._ids)

    def answer(self, expected: int) -> tuple[int, socket.socket | None]:
        message, ancillary, _, _ = self.channel.recvmsg(REPLY.size, socket.CMSG_SPACE(4))
        request_id, code = REPLY.unpack(message)
        assert request_id == expected
        fds = array.array("i")
        for _, _, data in ancillary:
            fds.frombytes(data[:4])
        if not fds:
            return code, None
        handed = socket.socket(fileno=fds[0])
        handed.settimeout(60)  # the helper made it non-blocking; this test reads it blocking
        return code, handed

    def close(self) -> tuple[int, bytes]:
        self.channel.close()
        _, stderr = self.process.communicate(timeout=60)
        return self.process.returncode, stderr


@contextlib.contextmanager
def helper(*flags: str, log: bytes = b"") -> Iterator[Helper]:
    """A helper that must exit cleanly once its socket is closed, having logged ``log``."""
    started = Helper(*flags)
    try:
        yield started
    finally:
        status, stderr = started.close()
        assert (status, stderr) == (0, log)


@pytest.fixture(scope="module")
def host_listener() -> Iterator[int]:
    """A host TCP server on every address (loopback included): a connect that is let through
    succeeds, so a refusal can only be the policy's."""
    with socket.create_server(("", 0), family=socket.AF_INET6, dualstack_ipv6=True) as listener:
        yield listener.getsockname()[1]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1", "10.0.2.2", "10.0.2.15",
                                  "0.0.0.0", "169.254.169.254", "224.0.0.1", "255.255.255.255", "fe80::1"])
def test_the_helper_refuses_what_the_policy_refuses(host: str, host_listener: int) -> None:
    """Asked directly (as a compromised Sentry would), without --allow-host-loopback: EACCES
    and no socket, for TCP and UDP alike."""
    with helper() as gate:
        for kind in (TCP, UDP):
            code, sock = gate.ask(kind, host, host_listener)
            assert (code, sock) == (errno.EACCES, None)


def test_the_helper_connects_to_the_host_and_hands_the_socket_over(host_address: str, echo: EchoServer,
                                                                  host_listener: int) -> None:
    with helper(log=b"WARNING net helper: a request of the wrong size\n") as gate:
        code, sock = gate.ask(TCP, host_address, echo.port)
        assert code == 0 and sock is not None
        with sock:
            assert sock.getpeername() == (host_address, echo.port)
            sock.sendall(b"abc")
            sock.shutdown(socket.SHUT_WR)
            assert sock.recv(100) == b"cba"
        assert gate.ask(TCP, host_address, echo.refused_port) == (errno.ECONNREFUSED, None)
        gate.channel.send(b"not a request")  # ignored; the next request is still answered
        code, udp = gate.ask(UDP, host_address, 9)
        assert code == 0 and udp is not None and udp.type == socket.SOCK_DGRAM
        assert udp.getpeername() == (host_address, 9)
        udp.close()


def test_allow_host_loopback_lets_the_helper_reach_loopback(host_listener: int) -> None:
    with helper("--allow-host-loopback") as gate:
        code, sock = gate.ask(TCP, "127.0.0.1", host_listener)
        assert code == 0 and sock is not None
        sock.close()
        assert gate.ask(TCP, "169.254.169.254", host_listener) == (errno.EACCES, None)


def test_network_none_refuses_everything(host_address: str, echo: EchoServer) -> None:
    with helper("--network", "none", "--allow-host-loopback") as gate:
        assert gate.ask(TCP, host_address, echo.port) == (errno.EACCES, None)


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def test_the_helper_is_confined() -> None:
    """No file system, nobody, no capability, no new privileges, seccomp; the host's network."""
    with helper() as gate:
        gate.ask(TCP, "127.0.0.1", 1)  # answered: confinement is done
        pid = gate.process.pid
        status = _status(pid)
        assert status["Uid"].split() == ["65534"] * 4
        assert status["Gid"].split() == ["65534"] * 4
        assert int(status["CapEff"], 16) == int(status["CapPrm"], 16) == int(status["CapBnd"], 16) == 0
        assert status["NoNewPrivs"] == "1"
        assert status["Seccomp"] == "2"
        assert os.listdir(f"/proc/{pid}/root") == []
        assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
        assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")


def test_the_helpers_filter_allows_only_inet_sockets_and_no_files() -> None:
    """The compiled filter: IPv4/IPv6 sockets and connect run; a unix or netlink socket, a
    file, bind, listen, a new process or program are trapped."""
    from abi.seccomp import SECCOMP_RET_ALLOW, SECCOMP_RET_TRAP, evaluate
    from abi.syscalls import number
    from netgate.seccomp import filter_program

    program = filter_program(pid=1234)
    assert evaluate(program, number("socket"), (socket.AF_INET, socket.SOCK_STREAM)) == SECCOMP_RET_ALLOW
    assert evaluate(program, number("socket"), (socket.AF_INET6, socket.SOCK_DGRAM)) == SECCOMP_RET_ALLOW
    assert evaluate(program, number("connect")) == SECCOMP_RET_ALLOW
    for family in (socket.AF_UNIX, socket.AF_NETLINK, socket.AF_PACKET):
        assert evaluate(program, number("socket"), (family, socket.SOCK_RAW)) == SECCOMP_RET_TRAP
    for name in ("openat", "open", "newfstatat", "bind", "listen", "accept4", "execve", "clone", "fork",
                 "ptrace", "setns", "unshare", "mount"):
        assert evaluate(program, number(name)) == SECCOMP_RET_TRAP, name
    assert evaluate(program, number("kill"), (1234, 31)) == SECCOMP_RET_ALLOW
    assert evaluate(program, number("kill"), (1, 9)) == SECCOMP_RET_TRAP


# --- the policy ------------------------------------------------------------------------------------


def test_the_policy() -> None:
    sandbox, loopback = Policy(NETWORK_SANDBOX), Policy(NETWORK_SANDBOX, allow_host_loopback=True)
    none = Policy(NETWORK_NONE, allow_host_loopback=True)
    for text, default, with_loopback in [("192.0.2.2", True, True), ("8.8.8.8", True, True),
                                         ("127.0.0.1", False, True), ("::ffff:127.0.0.1", False, True),
                                         ("::1", False, True), ("10.0.2.2", False, False),
                                         ("169.254.169.254", False, False), ("2001:db8::1", True, True)]:
        address = ipaddress.ip_address(text)
        assert (sandbox.refusal(address, 80) is None) == default, text
        assert (loopback.refusal(address, 80) is None) == with_loopback, text
        assert none.refusal(address, 80) is not None


def test_the_upstream_resolvers_port_53_is_always_allowed() -> None:
    """A host whose resolver is systemd-resolved's 127.0.0.53: its port 53, and nothing else
    of the host's loopback, without --allow-host-loopback."""
    policy = Policy(NETWORK_SANDBOX, resolvers=(ipaddress.ip_address("127.0.0.53"),))
    assert policy.refusal(ipaddress.ip_address("127.0.0.53"), 53) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.53"), 53) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.53"), 80) is not None
    assert policy.refusal(ipaddress.ip_address("127.0.0.1"), 53) is not None
    assert policy.args() == ["--network", "sandbox", "--resolver", "127.0.0.53"]
    assert Policy(NETWORK_NONE, resolvers=policy.resolvers).refusal(ipaddress.ip_address("127.0.0.53"), 53)
    assert nameservers("search lan\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver bad\n") == (
        ipaddress.ip_address("127.0.0.53"), ipaddress.ip_address("fe80::1"))


def test_the_helper_lets_the_resolver_by() -> None:
    """The helper, given --resolver, connects to its port 53 on the host's loopback (a UDP
    socket, which needs no listener) and still refuses the rest of loopback."""
    with helper("--resolver", "127.0.0.53") as gate:
        code, sock = gate.ask(UDP, "127.0.0.53", 53)
        assert code == 0 and sock is not None
        assert sock.getpeername() == ("127.0.0.53", 53)
        sock.close()
        assert gate.ask(UDP, "127.0.0.53", 54) == (errno.EACCES, None)
        assert gate.ask(UDP, "127.0.0.1", 53) == (errno.EACCES, None)
