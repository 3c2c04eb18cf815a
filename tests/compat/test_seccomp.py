"""Guest seccomp filters, native vs Sentrio: actions, stacking, inheritance, TSYNC, the checker,
no_new_privs and strict mode (``programs/seccomp_filters.c``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import USER, needs_root, same, sentrio

pytestmark = needs_root()


def test_errno_action_fails_only_the_filtered_call(image: Path) -> None:
    outcome = same(image, "/bin/seccomp_filters", "errno")
    assert "uname: -1 EXDEV" in outcome.stdout
    assert "getuid: -1 errno 4095" in outcome.stdout  # capped at MAX_ERRNO
    assert "the fd is still open: 1" in outcome.stdout


def test_trap_raises_sigsys_with_the_calls_siginfo(image: Path) -> None:
    outcome = same(image, "/bin/seccomp_filters", "trap")
    assert "si_code 1 si_errno 77 si_syscall 110 si_arch 0xc000003e addr ok 1 rax 110" in outcome.stdout
    assert "blocked SIGSYS: signaled 1 sig 31" in outcome.stdout


def test_kill_process_and_kill_thread(image: Path) -> None:
    outcome = same(image, "/bin/seccomp_filters", "kill")
    assert "kill process: signaled 1 sig 31" in outcome.stdout
    assert "kill thread of two: exited 1 code 7" in outcome.stdout
    assert "thread survived" not in outcome.stdout


def test_filters_are_inherited_across_fork_and_kept_across_exec(image: Path) -> None:
    outcome = same(image, "/bin/seccomp_filters", "inherit")
    assert "after exec: uname: -1 ENOKEY" in outcome.stdout
    assert "child status 3" in outcome.stdout


def test_tsync(image: Path) -> None:
    outcome = same(image, "/bin/seccomp_filters", "tsync")
    assert "worker uname: -1 EROFS" in outcome.stdout
    assert "tsync refused, names the worker: 1" in outcome.stdout
    assert "tsync with TSYNC_ESRCH: -1 ESRCH" in outcome.stdout


def test_invalid_programs_and_arguments(image: Path) -> None:
    outcome = same(image, "/bin/seccomp_filters", "invalid")
    assert "memory written on one path only: -1 EINVAL" in outcome.stdout
    assert "BPF_LEN is 64: 0" in outcome.stdout
    assert "strict after a filter: -1 EINVAL" in outcome.stdout


@pytest.mark.parametrize("user", [None, USER])
def test_a_filter_needs_no_new_privs_or_cap_sys_admin(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/seccomp_filters", "privs", user=user)
    assert "without no_new_privs: -1 EACCES" in outcome.stdout
    assert "with no_new_privs: 0" in outcome.stdout


def test_root_with_cap_sys_admin_needs_no_no_new_privs(image: Path) -> None:
    outcome = sentrio(image, "/bin/seccomp_filters", "privs", options=("--cap-add", "SYS_ADMIN"))
    assert outcome.stdout.startswith("without no_new_privs: 0\nprctl without no_new_privs: 0\n"), outcome


def test_strict_mode(image: Path) -> None:
    outcome = same(image, "/bin/seccomp_filters", "strict")
    assert "strict getpid: signaled 1 sig 9" in outcome.stdout
    assert "strict exit: exited 1 code 6" in outcome.stdout


def test_precedence_of_actions_over_stacked_filters(image: Path) -> None:
    outcome = same(image, "/bin/seccomp_filters", "precedence")
    assert "errno over log, newest errno: -1 EBUSY" in outcome.stdout
    assert "trace without a tracer: -1 ENOSYS" in outcome.stdout


def test_a_libseccomp_shaped_deny_list(image: Path) -> None:
    outcome = same(image, "/bin/seccomp_filters", "denylist")
    assert "kill(self, 0): -1 ESRCH" in outcome.stdout
    assert "kill(self, 0) again: -1 ESRCH" in outcome.stdout
    assert "kill(self, SIGCONT) again: 0" in outcome.stdout


def test_proc_status_shows_the_mode_and_the_filters(image: Path) -> None:
    outcome = sentrio(image, "/bin/seccomp_filters", "status")
    assert outcome.stdout == ("NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n"
                              "NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t2\n"
                              "NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\n"
                              "worker uname: -1 EPERM\nworker mode: 2\n"), outcome
