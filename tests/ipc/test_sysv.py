"""System V message queues and semaphores, native vs Sentrio."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ipc.conftest import needs_root, same

pytestmark = needs_root()


@pytest.mark.parametrize("libc", ["", ".musl"])
def test_message_queues(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/sysv_msg{libc}")
    assert "msgrcv type -2 size 64 flags 0: 4  mtype 1 text 'one'" in outcome.stdout
    assert "child got 5 'wake'" in outcome.stdout
    assert "child interrupted: -1 Interrupted system call" in outcome.stdout
    assert "child after removal: -1 Identifier removed" in outcome.stdout
    assert "user send private: -1 Permission denied" in outcome.stdout
    assert "user rmid public: -1 Operation not permitted" in outcome.stdout


@pytest.mark.parametrize("libc", ["", ".musl"])
def test_semaphores(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/sysv_sem{libc}")
    assert "after child's exit 1 2 getpid-is-child 1" in outcome.stdout
    assert "parent woken: 0" in outcome.stdout
    assert "interrupted: -1 Interrupted system call" in outcome.stdout
    assert "child sleeper: -1 Identifier removed" in outcome.stdout
    assert "semtimedop times out: -1 Resource temporarily unavailable" in outcome.stdout
    assert "user semop: -1 Permission denied" in outcome.stdout


@pytest.mark.parametrize("libc", ["", ".musl"])
def test_shared_memory(image: Path, libc: str) -> None:
    outcome = same(image, f"/bin/sysv_shm{libc}")
    assert "parent sees 'from child'" in outcome.stdout
    assert "exec'd: nattch before 1 sees 'from child'" in outcome.stdout
    assert "removed: size 10000 nattch 1 mode 600 dest 1 cpid-is-me 1 key 0" in outcome.stdout
    assert "after last detach: stat Invalid argument" in outcome.stdout
    assert "shmat over it: -1 Invalid argument" in outcome.stdout
    assert "user attach rw: -1 Permission denied" in outcome.stdout


def test_proc_sysvipc(image: Path) -> None:
    outcome = same(image, "/bin/sysvipc_proc")
    assert "      4660          0   640           6          1" not in outcome.stdout  # rows are cut to fields
    assert "4660 0 640 6 1 \n" in outcome.stdout
    assert "0 0 1604 5000 \n" in outcome.stdout  # removed while attached: SHM_DEST
    assert "/proc/sys/kernel/sem: 32000\t1024000000\t500\t32000\n" in outcome.stdout


def test_shared_memory_sizes_at_the_edges(image: Path) -> None:
    outcome = same(image, "/bin/shm_sizes")
    assert outcome.stdout == ("2^63: Invalid argument\n2^64 - 1: Invalid argument\n0: Invalid argument\n"
                              "one page: created\n")


def test_proc_sys_fs_mqueue_shows_a_fresh_namespace_defaults(image: Path) -> None:
    outcome = same(image, "/bin/mqueue_sysctl")
    assert outcome.stdout == ("msg_default: 10\nmsg_max: 10\nmsgsize_default: 8192\nmsgsize_max: 8192\n"
                              "queues_max: 256\n")
