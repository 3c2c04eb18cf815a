"""Confinement of a sandbox's host processes, as runsc confines its own.

Map: :mod:`kernel.confine.namespaces` (the sandbox's user, mount, network, IPC, UTS and cgroup
namespaces with an empty root: made by the template stub, joined by the Sentry),
:mod:`kernel.confine.sentry` (the Sentry's confinement once start-up is over, and the keeper
that removes its runtime directory afterwards), :mod:`kernel.confine.allowlist` (the Sentry's
seccomp allowlist, a reason per entry). The host primitives (unshare, pivot_root, capabilities,
installing a filter, naming a trapped call) are the gofer's, :mod:`gofer.confine` and
:mod:`gofer.seccomp`: the gofer confines itself with the same ones. docs/security.md says what
each process may do, and why.
"""
