"""``run -p HOST_PORT:GUEST_PORT``: a host client reaches a guest server through a published
port, both directions carry the bytes, and a half-close on either side reaches the other; bad
``-p`` values and ports already taken are one line and exit 125."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.netstack.conftest import REPO

SCRIPTS = Path(__file__).parent / "python"
PYTHON = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(not os.path.exists(PYTHON) or os.geteuid() != 0,
                                reason="needs the host's python3 and root (ptrace)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sentrio(*args: str) -> list[str]:
    return [sys.executable, "-m", "kernel", "run", *args]


def _exchange(port: int, payload: bytes) -> bytes:
    """Send ``payload``, half-close, read the answer to its end; retried while the sandbox is
    starting (the host port is not open yet) or its server is not listening (the connection
    is closed unanswered)."""
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
                client.sendall(payload)
                client.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := client.recv(65536):
                    answer += chunk
                if answer:
                    return answer
        except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
            pass
        time.sleep(0.1)
    raise AssertionError("the guest's server never answered")


def test_a_host_client_reaches_the_guest_server_through_a_published_port() -> None:
    host_port, guest_port = _free_port(), 8000
    env = dict(os.environ, PYTHONPATH=str(REPO))
    sandbox = subprocess.Popen(
        _sentrio("-p", f"127.0.0.1:{host_port}:{guest_port}", "-v", f"{SCRIPTS}:/scripts:ro", "/", "--",
                 PYTHON, "/scripts/reverse_server.py", str(guest_port), "2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        big = bytes(range(256)) * 4096  # 1 MiB: more than any buffer on the way holds
        assert _exchange(host_port, b"hello, sandbox") == b"xobdnas ,olleh"
        assert _exchange(host_port, big) == big[::-1]
        stdout, stderr = sandbox.communicate(timeout=120)
    finally:
        sandbox.kill()
    assert (stdout, stderr, sandbox.returncode) == ("listening\nserved 2\n", "", 0)


def _udp_exchange(port: int, payload: bytes) -> bytes:
    """One datagram to the published port and its answer, retried while the sandbox starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(0.2)
        for _ in range(600):
            client.sendto(payload, ("127.0.0.1", port))
            try:
                return client.recvfrom(65535)[0]
            except TimeoutError:
                continue
    raise AssertionError("the guest's UDP server never answered")


def test_a_host_udp_client_reaches_the_guest_through_a_published_udp_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        host_port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    sandbox = subprocess.Popen(
        _sentrio("-p", f"127.0.0.1:{host_port}:9000/udp", "-v", f"{SCRIPTS}:/scripts:ro", "/", "--",
                 PYTHON, "/scripts/udp_echo.py", "9000"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    try:
        assert _udp_exchange(host_port, b"hello, udp") == b"pdu ,olleh"
        assert _udp_exchange(host_port, b"x" * 60000 + b"y") == b"y" + b"x" * 60000
        stdout, stderr = sandbox.communicate(timeout=120)
    finally:
        sandbox.kill()
    assert (stdout, stderr, sandbox.returncode) == ("listening\nserved\n", "", 0)


@pytest.mark.parametrize(("value", "message"), [
    ("8080", "expected [IP:]HOST_PORT:GUEST_PORT"),
    ("8080:80/sctp", "only tcp and udp ports can be published"),
    ("70000:80", "'70000' is not a port number"),
    ("nohost:8080:80", "'nohost' is not an IP address"),
])
def test_a_bad_publish_value_is_one_line_and_exit_125(value: str, message: str) -> None:
    result = subprocess.run(_sentrio("-p", value, "/", "--", "/bin/true"), capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 125
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_a_host_port_in_use_is_one_line_and_exit_125() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(_sentrio("-p", f"127.0.0.1:{port}:80", "/", "--", "/bin/true"),
                                capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 125
    assert result.stderr.startswith("sentrio: -p 127.0.0.1:") and "cannot listen on the host" in result.stderr
