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


def test_the_lowest_free_fd_is_linuxs_after_any_sequence_of_changes() -> None:
    """Against a model that searches from 0 every time: installs (from 0 and from a start, as
    F_DUPFD), closes, dup2s, close_range, forks."""
    import random

    rng = random.Random(14)
    for _ in range(200):
        table, model = FdTable(), set()
        for _ in range(rng.randrange(1, 120)):
            action = rng.random()
            if action < 0.5:
                start = 0 if rng.random() < 0.8 else rng.randrange(40)
                expected = next(fd for fd in range(start, 1000) if fd not in model)
                assert table.install(Opened(1), 1000, start=start) == expected
                model.add(expected)
            elif action < 0.75 and model:
                fd = rng.choice(sorted(model))
                table.close(fd)
                model.discard(fd)
            elif action < 0.85:
                fd = rng.randrange(60)
                table.put(fd, Opened(2))
                model.add(fd)
            elif action < 0.95:
                first = rng.randrange(60)
                last = first + rng.randrange(10)
                table.close_range(first, last)
                model -= set(range(first, last + 1))
            else:
                table = table.fork()
            assert table.fds() == sorted(model)


class _CountingDict(dict):  # type: ignore[type-arg]
    lookups = 0

    def __contains__(self, key: object) -> bool:
        _CountingDict.lookups += 1
        return super().__contains__(key)


def test_an_open_does_not_look_at_every_fd_already_open() -> None:
    """A process holding thousands of fds (a server, a build) opens one more in a few steps,
    as Linux does with its next_fd hint, not by testing every fd from 0."""
    table = FdTable()
    table._entries = _CountingDict()
    for _ in range(3000):
        table.install(Opened(1), 10_000)
    table.close(5)
    assert table.install(Opened(1), 10_000) == 5
    _CountingDict.lookups = 0
    assert table.install(Opened(1), 10_000) == 3000  # one search past the open ones, once
    assert table.install(Opened(1), 10_000) == 3001
    _CountingDict.lookups = 0
    for _ in range(100):
        table.install(Opened(1), 10_000)
    assert _CountingDict.lookups <= 200
