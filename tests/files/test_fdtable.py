"""The fd table: lowest free fd, close-on-exec, and what each change hands back to the VFS."""

from __future__ import annotations

import pytest

from abi.errno import EBADF, EMFILE, Errno
from kernel.fdtable import FdTable
from services.vfs.contract import Opened


def test_lowest_free_fd_and_limit() -> None:
    table = FdTable()
    a, b, c = Opened(1), Opened(2), Opened(3)
    assert table.install(a, 10) == 0
    assert table.install(b, 10) == 1
    assert table.close(0) == a
    assert table.install(c, 10) == 0
    assert table.install(a, 10, start=5) == 5
    with pytest.raises(Errno) as error:
        table.install(a, 2)
    assert error.value.errno == EMFILE


def test_close_hands_back_the_description_once() -> None:
    table = FdTable()
    fd = table.install(Opened(7, terminal=True), 10)
    assert table.handle(fd) == 7 and table.get(fd).terminal
    assert table.close(fd) == Opened(7, terminal=True)
    with pytest.raises(Errno) as error:
        table.close(fd)
    assert error.value.errno == EBADF


def test_put_replaces_and_hands_back_the_old_description() -> None:
    table = FdTable()
    assert table.put(3, Opened(1)) is None
    assert table.put(3, Opened(2), cloexec=True) == Opened(1)
    assert table.handle(3) == 2 and table.get_cloexec(3)


def test_fork_copies_fds_and_flags_and_lists_what_to_hold() -> None:
    table = FdTable()
    table.install(Opened(4), 10, cloexec=True)
    table.install(Opened(4), 10)
    child = table.fork()
    assert child.id != table.id
    assert child.fds() == [0, 1] and child.get_cloexec(0) and not child.get_cloexec(1)
    assert child.handles() == (4, 4)  # one reference per fd
    assert table.close_all() == [Opened(4), Opened(4)]
    assert child.close_on_exec() == [Opened(4)]
    assert child.fds() == [1]


def test_close_range_can_only_mark_cloexec() -> None:
    table = FdTable()
    for handle in range(5):
        table.install(Opened(handle), 10)
    assert table.close_range(1, 2, cloexec_only=True) == []
    assert [table.get_cloexec(fd) for fd in range(5)] == [False, True, True, False, False]
    assert table.close_range(3, 100) == [Opened(3), Opened(4)]
    assert table.fds() == [0, 1, 2]
