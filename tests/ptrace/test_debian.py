"""Debian's strace and gdb, run inside the sandbox (issue 15's acceptance): ``strace -f``
follows a shell's children, gdb runs a crashing program and prints its backtrace."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.compat.conftest import needs_root, sentrio
from tests.ptrace.debian import debian_with_debuggers

pytestmark = needs_root()


@pytest.fixture(scope="module")
def debian() -> Path:
    return debian_with_debuggers()


def test_strace_ls(debian: Path) -> None:
    outcome = sentrio(debian, "strace", "-f", "ls", "/", timeout=180)
    assert outcome.status == 0, outcome.stderr
    assert "usr" in outcome.stdout.split()
    assert 'execve("/usr/bin/ls", ["ls", "/"]' in outcome.stderr
    assert re.search(r"getdents64\(3, .* = \d+", outcome.stderr)
    assert "+++ exited with 0 +++" in outcome.stderr


def test_strace_follows_forks(debian: Path) -> None:
    outcome = sentrio(debian, "strace", "-f", "-e", "trace=execve,exit_group", "sh", "-c",
                      "ls / >/dev/null; (exit 3); echo $?", timeout=180)
    assert outcome.status == 0, outcome.stderr
    assert outcome.stdout == "3\n"
    assert re.search(r'\[pid +\d+\] execve\("/usr/bin/ls", \["ls", "/"\]', outcome.stderr), outcome.stderr
    assert re.search(r"\[pid +\d+\] \+\+\+ exited with 3 \+\+\+", outcome.stderr), outcome.stderr
    assert outcome.stderr.rstrip().endswith("+++ exited with 0 +++")


def test_gdb_backtrace_of_a_crash(debian: Path) -> None:
    outcome = sentrio(debian, "/bin/sh", "-c", "cd /root && gdb -batch -ex run -ex bt ./crash", timeout=300)
    assert "about to crash" in outcome.stdout
    assert "Program received signal SIGSEGV, Segmentation fault." in outcome.stdout
    assert re.search(r"#0 +0x[0-9a-f]+ in deref \(p=0x0\) at /\S*crash\.c:2", outcome.stdout), outcome.stdout
    assert re.search(r"#1 +0x[0-9a-f]+ in main \(\) at /\S*crash\.c:3", outcome.stdout), outcome.stdout


def test_gdb_backtrace_of_a_pie_crash(debian: Path) -> None:
    outcome = sentrio(debian, "/bin/sh", "-c", "cd /root && gdb -batch -ex run -ex bt ./crash-pie", timeout=300)
    assert re.search(r"#0 +0x[0-9a-f]+ in deref \(p=0x0\)", outcome.stdout), outcome.stdout
