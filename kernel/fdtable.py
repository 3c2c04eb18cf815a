"""Per-process file descriptor tables.

A table maps small integers to *open file descriptions* (:class:`services.vfs.file.File`),
each fd with its own close-on-exec flag (the flag belongs to the fd, not the description).
A description is shared by every fd that ``dup`` made and by the tables ``fork`` copied; it
counts those references and is released when the last one goes. Processes created with
CLONE_FILES share one table object.

The table is synchronous: no method awaits, so a table is never seen half-changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EBADF, EMFILE
from abi.errno import Errno

if TYPE_CHECKING:
    from services.vfs.file import File


class FdTable:
    """The fds of the processes sharing this table."""

    def __init__(self) -> None:
        #: fd -> [file, cloexec]
        self._entries: dict[int, tuple[File, bool]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, fd: int) -> bool:
        return fd in self._entries

    def fds(self) -> list[int]:
        """The open fds, in order."""
        return sorted(self._entries)

    def get(self, fd: int) -> File:
        """The description behind ``fd``; EBADF if there is none."""
        entry = self._entries.get(fd)
        if entry is None:
            raise Errno(EBADF)
        return entry[0]

    def get_cloexec(self, fd: int) -> bool:
        self.get(fd)
        return self._entries[fd][1]

    def set_cloexec(self, fd: int, cloexec: bool) -> None:
        self._entries[fd] = (self.get(fd), cloexec)

    def lowest_free(self, start: int, limit: int) -> int:
        """The lowest unused fd >= ``start``; EMFILE unless it is below ``limit``."""
        fd = start
        while fd in self._entries:
            fd += 1
        if fd >= limit:
            raise Errno(EMFILE)
        return fd

    def install(self, file: File, limit: int, cloexec: bool = False, start: int = 0) -> int:
        """Put ``file`` at the lowest free fd >= ``start`` and return that fd."""
        fd = self.lowest_free(start, limit)
        self.put(fd, file, cloexec)
        return fd

    def put(self, fd: int, file: File, cloexec: bool = False) -> None:
        """Point ``fd`` at ``file`` (dup2/dup3), closing what it referred to before."""
        file.refs += 1
        old = self._entries.get(fd)
        self._entries[fd] = (file, cloexec)
        if old is not None:
            _drop(old[0], self)

    def close(self, fd: int) -> None:
        """close(2): EBADF if ``fd`` is not open."""
        entry = self._entries.pop(fd, None)
        if entry is None:
            raise Errno(EBADF)
        _drop(entry[0], self)

    def close_range(self, first: int, last: int, cloexec_only: bool = False) -> None:
        """close_range(2): close (or mark close-on-exec) every open fd in [first, last]."""
        for fd in [fd for fd in self._entries if first <= fd <= last]:
            if cloexec_only:
                self._entries[fd] = (self._entries[fd][0], True)
            else:
                self.close(fd)

    def fork(self) -> FdTable:
        """A copy for a child made without CLONE_FILES: same fds, same descriptions, same flags."""
        child = FdTable()
        for fd, (file, cloexec) in self._entries.items():
            file.refs += 1
            child._entries[fd] = (file, cloexec)
        return child

    def close_on_exec(self) -> None:
        """What execve does: close every fd marked close-on-exec."""
        for fd in [fd for fd, (_, cloexec) in self._entries.items() if cloexec]:
            self.close(fd)

    def close_all(self) -> None:
        """What exit does (for the last process using the table)."""
        for fd in list(self._entries):
            self.close(fd)


def _drop(file: File, table: FdTable) -> None:
    """One reference (from ``table``) fewer; the last one releases the open file."""
    file.refs -= 1
    file.fd_closed(table, last=file.refs == 0)
    if file.refs == 0:
        file.release()
