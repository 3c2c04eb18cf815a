"""ptrace(2) served by the Sentry, native vs Sentrio (``programs/tracer.c``)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same, sentrio

pytestmark = needs_root()


def test_traceme_exec_and_a_syscall_loop(image: Path) -> None:
    outcome = same(image, "/bin/tracer", "syscalls")
    assert "after exec: stopped 0x5" in outcome.stdout
    assert "enter 1 (rax -38)" in outcome.stdout
    assert "enter 231 (rax -38)" in outcome.stdout
    assert "tiny: exited 3" in outcome.stdout
    assert "4 system calls" in outcome.stdout


def test_peekdata_and_pokedata_change_the_child(image: Path) -> None:
    outcome = same(image, "/bin/tracer", "poke")
    assert "peek: 0x1234 ok" in outcome.stdout
    assert "child sees 0xbeef" in outcome.stdout
    assert "peek of address 8: EIO" in outcome.stdout


def test_tracer_pid_in_proc_status(image: Path) -> None:
    """(Under Sentrio only: the native chroot has no /proc.)"""
    outcome = sentrio(image, "/bin/tracer", "poke", options=("-e", "SHOW_TRACERPID=1"))
    assert "child's TracerPid is ours: 1, ours is 0" in outcome.stdout


def test_setregs_changes_a_result_and_skips_a_call(image: Path) -> None:
    outcome = same(image, "/bin/tracer", "setregs")
    assert "first syscall stop: stopped 0x85" in outcome.stdout
    assert "child: getppid returned 4242, getuid -1 ENOSYS" in outcome.stdout


def test_singlestep(image: Path) -> None:
    outcome = same(image, "/bin/tracer", "step")
    assert "step 5: TRAP code 2, moved 1, TF visible 0" in outcome.stdout
    assert "child: exited 5" in outcome.stdout


def test_faults_of_a_tracee_go_to_the_tracer(image: Path) -> None:
    outcome = same(image, "/bin/tracer", "fault")
    assert "int3: stopped 0x5" in outcome.stdout
    assert "blocked fault: stopped 0xb" in outcome.stdout
    assert "fault siginfo code 1 address 0x8" in outcome.stdout
    assert "child: killed by SEGV" in outcome.stdout


def test_tracefork_follows_a_grandchild(image: Path) -> None:
    outcome = same(image, "/bin/tracer", "follow")
    assert "fork event: 1" in outcome.stdout
    assert "grandchild's first stop: STOP" in outcome.stdout
    assert "grandchild exited 7, child exited 8" in outcome.stdout


def test_attach_needs_the_same_user(image: Path) -> None:
    outcome = same(image, "/bin/tracer", "attach")
    assert "root attaches to uid 1000: EPERM" in outcome.stdout
    assert "uid 1001 attaches to a uid 1000 sibling: EPERM" in outcome.stdout
    assert "uid 1000 attaches to a uid 1000 sibling: ok" in outcome.stdout


def test_seize_interrupt_syscall_info_exec_event_and_kill(image: Path) -> None:
    outcome = same(image, "/bin/tracer", "seize")
    assert "cont of a running tracee: ESRCH" in outcome.stdout
    assert "interrupt stop: 0x8005" in outcome.stdout
    assert "next stop 0x85: op 1 size 80 nr 0 arch 0xc000003e" in outcome.stdout
    assert "exec event, message is the tracee: 1" in outcome.stdout
    assert "after exec: op 2 size 33 rval 0 error 0" in outcome.stdout
    assert "child: killed by KILL" in outcome.stdout
