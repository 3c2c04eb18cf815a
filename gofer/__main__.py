"""``python -m gofer --root DIR --fd N [--rw] [--donate-fds]``: serve DIR over inherited socket N.

The Sentry starts one gofer per mount (see ``services.gofer_proxy.connection.spawn_gofer``).
The gofer imports all it needs, confines itself to DIR (:mod:`gofer.confine`), and serves the
socket until the Sentry closes it or dies. Exit status: 0 after EOF, 2 for bad arguments,
3 if it could not confine itself.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import socket
import sys

import trio

from gofer.confine import ConfinementError, confine
from gofer.server import serve

log = logging.getLogger("sentrio.gofer")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gofer", description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the directory to serve")
    parser.add_argument("--fd", type=int, required=True, help="the inherited socket's fd")
    parser.add_argument("--rw", action="store_true", help="allow writes (default: EROFS)")
    parser.add_argument("--donate-fds", action="store_true",
                        help="send a host fd beside Rlopen for regular files")
    parser.add_argument("--no-confine", action="store_true",
                        help="debugging only: serve without chroot/Landlock/seccomp")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=args.log_level, format="gofer[%(process)d] %(levelname)s %(message)s")
    sock = socket.socket(fileno=args.fd)
    root = os.path.abspath(args.root)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # fids hold fds
    if not args.no_confine:
        try:
            root = confine(root, writable=args.rw)
        except (ConfinementError, OSError) as error:
            log.error("cannot confine the gofer to %s: %s", root, error)
            return 3
    os.umask(0)  # the Sentry applies the guest's umask; modes arrive final
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    trio.run(lambda: serve(sock, root_fd, writable=args.rw, donate_fds=args.donate_fds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
