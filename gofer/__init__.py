"""The gofer: the confined process that serves one mount's files to the Sentry.

Map: :mod:`gofer.protocol` (the message schema and framing, shared with the Sentry's
``services.gofer_proxy``), :mod:`gofer.server` (the connection loop), :mod:`gofer.operations`
(what each request does on the host), :mod:`gofer.files` (fids and their host fds),
:mod:`gofer.confine` and :mod:`gofer.seccomp` (chroot, capabilities, Landlock, seccomp), and
``python -m gofer`` (:mod:`gofer.__main__`).
"""
