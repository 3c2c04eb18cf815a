"""Servers from the Debian archive under load, with no errors: redis-server in a sandbox driven
from the host through ``-p`` by redis-benchmark, and the same server and client both inside one
sandbox. Every reply is checked, not only counted: the INCR counter and the list LPUSH built
must hold exactly as many as were sent. The image is bench/servers.py's (debootstrapped once per
machine); the speeds these runs reach are the benchmark's business, not the test's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.servers import free_port, parse_redis, redis_script, server_image
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
