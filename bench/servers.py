"""Servers from the Debian archive under load: redis-server driven by redis-benchmark, nginx
driven by ApacheBench, client and server in the same sandbox, native vs runsc vs Sentrio.

``python -m bench.servers`` builds (once per machine, cached under /var/cache/sentrio) a Debian
image with redis, nginx and their load generators, runs each job as one ``/bin/sh -c`` script
under every runtime (the server starts, the client loads it over the sandbox's loopback, the
server is stopped) and prints requests per second with the ratios. Each job also checks its own
results — every INCR counted, every page whole — and a job that fails its check fails the run:
a fast wrong answer is not a result. The netstack's load tests (``tests/netstack/test_load.py``)
use the same image, with the client outside the sandbox through ``run -p``.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.runners import NATIVE, RUNNERS, RUNSC, SENTRIO, Runner
from kernel.images.build import cached_debian

PACKAGES = ("redis-server", "redis-tools", "nginx-light", "apache2-utils")
IMAGE_NAME = "servers-debian-bookworm-1"

#: nginx in the foreground, one master and one worker, logging errors to stderr, serving /srv on
#: PORT (the job scripts substitute it).
NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path /tmp/nginx-body;
    proxy_temp_path /tmp/nginx-proxy;
    fastcgi_temp_path /tmp/nginx-fastcgi;
    uwsgi_temp_path /tmp/nginx-uwsgi;
    scgi_temp_path /tmp/nginx-scgi;
    server {
        listen 127.0.0.1:PORT;
        root /srv;
    }
}
"""
#: The page ab fetches (ab counts a response of another length as failed) and a 1 MiB file.
PAGE = b"<html><body>" + b"sentrio " * 500 + b"</body></html>\n"
BIG = bytes(range(256)) * 4096


def _add_server_files(root: Path) -> None:
    (root / "etc" / "nginx" / "sentrio.conf").write_text(NGINX_CONF)
    (root / "srv").mkdir(exist_ok=True)
    (root / "srv" / "index.html").write_bytes(PAGE)
    (root / "srv" / "big").write_bytes(BIG)


def server_image() -> Path:
    """The image's root (debootstrapped now if this machine has none yet: about a minute)."""
    return cached_debian(IMAGE_NAME, PACKAGES, finish=_add_server_files)


def wait_for(command: str) -> str:
    """A shell loop that retries ``command`` for up to 30 s, while a server starts."""
    return f"i=0; until {command} >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 300 ] && exit 90; sleep 0.1; done"


def redis_script(port: int, requests: int, clients: int, pipeline: int = 1) -> str:
    """Start redis-server, load it with SET/GET/INCR/LPUSH, print redis-benchmark's CSV, then the
    INCR counter and the list's length (each must equal ``requests``), then stop the server."""
    return "; ".join([
        f"redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no --daemonize yes >/dev/null",
        wait_for(f"redis-cli -p {port} ping"),
        f"redis-benchmark -p {port} -n {requests} -c {clients} -P {pipeline} -t set,get,incr,lpush -q --csv",
        f"echo counter=$(redis-cli -p {port} get counter:__rand_int__)",
        f"echo list=$(redis-cli -p {port} llen mylist)",
        f"redis-cli -p {port} shutdown nosave",
    ])


def nginx_script(port: int, requests: int, clients: int) -> str:
    """Start nginx (master and worker), load it with ab (the page, then the 1 MiB file), stop it
    gracefully (SIGQUIT) and wait for the master to exit."""
    url = f"http://127.0.0.1:{port}"
    return "; ".join([
        f"sed 's/PORT/{port}/' /etc/nginx/sentrio.conf > /tmp/nginx.conf",
        "nginx -c /tmp/nginx.conf & master=$!",
        wait_for(f"ab -q -n 1 {url}/index.html"),
        f"ab -n {requests} -c {clients} {url}/index.html",
        f"ab -n {max(requests // 50, 10)} -c 2 {url}/big",
        "kill -QUIT $master; wait $master; echo nginx exited $?",
    ])


@dataclass(frozen=True)
class RedisResult:
    rps: dict[str, float]  # per redis-benchmark test: requests per second
    counter: int
    list_length: int


def parse_redis(stdout: str) -> RedisResult:
    csv_lines = [line for line in stdout.splitlines() if line.startswith('"')]
    rows = list(csv.DictReader(io.StringIO("\n".join(csv_lines))))
    values = dict(re.findall(r"^(counter|list)=(\d*)$", stdout, re.MULTILINE))
    return RedisResult({row["test"]: float(row["rps"]) for row in rows},
                       int(values.get("counter") or -1), int(values.get("list") or -1))


@dataclass(frozen=True)
class AbResult:
    complete: int
    failed: int
    non_2xx: int
    rps: float
    document_length: int


def parse_ab(report: str) -> AbResult:
    """One ApacheBench report's counts (``ab`` prints ``Non-2xx responses`` only when any)."""
    def field(name: str, default: str | None = None) -> str:
        match = re.search(rf"^{name}:\s+([\d.]+)", report, re.MULTILINE)
        if match is None:
            if default is None:
                raise ValueError(f"ab printed no {name!r}:\n{report}")
            return default
        return match.group(1)
    return AbResult(int(field("Complete requests")), int(field("Failed requests")),
                    int(field("Non-2xx responses", "0")), float(field("Requests per second")),
                    int(field("Document Length")))


def parse_nginx(stdout: str) -> list[AbResult]:
    reports = stdout.split("This is ApacheBench")[1:]
    return [parse_ab(report) for report in reports]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(runner: Runner, image: Path, script: str, timeout: float) -> str:
    """The script's stdout under ``runner``; its failure (status, stderr) as an exception."""
    done = subprocess.run(runner.command(image, ["/bin/sh", "-c", script]), cwd=runner.cwd, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{runner.name}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return done.stdout


def load_redis(runner: Runner, image: Path, args: argparse.Namespace, rows: dict[str, dict[str, float]]) -> None:
    """redis-server and redis-benchmark in one sandbox; every INCR and LPUSH must be counted."""
    port = free_port() if runner is NATIVE else 6379  # natively, the host's own loopback
    redis = parse_redis(run(runner, image, redis_script(port, args.requests, args.clients), 600))
    if (redis.counter, redis.list_length) != (args.requests, args.requests):
        raise SystemExit(f"{runner.name}: redis counted {redis.counter} INCRs and {redis.list_length} "
                         f"LPUSHes of {args.requests}")
    for test, rps in redis.rps.items():
        rows.setdefault(f"redis {test} (req/s)", {})[runner.name] = rps


def load_nginx(runner: Runner, image: Path, args: argparse.Namespace, rows: dict[str, dict[str, float]]) -> None:
    """nginx and ab in one sandbox; every answer must be a 200 of the right length."""
    port = free_port() if runner is NATIVE else 8080
    page, big = parse_nginx(run(runner, image, nginx_script(port, args.requests, args.clients), 600))
    for result, length in ((page, len(PAGE)), (big, len(BIG))):
        if result.failed or result.non_2xx or result.document_length != length:
            raise SystemExit(f"{runner.name}: nginx answered wrongly: {result}")
    rows.setdefault("nginx page (req/s)", {})[runner.name] = page.rps
    rows.setdefault("nginx 1 MiB file (req/s)", {})[runner.name] = big.rps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.servers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per redis test and ab run")
    parser.add_argument("--clients", type=int, default=20, help="concurrent connections")
    parser.add_argument("--only", action="append", default=[], help="runtimes (native, runsc, sentrio)")
    parser.add_argument("--server", action="append", choices=("redis", "nginx"), default=[],
                        help="servers to load (default: both)")
    args = parser.parse_args(argv)
    image = server_image()
    runners = [runner for runner in RUNNERS if not args.only or runner.name in args.only]
    rows: dict[str, dict[str, float]] = {}
    for runner in runners:
        start = time.monotonic()
        if not args.server or "redis" in args.server:
            load_redis(runner, image, args, rows)
        if not args.server or "nginx" in args.server:
            load_nginx(runner, image, args, rows)
        print(f"[bench] {runner.name}: {time.monotonic() - start:.1f} s", file=sys.stderr)
    names = [runner.name for runner in runners]
    print(f"| job | {' | '.join(runner.label for runner in runners)} | Sentrio/runsc |")
    print(f"|---|{'---|' * len(runners)}---|")
    for job, values in rows.items():
        cells = " | ".join(f"{values[name]:.0f}" if name in values else "–" for name in names)
        ratio = (f"{values[SENTRIO.name] / values[RUNSC.name]:.2f}×"
                 if SENTRIO.name in values and RUNSC.name in values else "–")
        print(f"| {job} | {cells} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
