"""vmsplice to and from a pipe, native vs Sentrio (``programs/vmsplice.c``)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_into_and_out_of_a_pipe_with_linux_errors(image: Path) -> None:
    outcome = same(image, "/bin/vmsplice")
    lines = outcome.stdout.splitlines()
    for expected in ("into the pipe: 12", "got hell|o, world", "empty, nonblocking: -1 EAGAIN",
                     "a regular file: -1 EBADF", "nothing, to a regular file: 0", "full, nonblocking: -1 EAGAIN",
                     "no writers: end of file: 0", "no readers: -1 EPIPE", "SIGPIPE 1"):
        assert expected in lines
