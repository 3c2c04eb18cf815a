"""Calls that need little of a sandbox, native vs Sentrio (``programs/misc_calls.c``): utime,
readahead, fadvise64, sync_file_range, fchmodat2, chroot, ioprio_*, syslog, the clock setters,
adjtimex, the NUMA memory policies, protection keys and mseal; and the coverage table's
partial and errno statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import USER, native, needs_root, same, sentrio


@needs_root()
@pytest.mark.parametrize("user", [None, USER])
def test_file_calls(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/misc_calls", "files", user=user)
    assert "times: 1000000000 1200000000" in outcome.stdout
    assert "readahead pipe: -1 EINVAL" in outcome.stdout
    assert "fadvise pipe: -1 ESPIPE" in outcome.stdout
    assert "sync_file_range pipe: -1 ESPIPE" in outcome.stdout
    assert "fchmodat2 nofollow of a symlink: -1 EOPNOTSUPP" in outcome.stdout
    assert "mode: 604" in outcome.stdout


@needs_root()
@pytest.mark.parametrize("user", [None, USER])
def test_privileged_calls_answer_as_linux_without_the_capability(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/misc_calls", "privileged", user=user)
    assert "ioprio_get: 16387" in outcome.stdout
    assert "ioprio_set RT: -1 EPERM" in outcome.stdout
    assert "syslog read all: -1 EPERM" in outcome.stdout
    assert "settimeofday: -1 EPERM" in outcome.stdout
    assert "clock_settime MONOTONIC: -1 EINVAL" in outcome.stdout
    assert "adjtimex query: ok tick 10000" in outcome.stdout
    assert "adjtimex set frequency: -1 EPERM" in outcome.stdout


@needs_root()
def test_one_numa_node(image: Path) -> None:
    outcome = same(image, "/bin/misc_calls", "numa")
    assert "set_mempolicy BIND node 1: -1 EINVAL" in outcome.stdout
    assert "mode 2 mask 1" in outcome.stdout
    assert "status 0 -14" in outcome.stdout
    assert "move_pages to node 1: -1 ENODEV" in outcome.stdout
    assert "bits left set: 0" in outcome.stdout  # mode default: an empty mask, the rest zeroed
    assert "get_mempolicy a huge maxnode: -1 EINVAL" in outcome.stdout


#: What a program sees of protection keys on a CPU without PKU: what Sentrio offers everywhere
#: (kernel/syscalls/compat.py), so where the host's CPU has them these lines are not the host's.
WITHOUT_PKU = {"pkey_alloc": "pkey_alloc: -1 EINVAL", "pkey_free": "pkey_free: -1 EINVAL"}


@needs_root()
def test_protection_keys_and_mseal(image: Path) -> None:
    """Natively and under Sentrio, but answered as on a CPU without protection keys: on a host
    whose CPU has them (pkey_alloc succeeds natively), its pkey_alloc and pkey_free lines are
    replaced by that answer before the comparison; every other line is the host's."""
    expected, got = native(image, "/bin/misc_calls", "keys"), sentrio(image, "/bin/misc_calls", "keys")
    lines = [WITHOUT_PKU.get(line.partition(":")[0], line) for line in expected.stdout.splitlines()]
    assert (got.stdout.splitlines(), got.stderr, got.status) == (lines, expected.stderr, expected.status)
    assert "pkey_mprotect -1: 0" in got.stdout
    assert "mseal a hole: -1 ENOMEM" in got.stdout


@needs_root()
@pytest.mark.parametrize("user", [None, USER])
def test_chroot(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/misc_calls", "chroot", user=user)
    if user is None:
        assert "access /inside: 0" in outcome.stdout
        assert "access /bin: -1 ENOENT" in outcome.stdout
        assert "cwd: /" in outcome.stdout
        assert "raw getcwd outside: ok (unreachable)" in outcome.stdout  # and no endless walk upward
        assert "getcwd outside: ENOENT" in outcome.stdout
    else:
        assert "chroot: -1 EPERM" in outcome.stdout


def test_coverage_table_shows_partial_and_errno_statuses() -> None:
    from kernel.syscalls.coverage import coverage_markdown

    table = coverage_markdown()
    assert "| 187 | readahead | partial: nothing is read ahead" in table
    assert "| 103 | syslog | errno: EPERM" in table
    assert "| 161 | chroot | implemented |" in table
    summary = table.rstrip().splitlines()[-1]
    assert "partially" in summary and "answered on purpose with an errno" in summary


def test_errno_only_calls_are_not_counted_as_implemented() -> None:
    from kernel.syscalls import default_table
    from kernel.syscalls.coverage import coverage_markdown
    from kernel.syscalls.status import status_of

    table = default_table()
    kinds = [status_of(entry.handler)[0] for name in table.supported() if (entry := table.entry(name))]
    served = kinds.count("implemented") + kinds.count("partial")
    assert kinds.count("errno") >= 3
    assert f"\n{served} of " in coverage_markdown()
