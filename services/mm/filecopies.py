"""Copies of image files in the memory file, shared copy-on-write by private mappings of them.

A MAP_PRIVATE mapping of a file gets the file's bytes in memory-file pages. Made afresh for
every mapping, that copy was a large part of starting a dynamically linked program: the dynamic
loader maps libc and every other library of every process, and each exec of git copied its ~6
MiB of program and libraries again (``preadv`` into fresh pages, then page faults on them in the
Sentry and in the stub). Linux maps the page cache's pages instead, copying one only when a
process writes to it.

So a file whose bytes cannot change while the sandbox lives — an image file the overlay has not
copied up, under the exclusive policy: the VFS vouches for it with an *identity* — is read once
into a :class:`FileCopy`, and every private mapping of it (any part, in any process) maps those
pages copy-on-write, as fork shares private pages: the copy is one holder of its pages, each
mapping another (:class:`~services.mm.refcount.SharedRanges`), so a write gives the writer a
page of its own and the copy stays the file's bytes.

The table only remembers; the MM makes, maps and releases the pages (it owns the memory file
and the counts). Copies are charged to the sandbox's memory account as buffers, kept least
recently used first, and the oldest let go past :attr:`FileCopies.bound` bytes.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Hashable

from services.mm.vma import Backing

#: The largest file kept as a copy (a bigger one, or one above the bound, is copied for each
#: mapping, as before).
FILE_COPY_MOST = 32 << 20
#: How many bytes of copies a sandbox keeps at most.
FILE_COPIES_MOST = 96 << 20


class FileCopy:
    """One file's bytes in the memory file: ``backing`` holds ``size`` bytes from offset 0."""

    __slots__ = ("backing", "size")

    def __init__(self, backing: Backing, size: int) -> None:
        self.backing = backing
        self.size = size


class FileCopies:
    """The copies kept, by the identity the VFS gave their file, least recently used first."""

    __slots__ = ("_copies", "_starts", "_ends", "bytes", "bound")

    def __init__(self, memory_limit: int | None = None) -> None:
        self._copies: OrderedDict[Hashable, FileCopy] = OrderedDict()
        #: Bytes of copies kept at most: :data:`FILE_COPIES_MOST`, or an eighth of the sandbox's
        #: memory limit if that is less (the copies are charged to it, as Linux charges the page
        #: cache to a memory cgroup, but cannot be reclaimed while they are kept).
        self.bound = FILE_COPIES_MOST if memory_limit is None else min(FILE_COPIES_MOST, memory_limit // 8)
        #: The memory-file ranges of the copies, sorted: which pages a copy holds (for smaps).
        self._starts: list[int] = []
        self._ends: list[int] = []
        #: Bytes of memory file the copies hold.
        self.bytes = 0

    def get(self, identity: Hashable) -> FileCopy | None:
        copy = self._copies.get(identity)
        if copy is not None:
            self._copies.move_to_end(identity)
        return copy

    def add(self, identity: Hashable, copy: FileCopy) -> list[FileCopy]:
        """Keep ``copy``; the copies let go to stay within the bound (the caller releases them)."""
        self._copies[identity] = copy
        self._note(copy, True)
        evicted = []
        while self.bytes > self.bound and len(self._copies) > 1:
            _, oldest = self._copies.popitem(last=False)
            self._note(oldest, False)
            evicted.append(oldest)
        return evicted

    def holds(self, offset: int) -> bool:
        """Whether the memory-file page at ``offset`` belongs to a copy kept here."""
        index = bisect.bisect_right(self._starts, offset) - 1
        return index >= 0 and offset < self._ends[index]

    def _note(self, copy: FileCopy, kept: bool) -> None:
        start = copy.backing.offset
        if kept:
            index = bisect.bisect_left(self._starts, start)
            self._starts.insert(index, start)
            self._ends.insert(index, start + copy.backing.length)
            self.bytes += copy.backing.length
        else:
            index = bisect.bisect_left(self._starts, start)
            del self._starts[index], self._ends[index]
            self.bytes -= copy.backing.length
