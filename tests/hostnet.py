"""What the tests need to know of the host's own network."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Callable

#: Interfaces an engine makes (its bridge, its veths): not the host's own address.
_ENGINE_INTERFACES = ("podman", "cni", "veth", "docker")


def global_ipv4() -> str | None:
    """A non-loopback IPv4 address of the host itself, if it has one."""
    listing = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True,
                             check=False).stdout
    for line in listing.splitlines():
        fields = line.split()
        if "inet" in fields and not fields[1].startswith(_ENGINE_INTERFACES):
            return fields[fields.index("inet") + 1].split("/")[0]
    return None


class HostHttpServer:
    """An HTTP server on the host at ``address`` (a free port) answering every GET with
    ``page(client_address)``; ``url`` reaches it. Use it as a context manager."""

    def __init__(self, address: str, page: Callable[[str], bytes]) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 — the base class's name
                body = page(self.client_address[0])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((address, 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://{address}:{self.port}/"

    def __enter__(self) -> HostHttpServer:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
