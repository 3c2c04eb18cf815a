"""Scheduling and process attributes, native vs Sentrio (``programs/sched_attrs.c``): sched_*,
getcpu, membarrier, mlock*, personality, sethostname with uname, unshare/setns, and two calls
that hung under Sentrio where Linux returns (each run has a timeout: a hang fails the test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import ALL_CAPS, USER, needs_root, same, sentrio

pytestmark = needs_root()


@pytest.mark.parametrize("user", [None, USER])
def test_policies_and_priorities(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/sched_attrs", "sched", user=user)
    assert "setscheduler FIFO 10: -1 EPERM" in outcome.stdout
    assert "setscheduler IDLE: 0" in outcome.stdout
    assert "setattr DEADLINE without parameters: -1 EINVAL" in outcome.stdout
    assert "child after reset-on-fork: policy 5" in outcome.stdout


def test_membarrier(image: Path) -> None:
    outcome = same(image, "/bin/sched_attrs", "membarrier")
    assert "private expedited unregistered: -1 EPERM" in outcome.stdout
    assert "private expedited: 0" in outcome.stdout


def test_memory_locks_and_rlimit_memlock(image: Path) -> None:
    outcome = same(image, "/bin/sched_attrs", "mlock")
    assert "mlock one past the limit: -1 ENOMEM" in outcome.stdout
    assert "mlock 2 elsewhere: 0" in outcome.stdout
    assert "mlock with a limit of 0: -1 EPERM" in outcome.stdout


def test_personality_is_kept_across_fork_and_exec(image: Path) -> None:
    outcome = same(image, "/bin/sched_attrs", "personality")
    assert "after exec: 0x40000" in outcome.stdout


def test_unshare_and_setns(image: Path) -> None:
    outcome = same(image, "/bin/sched_attrs", "unshare")
    assert "unshare THREAD|VM|SIGHAND with two threads: -1 EINVAL" in outcome.stdout
    assert "our end after the child closed its unshared copy: 0" in outcome.stdout


def test_waitid_for_a_stop_of_a_zombie_is_echild(image: Path) -> None:
    outcome = same(image, "/bin/sched_attrs", "waitid")
    assert "waitid WSTOPPED of the exited child: -1 ECHILD" in outcome.stdout


@pytest.mark.parametrize("user", [None, ALL_CAPS])
def test_sethostname_in_a_new_uts_namespace(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/sched_attrs", "uts", user=user)
    if user is None:  # docker's root has no CAP_SYS_ADMIN
        assert outcome.stdout == "unshare NEWUTS: -1 EPERM\n"
    else:
        assert "uname: sandbox-test example.org" in outcome.stdout
        assert "parent after a child in the same namespace: shared" in outcome.stdout


def test_proc_hostname_is_the_readers_uts_namespace(image: Path) -> None:
    outcome = sentrio(image, "/bin/sched_attrs", "uts-proc", user=ALL_CAPS, options=("--hostname", "box"))
    assert outcome.stdout == ("before reads box\nafter sethostname reads inner\nthe child reads child\n"
                              "the parent reads inner\n"), outcome.stderr


@pytest.mark.parametrize("user", [None, USER])
def test_cpu_affinity_is_kept_and_inherited(image: Path, user: str | None) -> None:
    """CPython's test_posix.test_sched_setaffinity: the mask set is the mask read back."""
    outcome = same(image, "/bin/affinity", user=user)
    assert "after: 1 cpus" in outcome.stdout and "thread: 1 cpus" in outcome.stdout
    assert "child: 1 cpus" in outcome.stdout
    assert "empty: -1 Invalid argument" in outcome.stdout
