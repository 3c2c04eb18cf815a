"""Reference counts of private memory-file pages shared by copy-on-write.

After fork, parent and child map the same private pages until one side writes. Who holds a
page is counted per *range* of the memory file, not per page: a fork of a 256 MiB heap adds one
range, not 65536 counters. The map stores the number of *extra* references (holders beyond the
first); a page absent from it has exactly one holder, so memory that was never shared costs
nothing here.

Ranges are disjoint, sorted, and adjacent ranges with the same count are merged, so the table
stays as small as the sharing pattern (a handful of ranges per fork, a few more per copy).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator


class SharedRanges:
    """Extra reference counts over ranges of the memory file."""

    __slots__ = ("_starts", "_ends", "_extra")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._extra: list[int] = []

    def __len__(self) -> int:
        return len(self._starts)

    def segments(self, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        """(begin, end, extra) pieces covering [start, end) in order; ``extra`` is 0 where
        the pages have a single holder."""
        position = start
        index = bisect.bisect_right(self._ends, start)
        while position < end:
            if index >= len(self._starts) or self._starts[index] >= end:
                yield position, end, 0
                return
            lo, hi = self._starts[index], self._ends[index]
            if lo > position:
                yield position, lo, 0
                position = lo
            stop = min(hi, end)
            yield position, stop, self._extra[index]
            position = stop
            index += 1

    def extra_at(self, offset: int) -> int:
        """Extra holders of the page at ``offset``."""
        index = bisect.bisect_right(self._starts, offset) - 1
        if index >= 0 and offset < self._ends[index]:
            return self._extra[index]
        return 0

    def shared_bytes(self, start: int, end: int) -> int:
        """How many bytes of [start, end) have more than one holder."""
        return sum(hi - lo for lo, hi, extra in self.segments(start, end) if extra)

    def add(self, start: int, end: int, delta: int) -> None:
        """Add ``delta`` holders to every page of [start, end); a count never goes below one
        holder (extra 0), which is what releasing the last shared reference means."""
        if start >= end:
            return
        pieces = [(lo, hi, max(0, extra + delta)) for lo, hi, extra in self.segments(start, end)]
        first = bisect.bisect_right(self._ends, start)
        last = bisect.bisect_left(self._starts, end)
        starts, ends, extras = [], [], []
        # Keep the parts of the ranges at the edges that lie outside [start, end).
        if first < last and self._starts[first] < start:
            starts.append(self._starts[first])
            ends.append(start)
            extras.append(self._extra[first])
        for lo, hi, extra in pieces:
            if extra:
                starts.append(lo)
                ends.append(hi)
                extras.append(extra)
        if first < last and self._ends[last - 1] > end:
            starts.append(end)
            ends.append(self._ends[last - 1])
            extras.append(self._extra[last - 1])
        self._starts[first:last] = starts
        self._ends[first:last] = ends
        self._extra[first:last] = extras
        self._merge_around(first, first + len(starts))

    def _merge_around(self, lo: int, hi: int) -> None:
        """Merge touching ranges of equal count between indices lo-1 and hi."""
        index = max(lo, 1)
        while index <= min(hi, len(self._starts) - 1):
            if self._ends[index - 1] == self._starts[index] and self._extra[index - 1] == self._extra[index]:
                self._ends[index - 1] = self._ends[index]
                del self._starts[index], self._ends[index], self._extra[index]
                hi -= 1
            else:
                index += 1
