"""``python -m netgate --fd N [--network sandbox|none] [--allow-host-loopback]``: the net helper.

Started by the Sentry before it confines itself (:mod:`services.netstack.gate`), in the host's
network namespace, with one end of a SOCK_SEQPACKET socketpair as fd N. It confines itself at
once, then serves the Sentry's requests until the Sentry closes its end, or dies.

Confinement, as the gofer's (:mod:`gofer.confine`) but with nothing to serve:

- as root: new mount, IPC, UTS and cgroup namespaces — *not* a network namespace: the host's
  network is what it is for — and an empty, read-only tmpfs pivoted into as its root, so no host
  file can be named; then every capability dropped (bounding set included) and uid/gid 65534;
- always: ``PR_SET_DUMPABLE`` 0, the parent-death signal (it lives exactly as long as the
  Sentry), ``PR_SET_NO_NEW_PRIVS`` and the seccomp allowlist of :mod:`netgate.seccomp`, which has
  no call that names a file.

Exit status: 0 once the Sentry has gone, 2 for bad arguments, 3 if it could not confine itself.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket
import sys

from abi.confine import NOBODY
from abi.linux import CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWUTS
from abi.mount import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REMOUNT
from gofer.confine import (
    ConfinementError,
    die_with_parent,
    drop_privileges,
    make_mounts_private,
    mount,
    pivot_into,
    set_dumpable,
    setns,
    set_no_new_privs,
    unshare,
)
from gofer.seccomp import Census, install_filter, report_traps
from netgate.policy import NETWORK_MODES, NETWORK_SANDBOX, Policy
from netgate.seccomp import filter_program
from netgate.server import Server

log = logging.getLogger("sentrio.netgate")

#: Where the empty root is staged before the pivot (any directory will do).
_STAGING_POINTS = ("/proc", "/tmp", "/dev")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m netgate", description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="the inherited SOCK_SEQPACKET socket")
    parser.add_argument("--network", choices=NETWORK_MODES, default=NETWORK_SANDBOX)
    parser.add_argument("--allow-host-loopback", action="store_true")
    parser.add_argument("--resolver", type=ipaddress.ip_address, action="append", default=[],
                        help="an upstream resolver whose port 53 may be reached (repeatable)")
    parser.add_argument("--netns", metavar="PATH", help="join this network namespace first (an engine's)")
    parser.add_argument("--no-confine", action="store_true", help="debugging only: no namespaces or seccomp")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def join_network(path: str) -> None:
    """Move into the network namespace at ``path`` (an engine's: its addresses, routes and
    firewall then apply to every connection out), before confinement takes the right away."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd, CLONE_NEWNET)
    finally:
        os.close(fd)


def confine() -> None:
    """No file system, no capability, no new privileges, the allowlist (see the module's docstring)."""
    parent = os.getppid()
    census = Census.requested("netgate", follow_threads=False)
    if os.geteuid() == 0:
        unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)
        make_mounts_private()
        point = next(p for p in _STAGING_POINTS if os.path.isdir(p))
        # an empty root: nothing on it can be a device, setuid or executable
        mount("tmpfs", point, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0500,size=4k,nr_inodes=1")
        pivot_into(point)
        mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        drop_privileges((), NOBODY, NOBODY)
    set_dumpable(False)
    die_with_parent(parent)
    report_traps(log)
    set_no_new_privs()
    if census is not None:
        census.begin()
    else:
        install_filter(filter_program())


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(message)s")
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, 0, fileno=args.fd)
    policy = Policy(args.network, allow_host_loopback=args.allow_host_loopback, resolvers=tuple(args.resolver))
    server = Server(channel, policy)
    if args.netns:
        try:
            join_network(args.netns)
        except OSError as error:
            log.error("the net helper cannot join the network namespace %s: %s", args.netns, error)
            return 3
    if not args.no_confine:
        try:
            confine()
        except (ConfinementError, OSError) as error:
            log.error("the net helper cannot confine itself: %s", error)
            return 3
    server.run()
    return 0


if __name__ == "__main__":
    status = main()
    logging.shutdown()
    sys.stderr.flush()
    os._exit(status)
