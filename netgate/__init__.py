"""The net helper: the one process of a sandbox that opens host network connections.

The Sentry lives in an empty network namespace (docs/security.md) and may not make sockets. A
guest's connection out of the sandbox is therefore opened by this small process, started before
confinement in the host's network namespace and confined itself (no file system, no capability,
a seccomp allowlist of its own, :mod:`netgate.seccomp`): the Sentry names an address over a unix
socketpair, the helper checks it against the sandbox's policy (:mod:`netgate.policy`), connects,
and passes the connected socket back (SCM_RIGHTS). Map: :mod:`netgate.policy` (which addresses
may be reached), :mod:`netgate.protocol` (the messages), :mod:`netgate.server` (the loop),
``python -m netgate`` (the entry point).
"""
