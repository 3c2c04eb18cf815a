"""The mapping table of one address space: sorted, non-overlapping mappings of the memory file.

A :class:`Mapping` is a range of guest addresses backed by a contiguous range of the memory file
(``offset`` is the file offset of ``start``). Ranges of the file are held by :class:`Backing`
objects with a reference count, so a split, a move or a fork shares them without copying;
a mapping need not have a contiguous backing with its neighbours — growing a mapping just adds
another one — and the listing merges them back for /proc/PID/maps as Linux shows its VMAs.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass

from abi.linux import MAP_ANONYMOUS, MAP_GROWSDOWN, MAP_SHARED, MAP_TYPE, PAGE_SIZE, PROT_WRITE

#: The flags that make two adjacent mappings one VMA in Linux's eyes.
_VMA_FLAGS = MAP_TYPE | MAP_ANONYMOUS | MAP_GROWSDOWN


class Backing:
    """A range of the memory file, shared by the mappings that reference it."""

    __slots__ = ("offset", "length", "shared", "refs")

    def __init__(self, offset: int, length: int, shared: bool) -> None:
        self.offset = offset
        self.length = length
        #: MAP_SHARED memory: its pages outlive any one mapping of them.
        self.shared = shared
        #: How many mappings reference (some part of) this range.
        self.refs = 0


@dataclass(slots=True)
class Mapping:
    """Guest addresses [start, end) mapped to memory-file offsets [offset, offset + size)."""

    start: int
    end: int
    prot: int
    flags: int
    backing: Backing
    offset: int
    name: str = ""
    #: Pages of a file mapping wholly past the file's end: the stub maps them PROT_NONE, and a
    #: guest access is SIGBUS (as on Linux) unless the file has grown to reach them since.
    past_end: bool = False
    #: Copy-on-write: the pages may be shared with another address space since a fork, so the
    #: stub maps them without PROT_WRITE and a write fault copies them (or takes them over).
    cow: bool = False
    #: A MAP_SHARED file mapping of a description opened for writing (Linux's VM_MAYWRITE):
    #: without it, mprotect to PROT_WRITE is EACCES.
    may_write: bool = True

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def stub_prot(self) -> int:
        """The protection the stub maps the pages with."""
        if self.past_end:
            return 0
        return self.prot & ~PROT_WRITE if self.cow else self.prot

    @property
    def shared(self) -> bool:
        return bool(self.flags & MAP_SHARED)

    def file_offset(self, addr: int) -> int:
        return self.offset + (addr - self.start)

    def piece(self, start: int, end: int) -> Mapping:
        """The part of this mapping over [start, end), sharing its backing."""
        return Mapping(start, end, self.prot, self.flags, self.backing, self.file_offset(start), self.name,
                       self.past_end, self.cow, self.may_write)


class MappingTable:
    """Mappings sorted by address. Adding and removing keep ``Backing.refs`` up to date."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._mappings: list[Mapping] = []

    def __iter__(self) -> Iterator[Mapping]:
        return iter(self._mappings)

    def __len__(self) -> int:
        return len(self._mappings)

    def find(self, addr: int) -> Mapping | None:
        """The mapping containing ``addr``."""
        index = bisect.bisect_right(self._starts, addr) - 1
        if index >= 0:
            mapping = self._mappings[index]
            if addr < mapping.end:
                return mapping
        return None

    def index_at_or_after(self, addr: int) -> int:
        """Index of the first mapping ending above ``addr``."""
        index = bisect.bisect_right(self._starts, addr) - 1
        if index < 0 or self._mappings[index].end <= addr:
            index += 1
        return index

    def mapping_at(self, index: int) -> Mapping | None:
        return self._mappings[index] if index < len(self._mappings) else None

    def overlapping(self, start: int, end: int) -> list[Mapping]:
        """Mappings intersecting [start, end), in address order."""
        result = []
        index = self.index_at_or_after(start)
        while index < len(self._mappings) and self._mappings[index].start < end:
            result.append(self._mappings[index])
            index += 1
        return result

    def is_free(self, start: int, end: int) -> bool:
        return not self.overlapping(start, end)

    def covers(self, start: int, end: int) -> bool:
        """Whether [start, end) is mapped without a hole."""
        position = start
        for mapping in self.overlapping(start, end):
            if mapping.start > position:
                return False
            position = mapping.end
        return position >= end

    def add(self, mapping: Mapping, new_reference: bool = True) -> None:
        """Insert a mapping into a free range.

        ``new_reference`` is False when the mapping was :meth:`take`-n and only moved: it
        still holds the reference it had.
        """
        index = bisect.bisect_left(self._starts, mapping.start)
        self._starts.insert(index, mapping.start)
        self._mappings.insert(index, mapping)
        if new_reference:
            mapping.backing.refs += 1

    def add_run(self, mappings: list[Mapping]) -> None:
        """Insert mappings that follow each other in address order into a free range, in one
        splice: adding a long run one by one would shift the table once per mapping."""
        if not mappings:
            return
        index = bisect.bisect_left(self._starts, mappings[0].start)
        self._starts[index:index] = [mapping.start for mapping in mappings]
        self._mappings[index:index] = mappings
        for mapping in mappings:
            mapping.backing.refs += 1

    def split(self, addr: int) -> None:
        """Make ``addr`` a mapping boundary if it falls inside one."""
        mapping = self.find(addr)
        if mapping is None or mapping.start == addr:
            return
        tail = mapping.piece(addr, mapping.end)
        mapping.end = addr
        self.add(tail)

    def merge(self, addr: int) -> None:
        """Join the mapping starting at ``addr`` to the one ending there when they are one
        piece split earlier: same backing at contiguous offsets, same everything else."""
        index = bisect.bisect_left(self._starts, addr)
        if index == 0 or index >= len(self._mappings) or self._starts[index] != addr:
            return
        before, after = self._mappings[index - 1], self._mappings[index]
        if (before.end == addr and before.backing is after.backing and before.file_offset(addr) == after.offset
                and (before.prot, before.flags, before.name, before.past_end, before.cow)
                == (after.prot, after.flags, after.name, after.past_end, after.cow)):
            before.end = after.end
            del self._mappings[index], self._starts[index]
            after.backing.refs -= 1

    def take(self, start: int, end: int) -> list[Mapping]:
        """Remove and return the mappings over [start, end), split at its edges.

        The caller owns the returned pieces' references to their backings: it either adds them
        back (a move) or lets them go with :meth:`release`.
        """
        self.split(start)
        self.split(end)
        index = self.index_at_or_after(start)
        stop = index
        while stop < len(self._mappings) and self._mappings[stop].start < end:
            stop += 1
        taken = self._mappings[index:stop]
        del self._mappings[index:stop]
        del self._starts[index:stop]
        return taken

    def free_range_below(self, ceiling: int, length: int, floor: int) -> int | None:
        """The highest start of a free range of ``length`` bytes within [floor, ceiling).

        Walks the gaps between mappings downwards from ``ceiling`` (Linux's top-down search).
        """
        gap_end = ceiling
        index = bisect.bisect_left(self._starts, ceiling) - 1
        while index >= 0:
            mapping = self._mappings[index]
            if mapping.end < gap_end and gap_end - max(mapping.end, floor) >= length:
                return gap_end - length
            gap_end = min(gap_end, mapping.start)
            if gap_end - floor < length:
                return None
            index -= 1
        return gap_end - length if gap_end - floor >= length else None

    def vma_end(self, mapping: Mapping) -> int:
        """End of the VMA ``mapping`` belongs to: Linux merges adjacent compatible mappings into
        one VMA, and calls like mremap judge ranges by VMA, not by our pieces."""
        index = bisect.bisect_left(self._starts, mapping.start)
        previous = mapping
        for other in self._mappings[index + 1:]:
            if other.start != previous.end or not _same_vma(previous, other):
                break
            previous = other
        return previous.end

    def vmas(self) -> list[list[Mapping]]:
        """The mappings grouped into VMAs as :meth:`listing` merges them."""
        groups: list[list[Mapping]] = []
        for m in self._mappings:
            if groups and groups[-1][-1].end == m.start and _same_vma(groups[-1][-1], m):
                groups[-1].append(m)
            else:
                groups.append([m])
        return groups

    def listing(self) -> list[tuple[int, int, int, int, int, str]]:
        """(start, end, prot, flags, offset, name) per VMA, merging as Linux shows them."""
        rows: list[tuple[int, int, int, int, int, str]] = []
        previous: Mapping | None = None
        for m in self._mappings:
            if previous is not None and rows[-1][1] == m.start and _same_vma(previous, m):
                rows[-1] = rows[-1][:1] + (m.end,) + rows[-1][2:]
            else:
                page = _file_page(m)
                rows.append((m.start, m.end, m.prot, m.flags, page[1] * PAGE_SIZE if page else 0, m.name))
            previous = m
        return rows


def _same_vma(a: Mapping, b: Mapping) -> bool:
    """Whether Linux would merge two adjacent mappings into one VMA: the same protection and
    flags, and either private anonymous memory or consecutive pages of one shared file mapping
    (which the MM keeps a piece per page; a truncation under it splits nothing either)."""
    if a.prot != b.prot or a.name != b.name or (a.flags & _VMA_FLAGS) != (b.flags & _VMA_FLAGS):
        return False
    if a.flags & MAP_ANONYMOUS and not a.shared:
        return True
    first, second = _file_page(a), _file_page(b)
    return first is not None and second is not None and first[0] is second[0] \
        and second[1] == first[1] + a.size // PAGE_SIZE


def _file_page(mapping: Mapping) -> tuple[object, int] | None:
    """(file, page index) of a shared file mapping's page (a page-cache page), else None."""
    backing = mapping.backing
    file, index = getattr(backing, "file", None), getattr(backing, "index", None)
    return (file, index) if file is not None and isinstance(index, int) else None
