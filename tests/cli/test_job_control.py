"""Job control on the guest's terminal: a program driving TIOCGPGRP/TIOCSPGRP/SIGTTIN, run
natively and under ``run -it`` on a pty, and busybox sh's jobs and ^C under ``-it``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.conftest import REPO, needs_root
from tests.cli.test_terminal import User, user  # noqa: F401 — the fixture

pytestmark = needs_root

PROGRAM = Path(__file__).parent / "programs" / "jobctl.c"


@pytest.fixture(scope="module")
def jobctl_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jobctl")
    (root / "bin").mkdir()
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "jobctl"), str(PROGRAM)], check=True)
    return root


def _on_a_pty(argv: list[str]) -> tuple[bytes, int]:
    """Run ``argv`` in a new session with a pty as its stdio; its output and exit status."""
    master, slave = os.openpty()
    try:
        process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=REPO, start_new_session=True,
                                   env=dict(os.environ, PYTHONPATH=str(REPO), SENTRIO_STRICT="1"))
        output = b""
        deadline = time.monotonic() + 60
        while process.poll() is None or _readable(master):
            assert time.monotonic() < deadline, output
            if _readable(master, 0.1):
                try:
                    output += os.read(master, 4096)
                except OSError:
                    break
        return output, process.wait()
    finally:
        os.close(master)
        os.close(slave)


def _readable(fd: int, timeout: float = 0) -> bool:
    import select

    return bool(select.select([fd], [], [], timeout)[0])


def test_job_control_ioctls_and_sigttin_as_natively(jobctl_image: Path) -> None:
    native, native_status = _on_a_pty(["chroot", str(jobctl_image), "/bin/jobctl"])
    ours, status = _on_a_pty([sys.executable, "-m", "kernel", "run", "-it", str(jobctl_image), "--", "/bin/jobctl"])
    lines = native.replace(b"\r", b"").decode().splitlines()
    assert "foreground is us: 1" in lines
    assert "background reader: stopped 1 by 21" in lines
    assert "background tcsetpgrp: stopped 1 by 22" in lines
    assert ours.replace(b"\r", b"").decode().splitlines() == lines
    assert status == native_status == 0


def test_busybox_sh_has_job_control(busybox: Path, user: list[User]) -> None:  # noqa: F811
    me = User("-it", str(busybox), "--", "sh")
    user.append(me)
    me.expect(b"/ # ")
    assert b"job control turned off" not in me.seen
    me.type("sleep 100 &\r")
    me.expect(b"sleep 100 &\r\n/ # ")
    me.type("jobs\r")
    me.expect(b"Running")
    me.type("echo go; sleep 1000\r")
    start = len(me.expect(b"\r\ngo\r\n"))
    deadline = time.monotonic() + 20
    while b"/ # " not in me.seen[start:]:  # ^C before sleep started reaches only the shell: again
        assert time.monotonic() < deadline, me.seen
        me.type("\x03")
        time.sleep(0.3)
        if _readable(me.master, 0.2):
            me.seen += os.read(me.master, 4096)
    me.type("jobs; echo done\r")
    assert b"Running                    sleep 100\r\ndone" in me.expect(b"\r\ndone")  # only the sleep died
    me.type("exit 7\r")
    assert me.wait() == 7
