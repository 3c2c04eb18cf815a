"""fork, vfork, wait4/waitid, zombies and reparenting, native vs Sentrio."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes.conftest import needs_root, same, sentrio

pytestmark = needs_root()
LIBCS = ["", ".musl"]


@pytest.mark.parametrize("libc", LIBCS)
def test_fork_wait_and_friends(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/fork_wait{libc}")
    assert "after child: private 1, big p, shared 20" in outcome.stdout
    assert "adopted grandchild reaped: 1; grandchild: exited 11" in outcome.stdout
    assert outcome.status == 3


def test_a_fork_bomb_stops_with_eagain_at_the_pid_limit(image: Path) -> None:
    # Natively a fork bomb would hurt the host: only Sentrio runs it, with its default limit.
    outcome = sentrio(image, "/bin/fork_bomb", options=("--pids-limit", "64"), timeout=120)
    assert outcome.stdout == "fork failed with EAGAIN after more than 10 children\n"
    assert outcome.status == 0


@pytest.mark.parametrize("libc", LIBCS)
def test_execve(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/exec{libc}")
    assert "target argc 4: [/bin/exec_target] [-x] [/bin/script] [arg]" in outcome.stdout
    assert "same pid 1" in outcome.stdout


@pytest.mark.parametrize("libc", LIBCS)
def test_credentials_priorities_prctl_and_usage(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/ids{libc}")
    assert "after setuid: uid 1000/1000/1001 gid 100/100/100" in outcome.stdout
    assert "name: renamed-thread-" in outcome.stdout


def test_orphans_go_to_pid_1_and_a_spinning_thread_does_not_delay_exit(image: Path) -> None:
    # Natively the orphan's new parent is the host's reaper, so this one is Sentrio's alone.
    outcome = sentrio(image, "/bin/orphan")
    assert outcome.stdout == ("orphan's new parent: 1\ninit reaped the orphan: 1, status 5\n"
                              "exiting with a spinning thread\n")
    assert outcome.status == 9


def test_rlimit_nproc_stops_a_fork_bomb_of_a_user(image: Path) -> None:
    outcome = sentrio(image, "/bin/fork_bomb", "user")
    assert outcome.stdout == "fork failed with EAGAIN after more than 10 children\n"


@pytest.mark.parametrize("libc", LIBCS)
def test_execveat(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/execveat{libc}")
    assert "target argc 2: [target] [arg]" in outcome.stdout
    assert "target argc 4: [/bin/exec_target] [-x] [/dev/fd/6] [arg]" in outcome.stdout
    assert "[/dev/fd/3/script]" in outcome.stdout
    assert "script by close-on-exec fd: exited 100" in outcome.stdout
    assert "symlink not followed: exited 100" in outcome.stdout  # ELOOP, in each libc's words
