"""The memfds of files kept in memory, a host resource counted against a budget.

A tmpfs file's bytes (and those of a file in the overlay's upper layer) live in a memfd, a host
fd of the Sentry's: reads and writes are preadv/pwritev between it and guest memory, and mmap
maps it. But one process may hold only so many fds (RLIMIT_NOFILE; root on this project's CI
VM gets 20 000 and cannot raise it), while a sandbox may hold many more files than that (10^5
in a /tmp is a source tree or a node_modules). Linux's tmpfs has no such limit, nor has
gVisor's, which keeps every file's pages in one memory file.

So the memfds are counted against a budget: half the Sentry's fd limit, the other half being
for open descriptions (each holds a duplicate), the gofer's donated fds, pipes and sockets.
When a new memfd would pass it, the files idle longest are *parked*: their bytes move into the
Sentry's heap and their memfd is closed. A file is idle when no description of it is open, it
was never mapped MAP_SHARED, and it holds at most :data:`PARK_MAX` bytes. Opening or truncating a parked
file unparks it into a fresh memfd. A sandbox under the budget never parks; one past it pays a
copy per parked file it reopens, where it used to get ENFILE. A file once mapped MAP_SHARED
keeps its memfd: the MM's page cache knows the file by it, and a new one would not be the same
file. (A MAP_PRIVATE mapping is a copy the MM made of the bytes: it holds nothing.)
"""

from __future__ import annotations

import os
import resource
import weakref
from collections import OrderedDict
from typing import Protocol

#: The largest file that is parked when idle; a larger one keeps its memfd (its bytes would be
#: a large copy each way, and a file that large is rarely one of very many).
PARK_MAX = 1 << 20


class Parkable(Protocol):
    """A file whose memfd may be given up while it is idle."""

    def park(self) -> bool:
        """Move the bytes into the heap and close the memfd (with :meth:`MemoryFiles.close`);
        False if it is not idle after all (opened since it was last idle, or mapped, or large):
        it is queued again when next idle."""


def budget_now() -> int:
    """Half the fds the Sentry may hold now (its soft RLIMIT_NOFILE)."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(1, soft // 2)


class MemoryFiles:
    """How many memfds the Sentry's files hold, and which idle files may give theirs up."""

    def __init__(self, budget: int | None = None) -> None:
        #: The budget is read again from the fd limit when reached (the limit is raised
        #: after the VFS is imported); a fixed one (tests) is not.
        self._fixed = budget is not None
        self.budget = budget if budget is not None else budget_now()
        self.held = 0
        self.parked = 0
        #: Idle files, longest idle first, by id (a weak reference: an idle file that is
        #: removed and forgotten is not kept alive by being parkable).
        self._idle: OrderedDict[int, weakref.ref[Parkable]] = OrderedDict()

    def create(self, name: str) -> int:
        """A new memfd, counted; idle files are parked first if the budget is reached."""
        if self.held >= self.budget:
            self._make_room()
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
        self.held += 1
        return fd

    def close(self, fd: int) -> None:
        """Close a counted memfd."""
        os.close(fd)
        self.held -= 1

    def idle(self, file: Parkable) -> None:
        """``file`` has become idle: the last in line to be parked. (An idle file that is opened
        again keeps its place; :meth:`_make_room` skips it if it is still open then.)"""
        key, idle = id(file), self._idle
        if key in idle:
            idle.move_to_end(key)
        else:
            idle[key] = weakref.ref(file, lambda _, key=key: idle.pop(key, None))

    def _make_room(self) -> None:
        if not self._fixed:
            self.budget = budget_now()
        idle = self._idle
        while self.held >= self.budget and idle:
            _, ref = idle.popitem(last=False)
            file = ref()
            if file is not None and file.park():
                self.parked += 1


#: The Sentry's one account of memfds: fds are a resource of the whole process.
MEMORY_FILES = MemoryFiles()
