"""``run -t`` (and ``-it``): the test is the user at a terminal, driving a pty."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import REPO, needs_root

pytestmark = needs_root


class User:
    """A terminal (the pty's master side) with a Sentry running on its other side."""

    def __init__(self, *args: str, rows: int = 24, cols: int = 80) -> None:
        self.master, self.slave = os.openpty()
        self.resize(rows, cols)
        self.attrs_before = termios.tcgetattr(self.slave)
        self.sentry = subprocess.Popen([sys.executable, "-m", "kernel", "run", *args],
                                       stdin=self.slave, stdout=self.slave, stderr=self.slave, cwd=REPO,
                                       env=dict(os.environ, PYTHONPATH=str(REPO)), start_new_session=True)
        self.seen = b""

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def expect(self, token: bytes, timeout: float = 20) -> bytes:
        """Read until ``token`` has appeared; everything read so far."""
        deadline = time.monotonic() + timeout
        while token not in self.seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"never saw {token!r} in {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                self.seen += os.read(self.master, 4096)
        return self.seen

    def wait_for_raw_mode(self, timeout: float = 20) -> None:
        """Until the Sentry has put the terminal in raw mode."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.slave)[3] & termios.ICANON:
            assert time.monotonic() < deadline, "the terminal never became raw"
            time.sleep(0.02)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def wait(self) -> int:
        return self.sentry.wait(30)

    def close(self) -> None:
        if self.sentry.poll() is None:
            self.sentry.kill()
            self.sentry.wait(10)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def user() -> Iterator[list[User]]:
    users: list[User] = []
    yield users
    for one in users:
        one.close()


def test_an_interactive_shell(busybox: Path, user: list[User]) -> None:
    me = User("-it", str(busybox), "--", "sh")
    user.append(me)
    me.expect(b"/ # ")  # the prompt: sh saw a terminal
    assert termios.tcgetattr(me.slave)[3] & termios.ECHO == 0, "the host terminal is in raw mode"
    me.type("echo $((6*7))\r")
    assert b"\r\n42\r\n" in me.expect(b"\r\n42\r\n")
    me.type("exit 3\r")
    assert me.wait() == 3
    assert termios.tcgetattr(me.slave) == me.attrs_before, "raw mode is undone on exit"


def test_the_window_size_is_the_terminals_and_follows_it(image: Path, user: list[User]) -> None:
    me = User("-it", str(image), "--", "/bin/winsize", rows=33, cols=77)
    user.append(me)
    me.expect(b"size 33x77\r\n")
    me.resize(50, 132)
    me.sentry.send_signal(signal.SIGWINCH)  # what the kernel sends a terminal's foreground group
    deadline = time.monotonic() + 20
    while b"size 50x132" not in me.seen:  # the Sentry forwards it asynchronously: ask until it has
        assert time.monotonic() < deadline, me.seen
        me.type("\r")
        time.sleep(0.05)
        ready, _, _ = select.select([me.master], [], [], 0.5)
        if ready:
            me.seen += os.read(me.master, 4096)
    me.type("q\r")
    assert me.wait() == 0


def test_t_alone_gives_the_output_a_terminal(image: Path, user: list[User]) -> None:
    me = User("-t", str(image), "--", "/bin/showenv")
    user.append(me)
    assert me.wait() == 0
    output = me.expect(b"env TERM=xterm")
    assert b"\r\nenv " in output, "guest output goes through a terminal (\\n becomes \\r\\n)"


def test_t_output_when_stdout_is_a_pipe(busybox: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "kernel", "run", "-t", str(busybox), "--", "sh", "-c",
                             "echo $((6*7)); exit 3"], capture_output=True, cwd=REPO, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    assert (result.returncode, result.stdout) == (3, b"42\r\n")


@pytest.mark.parametrize(("stdin", "status"), [(b"", 0), (b"echo $((6*7))\nexit 4\n", 4)])
def test_it_with_piped_input_ends_with_an_end_of_file(busybox: Path, stdin: bytes, status: int) -> None:
    result = subprocess.run([sys.executable, "-m", "kernel", "run", "-it", str(busybox), "--", "sh"],
                            input=stdin, capture_output=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            timeout=60)
    assert result.returncode == status, result.stdout
    assert b"Traceback" not in result.stdout + result.stderr
    if stdin:
        assert b"\r\n42\r\n" in result.stdout


def test_ctrl_c_interrupts_the_foreground_process(busybox: Path, user: list[User]) -> None:
    # cat runs as a child: pid 1 itself drops signals it has no handler for, as a container's
    # init does (under docker too, ^C does not stop a bare `cat` that is pid 1).
    me = User("-it", str(busybox), "--", "sh", "-c", "cat; exit $?")  # not exec'd: a child
    user.append(me)
    me.wait_for_raw_mode()  # from now on only the guest's terminal echoes
    me.type("typed\r")
    me.expect(b"typed\r\ntyped\r\n")  # the guest's terminal echoed, cat copied: cat runs
    me.type("\x03")
    assert me.wait() == 128 + signal.SIGINT, me.seen
    me.expect(b"typed\r\n^C")  # echoed by the guest's terminal
    assert termios.tcgetattr(me.slave) == me.attrs_before


def test_ctrl_c_reaches_a_shell_and_its_child(busybox: Path, user: list[User]) -> None:
    me = User("-it", str(busybox), "--", "sh")
    user.append(me)
    me.expect(b"/ # ")
    me.type("trap 'echo caught INT' INT; echo go; sleep 1000; echo after $?\r")
    me.expect(b"\r\ngo\r\n")  # the shell has read the line (a ^C earlier would flush it)
    deadline = time.monotonic() + 20
    while b"after 130" not in me.seen:  # a ^C before sleep started only reaches the shell: again
        assert time.monotonic() < deadline, me.seen
        me.type("\x03")
        ready, _, _ = select.select([me.master], [], [], 0.5)
        if ready:
            me.seen += os.read(me.master, 4096)
    assert b"caught INT" in me.seen  # the shell, in the same group, got it too
    me.type("exit 7\r")
    assert me.wait() == 7


def test_a_killed_sentry_leaves_the_terminal_as_it_found_it(busybox: Path, user: list[User]) -> None:
    me = User("-it", str(busybox), "--", "sh")
    user.append(me)
    me.expect(b"/ # ")
    assert termios.tcgetattr(me.slave) != me.attrs_before, "raw while the sandbox runs"
    me.sentry.kill()
    me.sentry.wait(10)
    deadline = time.monotonic() + 20
    while termios.tcgetattr(me.slave) != me.attrs_before:  # the watchdog restores it once it notices
        assert time.monotonic() < deadline, "the terminal stayed raw"
        time.sleep(0.05)
