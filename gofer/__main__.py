"""``python -m gofer --root DIR --fd N [--rw] [--donate-fds]``: serve DIR over inherited socket N.

``--mount FD DIR ro|rw`` (repeatable) serves one more directory, over socket FD of its own:
one gofer process serves a whole group of mounts (see
``services.gofer_proxy.connection.spawn_gofers``), each a separate connection with its own root.
The gofer's stdout and stderr are a pipe the Sentry logs. The gofer imports all it needs,
confines itself to its directories (:mod:`gofer.confine`), and serves the sockets until the
Sentry has closed every one, or dies.
Exit status: 0 after EOF, 2 for bad arguments, 3 if it could not confine itself.

``--plugin module:function`` (research and tests) imports ``module`` before confinement and
calls ``function(root_fd)`` once confined, before serving: what it does, it does with exactly
the gofer's powers.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import resource
import socket
import sys
from collections.abc import Callable
from typing import Any

from gofer.confine import ConfinementError, confine_mounts
from gofer.server import serve_mounts

log = logging.getLogger("sentrio.gofer")


@functools.cache
def build_parser() -> argparse.ArgumentParser:
    """The command line's parser, built once per process: a zygote builds it before it forks
    runs, and a served run's gofer, a fork, finds it built."""
    parser = argparse.ArgumentParser(prog="python -m gofer", description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the directory to serve")
    parser.add_argument("--fd", type=int, required=True, help="the inherited socket's fd")
    parser.add_argument("--rw", action="store_true", help="allow writes (default: EROFS)")
    parser.add_argument("--mount", nargs=3, action="append", default=[], metavar=("FD", "DIR", "MODE"),
                        help="also serve DIR over socket FD, MODE ro or rw (repeatable)")
    parser.add_argument("--donate-fds", action="store_true",
                        help="send a host fd beside Rlopen for regular files")
    parser.add_argument("--no-confine", action="store_true",
                        help="debugging only: serve without namespaces, pivot_root, Landlock or seccomp")
    parser.add_argument("--plugin", metavar="module:function",
                        help="call function(root_fd) once confined, before serving")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    for fd, _, mode in args.mount:
        if not fd.isdigit() or mode not in ("ro", "rw"):
            parser.error(f"--mount FD DIR MODE: FD a number, MODE ro or rw (not {fd!r}, {mode!r})")
    return args


def _load(target: str) -> Callable[[int], Any]:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # One record per line, level first: the Sentry relays each line into its own log.
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(message)s")
    # (socket, directory, writable) per mount served; the first is --root's, pivoted into.
    mounts = [(socket.socket(fileno=args.fd), os.path.abspath(args.root), bool(args.rw))]
    mounts += [(socket.socket(fileno=int(fd)), os.path.abspath(root), mode == "rw") for fd, root, mode in args.mount]
    plugin = _load(args.plugin) if args.plugin else None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # fids hold fds
    os.umask(0)  # the Sentry applies the guest's umask; modes arrive final
    served = [(root, rw) for _, root, rw in mounts]
    try:
        if args.no_confine:
            root_fds = [os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for root, _ in served]
        else:
            root_fds = confine_mounts(served)
    except (ConfinementError, OSError) as error:
        log.error("cannot confine the gofer to %s: %s", ", ".join(root for root, _ in served), error)
        return 3
    if plugin is not None:
        plugin(root_fds[0])
    serve_mounts([(sock, fd, rw) for (sock, _, rw), fd in zip(mounts, root_fds)], donate_fds=args.donate_fds)
    return 0


if __name__ == "__main__":
    status = main()
    # The Sentry waits for its gofers when it shuts down: skip the interpreter's finalization
    # (every module and object freed one by one, ~0.1 s), which leaves nothing to the host that
    # exit does not; only the log lines still buffered must go out first.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
