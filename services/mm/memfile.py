"""The memory file: one memfd holding all guest memory, mapped once into the Sentry.

Every guest page is a page of this file. Stubs map ranges of it (``MAP_SHARED``); the Sentry
maps the whole file once with ``MAP_NORESERVE``, so reading or writing guest memory is slicing
:attr:`MemoryFile.view` — no system call. Pages are allocated by the host on first touch and
given back with ``fallocate(PUNCH_HOLE)``, so the file's allocated blocks are exactly the memory
the sandbox uses.

Ranges of the file are handed out by a first-fit allocator over a sorted free list.
"""

from __future__ import annotations

from collections.abc import Iterator

import bisect
import ctypes
import mmap
import os

from abi.linux import MAP_NORESERVE, PAGE_SIZE

#: Size of the (sparse) file and of the Sentry's reservation: address space, not memory.
DEFAULT_SIZE = 1 << 38  # 256 GiB

#: How many pages of a run of data :meth:`MemoryFile.extents` follows one by one.
_PROBE_PAGES = 128
_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02
_libc = ctypes.CDLL(None, use_errno=True)
_fallocate = _libc.fallocate
_fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long)
_fallocate.restype = ctypes.c_int


class MemoryFile:
    """The sandbox's memory: a sparse memfd, its Sentry-side mapping, and a range allocator."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self.fd = os.memfd_create("sentrio-memory", os.MFD_CLOEXEC)
        os.ftruncate(self.fd, size)
        self._map = mmap.mmap(self.fd, size, flags=mmap.MAP_SHARED | MAP_NORESERVE,
                              prot=mmap.PROT_READ | mmap.PROT_WRITE)
        #: The whole file as bytes: guest memory at file offset ``o`` is ``view[o]``.
        self.view = memoryview(self._map)
        self._free_starts: list[int] = []   # sorted starts of free ranges
        self._free_lengths: dict[int, int] = {}
        self._end = 0                       # everything at or above is free

    # --- allocation ------------------------------------------------------------------------

    def allocate(self, length: int) -> int:
        """A fresh, zeroed, page-aligned range of ``length`` bytes; returns its offset."""
        length = _pages(length)
        for index, start in enumerate(self._free_starts):
            available = self._free_lengths[start]
            if available >= length:
                del self._free_starts[index]
                del self._free_lengths[start]
                if available > length:
                    self._add_free(start + length, available - length)
                return start
        if self._end + length > self.size:
            raise MemoryError("the memory file is exhausted")
        start = self._end
        self._end += length
        return start

    def free(self, offset: int, length: int) -> None:
        """Give a range back: its pages are released and the range may be handed out again."""
        length = _pages(length)
        self.punch(offset, length)
        self._add_free(offset, length)

    def _add_free(self, start: int, length: int) -> None:
        """Insert a free range, merging it with free neighbours and with the free tail."""
        index = bisect.bisect_left(self._free_starts, start)
        if index > 0:
            before = self._free_starts[index - 1]
            if before + self._free_lengths[before] == start:
                start, length = before, length + self._free_lengths.pop(before)
                index -= 1
                del self._free_starts[index]
        if index < len(self._free_starts) and self._free_starts[index] == start + length:
            after = self._free_starts.pop(index)
            length += self._free_lengths.pop(after)
        if start + length == self._end:
            self._end = start
            return
        self._free_starts.insert(index, start)
        self._free_lengths[start] = length

    # --- pages -----------------------------------------------------------------------------

    def punch(self, offset: int, length: int) -> None:
        """Release the pages of a range: it reads as zeros afterwards, and uses no memory."""
        if length and _fallocate(self.fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, length):
            err = ctypes.get_errno()
            raise OSError(err, f"punching the memory file: {os.strerror(err)}")

    def extents(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """The (begin, end) ranges of [start, end) that hold data, found with SEEK_DATA: holes
        cost nothing to skip.

        SEEK_HOLE scans on to the end of a run of data, however far past ``end`` it goes (a
        window of a 256 MiB heap would cost the host the whole heap), so a run is followed
        page by page for its first ``_PROBE_PAGES``, and only a longer one asks SEEK_HOLE.
        """
        position = start
        while position < end:
            data = self._next_data(position)
            if data is None or data >= end:
                return
            stop = data + PAGE_SIZE
            probe_end = min(end, data + _PROBE_PAGES * PAGE_SIZE)
            while stop < probe_end and self._next_data(stop) == stop:
                stop += PAGE_SIZE
            if stop == probe_end < end:
                stop = os.lseek(self.fd, stop, os.SEEK_HOLE)
            stop = min(stop, end)
            yield data, stop
            position = stop

    def data_up_to(self, start: int, end: int, limit: int) -> int | None:
        """Bytes of [start, end) holding data, or None if more than ``limit``: a page at a time,
        so the host's cost is bounded by ``limit``, not by how far the data runs on."""
        total, position = 0, start
        while position < end:
            data = self._next_data(position)
            if data is None or data >= end:
                break
            total += PAGE_SIZE
            if total > limit:
                return None
            position = data + PAGE_SIZE
        return total

    def _next_data(self, position: int) -> int | None:
        """The first offset at or after ``position`` holding data; None if only holes follow."""
        try:
            return os.lseek(self.fd, position, os.SEEK_DATA)
        except OSError:  # ENXIO
            return None

    def resident(self, offset: int, length: int) -> bytes:
        """One byte per page of the range: 1 where the page holds memory, 0 for a hole."""
        pages = bytearray(length // PAGE_SIZE)
        for data, hole in self.extents(offset, offset + length):
            for page in range((data - offset) // PAGE_SIZE, (hole - offset + PAGE_SIZE - 1) // PAGE_SIZE):
                pages[page] = 1
        return bytes(pages)

    def find_nul(self, start: int, end: int) -> int:
        """The offset of the first NUL byte in ``[start, end)``, or -1 (a C string's end, found
        without copying the bytes around it)."""
        return self._map.find(b"\0", start, end)

    def copy(self, source: int, target: int, length: int) -> None:
        """Copy a range into another (fork's private memory): only the extents holding data,
        so holes stay holes and cost nothing."""
        view = self.view
        for data, hole in self.extents(source, source + length):
            at = target + (data - source)
            view[at:at + hole - data] = view[data:hole]

    @property
    def end(self) -> int:
        """The high-water mark of the allocator: every range handed out lies below it."""
        return self._end

    def room(self) -> int:
        """How many bytes could still be handed out (in pieces)."""
        return self.size - self._end + sum(self._free_lengths.values())

    def allocated_bytes(self) -> int:
        """Memory the sandbox holds right now (the file's allocated blocks)."""
        return os.fstat(self.fd).st_blocks * 512

    def close(self) -> None:
        """Close the file; the Sentry's mapping goes as soon as no view of it is left."""
        self.view.release()
        try:
            self._map.close()
        except BufferError:
            pass  # slices still exist (a traceback may hold one); unmapped when they are freed
        os.close(self.fd)


def _pages(length: int) -> int:
    return (length + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
