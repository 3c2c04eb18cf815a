"""Signal-driven I/O (``programs/sigio.c``), native vs Sentrio: a description's owner
(F_SETOWN, F_SETOWN_EX, FIOSETOWN/SIOCSPGRP on sockets), its signal (F_SETSIG), O_ASYNC
(F_SETFL, FIOASYNC: ENOTTY for a regular file, where F_SETFL does not keep it), and the
signals a pipe and a socket send when they become readable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import USER, needs_root, same


@needs_root()
@pytest.mark.parametrize("user", [None, USER])
def test_owners_and_signals(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/sigio", "owners", user=user)
    assert "F_SETOWN nobody's pid: -1 ESRCH" in outcome.stdout
    assert "F_SETOWN_EX bad type: -1 EINVAL" in outcome.stdout
    assert "F_GETSIG: 34" in outcome.stdout
    assert "FIOGETOWN is self: 1" in outcome.stdout


@needs_root()
def test_o_async_is_set_where_the_file_can_signal(image: Path) -> None:
    outcome = same(image, "/bin/sigio", "flags")
    assert "FIOASYNC of a regular file: -1 ENOTTY" in outcome.stdout
    assert "its O_ASYNC set: 0" in outcome.stdout


@needs_root()
def test_a_pipe_and_a_socket_signal_their_owner(image: Path) -> None:
    outcome = same(image, "/bin/sigio", "delivery")
    assert "pipe made readable: signal SIGIO, si_code 128" in outcome.stdout
    assert "socket made readable, F_SETSIG: signal SIGRTMIN, si_code 1, si_band 0x41, si_fd is the fd 1" \
        in outcome.stdout
    assert "O_ASYNC without an owner: SIGIO pending 0" in outcome.stdout
