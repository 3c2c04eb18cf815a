"""The fd table: lowest free fd, close-on-exec, sharing descriptions across dup and fork."""

from __future__ import annotations

import pytest

from abi.errno import Errno
from kernel.fdtable import FdTable
from services.vfs.file import File


class Probe(File):
    def __init__(self) -> None:
        super().__init__(0)
        self.released = 0

    def release(self) -> None:
        self.released += 1


def test_lowest_free_fd_and_limit() -> None:
    table = FdTable()
    a, b, c = Probe(), Probe(), Probe()
    assert table.install(a, 10) == 0
    assert table.install(b, 10) == 1
    table.close(0)
    assert table.install(c, 10) == 0
    assert table.install(a, 10, start=5) == 5
    with pytest.raises(Errno) as error:
        table.install(a, 2)
    assert error.value.errno == 24  # EMFILE


def test_dup_shares_the_description_and_the_last_close_releases() -> None:
    table = FdTable()
    file = Probe()
    fd = table.install(file, 10)
    dup = table.install(table.get(fd), 10)
    table.close(fd)
    assert file.released == 0
    table.close(dup)
    assert file.released == 1
    with pytest.raises(Errno):
        table.close(dup)


def test_put_replaces_and_releases_the_old_file() -> None:
    table = FdTable()
    old, new = Probe(), Probe()
    table.put(3, old)
    table.put(3, new, cloexec=True)
    assert old.released == 1 and table.get(3) is new and table.get_cloexec(3)


def test_fork_copies_flags_and_shares_descriptions() -> None:
    table = FdTable()
    file = Probe()
    table.install(file, 10, cloexec=True)
    table.install(file, 10)
    child = table.fork()
    assert child.fds() == [0, 1] and child.get_cloexec(0) and not child.get_cloexec(1)
    table.close_all()
    assert file.released == 0
    child.close_on_exec()
    assert child.fds() == [1]
    child.close_all()
    assert file.released == 1


def test_close_range_can_only_mark_cloexec() -> None:
    table = FdTable()
    for _ in range(5):
        table.install(Probe(), 10)
    table.close_range(1, 2, cloexec_only=True)
    assert [table.get_cloexec(fd) for fd in range(5)] == [False, True, True, False, False]
    table.close_range(3, 100)
    assert table.fds() == [0, 1, 2]
