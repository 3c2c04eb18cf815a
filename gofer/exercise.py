"""A gofer session a zygote runs in its own process before it serves, so that the code every
run's gofer (and its Sentry's side of the protocol) runs first has already run.

CPython 3.11 rewrites an instruction's inline cache each time it runs it until it has
specialized it: code a forked gofer executes for the first time writes to code objects it
shares with the zygote, and each page written is a page copied into the run (docs/benchmarks.md,
"what a served run costs in memory"). :func:`exercise` serves, in this process and without a
thread or an event loop, the requests a sandbox's start makes (version, attach, walks with
attributes, opens, reads, listings, links, clunks) on a throwaway tree, over a socketpair,
encoding them and decoding the replies as the Sentry does; nothing of it is kept.
"""

from __future__ import annotations

import os
import socket
import tempfile

from gofer import protocol as p
from gofer.operations import Operations
from gofer.server import Connection


def exercise(rounds: int) -> list[object]:
    """Serve :func:`_session`'s requests ``rounds`` times on a tree made for it; the replies of
    the last round."""
    replies_seen: list[object] = []
    with tempfile.TemporaryDirectory(prefix="sentrio-gofer-exercise-") as tree:
        _make_tree(tree)
        root_fd = os.open(tree, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server = Connection(theirs, Operations(root_fd, donate_fds=True))
            replies = p.Decoder(p.Direction.REPLY)
            for _ in range(rounds):
                replies_seen = []
                for tag, request in enumerate(_session()):
                    ours.sendall(p.encode(request, tag))
                    server.serve_one_read()
                    data, fds, _, _ = socket.recv_fds(ours, p.READ_CHUNK, 16)
                    for fd in fds:
                        os.close(fd)
                    replies.feed(data)
                    replies_seen += [reply for _, reply in replies]
        finally:
            ours.close()
            theirs.close()
            os.close(root_fd)
    return replies_seen


def _make_tree(tree: str) -> None:
    os.makedirs(os.path.join(tree, "bin"))
    os.makedirs(os.path.join(tree, "lib", "deep"))
    for path, data in (("bin/sh", b"\x7fELF" + bytes(4000)), ("lib/libc.so", bytes(9000)),
                       ("lib/deep/file", b"data\n")):
        with open(os.path.join(tree, path), "wb") as file:
            file.write(data)
    os.symlink("sh", os.path.join(tree, "bin", "link"))


def _session() -> list[object]:
    """The requests of a sandbox's start, in its order: fids 0 (root), 1 (bin), 2 (lib)."""
    return [
        p.Tversion(p.MAX_MSIZE, p.VERSION),
        p.Tattach(0, ""),
        p.Tgetattr(0, p.GETATTR_BASIC),
        p.Twalkattrs(0, 1, [b"bin"]),
        p.Twalkattrs(0, p.NOFID, [b"bin", b"sh"]),
        p.Twalkopen(1, p.NOFID, [b"sh"], os.O_RDONLY),
        p.Treadlink(1),  # a directory: Rlerror, as a failed call is answered too
        p.Twalk(1, 3, [b"link"]),
        p.Treadlink(3),
        p.Tclunk(3),
        p.Twalk(0, 2, [b"lib"]),
        p.Treaddirattr(2, p.NOFID, [], 0, 8192),
        p.Treaddirtree(0, [[b"lib"]], 65536),
        p.Topenmany(0, [b"lib"], [b"libc.so", b"deep"], os.O_RDONLY),
        p.Twalk(2, 4, [b"libc.so"]),
        p.Tlopen(4, os.O_RDONLY),
        p.Tread(4, 0, 4096),
        p.Tclunk(4),
        p.Twalkattrs(2, p.NOFID, [b"missing"]),
        p.Tclunk(2),
        p.Tclunk(1),
        p.Tclunk(0),
    ]
