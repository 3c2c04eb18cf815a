"""Signal-driven I/O's signals (``programs/sigio_events.c``), native vs Sentrio: pending as the
call that made the file ready returns (a handler has run when the write returns), one per event,
to a process, a process group or one thread, only where the owner's setter may signal, and with
Linux's si_code, si_band and si_fd for pipes, socketpairs, a listening socket, urgent data and
pseudo-terminals. The owner and flag calls themselves are tests/compat/test_sigio.py's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.compat.conftest import needs_root, same, sentrio
from tests.differential.harness import as_container_root, cached_build, fresh_signal_state

SOURCE = Path(__file__).parent / "programs" / "sigio_events.c"

#: For each case of the program, lines both runs must print (beyond printing the same).
EXPECTED = {
    "handler": ["pipe, after the first write: 1 caught, si_code 128", "pipe, after the second write: 2 caught",
                "socketpair, after a write: 3 caught", "blocked pipe: 1 signal(s)"],
    "reasons": ["pipe's writer closed: si_code 1 si_band 0x41 si_fd is the fd 1",
                "full pipe read: si_code 2 si_band 0x304 si_fd is the fd 1",
                "socketpair's peer closed: si_code 6 si_band 0x18 si_fd is the fd 1",
                "socketpair's peer closed: 1 signal(s)",
                "listener connected to: si_code 1 si_band 0x41 si_fd is the fd 1",
                "F_SETSIG SIGCHLD, whose codes are its own: si_code -5",  # SI_SIGIO
                "O_ASYNC without an owner: 0 signal(s)"],
    "urgent": ["urgent data, no O_ASYNC: si_code 128", "urgent data, no O_ASYNC: 1 signal(s)",
               "urgent data, F_SETSIG: si_code 5 si_band 0x82", "urgent data, F_SETSIG: si_code 1 si_band 0x41",
               "urgent data, no owner: 0 signal(s)"],
    "group": ["child of the group: 1 signal(s)", "parent of the group: 1 signal(s)"],
    "thread": ["the other thread takes: -1", "the owning thread: 1 signal(s)"],
    "permission": ["root, owner set by uid 1000: 0 signal(s)", "root, owner set by root: 1 signal(s)"],
}


@pytest.fixture(scope="module")
def image() -> Path:
    def build(root: Path) -> None:
        (root / "bin").mkdir(parents=True)
        root.chmod(0o755)
        subprocess.run(["gcc", "-static", "-O1", "-pthread", "-o", str(root / "bin" / SOURCE.stem), str(SOURCE)],
                       check=True)

    return cached_build("sigio", [SOURCE], build)


@needs_root()
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_signals_as_linux_sends_them(image: Path, case: str) -> None:
    lines = same(image, f"/bin/{SOURCE.stem}", case).stdout.splitlines()
    for expected in EXPECTED[case]:
        assert any(line.startswith(expected) for line in lines), expected


@needs_root()
def test_a_pseudo_terminal_signals_as_linux_does(image: Path) -> None:
    """Natively outside the image, whose chroot has no /dev/ptmx: the host's devpts."""
    program = image / "bin" / SOURCE.stem
    expected = subprocess.run([*as_container_root(), str(program), "terminal"], capture_output=True, text=True,
                              timeout=60, preexec_fn=fresh_signal_state)
    got = sentrio(image, f"/bin/{SOURCE.stem}", "terminal")
    assert got.stdout.splitlines() == expected.stdout.splitlines()
    assert (got.stderr, got.status) == (expected.stderr, expected.returncode)
    for line in ("master: si_code 1 si_band 0x41 si_fd is the fd 1", "replica, part of a line: 0 signal(s)",
                 "replica, a line: si_code 1 si_band 0x41 si_fd is the fd 1", "replica, master closed: 0 signal(s)"):
        assert line in expected.stdout
