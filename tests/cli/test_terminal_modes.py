"""The guest sets its terminal's modes (TCSETS and friends) under ``run -t``, and only then."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import PROGRAMS, REPO, needs_root
from tests.cli.test_terminal import User

pytestmark = needs_root


@pytest.fixture(scope="module")
def termmodes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image whose /bin/termmodes sets raw mode, reads a key, and puts the modes back."""
    root = tmp_path_factory.mktemp("termmodes")
    root.chmod(0o755)
    (root / "bin").mkdir()
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "termmodes"), str(PROGRAMS / "termmodes.c")],
                   check=True)
    return root


@pytest.fixture
def user() -> Iterator[list[User]]:
    users: list[User] = []
    yield users
    for one in users:
        one.close()


def _drain(master: int, seen: bytes) -> bytes:
    """Everything still to read on ``master`` (the other side may have gone: EIO ends it)."""
    try:
        while select.select([master], [], [], 0.3)[0]:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            seen += chunk
    except OSError:
        pass
    return seen


def _native(program: Path) -> bytes:
    """termmodes run natively on a pty that is its controlling terminal, as docker -t gives it."""
    master, slave = os.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen([str(program)], stdin=slave, stdout=slave, stderr=slave,
                               preexec_fn=controlling_terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 20
        while b"ready" not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([master], [], [], 1)[0]:
                seen += os.read(master, 4096)
        os.write(master, b"x")
        assert process.wait(20) == 0
        return _drain(master, seen)
    finally:
        os.close(master)
        os.close(slave)


def test_a_program_sets_raw_mode_as_natively(termmodes: Path, user: list[User]) -> None:
    me = User("-it", str(termmodes), "--", "/bin/termmodes")
    user.append(me)
    me.expect(b"ready")
    me.type("x")
    assert me.wait() == 0
    seen = _drain(me.master, me.seen)
    assert b"raw icanon=0 echo=0" in seen and b"key 120" in seen and b"restored 1" in seen, seen
    assert b"x" not in seen.split(b"ready", 1)[1].split(b"key", 1)[0], "raw mode does not echo"
    assert b"winches 1" in seen, "a new window size signals the foreground group"
    assert seen == _native(termmodes / "bin" / "termmodes")
    assert termios.tcgetattr(me.slave) == me.attrs_before, "the host terminal is as it was"


def test_without_t_the_users_terminal_is_not_changed(termmodes: Path, user: list[User]) -> None:
    # The guest's stdin is the user's real terminal: it may read it, never change its modes.
    me = User("-i", str(termmodes), "--", "/bin/termmodes")
    user.append(me)
    assert me.wait() == 0
    assert b"tcsetattr Inappropriate ioctl for device" in me.expect(b"tcsetattr Inappropriate")
    assert termios.tcgetattr(me.slave) == me.attrs_before


def test_stty_echo_off_and_on(busybox: Path, user: list[User]) -> None:
    me = User("-it", str(busybox), "--", "sh", "-c",
              'stty -echo; echo ready; read s; stty echo; echo "got $s"; read t; echo "then $t"')
    user.append(me)
    me.expect(b"ready\r\n")
    me.type("hidden\r")
    after_ready = me.expect(b"got hidden\r\n").split(b"ready\r\n", 1)[1]
    assert after_ready == b"got hidden\r\n", "no echo while -echo"
    me.type("shown\r")
    assert b"got hidden\r\nshown\r\nthen shown\r\n" in me.expect(b"then shown\r\n"), "echo is back"
    assert me.wait() == 0
    assert termios.tcgetattr(me.slave) == me.attrs_before


def test_without_isig_ctrl_c_is_data(busybox: Path, user: list[User]) -> None:
    me = User("-it", str(busybox), "--", "sh", "-c", "stty -isig; echo ready; cat; echo status $?")
    user.append(me)
    me.expect(b"ready\r\n")
    me.type("a\x03b\r")
    me.expect(b"a\x03b\r\n")  # cat got the ^C as a byte: no SIGINT went to the foreground group
    me.type("\x04")
    me.expect(b"status 0\r\n")
    assert me.wait() == 0


def _jobs_until(me: User, status: bytes) -> None:
    """Ask ash for its jobs until one has ``status`` (ash reports a change at its next prompt)."""
    deadline = time.monotonic() + 20
    while status not in me.seen:
        assert time.monotonic() < deadline, me.seen
        me.type("jobs\r")
        if select.select([me.master], [], [], 0.5)[0]:
            me.seen += os.read(me.master, 4096)


def test_a_background_job_changing_the_terminal_is_stopped(busybox: Path, user: list[User]) -> None:
    me = User("-it", str(busybox), "--", "sh")
    user.append(me)
    me.expect(b"/ # ")
    me.type("stty -echo &\r")
    _jobs_until(me, b"Stopped (tty output)")  # SIGTTOU, as tty_check_change sends it
    me.type("echo visible\r")
    assert b"echo visible\r\n" in me.expect(b"echo visible\r\n"), "the modes did not change"
    me.type("kill -9 %1\r")
    _jobs_until(me, b"Killed")
    me.type("exit 5\r")
    assert me.wait() == 5


@pytest.mark.parametrize(("script", "stdin", "output"), [
    ("stty raw -echo; cat", b"abc", b"abc"),           # no EOF character without ICANON
    ("cat", b"partial", b"partial"),                   # canonical: the partial line, then EOF
    ("stty -icanon; cat; echo done", b"", b"done"),
])
def test_the_end_of_piped_input_is_an_end_of_file_in_any_mode(busybox: Path, script: str, stdin: bytes,
                                                                output: bytes) -> None:
    result = subprocess.run([sys.executable, "-m", "kernel", "run", "-it", str(busybox), "--", "sh", "-c", script],
                            input=stdin, capture_output=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            timeout=60)
    assert result.returncode == 0, result
    assert output in result.stdout


def test_dev_tty_is_the_controlling_terminal_under_t(busybox: Path, user: list[User]) -> None:
    # stdin is /dev/null, so the line can only come through /dev/tty, as a pager's keys do
    me = User("-it", str(busybox), "--", "sh", "-c",
              'exec < /dev/null; read line < /dev/tty; echo "got $line" > /dev/tty; exit 4')
    user.append(me)
    me.wait_for_raw_mode()
    me.type("hello\r")
    me.expect(b"got hello\r\n")
    assert me.wait() == 4


def test_dev_tty_without_t_is_enxio(busybox: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "kernel", "run", str(busybox), "--", "sh", "-c",
                             "echo x > /dev/tty; echo status $?"], capture_output=True, cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60)
    assert result.stdout == b"status 1\n"
    assert b"No such device or address" in result.stderr


def test_a_write_larger_than_the_pty_holds_completes(busybox: Path, user: list[User]) -> None:
    # one 256 KiB write: the Sentry must keep copying the pty out while the guest's write waits
    me = User("-t", str(busybox), "--", "sh", "-c", "dd if=/dev/zero bs=256k count=1 2>/dev/null; echo finished")
    user.append(me)
    me.expect(b"finished", timeout=60)
    assert me.seen.count(b"\0") == 256 << 10
    assert me.wait() == 0
