"""Advisory file locks: POSIX record locks, open-file-description (OFD) locks and flock.

Each locked file (keyed by its device and inode number, so every path and description of one
file shares the table) has two independent tables, as on Linux:

- *record* locks (fcntl F_SETLK & co.): byte ranges, read (shared) or write (exclusive). A POSIX
  lock is owned by the fd table that set it (Linux's ``files_struct``: the threads of a process,
  or processes sharing fds through CLONE_FILES; the kernel names it by the table's id) and goes
  when that owner closes *any* fd of the file, or exits. An OFD lock is owned by the open file
  description and goes with its last fd. POSIX and OFD locks conflict with each other.
- *flock* locks: the whole file, shared or exclusive, owned by the open file description.

A lock conflicts with another owner's overlapping lock when either is a write lock. Setting a
lock replaces the owner's own locks over that range (splitting them as needed) and merges
adjacent ranges of the same type. Waiters sleep until the table changes and then retry; a
POSIX waiter that would wait, through a chain of waiting owners, for itself fails with EDEADLK.
"""

from __future__ import annotations

from dataclasses import dataclass


from abi.errno import EAGAIN, EDEADLK
from abi.linux import F_RDLCK, F_UNLCK, F_WRLCK, OFFSET_MAX
from abi.errno import Errno
from services.vfs.poll import Changes



@dataclass
class Lock:
    """One held lock over the bytes ``start`` .. ``end`` (inclusive)."""

    owner: object
    kind: int
    start: int
    end: int
    #: The pid F_GETLK reports for it (-1 for an OFD lock).
    pid: int


class LockTable:
    """The locks of one kind (record or flock) on one file."""

    def __init__(self) -> None:
        self.locks: list[Lock] = []
        self._changes = Changes()

    def conflict(self, owner: object, kind: int, start: int, end: int) -> Lock | None:
        """The first lock of another owner that a ``kind`` lock over start..end would conflict with."""
        for lock in self.locks:
            if (lock.owner != owner and lock.start <= end and start <= lock.end
                    and F_WRLCK in (kind, lock.kind)):
                return lock
        return None

    def set(self, owner: object, kind: int, start: int, end: int, pid: int) -> None:
        """Make the owner's locks over start..end be ``kind`` (F_UNLCK: none); no conflict check."""
        kept: list[Lock] = []
        for lock in self.locks:
            if lock.owner != owner or lock.end < start or end < lock.start:
                kept.append(lock)
                continue
            if lock.start < start:
                kept.append(Lock(owner, lock.kind, lock.start, start - 1, lock.pid))
            if lock.end > end:
                kept.append(Lock(owner, lock.kind, end + 1, lock.end, lock.pid))
        if kind != F_UNLCK:
            new = Lock(owner, kind, start, end, pid)
            for lock in [lock for lock in kept if lock.owner == owner and lock.kind == kind
                         and lock.start <= new.end + 1 and new.start <= lock.end + 1]:
                kept.remove(lock)
                new.start, new.end = min(new.start, lock.start), max(new.end, lock.end)
            kept.append(new)
        kept.sort(key=lambda lock: lock.start)
        self.locks = kept
        self.notify()

    def release(self, owner: object) -> None:
        """Drop every lock of ``owner``."""
        if any(lock.owner == owner for lock in self.locks):
            self.locks = [lock for lock in self.locks if lock.owner != owner]
            self.notify()

    def notify(self) -> None:
        self._changes.notify()

    async def changed(self) -> None:
        """Sleep until a lock of this table goes or changes."""
        await self._changes.wait()


class FileLocks:
    """Both lock tables of one file."""

    def __init__(self) -> None:
        self.records = LockTable()
        self.flocks = LockTable()


class LockRegistry:
    """Every file's locks in one VFS: what the VFS actor's lock operations act on."""

    def __init__(self) -> None:
        #: (dev, ino) -> the file's locks, for files that have or had locks.
        self._files: dict[tuple[int, int], FileLocks] = {}
        #: A POSIX owner blocked in F_SETLKW -> the owner it waits for (deadlock detection).
        self._waiting_for: dict[object, object] = {}

    def __bool__(self) -> bool:
        """Whether any file has locks (every close asks; most sandboxes never lock)."""
        return bool(self._files)

    def locks_of(self, key: tuple[int, int]) -> FileLocks:
        """The lock tables of the file ``key`` names (created empty)."""
        locks = self._files.get(key)
        if locks is None:
            locks = self._files[key] = FileLocks()
        return locks

    def release(self, key: tuple[int, int], owner: object) -> None:
        """Drop every lock ``owner`` holds on the file ``key`` (both kinds)."""
        locks = self._files.get(key)
        if locks is None:
            return
        locks.records.release(owner)
        locks.flocks.release(owner)
        if not locks.records.locks and not locks.flocks.locks:
            del self._files[key]

    async def acquire(self, key: tuple[int, int], flock: bool, owner: object, kind: int, start: int, end: int,
                      pid: int, wait: bool, posix: bool = False) -> None:
        """Take a ``kind`` lock over start..end of the file ``key`` for ``owner`` (F_UNLCK:
        unlock), in its flock table if ``flock``, else in its record table.

        Without ``wait`` a conflict fails with EAGAIN. With it the caller sleeps until the range
        is free (the kernel runs the call as an interruptible sleep); a POSIX owner that would
        wait for itself fails with EDEADLK.
        """
        while True:
            # Looked up afresh after each sleep: a table left empty may have been dropped.
            table = self.locks_of(key).flocks if flock else self.locks_of(key).records
            holder = table.conflict(owner, kind, start, end) if kind != F_UNLCK else None
            if holder is None:
                break
            if not wait:
                raise Errno(EAGAIN)
            if posix and self._would_deadlock(owner, holder.owner):
                raise Errno(EDEADLK)
            self._waiting_for[owner] = holder.owner
            try:
                await table.changed()
            finally:
                self._waiting_for.pop(owner, None)
        table.set(owner, kind, start, end, pid)

    def _would_deadlock(self, owner: object, holder: object) -> bool:
        seen: set[object] = set()
        while holder is not None and holder not in seen:
            if holder == owner:
                return True
            seen.add(holder)
            holder = self._waiting_for.get(holder)
        return False


__all__ = ["F_RDLCK", "F_WRLCK", "OFFSET_MAX", "FileLocks", "Lock", "LockRegistry", "LockTable"]
