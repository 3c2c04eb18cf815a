"""A call a ``SECCOMP_RET_TRAP`` filter refuses is named in the log and ends the process with SIGSYS.

The Sentry, the gofers and the net helper all rely on :func:`gofer.seccomp.report_traps`. For a
trap Linux leaves the refused call's *number* where its result would be; unless the SIGSYS
trampoline turns that into an error, C code takes it for a result (mmap "returns" address 9)
and the process dies of SIGSEGV with nothing logged, or acts on garbage (pread "read" 17
bytes), before Python's handler gets to run. Each case runs in a child under a filter that
traps only the call being tested.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from abi.syscalls import number

PROJECT = Path(__file__).resolve().parents[2]

#: Confines the child: traps ``TRAPPED`` (a call name, or ``mmap`` only when executable).
PRELUDE = """
import errno, mmap, os, signal, sys, threading
from abi.linux import PROT_EXEC
from abi.seccomp import SECCOMP_RET_ALLOW, SECCOMP_RET_TRAP, Policy, Rule, masked
from abi.syscalls import number
from gofer.confine import set_no_new_privs
from gofer.seccomp import install_filter, refused_call, report_traps

def confine(name, only_exec=False):
    rule = Rule(SECCOMP_RET_TRAP, ((masked(2, PROT_EXEC, PROT_EXEC),),) if only_exec else ())
    report_traps()
    set_no_new_privs()
    install_filter(Policy({number(name): rule}, SECCOMP_RET_ALLOW).compile())

def in_thread(job):
    worker = threading.Thread(target=job)
    worker.start()
    worker.join()
"""


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PRELUDE + code], cwd=PROJECT, capture_output=True, text=True,
                          timeout=30, env={**os.environ, "PYTHONPATH": str(PROJECT)})


@pytest.mark.parametrize(("name", "code"), [
    # malloc takes the "result" 9 for a mapping and writes to it at once
    ("mmap", 'confine("mmap")\nbuffer = bytearray(1 << 24)'),
    # in a worker thread Python's handler runs only later, in the main thread
    ("mmap", 'confine("mmap", only_exec=True)\n'
             'in_thread(lambda: mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | PROT_EXEC)'
             '.write(b"x" * mmap.PAGESIZE))'),
    ("getppid", 'confine("getppid")\nos.getppid()'),
])
def test_a_refused_call_is_named_and_the_process_dies_of_sigsys(name: str, code: str) -> None:
    result = run_child(code + '\nprint("still running")\n')
    assert result.returncode == -signal.SIGSYS, (result.returncode, result.stdout, result.stderr)
    assert f"host system call {name} ({number(name)}) is not in this process's seccomp allowlist" in result.stderr, \
        result.stderr
    assert "still running" not in result.stdout


def test_a_refused_call_fails_with_enosys() -> None:
    """What the caller sees before the process ends: an ordinary error, not the call's number as
    a result. The worker thread reports it while the main thread, which alone runs Python's
    handler, waits in join()."""
    result = run_child("""
confine("pread64")
fd = os.open("/proc/self/stat", os.O_RDONLY)
def job():
    try:
        print("read", len(os.pread(fd, 4096, 0)), flush=True)
    except OSError as error:
        print(errno.errorcode[error.errno], flush=True)
in_thread(job)
""")
    assert result.returncode == -signal.SIGSYS, (result.returncode, result.stdout, result.stderr)
    assert result.stdout.split() == ["ENOSYS"]
    assert f"host system call pread64 ({number('pread64')})" in result.stderr


def test_a_sigsys_sent_by_kill_blames_no_call() -> None:
    """Only a SIGSYS a filter raised carries a call number (and a result to rewrite)."""
    result = run_child("""
report_traps()
os.kill(os.getpid(), signal.SIGSYS)
print("still running")
""")
    assert result.returncode == -signal.SIGSYS, (result.returncode, result.stdout, result.stderr)
    assert "SIGSYS that no seccomp trap raised" in result.stderr
    assert "host system call" not in result.stderr
