"""Pseudo-terminals made by the Sentry (/dev/ptmx, /dev/pts): the line discipline, the ends,
job control on a replica, against Linux's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.terminal.conftest import same

VARIANTS = ["", ".musl"] if shutil.which("musl-gcc") else [""]


@pytest.mark.parametrize("variant", VARIANTS)
def test_line_discipline_and_ends(image: Path, variant: str) -> None:
    """posix_openpt/grantpt/unlockpt/ptsname, the replica's node, canonical input with echo,
    ERASE/KILL/EOF, ONLCR, raw mode with VMIN/VTIME, and each side after the other closes."""
    outcome = same(image, f"/bin/pty_basic{variant}")
    assert 'slave line: 6 "hello\\x0a"' in outcome.stdout
    assert "slave: chr 1 major 136 mode 620 gid 5 isatty 1" in outcome.stdout
    eio = "I/O error" if variant == ".musl" else "Input/output error"  # the libcs' strerror
    assert f"master after slave close: {eio}" in outcome.stdout
    assert "reopen after master close: No such file or directory" in outcome.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_job_control_on_a_replica(image: Path, variant: str) -> None:
    """A session leader takes the replica it opens as its controlling terminal; ^C typed at
    the master interrupts the foreground group; a background read stops with SIGTTIN; closing
    the master sends the session leader SIGHUP."""
    outcome = same(image, f"/bin/pty_session{variant}")
    assert "leader: read -1 errno Interrupted system call, signal Interrupt" in outcome.stdout
    assert "leader: background reader: stopped by Stopped (tty input)" in outcome.stdout
    assert "leader: hung up: Hangup" in outcome.stdout
    assert outcome.stdout.rstrip().endswith("leader: exit 0")


def test_openpty_winch_epoll_and_flow_control(image: Path) -> None:
    """openpty (TIOCGPTPEER), /dev/pts's entries and statfs, the master's modes being the
    replica's, epoll on both ends, ^W and ^C echoed, ^S/^Q, SIGWINCH from a resize."""
    outcome = same(image, "/bin/pty_more")
    assert "TIOCGPTPEER: same device 1" in outcome.stdout
    assert "write while stopped: -1 Resource temporarily unavailable" in outcome.stdout
    assert "child: SIGWINCH, 50 x 132" in outcome.stdout
