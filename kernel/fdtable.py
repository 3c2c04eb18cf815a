"""Per-process file descriptor tables.

A table maps small integers to open file descriptions, which the VFS owns: an entry holds the
description's handle and the facts the VFS told about it (:class:`services.vfs.contract.Opened`),
and each fd has its own close-on-exec flag (the flag belongs to the fd, not the description).
Every entry holds one reference to its handle; the table never talks to the VFS itself. Its
changes return the entries they dropped, and the caller tells the VFS (``drop``), so
:mod:`kernel.files` pairs the two. Processes created with CLONE_FILES share one table object.

The table is synchronous: no method awaits, so a table is never seen half-changed.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from abi.errno import EBADF, EMFILE, Errno

if TYPE_CHECKING:
    from services.vfs.contract import Opened

_table_ids = itertools.count(1)


class FdTable:
    """The fds of the processes sharing this table."""

    def __init__(self) -> None:
        #: Names the table to the VFS: it owns the POSIX record locks set through it.
        self.id = next(_table_ids)
        #: fd -> (description, close-on-exec)
        self._entries: dict[int, tuple[Opened, bool]] = {}
        #: Every fd below this one is open (Linux's ``next_fd``): the search for the lowest free
        #: fd starts here, not at 0, or a process holding N fds pays N lookups per open.
        self._free_from = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, fd: int) -> bool:
        return fd in self._entries

    def fds(self) -> list[int]:
        """The open fds, in order."""
        return sorted(self._entries)

    def entries(self) -> list[tuple[int, Opened, bool]]:
        """(fd, description, close-on-exec) for every open fd, in order."""
        return [(fd, *self._entries[fd]) for fd in sorted(self._entries)]

    def get(self, fd: int) -> Opened:
        """The description behind ``fd``; EBADF if there is none."""
        entry = self._entries.get(fd)
        if entry is None:
            raise Errno(EBADF)
        return entry[0]

    def handle(self, fd: int) -> int:
        """The VFS handle behind ``fd``; EBADF if there is none."""
        entry = self._entries.get(fd)
        if entry is None:
            raise Errno(EBADF)
        return entry[0].handle

    def get_cloexec(self, fd: int) -> bool:
        self.get(fd)
        return self._entries[fd][1]

    def set_cloexec(self, fd: int, cloexec: bool) -> None:
        self._entries[fd] = (self.get(fd), cloexec)

    def lowest_free(self, start: int, limit: int) -> int:
        """The lowest unused fd >= ``start``; EMFILE unless it is below ``limit``."""
        fd = max(start, self._free_from)
        while fd in self._entries:
            fd += 1
        if start <= self._free_from:
            self._free_from = fd  # (the fds passed over are all open)
        if fd >= limit:
            raise Errno(EMFILE)
        return fd

    def install(self, opened: Opened, limit: int, cloexec: bool = False, start: int = 0) -> int:
        """Put ``opened`` (whose reference the table takes) at the lowest free fd >= ``start``."""
        fd = self.lowest_free(start, limit)
        self._entries[fd] = (opened, cloexec)
        return fd

    def put(self, fd: int, opened: Opened, cloexec: bool = False) -> Opened | None:
        """Point ``fd`` at ``opened`` (dup2/dup3), taking its reference; returns what ``fd``
        referred to before, whose reference the caller must drop."""
        old = self._entries.get(fd)
        self._entries[fd] = (opened, cloexec)
        return old[0] if old is not None else None

    def close(self, fd: int) -> Opened:
        """close(2): remove ``fd`` and return its description (EBADF if it is not open)."""
        entry = self._entries.pop(fd, None)
        if entry is None:
            raise Errno(EBADF)
        if fd < self._free_from:
            self._free_from = fd
        return entry[0]

    def close_range(self, first: int, last: int, cloexec_only: bool = False) -> list[Opened]:
        """close_range(2): close (or mark close-on-exec) every open fd in [first, last]."""
        dropped = []
        for fd in [fd for fd in self._entries if first <= fd <= last]:
            if cloexec_only:
                self._entries[fd] = (self._entries[fd][0], True)
            else:
                dropped.append(self.close(fd))
        return dropped

    def fork(self) -> FdTable:
        """A copy for a child made without CLONE_FILES: same fds, same descriptions, same flags
        (the caller adds the references: :meth:`handles`)."""
        child = FdTable()
        child._entries = dict(self._entries)
        child._free_from = self._free_from
        return child

    def handles(self) -> tuple[int, ...]:
        """The handle of every fd (a description open on several fds appears for each)."""
        return tuple(opened.handle for opened, _ in self._entries.values())

    def close_on_exec(self) -> list[Opened]:
        """What execve does: close every fd marked close-on-exec."""
        return [self.close(fd) for fd in [fd for fd, (_, cloexec) in self._entries.items() if cloexec]]

    def close_all(self) -> list[Opened]:
        """What exit does (for the last process using the table)."""
        return [self.close(fd) for fd in list(self._entries)]
