"""The MM's page cache: memory-file pages holding the bytes of files mapped MAP_SHARED.

A file is known by its host identity (``st_dev``, ``st_ino`` of the host fd the VFS hands over:
a tmpfs inode's memfd, a copied-up file, the gofer's fd under --rw), so every mapping of the
same page of the same file, in any process, maps the same :class:`CachedPage`. A page is read
from the file when first mapped and written back (through a duplicate of the host fd the cache
keeps) when msync asks, and when its last mapping goes (munmap, exit). Only the bytes that
differ from what was read (or last written back) are written, and never past the end of file.

Coherence with read(2) and write(2) (the read/write/pread/pwrite/readv/writev/preadv/pwritev
family): for a file ever mapped MAP_SHARED they first ask the MM to write back the file's
changed pages (:meth:`PageCache.sync`), and a write then has the pages read the file again
(:meth:`PageCache.reload`). Other paths (sendfile, splice, copy_file_range, a MAP_PRIVATE
mapping, truncate) see the stores only after msync, the last munmap or exit.
"""

from __future__ import annotations

import os

from abi.linux import PAGE_SIZE
from services.mm.vma import Backing


class CachedPage(Backing):
    """One page of a file in the memory file."""

    __slots__ = ("file", "index", "clean")

    def __init__(self, offset: int, file: CachedFile, index: int, clean: bytes) -> None:
        super().__init__(offset, PAGE_SIZE, True)
        self.file = file
        self.index = index
        #: The file's bytes as last read or written back: what the page held when clean.
        self.clean = clean


class CachedFile:
    """The cached pages of one file and a host fd to read and write them through."""

    def __init__(self, key: tuple[int, int], fd: int, writable: bool) -> None:
        self.key = key
        self.fd = fd
        self.writable = writable
        self.pages: dict[int, CachedPage] = {}

    def adopt(self, fd: int, writable: bool) -> None:
        """Keep a writable fd once one is offered (a read-only first mapper's cannot write back)."""
        if writable and not self.writable:
            os.close(self.fd)
            self.fd, self.writable = os.dup(fd), True


class PageCache:
    """Every cached file, by host identity."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._files: dict[tuple[int, int], CachedFile] = {}

    def file(self, fd: int, writable: bool) -> CachedFile:
        """The cache entry of the file behind host ``fd`` (OSError if it cannot be stat-ed)."""
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        cached = self._files.get(key)
        if cached is None:
            cached = self._files[key] = CachedFile(key, os.dup(fd), writable)
        else:
            cached.adopt(fd, writable)
        return cached

    def page(self, cached: CachedFile, index: int, allocate: object) -> CachedPage:
        """Page ``index`` of the file, read into a page ``allocate()`` gives if not cached."""
        page = cached.pages.get(index)
        if page is None:
            offset = allocate()  # type: ignore[operator]
            target = self._view[offset:offset + PAGE_SIZE]
            done = os.preadv(cached.fd, [target], index * PAGE_SIZE)
            target[done:] = bytes(PAGE_SIZE - done)
            page = cached.pages[index] = CachedPage(offset, cached, index, bytes(target))
        return page

    def write_back(self, page: CachedPage) -> None:
        """Write the bytes of ``page`` that changed since it was clean (up to the end of file)."""
        cached = page.file
        current = bytes(self._view[page.offset:page.offset + PAGE_SIZE])
        if current == page.clean or not cached.writable:
            return
        first = next(i for i in range(PAGE_SIZE) if current[i] != page.clean[i])
        last = next(i for i in range(PAGE_SIZE - 1, -1, -1) if current[i] != page.clean[i]) + 1
        try:
            size = os.fstat(cached.fd).st_size
            last = min(last, size - page.index * PAGE_SIZE)
            if last > first:
                os.pwrite(cached.fd, current[first:last], page.index * PAGE_SIZE + first)
        except OSError:
            return  # the host file went away: nothing the guest can be told
        page.clean = current

    def _cached(self, fd: int) -> CachedFile | None:
        try:
            st = os.fstat(fd)
        except OSError:
            return None
        return self._files.get((st.st_dev, st.st_ino))

    def sync(self, fd: int) -> None:
        """Write back every changed page of the file behind host ``fd``."""
        cached = self._cached(fd)
        for page in list(cached.pages.values()) if cached else []:
            self.write_back(page)

    def reload(self, fd: int) -> list[CachedPage]:
        """The file behind host ``fd`` was written: its cached pages read it again. Replies the
        pages now wholly past the file's end (it was truncated): their mappings must fault."""
        cached = self._cached(fd)
        if cached is None:
            return []
        try:
            size = os.fstat(cached.fd).st_size
        except OSError:
            size = 0
        past_end = [page for page in cached.pages.values() if page.index * PAGE_SIZE >= size]
        for page in list(cached.pages.values()):
            self.write_back(page)
            target = self._view[page.offset:page.offset + PAGE_SIZE]
            try:
                done = os.preadv(cached.fd, [target], page.index * PAGE_SIZE)
            except OSError:
                continue
            target[done:] = bytes(PAGE_SIZE - done)
            page.clean = bytes(target)
        return past_end

    def drop(self, page: CachedPage) -> None:
        """The page's last mapping went: write it back and forget it."""
        self.write_back(page)
        cached = page.file
        cached.pages.pop(page.index, None)
        if not cached.pages:
            os.close(cached.fd)
            del self._files[cached.key]
