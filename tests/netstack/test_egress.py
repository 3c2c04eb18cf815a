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
import http.server
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

from netgate.policy import NETWORK_NONE, NETWORK_SANDBOX, Policy
from netgate.protocol import REPLY, TCP, UDP, pack_request
from tests.netstack.conftest import REPO, Images, Result

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ptrace, chroot, a dummy interface)")

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
#: The address a dummy interface gets when the host has no non-loopback IPv4 address.
DUMMY_ADDRESS = "198.51.100.7"


def _global_ipv4() -> str | None:
    """A non-loopback IPv4 address of the host, if it has one."""
    listing = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                             text=True, check=False).stdout
    for line in listing.splitlines():
        fields = line.split()
        if "inet" in fields:
            return fields[fields.index("inet") + 1].split("/")[0]
    return None


@pytest.fixture(scope="module")
def host_address() -> Iterator[str]:
    """The host's own eth0-like address, or one on a dummy interface made for the test."""
    found = _global_ipv4()
    if found is not None:
        yield found
        return
    name = "sntr-egress0"
    subprocess.run(["ip", "link", "add", name, "type", "dummy"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{DUMMY_ADDRESS}/32", "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield DUMMY_ADDRESS
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


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


@pytest.fixture(scope="module")
def loopback_http() -> Iterator[int]:
    """An HTTP server on the host's 127.0.0.1 answering every GET with a known page."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 — the base class's name
            body = b"hello from the host's loopback\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


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


def test_network_none_has_no_way_out(images: Images, host_address: str, echo: EchoServer) -> None:
    result = _sentrio(images.fresh(), "/bin/egress", host_address, str(echo.port), str(echo.refused_port),
                      flags=("--network", "none"))
    assert result.stdout.splitlines()[0] == "connect(c, (struct sockaddr *)&echo, sizeof echo) = -1 ENETUNREACH"


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
        assert (sandbox.refusal(address) is None) == default, text
        assert (loopback.refusal(address) is None) == with_loopback, text
        assert none.refusal(address) is not None
