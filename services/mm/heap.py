"""Heap slack: the pages above a shrunk program break that the stub still maps.

malloc moves the break up and down all the time: glibc gives memory back with ``brk`` whenever
more than 128 KiB lie free at the top of its heap, and takes it again at the next large
allocation (git's ``add`` of 1 000 files makes 8 000 such calls). Linux makes each a few page
table updates. Here each was a mapping change in the stub, an injected ``munmap`` or ``mmap``
of ~10 µs, and the MM's bookkeeping of a new mapping.

So when the break comes down, the MM takes the pages out of the guest's mapping table, empties
them (their memory-file pages are punched: the host gets the memory back at once), and keeps
them here, still mapped in the stub; when the break goes up again over them, they go back into
the table as they are, emptied once more — memory the break gains reads as zeros, as on Linux.
Neither direction asks the stub for anything.

The pages stay this address space's own: their memory-file range is held (reference counted
like any mapping's) until the break grows over them again, the space is destroyed, or a stub
call maps or unmaps their addresses (:meth:`HeapSlack.reclaim`, called by the MM's stub
wrapper), so no other space can ever be given them while this stub maps them. What differs
from Linux is only what a guest sees if it touches memory above its own break after shrinking
it: Linux kills it with SIGSEGV; here, up to :data:`SLACK_MOST` bytes above the break read as
zeros and take writes, which the next growth of the break discards. No correct program does
this (malloc never touches memory it gave back); docs/architecture.md lists the difference.

Not under ``--memory``: the limit counts what the guest is promised (its commit), and pages the
guest wrote above its break would be host memory it does not count, up to :data:`SLACK_MOST`
per process. With a limit, a break that comes down is unmapped as before, exactly as Linux does.
"""

from __future__ import annotations

from collections.abc import Iterator

from services.mm.vma import Mapping

#: The most bytes kept above the break; a larger shrink unmaps the rest in the stub, so that a
#: program that gives back a gigabyte does not keep a gigabyte of the memory file reserved.
SLACK_MOST = 32 << 20


class HeapSlack:
    """Pieces of private anonymous memory the stub maps above the break, the guest does not.

    The pieces are sorted, disjoint, and never overlap the mapping table (the MM takes them out
    of it, and puts them back only by :meth:`take`). Each holds the reference to its backing
    that it held in the table.
    """

    __slots__ = ("_pieces",)

    def __init__(self) -> None:
        self._pieces: list[Mapping] = []

    def __bool__(self) -> bool:
        return bool(self._pieces)

    def __iter__(self) -> Iterator[Mapping]:
        return iter(self._pieces)

    @property
    def size(self) -> int:
        return sum(piece.size for piece in self._pieces)

    def keep(self, pieces: list[Mapping]) -> None:
        """Keep ``pieces`` (taken out of the table from the new break up; emptied by the
        caller), below any kept before."""
        self._pieces[0:0] = pieces

    def take(self, start: int, end: int) -> list[Mapping]:
        """The kept pieces that follow each other from ``start`` on, up to ``end`` at most
        (the last one split there): what the break growing from ``start`` to ``end`` may
        reuse. Empty unless the first kept piece begins at ``start``."""
        pieces = self._pieces
        taken: list[Mapping] = []
        position = start
        while pieces and pieces[0].start == position and position < end:
            piece = pieces[0]
            if piece.end > end:
                rest = piece.piece(end, piece.end)
                rest.backing.refs += 1  # the rest stays here, with a reference of its own
                piece.end = end
                pieces[0] = rest
            else:
                del pieces[0]
            taken.append(piece)
            position = piece.end
        return taken

    def reclaim(self, start: int, end: int) -> list[Mapping]:
        """Remove and return the parts of kept pieces inside [start, end): a stub call is about
        to map or unmap those addresses, so the pages behind them are to be released."""
        pieces = self._pieces
        if not pieces or end <= pieces[0].start or start >= pieces[-1].end:
            return []
        kept: list[Mapping] = []
        reclaimed: list[Mapping] = []
        for piece in pieces:
            if piece.end <= start or piece.start >= end:
                kept.append(piece)
                continue
            for lo, hi in ((piece.start, start), (end, piece.end)):
                if lo < hi:  # a part outside the range stays kept, with a reference of its own
                    outside = piece.piece(lo, hi)
                    outside.backing.refs += 1
                    kept.append(outside)
            lo, hi = max(piece.start, start), min(piece.end, end)
            if (lo, hi) != (piece.start, piece.end):
                piece = piece.piece(lo, hi)  # the inside part carries the piece's reference
            reclaimed.append(piece)
        kept.sort(key=lambda piece: piece.start)
        self._pieces = kept
        return reclaimed

    def beyond(self, most: int) -> list[tuple[int, int]]:
        """The address ranges of kept pages past the first ``most`` bytes, lowest first: what
        to unmap so that the slack holds no more than that. (Each range is kept pages only:
        something else may be mapped between two pieces.)"""
        ranges: list[tuple[int, int]] = []
        budget = most
        for piece in self._pieces:
            if budget >= piece.size:
                budget -= piece.size
                continue
            ranges.append((piece.start + budget, piece.end))
            budget = 0
        return ranges

    def drain(self) -> list[Mapping]:
        """Remove and return every kept piece."""
        pieces, self._pieces = self._pieces, []
        return pieces
