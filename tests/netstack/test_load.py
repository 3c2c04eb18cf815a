"""Servers from the Debian archive under load, with no errors: redis-server and nginx (master
and worker) in a sandbox driven from the host through ``-p`` by redis-benchmark and ab, and
redis with its benchmark both inside one sandbox. Every reply is checked, not only counted:
the INCR counter and the list LPUSH built must hold exactly as many as were sent, every page
is a 200 of its length. The image is bench/servers.py's (debootstrapped once per machine); the
speeds these runs reach are the benchmark's business, not the test's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.servers import BIG, PAGE, free_port, parse_ab, parse_redis, redis_script, server_image
from tests.netstack.conftest import REPO

REQUESTS = 5000
CLIENTS = 20
TESTS = ("SET", "GET", "INCR", "LPUSH")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (ptrace, chroot, debootstrap)")


@pytest.fixture(scope="module")
def image() -> Path:
    return server_image()


def _on_host(image: Path, script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``script`` run by the image's own shell on the host, in the host's network (chroot)."""
    return subprocess.run(["chroot", str(image), "/bin/sh", "-c", script], capture_output=True, text=True,
                          timeout=timeout)


def _check(stdout: str) -> None:
    result = parse_redis(stdout)
    assert sorted(result.rps) == sorted(TESTS), stdout
    assert (result.counter, result.list_length) == (REQUESTS, REQUESTS), stdout


def test_redis_in_the_sandbox_serves_a_host_client_through_a_published_port(image: Path) -> None:
    host_port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "kernel", "run", "-p", f"127.0.0.1:{host_port}:6379", str(image), "--",
         "redis-server", "--port", "6379", "--protected-mode", "no", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while _on_host(image, f"redis-cli -p {host_port} ping", 30).stdout != "PONG\n":
            assert sandbox.poll() is None, sandbox.communicate()
            assert time.monotonic() < deadline, "redis-server in the sandbox never answered"
            time.sleep(0.2)
        load = _on_host(image, "; ".join([
            f"redis-benchmark -p {host_port} -n {REQUESTS} -c {CLIENTS} -t set,get,incr,lpush -q --csv",
            f"echo counter=$(redis-cli -p {host_port} get counter:__rand_int__)",
            f"echo list=$(redis-cli -p {host_port} llen mylist)",
            f"redis-cli -p {host_port} shutdown nosave"]), 600)
        stdout, stderr = sandbox.communicate(timeout=60)
    finally:
        sandbox.kill()
    _check(load.stdout)
    assert sandbox.returncode == 0, stderr
    assert "Ready to accept connections" in stdout and "Redis is now ready to exit" in stdout


def test_redis_server_and_benchmark_in_one_sandbox(image: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "kernel", "run", str(image), "--", "/bin/sh", "-c",
                           redis_script(6379, REQUESTS, CLIENTS)],
                          capture_output=True, text=True, timeout=600, cwd=REPO, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    _check(done.stdout)


def test_nginx_in_the_sandbox_serves_a_host_client_through_a_published_port(image: Path) -> None:
    host_port = free_port()
    start = "sed 's/127.0.0.1:PORT/8080/' /etc/nginx/sentrio.conf > /tmp/nginx.conf && exec nginx -c /tmp/nginx.conf"
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "kernel", "run", "-p", f"127.0.0.1:{host_port}:8080", str(image), "--",
         "/bin/sh", "-c", start], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    url = f"http://127.0.0.1:{host_port}"
    try:
        deadline = time.monotonic() + 120
        while _on_host(image, f"ab -q -n 1 {url}/index.html", 30).returncode != 0:
            assert sandbox.poll() is None, sandbox.communicate()
            assert time.monotonic() < deadline, "nginx in the sandbox never answered"
            time.sleep(0.2)
        page = parse_ab(_on_host(image, f"ab -n {REQUESTS} -c {CLIENTS} {url}/index.html", 600).stdout)
        big = parse_ab(_on_host(image, f"ab -n 100 -c 4 {url}/big", 600).stdout)
        sandbox.send_signal(signal.SIGTERM)  # to nginx's master, the sandbox's init: a graceful stop
        _, stderr = sandbox.communicate(timeout=60)
    finally:
        sandbox.kill()
    assert (page.complete, page.failed, page.non_2xx, page.document_length) == (REQUESTS, 0, 0, len(PAGE))
    assert (big.complete, big.failed, big.non_2xx, big.document_length) == (100, 0, 0, len(BIG))
    assert sandbox.returncode == 0, stderr
