"""The legacy vsyscall page: an old static binary calling 0xffffffffff600000 (gettimeofday),
+0x400 (time) and +0x800 (getcpu) runs as on Linux, served by the Sentry."""

from __future__ import annotations

from pathlib import Path

from abi.seccomp import SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_TRAP, evaluate
from platforms.ptrace.stub import LAYOUT, VSYSCALL_PAGE
from tests.compat.conftest import needs_root, same


@needs_root()
def test_a_program_calling_the_vsyscall_page(image: Path) -> None:
    outcome = same(image, "/bin/vsyscall")
    assert outcome.stdout == ("gettimeofday: 0, close to the system call's: 1\ntime: agrees 1, stored 1\n"
                              "time(NULL) close 1\ngetcpu: 0, cpu valid 1, node 0\n")


def test_the_stub_traps_host_vsyscall_emulation_and_nothing_else() -> None:
    program = LAYOUT._filter_program()
    for entry in (0, 0x400, 0x800):
        assert evaluate(program, 96, ip=VSYSCALL_PAGE + entry) == SECCOMP_RET_TRAP
    for ip in (VSYSCALL_PAGE + 4096, VSYSCALL_PAGE - 4096, VSYSCALL_PAGE & 0xFFFF_FFFF, 0x401000):
        assert evaluate(program, 96, ip=ip) == SECCOMP_RET_KILL_PROCESS
    assert evaluate(program, 96, ip=LAYOUT.after_syscall) == SECCOMP_RET_ALLOW
