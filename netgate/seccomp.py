"""The net helper's seccomp allowlist: exactly what :mod:`netgate.server` calls, each with why.

No call that names a file (the helper has no file system at all), no process or thread
creation, no ``bind``, ``listen`` or ``accept``: the helper can only make IPv4/IPv6 sockets,
connect them, and hand them to the Sentry. Anything else is trapped, named in the log, and
ends the helper (:func:`gofer.seccomp.report_traps`).
"""

from __future__ import annotations

import os

from abi.linux import F_GETFL, F_SETFL, FIONBIO
from abi.seccomp import SECCOMP_RET_TRAP, Entry, PidTemplate, Policy, allow_if, eq32, one_of, rules_of
from abi.syscalls import number
from gofer.seccomp import gofer_entries

_AF_INET, _AF_INET6 = 2, 10
#: What the Python runtime itself calls: memory (never executable), locks, signals, the way out.
_RUNTIME = frozenset({"mmap", "mprotect", "munmap", "madvise", "brk", "mremap", "futex", "rt_sigaction",
                      "rt_sigreturn", "getpid", "kill", "tgkill", "exit", "exit_group"})


def netgate_entries(pid: int) -> list[Entry]:
    """The helper's allowlist (``pid``: its own, the only process it may signal)."""
    return [
        # --- the Sentry's requests and the sockets it asks for
        Entry("recvfrom", "a request from the Sentry"),
        Entry("sendmsg", "a reply, with the connected socket beside it (SCM_RIGHTS)"),
        Entry("socket", "the host socket a guest's connection out needs; IPv4 and IPv6 only",
              allow_if(*one_of(0, (_AF_INET, _AF_INET6)))),
        Entry("connect", "to the address the policy allowed"),
        Entry("getsockopt", "SO_ERROR: how a non-blocking connect ended"),
        Entry("close", "its copy of a socket handed over, or of one that failed"),
        Entry("epoll_create1", "the loop"),
        Entry("epoll_ctl", "the loop"),
        Entry("epoll_wait", "the loop"),
        Entry("fcntl", "Python's socket objects set their blocking mode", allow_if(*one_of(1, (F_GETFL, F_SETFL)))),
        Entry("ioctl", "FIONBIO: Python's socket objects set their blocking mode", allow_if(eq32(1, FIONBIO))),
        Entry("write", "logging to stderr"),
        Entry("rt_sigprocmask", "glibc blocks signals around some calls"),
        # --- Python and glibc, as the gofer's list allows them (its reasons, its argument checks)
        *(entry for entry in gofer_entries(writable=False, pid=pid) if entry.name in _RUNTIME),
    ]


def netgate_policy(pid: int) -> Policy:
    return Policy(rules_of(netgate_entries(pid), number), SECCOMP_RET_TRAP)


#: The net helper's filter, to be given its pid.
TEMPLATE = PidTemplate(netgate_policy)


def filter_program(pid: int | None = None) -> bytes:
    return TEMPLATE.program(os.getpid() if pid is None else pid)
