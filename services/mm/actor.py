"""The memory manager actor: guest address spaces, their mappings, and access to guest memory.

Each address space (``asid``) has a :class:`~services.mm.vma.MappingTable` and a platform
address space that mirrors it *eagerly*: every mapping is mapped into the stub whole, as shared
mappings of the memory file, so the host handles first touches and no fault of valid memory
reaches the Sentry — but one: fork shares private memory copy-on-write. Parent and child map
the same memory-file pages without PROT_WRITE; the first write faults, and :meth:`fault`
copies the pages (or, for their last holder, takes them over) and maps them writable again.
Who holds a shared page is counted per memory-file range (:mod:`services.mm.refcount`), and
the Sentry's own writes into guest memory unshare first, as Linux's copy_to_user faults.

The operations follow Linux's mm/mmap.c, mremap.c, mprotect.c, madvise.c and mincore.c, errno
for errno.

Copy-in and copy-out are the hot path: one bisect finds the mapping, and the data is a slice of
the memory file's view in the Sentry.
"""

from __future__ import annotations

import fcntl
import os

from collections.abc import Awaitable, Hashable
from dataclasses import dataclass, field
from typing import Any

import trio

from abi.ranges import fits, page_align, page_range
from abi.errno import EACCES, EEXIST, EFAULT, EINVAL, ENAMETOOLONG, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM
from abi.linux import (
    BUS_ADRERR,
    MADV_COLD,
    MADV_DODUMP,
    MADV_DOFORK,
    MADV_DONTDUMP,
    MADV_DONTFORK,
    MADV_DONTNEED,
    MADV_DONTNEED_LOCKED,
    MADV_FREE,
    MADV_HUGEPAGE,
    MADV_KEEPONFORK,
    MADV_MERGEABLE,
    MADV_NOHUGEPAGE,
    MADV_NORMAL,
    MADV_PAGEOUT,
    MADV_POPULATE_READ,
    MADV_POPULATE_WRITE,
    MADV_RANDOM,
    MADV_REMOVE,
    MADV_SEQUENTIAL,
    MADV_UNMERGEABLE,
    MADV_WILLNEED,
    MADV_WIPEONFORK,
    MAP_32BIT,
    MAP_ANONYMOUS,
    MAP_DENYWRITE,
    MAP_EXECUTABLE,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_GROWSDOWN,
    MAP_HUGETLB,
    MAP_LOCKED,
    MAP_NONBLOCK,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    MAP_STACK,
    MAP_SYNC,
    MAP_TYPE,
    MREMAP_DONTUNMAP,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    MS_ASYNC,
    MS_INVALIDATE,
    MS_SYNC,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_GROWSDOWN,
    PROT_GROWSUP,
    PROT_READ,
    PROT_WRITE,
    SEGV_ACCERR,
    SEGV_MAPERR,
    Signal,
    TASK_SIZE,
    page_up,
)
from kernel.bus import operation
from abi.errno import Errno
from platforms import AddressSpace, Context, Platform
from services.mm.account import MemoryAccount
from services.mm.contract import FutexId, MemoryContract
from services.mm.filecopies import FILE_COPY_MOST, FileCopies, FileCopy
from services.mm.heap import SLACK_MOST, HeapSlack
from services.mm.memfile import MemoryFile
from services.mm.pagecache import CachedPage, PageCache
from services.mm.refcount import SharedRanges
from services.mm.vma import Backing, Mapping, MappingTable

#: mmap's MAP_DROPPABLE (Linux 6.11): private anonymous memory the kernel may drop.
MAP_DROPPABLE = 0x08
#: mprotect's PROT_SEM (atomic operations may be used on the memory): accepted, as on x86.
PROT_SEM = 0x8
#: Lowest address a guest may map (Linux's vm.mmap_min_addr default).
MMAP_MIN_ADDR = 0x10000
#: Room kept free below the top of the address space for the stack (Linux's mmap_base gap is
#: the stack rlimit clamped to at least 128 MiB; the initial stack is at most 64 MiB here).
STACK_GAP = 256 << 20
#: MAP_32BIT mappings go below 2 GiB.
LOW_2GB = 1 << 31

_PROT_BITS = PROT_READ | PROT_WRITE | PROT_EXEC
_MMAP_KNOWN_FLAGS = (MAP_TYPE | MAP_FIXED | MAP_ANONYMOUS | MAP_32BIT | MAP_GROWSDOWN | MAP_DENYWRITE
                     | MAP_EXECUTABLE | MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK | MAP_STACK
                     | MAP_HUGETLB | MAP_SYNC | MAP_FIXED_NOREPLACE)
_HINT_ADVICE = frozenset({
    MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_DONTFORK, MADV_DOFORK,
    MADV_MERGEABLE, MADV_UNMERGEABLE, MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTDUMP, MADV_DODUMP,
    MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_COLD, MADV_PAGEOUT, MADV_POPULATE_READ, MADV_POPULATE_WRITE,
})
_ZEROING_ADVICE = frozenset({MADV_DONTNEED, MADV_FREE, MADV_DONTNEED_LOCKED})
_U64_LIMIT = 1 << 64
_U64 = _U64_LIMIT - 1
#: The largest offset of a regular file (MAX_LFS_FILESIZE on 64-bit): mappings end below it.
MAX_LFS_FILESIZE = (1 << 63) - 1
#: Work that grows with a guest-chosen size yields to the other tasks this often: every this
#: many stub mappings, and every this many bytes copied from a file.
_CHECKPOINT_EVERY = 128
_COPY_CHUNK = 16 << 20
#: The flags a private file mapping may have to map a kept copy of the file (the others, such
#: as MAP_POPULATE, MAP_LOCKED or MAP_GROWSDOWN, take the path that copies for the mapping).
_COPY_MAP_FLAGS = (MAP_TYPE | MAP_FIXED | MAP_FIXED_NOREPLACE | MAP_DENYWRITE | MAP_EXECUTABLE | MAP_NORESERVE
                   | MAP_STACK)
#: A write fault on copy-on-write memory copies this aligned window around the page (within
#: the mapping): a guest writing a whole buffer faults once per window, not once per page.
_COW_WINDOW = 16 * PAGE_SIZE
#: Fork copies small private writable mappings at once (the stack's top, .data, a small heap:
#: what a child writes first) rather than make them copy-on-write: a fault costs far more than
#: copying a few pages. At most this many bytes of data per fork, from mappings of at most
#: ``_EAGER_SCAN_LIMIT`` bytes (finding a mapping's data costs the host time per page).
_EAGER_COPY_BUDGET = 64 * PAGE_SIZE
_EAGER_SCAN_LIMIT = 16 << 20
#: Pages held alone are taken over (made writable in place) this many bytes at a time.
_TAKEOVER_WINDOW = 512 * PAGE_SIZE


async def _checkpoint_every(number: int) -> None:
    """Let other guest threads and timers run every ``_CHECKPOINT_EVERY`` steps of a long loop."""
    if number % _CHECKPOINT_EVERY == _CHECKPOINT_EVERY - 1:
        await trio.lowlevel.checkpoint()


class _Tracked:
    """A stub address space whose map, unmap and protect the MM counts while they are under
    way. One operation releases memory-file pages and then has its stub drop them (an injected
    call, which may let other tasks run); memory another operation frees meanwhile must not
    include those pages, or a third could be given them while the first stub still maps them
    (see :meth:`MemoryManager._free_released`).

    It also knows the heap slack (:mod:`services.mm.heap`), the pages the stub maps that the
    guest's table no longer shows: a map or unmap over them releases them, as the stub stops
    mapping them. (A protect never covers them: it changes only mappings of the table.)"""

    __slots__ = ("_inner", "_mm", "_slack")

    def __init__(self, inner: AddressSpace, mm: MemoryManager, slack: HeapSlack) -> None:
        self._inner = inner
        self._mm = mm
        self._slack = slack

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def map(self, addr: int, length: int, prot: int, offset: int, populate: bool = False) -> None:
        self._reclaim(addr, addr + length)
        await self._counted(self._inner.map(addr, length, prot, offset, populate))

    async def unmap(self, addr: int, length: int) -> None:
        self._reclaim(addr, addr + length)
        await self._counted(self._inner.unmap(addr, length))

    def _reclaim(self, start: int, end: int) -> None:
        """Release the slack the coming stub call maps over or unmaps (freed after it)."""
        if self._slack:
            for piece in self._slack.reclaim(start, end):
                self._mm._release(piece)

    async def protect(self, addr: int, length: int, prot: int) -> None:
        await self._counted(self._inner.protect(addr, length, prot))

    async def _counted(self, call: Awaitable[None]) -> None:
        self._mm._stub_calls += 1
        try:
            await call
        finally:
            self._mm._stub_calls -= 1


@dataclass
class Space:
    """One guest address space."""

    platform: AddressSpace
    table: MappingTable = field(default_factory=MappingTable)
    brk_start: int = 0
    brk: int = 0
    #: Bytes of writable private (and shared) memory promised to the guest.
    committed: int = 0
    #: Heap pages above the break that the stub still maps (services/mm/heap.py).
    slack: HeapSlack = field(default_factory=HeapSlack)

    @classmethod
    def new(cls, platform: AddressSpace, mm: MemoryManager, **fields: int) -> Space:
        """A space whose stub calls ``mm`` tracks (see :class:`_Tracked`)."""
        slack = HeapSlack()
        return cls(_Tracked(platform, mm, slack), slack=slack, **fields)  # type: ignore[arg-type]


class MemoryManager(MemoryContract):
    """The ``mm`` service."""

    service = "mm"

    def __init__(self, platform: Platform, memfile: MemoryFile, memory_limit: int | None = None) -> None:
        self._platform = platform
        self._memfile = memfile
        self._view = memfile.view
        self._limit = memory_limit
        #: The sandbox's memory ledger: this MM's commit charge plus the file pages and pipe
        #: buffers the VFS charges, all against ``memory_limit`` (services/mm/account.py).
        self._account = MemoryAccount(memory_limit)
        self._spaces: dict[int, Space] = {}
        self._next_asid = 1
        #: Memory-file ranges released by operations, freed once no stub maps them: handing a
        #: range out while a stub still maps it would leak its contents.
        self._to_free: list[tuple[int, int]] = []
        #: Stub calls (map, unmap, protect) under way, and operations between releasing pages
        #: and their stub dropping them: while any is, released ranges wait (see _Tracked).
        self._stub_calls = 0
        self._cache = PageCache(memfile.view)
        #: Extra holders of private memory-file pages that fork shares copy-on-write.
        self._shared = SharedRanges()
        #: Files whose bytes cannot change, read once and mapped copy-on-write (filecopies.py).
        self._copies = FileCopies(memory_limit)
        self._top = platform.max_user_address
        self._mmap_base = self._top - STACK_GAP

    # --- address spaces -------------------------------------------------------------------

    @operation
    async def create(self) -> int:
        """A new, empty address space; returns its id."""
        asid = self._next_asid
        self._next_asid += 1
        self._spaces[asid] = Space.new(await self._platform.new_address_space(), self)
        return asid

    @operation
    async def destroy(self, asid: int) -> None:
        """Free everything of an address space and kill its stub."""
        space = self._spaces.pop(asid, None)
        if space is None:
            return
        space.platform.release()
        for mapping in [*space.table.take(0, self._top), *space.slack.drain()]:
            self._release(mapping)
        self._account.anon -= space.committed
        self._free_released()

    @operation
    async def new_thread(self, asid: int) -> Context:
        """A new guest thread running in the address space."""
        return await self._space(asid).platform.new_context()

    @operation
    async def fork(self, asid: int) -> int:
        """A copy of address space ``asid`` for a forked child; returns the child's asid.

        Nothing is copied: the child's mappings reference the parent's memory-file ranges.
        Shared memory stays shared; private memory becomes copy-on-write on both sides — its
        pages gain a holder, and both stubs map them without PROT_WRITE until a write fault
        (or a write by the Sentry) gives the writer pages of its own.
        """
        parent = self._space(asid)
        self._check_limit(parent.committed)
        child = Space.new(await self._platform.new_address_space(), self, brk_start=parent.brk_start,
                          brk=parent.brk)
        platform = child.platform
        # No await from here until the table is copied: the parent's other threads may change it.
        child_asid = self._next_asid
        self._next_asid += 1
        self._spaces[child_asid] = child
        try:
            # Nothing is allocated now, but either side may come to copy all it shares: like
            # Linux's commit check, fork fails at once if the memory file could not hold that.
            if sum(m.size for m in parent.table if not m.shared) > self._memfile.room():
                raise Errno(ENOMEM)
            write_protect: list[Mapping] = []
            eager = self._eager_copies(parent)
            for mapping in parent.table:
                piece = mapping.piece(mapping.start, mapping.end)
                if id(mapping) in eager:
                    backing = Backing(self._allocate(mapping.size), mapping.size, False)
                    self._memfile.copy(mapping.offset, backing.offset, mapping.size)
                    piece = Mapping(mapping.start, mapping.end, mapping.prot, mapping.flags, backing, backing.offset,
                                    mapping.name, mapping.past_end)
                elif not mapping.shared:
                    self._shared.add(mapping.offset, mapping.offset + mapping.size, 1)
                    if not mapping.cow and mapping.stub_prot & PROT_WRITE:
                        write_protect.append(mapping)
                    mapping.cow = piece.cow = True
                child.table.add(piece)
            self._commit(child, parent.committed)
            # The parent's stub loses PROT_WRITE before the child's can run: a write the parent
            # makes after this point faults and gets its own copy.
            for number, (start, end, prot, _) in enumerate(_stub_runs(write_protect, by_offset=False)):
                await parent.platform.protect(start, end - start, prot)
                await _checkpoint_every(number)
            for number, (start, end, prot, offset) in enumerate(_stub_runs(list(child.table))):
                await platform.map(start, end - start, prot, offset)
                await _checkpoint_every(number)
        except BaseException:
            await self.destroy(child_asid)
            raise
        return child_asid

    def _eager_copies(self, space: Space) -> set[int]:
        """The private mappings fork copies at once (by ``id``): writable ones holding little
        data, the stack first, then the smallest, while ``_EAGER_COPY_BUDGET`` lasts."""
        candidates = [m for m in space.table if not m.shared and m.prot & PROT_WRITE and not m.past_end
                      and m.size <= _EAGER_SCAN_LIMIT]
        candidates.sort(key=lambda m: (not m.flags & MAP_GROWSDOWN and m.name != "[stack]", m.size))
        chosen: set[int] = set()
        budget = _EAGER_COPY_BUDGET
        for mapping in candidates:
            data = self._memfile.data_up_to(mapping.offset, mapping.offset + mapping.size, budget)
            if data is not None:
                chosen.add(id(mapping))
                budget -= data
        return chosen

    @operation
    async def translate(self, asid: int, addr: int, write: bool = False) -> int:
        """The memory-file offset behind guest ``addr``; EFAULT if the page is unmapped,
        unreadable, or (``write``) not writable."""
        # A private page shared since fork would give an offset that changes at its first
        # write (and that the other process shares): the page becomes this space's first.
        return (await self._word(asid, addr, write, unshare=True))[1]

    @operation
    async def futex_key(self, asid: int, addr: int, private: bool, write: bool = False) -> tuple[FutexId, int]:
        # Only a store needs the page to be this space's own: a private futex is named by
        # (space, address), so a copy-on-write page read where it is shared is still the same futex.
        mapping, offset = await self._word(asid, addr, write, unshare=write)
        if mapping.shared and not private:
            return ("shared", offset), offset
        return (asid, addr), offset

    async def _word(self, asid: int, addr: int, write: bool, unshare: bool) -> tuple[Mapping, int]:
        """The mapping of the word at ``addr`` and its memory-file offset; with ``unshare`` a
        writable copy-on-write page is made this space's own first."""
        space = self._space(asid)
        mapping = space.table.find(addr)
        need = PROT_READ | (PROT_WRITE if write else 0)
        if mapping is None or mapping.prot & need != need or mapping.past_end:
            raise Errno(EFAULT)
        if unshare and mapping.cow and mapping.prot & PROT_WRITE:
            page = addr & ~(PAGE_SIZE - 1)
            await self._unshare(space, mapping, page, page + PAGE_SIZE)
            mapping = space.table.find(addr)
            if mapping is None:
                raise Errno(EFAULT)
        return mapping, mapping.file_offset(addr)

    def _allocate(self, length: int) -> int:
        """Fresh memory-file pages, or ENOMEM when the memory file has no room left."""
        try:
            return self._memfile.allocate(length)
        except MemoryError:
            raise Errno(ENOMEM) from None

    def _space(self, asid: int) -> Space:
        try:
            return self._spaces[asid]
        except KeyError:
            raise Errno(EFAULT) from None

    # --- mmap and friends -------------------------------------------------------------------

    @operation
    async def mmap(self, asid: int, addr: int, length: int, prot: int, flags: int, name: str = "") -> int:
        """mmap(2) of anonymous memory; returns the address."""
        space = self._space(asid)
        length, start = self._length_and_place(space, addr, length, flags)
        if not flags & MAP_ANONYMOUS:
            raise Errno(EINVAL)  # file mappings come through mmap_file
        # Anonymous memory is MAP_SHARED, MAP_PRIVATE or MAP_DROPPABLE (private memory the kernel
        # may drop; here it is never dropped); MAP_SHARED_VALIDATE is for files only.
        map_type = flags & MAP_TYPE
        if map_type not in (MAP_SHARED, MAP_PRIVATE, MAP_DROPPABLE):
            raise Errno(EINVAL)
        if flags & MAP_GROWSDOWN and map_type != MAP_PRIVATE or map_type == MAP_DROPPABLE and flags & MAP_LOCKED:
            raise Errno(EINVAL)
        shared = map_type == MAP_SHARED
        charge = self._charge(length, prot, flags, shared)
        replaced = self._replacing(space, start, length, flags, charge)
        if replaced:
            self._unmap_range(space, start, start + length)
        self._commit(space, charge)
        backing = Backing(self._allocate(length), length, shared)
        flags = (flags & ~MAP_TYPE) | (MAP_SHARED if shared else MAP_PRIVATE)
        mapping = Mapping(start, start + length, prot & _PROT_BITS, flags, backing, backing.offset,
                          name or ("[stack]" if flags & MAP_GROWSDOWN else ""))
        space.table.add(mapping)
        # Populating memory the guest was not charged for (read-only private memory, which
        # Linux backs with the zero page) would take host memory past the limit.
        await space.platform.map(start, length, mapping.prot, backing.offset,
                                 populate=bool(charge and flags & (MAP_POPULATE | MAP_LOCKED)))
        self._free_released()
        return start

    @operation
    async def mmap_file(self, asid: int, addr: int, length: int, prot: int, flags: int, fd: int, offset: int,
                        name: str = "", writable: bool | None = None, identity: Hashable | None = None) -> int:
        """mmap(2) of a file's bytes, given as host ``fd`` at ``offset``.

        MAP_PRIVATE: the file's bytes are read into fresh memory-file pages (a copy); for a
        file the VFS gave an ``identity``, once, into a copy every such mapping shares
        copy-on-write (see :mod:`services.mm.filecopies`).
        MAP_SHARED: the pages of the page cache, shared by every mapping of the file and
        written back (see :mod:`services.mm.pagecache`).
        """
        anonymous = (flags & ~MAP_TYPE) | MAP_PRIVATE | MAP_ANONYMOUS
        self._length_and_place(self._space(asid), addr, length, flags)  # do_mmap's order of errors
        if (offset & _U64) + page_align(length) > MAX_LFS_FILESIZE:  # file_mmap_ok: past any file's end
            raise Errno(EOVERFLOW)
        if flags & MAP_TYPE not in (MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE):
            raise Errno(EINVAL)
        if flags & MAP_TYPE != MAP_PRIVATE:
            return await self._map_shared_file(asid, addr, length, prot, flags, fd, offset, name, writable)
        if identity is not None and not offset % PAGE_SIZE and not flags & ~_COPY_MAP_FLAGS:
            copy = self._file_copy(identity, fd)
            if copy is not None:
                return await self._map_copy(asid, addr, length, prot, anonymous, offset, copy, name)
        size = _file_size(fd)
        start = await self.mmap(asid, addr, length, prot, anonymous, name)
        space = self._space(asid)
        for piece in space.table.overlapping(start, start + page_up(length)):
            piece.flags &= ~MAP_ANONYMOUS  # file-backed: madvise treats it as Linux treats a file's pages
        fill = min(page_up(length), max(0, size - offset))
        for done in range(0, fill, _COPY_CHUNK):  # a big file is read in pieces, letting others run
            if done:
                await trio.lowlevel.checkpoint()
            views = self._views(asid, start + done, min(_COPY_CHUNK, fill - done), 0)
            try:
                os.preadv(fd, views, offset + done)
            except OSError as error:
                raise Errno(error.errno) from None
        if page_up(fill) < page_up(length):
            await self._mark_past_end(self._space(asid), start + page_up(fill), start + page_up(length))
        return start

    def _file_copy(self, identity: Hashable, fd: int) -> FileCopy | None:
        """The kept copy of the file ``identity`` names, read from ``fd`` now if there is none;
        None if it is not to be kept (empty, too big, or no memory for it: the caller copies
        for its mapping alone). No await: two mappings of one file never read it twice."""
        copy = self._copies.get(identity)
        if copy is not None:
            return copy
        size = _file_size(fd)
        length = page_up(size)
        if not 0 < size <= min(FILE_COPY_MOST, self._copies.bound) or not self._account.try_charge_buffers(length):
            return None
        try:
            offset = self._memfile.allocate(length)
        except MemoryError:
            self._account.uncharge_buffers(length)
            return None
        backing = Backing(offset, length, False)
        backing.refs = 1  # the copy's own hold: its pages outlive every mapping of them
        done = 0
        try:
            while done < size:
                count = os.preadv(fd, [self._view[offset + done:offset + size]], done)
                if count == 0:
                    break  # shorter than fstat said: the rest reads as zeros, as past a file's end
                done += count
        except OSError:
            self._memfile.punch(offset, length)
            self._memfile.free(offset, length)
            self._account.uncharge_buffers(length)
            return None
        copy = FileCopy(backing, size)
        for evicted in self._copies.add(identity, copy):
            self._let_go(evicted)
        return copy

    def _let_go(self, copy: FileCopy) -> None:
        """A kept copy is no longer kept: its pages go once no mapping holds them."""
        backing = copy.backing
        backing.refs -= 1
        self._drop_private(backing.offset, backing.offset + backing.length)
        if backing.refs == 0:
            self._to_free.append((backing.offset, backing.length))
        self._account.uncharge_buffers(backing.length)

    async def _map_copy(self, asid: int, addr: int, length: int, prot: int, flags: int, offset: int,
                        copy: FileCopy, name: str) -> int:
        """A private mapping of a kept file copy from ``offset``: its pages copy-on-write (the
        copy holds them, the mapping is one more holder, so a write copies the page), and whole
        pages past the file's end as :meth:`mmap_file` makes them. ``flags`` as for anonymous
        memory (MAP_PRIVATE | MAP_ANONYMOUS with the caller's others)."""
        space = self._space(asid)
        length, start = self._length_and_place(space, addr, length, flags)
        in_file = max(0, min(length, page_up(copy.size) - offset))
        charge = self._charge(length, prot, flags, False)
        replaced = self._replacing(space, start, length, flags, charge)
        tail = Backing(self._allocate(length - in_file), length - in_file, False) if in_file < length else None
        if replaced:
            self._unmap_range(space, start, start + length)
        self._commit(space, charge)
        file_backed = flags & ~(MAP_TYPE | MAP_ANONYMOUS) | MAP_PRIVATE  # (madvise treats it as a file's)
        if in_file:
            at = copy.backing.offset + offset
            self._shared.add(at, at + in_file, 1)
            piece = Mapping(start, start + in_file, prot & _PROT_BITS, file_backed, copy.backing, at, name, cow=True)
            space.table.add(piece)
            await space.platform.map(start, in_file, piece.stub_prot, at)
        if tail is not None:
            rest = Mapping(start + in_file, start + length, prot & _PROT_BITS, file_backed, tail, tail.offset, name)
            space.table.add(rest)
            await space.platform.map(rest.start, rest.size, rest.prot, tail.offset)
            await self._mark_past_end(space, rest.start, rest.end)
        self._free_released()
        return start

    async def _mark_past_end(self, space: Space, start: int, end: int) -> None:
        """The pages [start, end) of a new file mapping lie past the file's end."""
        space.table.split(start)
        space.table.split(end)
        for mapping in space.table.overlapping(start, end):
            mapping.past_end = True
        await space.platform.protect(start, end - start, 0)

    async def _map_shared_file(self, asid: int, addr: int, length: int, prot: int, flags: int, fd: int,
                               offset: int, name: str, writable: bool | None = None) -> int:
        """A MAP_SHARED file mapping: one mapping piece per cached page."""
        space = self._space(asid)
        if flags & MAP_TYPE == MAP_SHARED_VALIDATE and flags & ~_MMAP_KNOWN_FLAGS:
            raise Errno(EOPNOTSUPP)
        length = page_up(length)
        if length > self._top or offset % PAGE_SIZE:
            raise Errno(ENOMEM if length > self._top else EINVAL)
        flags = (flags & ~(MAP_TYPE | MAP_ANONYMOUS)) | MAP_SHARED
        start = self._place(space, addr, length, flags)
        charge = self._charge(length, prot, flags, True)
        replaced = self._replacing(space, start, length, flags, charge)
        try:
            fd_writable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
        except OSError as error:
            raise Errno(error.errno) from None
        may_write = fd_writable if writable is None else writable and fd_writable
        cached = self._cache.file(fd, writable=may_write)
        file_size = _file_size(fd)
        if replaced:  # the stub maps the replaced pages until this mapping covers them
            self._unmap_range(space, start, start + length)
            self._stub_calls += 1
        try:
            self._commit(space, charge)
            pieces: list[Mapping] = []
            try:
                # A run of pages at a time, each run claimed in the table before the next yields to
                # other tasks: a mapping of many pages does not hold the Sentry while it is built.
                for first in range(0, length // PAGE_SIZE, _CHECKPOINT_EVERY):
                    run_start = start + first * PAGE_SIZE
                    count = min(_CHECKPOINT_EVERY, length // PAGE_SIZE - first)
                    if not space.table.is_free(run_start, run_start + count * PAGE_SIZE):
                        raise Errno(ENOMEM)  # another thread mapped into the range meanwhile
                    run = []
                    for number in range(first, first + count):
                        page = self._cache.page(cached, offset // PAGE_SIZE + number,
                                                lambda: self._allocate(PAGE_SIZE))
                        piece_start = start + number * PAGE_SIZE
                        run.append(Mapping(piece_start, piece_start + PAGE_SIZE, prot & _PROT_BITS, flags, page,
                                           page.offset, name, past_end=page.index * PAGE_SIZE >= file_size,
                                           may_write=may_write))
                    space.table.add_run(run)
                    pieces.extend(run)
                    await trio.lowlevel.checkpoint()
            except (OSError, Errno) as error:  # no page for the rest: none of the mapping stays
                done = len(pieces) * PAGE_SIZE
                self._unmap_range(space, start, start + done)
                self._commit(space, -(charge - self._charge(done, prot, flags, True)))
                if replaced:  # the old mappings are gone too (as Linux may leave it): out of the stub
                    await space.platform.unmap(start, length)
                raise error if isinstance(error, Errno) else Errno(error.errno) from None
            for number, piece in enumerate(pieces):
                if space.table.find(piece.start) is not piece:  # unmapped by another thread meanwhile
                    continue
                await space.platform.map(piece.start, PAGE_SIZE, piece.stub_prot, piece.offset,
                                         populate=bool(flags & (MAP_POPULATE | MAP_LOCKED)))
                await _checkpoint_every(number)
            return start
        finally:
            if replaced:
                self._stub_calls -= 1
            self._free_released()

    def _length_and_place(self, space: Space, addr: int, length: int, flags: int) -> tuple[int, int]:
        """The checks do_mmap makes before it looks at the mapping's type: a length (EINVAL if
        zero, ENOMEM if it rounds past 2^64 or the address space) and a place for it (EINVAL,
        ENOMEM, EPERM, EEXIST as :meth:`_place`). Changes nothing."""
        if length == 0:
            raise Errno(EINVAL)
        length = page_align(length)
        if length == 0 or length > self._top:
            raise Errno(ENOMEM)
        return length, self._place(space, addr, length, flags)

    def _place(self, space: Space, addr: int, length: int, flags: int) -> int:
        """Where a new mapping goes: fixed, the hint if free, else top-down below mmap_base."""
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):  # (get_unmapped_area's order of errors)
            if addr + length > self._top:
                raise Errno(ENOMEM)
            if addr % PAGE_SIZE:
                raise Errno(EINVAL)
            if addr < MMAP_MIN_ADDR:
                raise Errno(EPERM)
            if flags & MAP_FIXED_NOREPLACE and not space.table.is_free(addr, addr + length):
                raise Errno(EEXIST)
            return addr
        hint = addr & ~(PAGE_SIZE - 1)
        if hint >= MMAP_MIN_ADDR and hint + length <= self._top and space.table.is_free(hint, hint + length):
            return hint
        ceiling, floor = (LOW_2GB, MMAP_MIN_ADDR) if flags & MAP_32BIT else (self._mmap_base, MMAP_MIN_ADDR)
        start = space.table.free_range_below(ceiling, length, floor)
        if start is None and not flags & MAP_32BIT:
            start = space.table.free_range_below(self._top, length, floor)
        if start is None:
            raise Errno(ENOMEM)
        return start

    @staticmethod
    def _charge(length: int, prot: int, flags: int, shared: bool) -> int:
        """Bytes a mapping commits: writable private memory, and shared memory, unless NORESERVE."""
        if flags & MAP_NORESERVE and not shared:
            return 0
        return length if shared or prot & PROT_WRITE else 0

    def _charge_of(self, mapping: Mapping, start: int, end: int) -> int:
        """What the part of ``mapping`` inside [start, end) commits."""
        size = min(end, mapping.end) - max(start, mapping.start)
        return self._charge(size, mapping.prot, mapping.flags, mapping.shared)

    def _replacing(self, space: Space, start: int, length: int, flags: int, charge: int) -> list[Mapping]:
        """The mappings a new one of ``charge`` over [start, start+length) replaces (MAP_FIXED),
        once the limit is known to allow it with what they free (ENOMEM otherwise)."""
        replaced = space.table.overlapping(start, start + length) if flags & MAP_FIXED else []
        self._check_limit(charge - sum(self._charge_of(m, start, start + length) for m in replaced))
        return replaced

    def _check_limit(self, amount: int) -> None:
        """ENOMEM if committing ``amount`` more bytes would pass the sandbox's memory limit."""
        if amount > 0 and not self._account.fits(amount):
            raise Errno(ENOMEM)

    def _commit(self, space: Space, amount: int) -> None:
        self._check_limit(amount)
        self._account.anon += amount
        space.committed += amount

    @operation
    async def munmap(self, asid: int, addr: int, length: int) -> None:
        space = self._space(asid)
        if length == 0:
            raise Errno(EINVAL)
        addr, end = page_range(addr, length, TASK_SIZE, beyond=EINVAL)
        end = min(end, self._top)  # (nothing of the guest's lies above: the stub page is not its to unmap)
        if addr < end and self._unmap_range(space, addr, end):
            await space.platform.unmap(addr, end - addr)
            self._free_released()

    def _unmap_range(self, space: Space, start: int, end: int) -> bool:
        """Drop the mappings over [start, end) from the table; whether there were any.

        The stub's mappings are replaced or removed by the caller.
        """
        taken = space.table.take(start, end)
        for mapping in taken:
            self._uncommit(space, mapping)
            self._release(mapping)
        return bool(taken)

    def _uncommit(self, space: Space, mapping: Mapping) -> None:
        amount = self._charge(mapping.size, mapping.prot, mapping.flags, mapping.shared)
        self._account.anon -= amount
        space.committed -= amount

    def _release(self, mapping: Mapping) -> None:
        """A mapping piece is gone: release its pages unless other mappings share them.

        Private pages have one holder unless fork shared them: those lose a holder, the others
        are punched. A backing no mapping references any more goes back to the allocator.
        """
        backing = mapping.backing
        backing.refs -= 1
        if not backing.shared:
            self._drop_private(mapping.offset, mapping.offset + mapping.size)
        if backing.refs == 0:
            if isinstance(backing, CachedPage):
                self._cache.drop(backing)
            if backing.shared:
                self._memfile.punch(backing.offset, backing.length)
            self._to_free.append((backing.offset, backing.length))

    def _drop_private(self, start: int, end: int) -> None:
        """One holder lets go of the private pages [start, end) of the memory file."""
        if not self._shared:
            self._memfile.punch(start, end - start)
            return
        for lo, hi, extra in list(self._shared.segments(start, end)):
            if not extra:
                self._memfile.punch(lo, hi - lo)
        self._shared.add(start, end, -1)

    async def _unshare(self, space: Space, mapping: Mapping, lo: int, hi: int, copy: bool = True) -> None:
        """Make the private pages of ``mapping`` from ``lo`` (towards ``hi``) this space's own.

        Works on the run of pages from ``lo`` that have the same number of holders: pages other
        spaces still hold are replaced by fresh ones — a copy, or zeros (``copy`` False, for
        MADV_DONTNEED) — while pages this space holds alone are taken over as they are (up to
        ``_TAKEOVER_WINDOW`` past ``lo`` at least: making pages writable costs the host time
        per page it maps, and what stays read-only need not be protected again at the next
        fork). Either way they are mapped as asked again (writable, if the mapping is).
        Callers loop until the range they need is done.
        """
        offset = mapping.file_offset(lo)
        run_lo, run_hi, extra = next(self._shared.segments(offset, mapping.file_offset(mapping.end)))
        if not extra:
            if not copy:
                return  # (MADV_DONTNEED of pages held alone: the caller punches them)
            end = min(max(hi, lo + _TAKEOVER_WINDOW), mapping.start + (run_hi - mapping.offset))
            space.table.split(lo)
            space.table.split(end)
            pieces = space.table.overlapping(lo, end)
            for piece in pieces:
                piece.cow = False
            space.table.merge(end)
            space.table.merge(lo)
            for run_start, run_end, prot, _ in _stub_runs(pieces, by_offset=False):
                await space.platform.protect(run_start, run_end - run_start, prot)
            return
        end = min(hi, mapping.start + (run_hi - mapping.offset))
        [old] = space.table.take(lo, end)
        backing = Backing(self._allocate(end - lo), end - lo, False)
        if copy:
            self._memfile.copy(old.offset, backing.offset, end - lo)
        fresh = Mapping(lo, end, old.prot, old.flags, backing, backing.offset, old.name, old.past_end)
        space.table.add(fresh)
        await space.platform.map(lo, end - lo, fresh.stub_prot, fresh.offset)
        self._release(old)  # (only now: until the stub maps the new pages, it reads the old)
        self._free_released()

    async def _unshare_range(self, space: Space, addr: int, end: int, need: int) -> None:
        """Before the Sentry writes guest [addr, end): unshare its copy-on-write pages, up to
        the first byte lacking the ``need`` protection (the write fails there anyway)."""
        position = addr & ~(PAGE_SIZE - 1)
        while position < end:
            mapping = space.table.find(position)
            if mapping is None or mapping.prot & need != need or mapping.past_end:
                return
            if mapping.cow:
                await self._unshare(space, mapping, position, page_up(end))
                continue  # the pages at ``position`` are this space's own now
            position = mapping.end

    def _free_released(self) -> None:
        """Return released ranges to the allocator: the stubs no longer map them. Not while
        another operation's stub call is under way (it may be the one that drops some of
        them): the last operation to finish frees them all."""
        if self._stub_calls:
            return
        for offset, length in self._to_free:
            self._memfile.free(offset, length)
        self._to_free.clear()

    @operation
    async def mprotect(self, asid: int, addr: int, length: int, prot: int) -> None:
        space = self._space(asid)
        if prot & PROT_GROWSDOWN and prot & PROT_GROWSUP or addr % PAGE_SIZE:
            raise Errno(EINVAL)
        if length == 0:
            return
        addr, end = page_range(addr, length, self._top, wraps=ENOMEM)
        if prot & ~(_PROT_BITS | PROT_SEM | PROT_GROWSDOWN | PROT_GROWSUP):
            raise Errno(EINVAL)
        first = space.table.mapping_at(space.table.index_at_or_after(addr))
        if first is None or first.start >= end:
            raise Errno(ENOMEM)
        if prot & PROT_GROWSDOWN:  # down to the start of a stack mapping
            if not first.flags & MAP_GROWSDOWN:
                raise Errno(EINVAL)
            addr = min(addr, first.start)
        elif first.start > addr:
            raise Errno(ENOMEM)
        elif prot & PROT_GROWSUP:  # x86 has no mapping that grows up
            raise Errno(EINVAL)
        # Linux changes the mappings in order and stops at the first hole, with ENOMEM: what
        # came before the hole has changed.
        reach = addr
        for mapping in space.table.overlapping(addr, end):
            if mapping.start > reach:
                break
            reach = mapping.end
        hole, end = reach < end, min(reach, end)
        prot &= _PROT_BITS
        # mprotect_fixup: write access only to files opened for writing; what comes before the
        # first such mapping changes, then EACCES.
        denied = self._first_unwritable(space, addr, end) if prot & PROT_WRITE else None
        if denied is not None:
            if denied == addr:
                raise Errno(EACCES)
            end, hole = denied, False
        space.table.split(addr)
        space.table.split(end)
        affected = space.table.overlapping(addr, end)
        change = sum(self._charge(m.size, prot, m.flags, m.shared) - self._charge_of(m, addr, end) for m in affected)
        self._commit(space, change)
        for mapping in affected:
            mapping.prot = prot
        # Copy-on-write pages stay read-only in the stub whatever the guest asks: a write to
        # them still has to fault (and pages past a file's end stay inaccessible).
        for start, stop, stub_prot, _ in _stub_runs(affected, by_offset=False):
            await space.platform.protect(start, stop - start, stub_prot)
        if denied is not None:
            raise Errno(EACCES)
        if hole:
            raise Errno(ENOMEM)

    @staticmethod
    def _first_unwritable(space: Space, addr: int, end: int) -> int | None:
        """Where in [addr, end) the first MAP_SHARED mapping of a file not opened for writing
        starts, if any."""
        for mapping in space.table.overlapping(addr, end):
            if mapping.shared and not mapping.may_write:
                return max(addr, mapping.start)
        return None

    @operation
    async def mremap(self, asid: int, old_addr: int, old_size: int, new_size: int, flags: int,
                     new_addr: int) -> int:
        """mremap(2): shrink, grow in place, or move by re-mapping the same memory-file ranges."""
        space = self._space(asid)
        if old_addr % PAGE_SIZE or flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP):
            raise Errno(EINVAL)
        if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) and not flags & MREMAP_MAYMOVE:
            raise Errno(EINVAL)
        if flags & MREMAP_DONTUNMAP and old_size != new_size:
            raise Errno(EINVAL)
        old_size, new_size = page_align(old_size), page_align(new_size)
        if new_size == 0 or new_size > self._top:
            raise Errno(EINVAL)
        if flags & MREMAP_FIXED:  # the target is judged before the source is looked up
            if new_addr % PAGE_SIZE or new_addr > TASK_SIZE - new_size:
                raise Errno(EINVAL)
            if new_addr < old_addr + old_size and old_addr < new_addr + new_size:
                raise Errno(EINVAL)
        mapping = space.table.find(old_addr)
        if mapping is None:
            raise Errno(EFAULT)
        if old_size == 0:
            if not mapping.shared or not flags & MREMAP_MAYMOVE:
                raise Errno(EINVAL)
            return await self._duplicate(space, mapping, old_addr, new_size, flags, new_addr)
        vma_end = space.table.vma_end(mapping)
        if old_addr + old_size > vma_end:
            raise Errno(EFAULT)
        if flags & MREMAP_FIXED:
            return await self._move(space, old_addr, old_size, new_size, flags, self._fixed_target(
                space, old_addr, old_size, new_size, new_addr))
        if not flags & MREMAP_DONTUNMAP:  # which always moves
            if new_size <= old_size:
                if new_size < old_size and self._unmap_range(space, old_addr + new_size, old_addr + old_size):
                    await space.platform.unmap(old_addr + new_size, old_size - new_size)
                    self._free_released()
                return old_addr
            tail, new_end = old_addr + old_size, old_addr + new_size
            if tail == vma_end and new_end <= self._top and space.table.is_free(tail, new_end):
                await self._extend(space, space.table.find(tail - 1) or mapping, tail, new_end)
                return old_addr
        if not flags & MREMAP_MAYMOVE:
            raise Errno(ENOMEM)
        target = self._place(space, 0, new_size, mapping.flags & MAP_32BIT)
        return await self._move(space, old_addr, old_size, new_size, flags, target)

    def _fixed_target(self, space: Space, old_addr: int, old_size: int, new_size: int, new_addr: int) -> int:
        if new_addr % PAGE_SIZE or new_addr + new_size > self._top:
            raise Errno(EINVAL)
        if new_addr < old_addr + old_size and old_addr < new_addr + new_size:
            raise Errno(EINVAL)
        if new_addr < MMAP_MIN_ADDR:  # (Linux unmaps the target first; nothing to unmap below here)
            raise Errno(EPERM)
        self._unmap_range(space, new_addr, new_addr + new_size)
        return new_addr

    async def _extend(self, space: Space, mapping: Mapping, start: int, end: int) -> None:
        """Grow a mapping upwards: anonymous memory with fresh memory (its own backing: backings
        need not be contiguous), a shared file mapping with the file's next pages."""
        self._commit(space, self._charge(end - start, mapping.prot, mapping.flags, mapping.shared))
        if isinstance(mapping.backing, CachedPage):
            await self._extend_file(space, mapping, mapping.backing, start, end)
            return
        backing = Backing(self._allocate(end - start), end - start, mapping.shared)
        extension = Mapping(start, end, mapping.prot, mapping.flags, backing, backing.offset, mapping.name)
        space.table.add(extension)
        await space.platform.map(start, end - start, mapping.prot, backing.offset)

    async def _extend_file(self, space: Space, last: Mapping, page: CachedPage, start: int, end: int) -> None:
        """Grow a shared file mapping whose last piece is ``last`` (on ``page``) over the pages of
        the file that follow, as mmap_file maps them: past the file's end they are SIGBUS."""
        cached = page.file
        file_size = _file_size(cached.fd)
        first_index = page.index + last.size // PAGE_SIZE
        for number in range((end - start) // PAGE_SIZE):
            index = first_index + number
            next_page = self._cache.page(cached, index, lambda: self._allocate(PAGE_SIZE))
            piece_start = start + number * PAGE_SIZE
            piece = Mapping(piece_start, piece_start + PAGE_SIZE, last.prot, last.flags, next_page, next_page.offset,
                            last.name, past_end=index * PAGE_SIZE >= file_size, may_write=last.may_write)
            space.table.add(piece)
            await space.platform.map(piece_start, PAGE_SIZE, piece.stub_prot, piece.offset)
            await _checkpoint_every(number)

    async def _move(self, space: Space, old_addr: int, old_size: int, new_size: int, flags: int,
                    target: int) -> int:
        """Move [old_addr, +old_size) to ``target`` without copying: the same file ranges, re-mapped."""
        kept = min(old_size, new_size)
        if new_size < old_size:
            self._unmap_range(space, old_addr + new_size, old_addr + old_size)
        pieces = space.table.take(old_addr, old_addr + kept)
        delta = target - old_addr
        for piece in pieces:
            piece.start += delta
            piece.end += delta
            space.table.add(piece, new_reference=False)
            await space.platform.map(piece.start, piece.size, piece.stub_prot, piece.offset)
        if new_size > old_size:
            await self._extend(space, pieces[-1], target + old_size, target + new_size)
        if flags & MREMAP_DONTUNMAP:
            first = pieces[0]
            await self.mmap_fresh(space, old_addr, old_size, first.prot, first.flags, first.name)
        else:
            await space.platform.unmap(old_addr, old_size)
        self._free_released()
        return target

    async def mmap_fresh(self, space: Space, start: int, length: int, prot: int, flags: int, name: str) -> None:
        """Fresh zeroed memory at a free range (the old range of MREMAP_DONTUNMAP)."""
        backing = Backing(self._allocate(length), length, bool(flags & MAP_SHARED))
        space.table.add(Mapping(start, start + length, prot, flags, backing, backing.offset, name))
        await space.platform.map(start, length, prot, backing.offset)

    async def _duplicate(self, space: Space, mapping: Mapping, old_addr: int, new_size: int, flags: int,
                         new_addr: int) -> int:
        """mremap with old_size 0: a second mapping of the same shared memory."""
        if flags & MREMAP_FIXED:
            target = self._fixed_target(space, old_addr, 0, new_size, new_addr)
        else:
            target = self._place(space, 0, new_size, 0)
        size = min(new_size, mapping.end - old_addr)
        twin = Mapping(target, target + size, mapping.prot, mapping.flags, mapping.backing,
                       mapping.file_offset(old_addr), mapping.name, mapping.past_end)
        space.table.add(twin)
        await space.platform.map(target, size, twin.stub_prot, twin.offset)
        return target

    # --- the program break --------------------------------------------------------------------

    @operation
    async def set_brk_base(self, asid: int, addr: int) -> None:
        """Where the heap starts: the page after the executable's bss (the loader calls this)."""
        space = self._space(asid)
        space.brk_start = space.brk = page_up(addr)

    @operation
    async def brk(self, asid: int, addr: int) -> int:
        """brk(2): move the break; on failure the old break comes back, never an errno.

        The pages the break gives up stay mapped in the stub, emptied, for its next growth
        (services/mm/heap.py): moving the break up and down, as malloc does, asks the stub
        for nothing.
        """
        space = self._space(asid)
        if addr < space.brk_start:
            return space.brk
        old_end, new_end = page_up(space.brk), page_up(addr)
        if new_end < old_end:
            await self._lower_break(space, new_end, old_end)
        elif new_end > old_end:
            if new_end > self._mmap_base or not space.table.is_free(old_end, new_end):
                return space.brk
            try:
                await self._raise_break(asid, space, old_end, new_end)
            except Errno:
                return space.brk
        space.brk = addr
        return addr

    async def _lower_break(self, space: Space, new_end: int, old_end: int) -> None:
        """Take [new_end, old_end) from the guest: into the slack if it is all heap as brk
        made it, else (the guest mapped something else there) unmapped as munmap would.
        Under a memory limit, always unmapped: what a guest wrote into its slack would be
        memory the limit does not count."""
        taken = space.table.take(new_end, old_end)
        for mapping in taken:
            self._uncommit(space, mapping)
        if taken and self._limit is None and all(self._slack_may_keep(mapping) for mapping in taken):
            for mapping in taken:
                self._memfile.punch(mapping.offset, mapping.size)
            space.slack.keep(taken)
            excess = space.slack.beyond(SLACK_MOST)
            for start, end in excess:  # (each stub call releases the pieces it unmaps)
                await space.platform.unmap(start, end - start)
            if excess:
                self._free_released()
            return
        for mapping in taken:
            self._release(mapping)
        if taken:
            await space.platform.unmap(new_end, old_end - new_end)
            self._free_released()

    def _slack_may_keep(self, mapping: Mapping) -> bool:
        """Whether a piece the break gives up is heap as brk maps it, held by this space alone."""
        return (mapping.name == "[heap]" and mapping.prot == PROT_READ | PROT_WRITE and not mapping.cow
                and mapping.flags & (MAP_TYPE | MAP_ANONYMOUS) == MAP_PRIVATE | MAP_ANONYMOUS
                and not mapping.past_end
                and not (self._shared and self._shared.shared_bytes(mapping.offset, mapping.offset + mapping.size)))

    async def _raise_break(self, asid: int, space: Space, old_end: int, new_end: int) -> None:
        """Give the guest [old_end, new_end): the slack's pages from ``old_end`` on first, as
        they are (emptied again: a guest may have written above its break), then fresh ones."""
        self._check_limit(new_end - old_end)
        reused = space.slack.take(old_end, new_end)
        for mapping in reused:
            self._memfile.punch(mapping.offset, mapping.size)
            self._commit(space, mapping.size)
            space.table.add(mapping, new_reference=False)
            space.table.merge(mapping.start)
        fresh_start = reused[-1].end if reused else old_end
        if fresh_start == new_end:
            return
        try:
            await self.mmap(asid, fresh_start, new_end - fresh_start, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, "[heap]")
        except Errno:
            if reused:  # the break stays: what it took from the slack goes back there
                back = space.table.take(old_end, fresh_start)
                for mapping in back:
                    self._uncommit(space, mapping)
                space.slack.keep(back)
            raise

    # --- advice -------------------------------------------------------------------------------

    @operation
    async def madvise(self, asid: int, addr: int, length: int, advice: int) -> None:
        space = self._space(asid)
        # (MADV_HWPOISON and MADV_SOFT_OFFLINE need memory-failure support: none, so EINVAL.)
        if advice not in _HINT_ADVICE and advice not in _ZEROING_ADVICE and advice != MADV_REMOVE:
            raise Errno(EINVAL)
        addr, end = page_range(addr, length, self._top)  # a wrapping range: EINVAL, nothing touched
        if end == addr:
            return
        zeroing: list[tuple[int, int]] = []
        for mapping in space.table.overlapping(addr, end):
            lo, hi = max(addr, mapping.start), min(end, mapping.end)
            anonymous = bool(mapping.flags & MAP_ANONYMOUS)
            if advice == MADV_REMOVE:  # (hole punching: for shared memory; a private file copy is EACCES)
                if not mapping.shared:
                    raise Errno(EINVAL if anonymous else EACCES)
                self._memfile.punch(mapping.file_offset(lo), hi - lo)
            elif advice == MADV_FREE and not (anonymous and not mapping.shared):
                raise Errno(EINVAL)  # lazy freeing is for private anonymous memory only
            elif advice in _ZEROING_ADVICE and not mapping.shared and anonymous:
                # (A private copy of a file's pages would go back to the file's bytes in Linux; it
                # keeps its own here, rather than reading zeros where the file has data.)
                if mapping.cow:
                    zeroing.append((lo, hi))
                else:
                    self._memfile.punch(mapping.file_offset(lo), hi - lo)
        covered = space.table.covers(addr, end)
        for lo, hi in zeroing:
            await self._zero_private(space, lo, hi)
        if not covered:
            raise Errno(ENOMEM)

    async def _zero_private(self, space: Space, lo: int, hi: int) -> None:
        """MADV_DONTNEED of copy-on-write memory: pages this space holds alone are punched,
        pages another space still holds are replaced by fresh zeroed ones of its own."""
        position = lo
        while position < hi:
            mapping = space.table.find(position)
            if mapping is None or mapping.shared:
                return  # unmapped or replaced by another thread meanwhile
            stop = min(hi, mapping.end)
            if not mapping.cow:
                self._memfile.punch(mapping.file_offset(position), stop - position)
                position = stop
                continue
            offset = mapping.file_offset(position)
            run_lo, run_hi, extra = next(self._shared.segments(offset, mapping.file_offset(stop)))
            if extra:
                await self._unshare(space, mapping, position, stop, copy=False)
            else:
                self._memfile.punch(run_lo, run_hi - run_lo)
            position += run_hi - run_lo

    @operation
    async def msync(self, asid: int, addr: int, length: int, flags: int) -> None:
        space = self._space(asid)
        if addr % PAGE_SIZE or flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE):
            raise Errno(EINVAL)
        if flags & MS_ASYNC and flags & MS_SYNC:
            raise Errno(EINVAL)
        end = addr + page_align(length)  # a length within a page of 2^64 rounds to nothing, as in Linux
        if end >= 1 << 64:
            raise Errno(ENOMEM)
        if end > addr and not space.table.covers(addr, end):
            raise Errno(ENOMEM)
        for mapping in space.table.overlapping(addr, end):
            if isinstance(mapping.backing, CachedPage):
                self._cache.write_back(mapping.backing)

    @operation
    async def sync_file(self, asid: int, fd: int) -> None:
        """Write back the stores made through MAP_SHARED mappings of the file behind host ``fd``."""
        self._cache.sync(fd)

    @operation
    async def reload_file(self, asid: int, fd: int) -> None:
        """The file behind host ``fd`` was written: its cached pages read it again, and mapped
        pages now past its end (a truncate) fault with SIGBUS at the next access, as on Linux."""
        past_end = set(map(id, self._cache.reload(fd)))
        if not past_end:
            return
        for space in self._spaces.values():
            for mapping in space.table:
                if id(mapping.backing) in past_end and not mapping.past_end:
                    mapping.past_end = True
                    await space.platform.protect(mapping.start, mapping.size, mapping.stub_prot)

    @operation
    async def mincore(self, asid: int, addr: int, length: int) -> bytes:
        """One byte per page of [addr, addr+length): 1 if the page holds memory."""
        space = self._space(asid)
        if addr % PAGE_SIZE:
            raise Errno(EINVAL)
        if not fits(addr, length, self._top):
            raise Errno(ENOMEM)
        end = addr + page_up(length)
        if end > self._top or not space.table.covers(addr, end):
            raise Errno(ENOMEM)
        return b"".join(
            self._memfile.resident(m.file_offset(max(addr, m.start)), min(end, m.end) - max(addr, m.start))
            for m in space.table.overlapping(addr, end)
        )

    # --- guest memory: the hot path ----------------------------------------------------------

    def _views(self, asid: int, addr: int, length: int, need: int) -> list[memoryview]:
        """Views of the memory file covering guest [addr, addr+length); EFAULT if any byte is
        unmapped or lacks the ``need`` protection bits (0: any mapping will do)."""
        space = self._spaces.get(asid)
        if space is None or addr + length > _U64_LIMIT:
            raise Errno(EFAULT)
        mapping = space.table.find(addr)
        if mapping is not None and addr + length <= mapping.end and mapping.prot & need == need \
                and not mapping.past_end:
            start = mapping.offset + (addr - mapping.start)
            return [self._view[start:start + length]]
        views = []
        position, end = addr, addr + length
        while position < end:
            if mapping is None or mapping.start > position or mapping.prot & need != need or mapping.past_end:
                raise Errno(EFAULT)
            stop = min(end, mapping.end)
            start = mapping.file_offset(position)
            views.append(self._view[start:start + stop - position])
            position = stop
            mapping = space.table.find(position) if position < end else None
        return views

    @operation
    async def copy_in(self, asid: int, addr: int, length: int) -> bytes:
        if length == 0:
            return b""
        views = self._views(asid, addr, length, PROT_READ)
        return bytes(views[0]) if len(views) == 1 else b"".join(views)

    @operation
    async def copy_out(self, asid: int, addr: int, data: Any, force: bool = False) -> None:
        """Write guest memory. Like Linux's copy_to_user, a write that runs into memory it may
        not write fills what comes before that, then fails with EFAULT."""
        if not data:
            return
        need = 0 if force else PROT_WRITE
        space = self._spaces.get(asid)
        if space is None:
            raise Errno(EFAULT)
        length = len(data)
        mapping = space.table.find(addr)
        if mapping is not None and addr + length <= mapping.end and mapping.prot & need == need \
                and not mapping.cow and not mapping.past_end:  # one mapping, nothing shared: the hot path
            start = mapping.offset + (addr - mapping.start)
            self._view[start:start + length] = data
            return
        await self._unshare_range(space, addr, addr + length, need)
        try:
            views = self._views(asid, addr, len(data), need)
        except Errno:
            prefix = self._accessible(asid, addr, len(data), need)
            if prefix:
                await self.copy_out(asid, addr, memoryview(data)[:prefix], force)
            raise
        if len(views) == 1:
            views[0][:] = data
            return
        source = memoryview(data)
        position = 0
        for view in views:
            view[:] = source[position:position + len(view)]
            position += len(view)

    def _accessible(self, asid: int, addr: int, length: int, need: int) -> int:
        """How many bytes from ``addr`` (up to ``length``) have the ``need`` protection, before
        the first that has not. Bounded by the number of mappings, not by ``length``."""
        space = self._spaces.get(asid)
        position, end = addr, addr + length
        while space is not None and position < end:
            mapping = space.table.find(position)
            if mapping is None or mapping.prot & need != need or mapping.past_end:
                break
            position = mapping.end
        return min(position, end) - addr

    @operation
    async def iovecs(self, asid: int, addr: int, length: int, write: bool) -> list[memoryview]:
        if length == 0:
            return []
        space = self._spaces.get(asid)
        if write and space is not None and self._shared:
            await self._unshare_range(space, addr, addr + length, PROT_WRITE)
        return self._views(asid, addr, length, PROT_WRITE if write else PROT_READ)

    @operation
    async def read_cstring(self, asid: int, addr: int, limit: int) -> bytes:
        """A NUL-terminated string of at most ``limit`` bytes (NUL included)."""
        space = self._space(asid)
        parts = []
        position, remaining = addr, limit
        while remaining > 0:
            mapping = space.table.find(position)
            if mapping is None or not mapping.prot & PROT_READ or mapping.past_end:
                raise Errno(EFAULT)
            chunk = min(remaining, mapping.end - position)
            start = mapping.file_offset(position)
            nul = self._memfile.find_nul(start, start + chunk)
            if nul >= 0:
                parts.append(self._view[start:nul].tobytes())
                return b"".join(parts)
            parts.append(self._view[start:start + chunk].tobytes())
            position += chunk
            remaining -= chunk
        raise Errno(ENAMETOOLONG)

    # --- what others ask about ------------------------------------------------------------------

    @operation
    async def fault(self, asid: int, addr: int, is_write: bool, may_be_stale: bool = False) -> tuple[int, int] | None:
        """What a guest's memory fault at ``addr`` is: (signal, si_code), or None when it is
        resolved and the access can simply run again.

        A write to copy-on-write memory is resolved: the pages become the writer's own. So is a
        fault on a writable page that ``may_be_stale`` (another thread may have resolved it while
        this one's access was faulting; the task says so unless it just retried this address).

        Otherwise SIGSEGV with SEGV_MAPERR (no mapping) or SEGV_ACCERR (a protection
        violation); SIGBUS with BUS_ADRERR for a page of a file mapping past the file's end,
        unless (MAP_SHARED) the file has grown to reach it since: then the page is mapped as
        asked and resolved.
        """
        space = self._space(asid)
        mapping = space.table.find(addr)
        if mapping is None:
            return Signal.SIGSEGV, SEGV_MAPERR
        page = addr & ~(PAGE_SIZE - 1)
        if not mapping.past_end:
            if not mapping.prot & PROT_WRITE:  # (a read of readable memory never faults)
                return Signal.SIGSEGV, SEGV_ACCERR
            if mapping.cow:
                await self._unshare(space, mapping, page, min(mapping.end, page + _COW_WINDOW))
                return None
            if may_be_stale:
                # Re-asserting the page's protection waits for a remap another thread queued.
                await space.platform.protect(page, PAGE_SIZE, mapping.stub_prot)
                return None
            return Signal.SIGSEGV, SEGV_ACCERR
        backing = mapping.backing
        if isinstance(backing, CachedPage) and self._file_reaches(backing):
            mapping.past_end = False
            await space.platform.protect(mapping.start, mapping.size, mapping.stub_prot)
            return None
        return Signal.SIGBUS, BUS_ADRERR

    @staticmethod
    def _file_reaches(page: CachedPage) -> bool:
        """Whether the file has grown to hold (some of) the cached ``page`` by now."""
        try:
            return page.index * PAGE_SIZE < _file_size(page.file.fd)
        except Errno:
            return False

    @operation
    async def maps(self, asid: int) -> list[tuple[int, int, int, int, int, str]]:
        """The VMAs as /proc/PID/maps lists them: (start, end, prot, flags, offset, name)."""
        return self._space(asid).table.listing()

    @operation
    async def smaps(self, asid: int) -> list[tuple[int, int, int, int, int, str, int, int, int]]:
        """Each VMA's row of /proc/PID/maps, with its resident, shared and proportional bytes."""
        rows = []
        for group in self._space(asid).table.vmas():
            rss = shared = pss = 0
            for mapping in group:
                for lo, hi in self._memfile.extents(mapping.offset, mapping.offset + mapping.size):
                    rss += hi - lo
                    if mapping.shared:  # (MAP_SHARED memory: shared when more than one mapping has it)
                        holders = mapping.backing.refs
                        shared += hi - lo if holders > 1 else 0
                        pss += (hi - lo) // max(holders, 1)
                        continue
                    for seg_lo, seg_hi, extra in self._shared.segments(lo, hi):
                        # A kept file copy is one holder of its pages but maps none of them.
                        mappers = extra + (not self._copies.holds(seg_lo))
                        shared += seg_hi - seg_lo if mappers > 1 else 0
                        pss += (seg_hi - seg_lo) // max(mappers, 1)
            first = group[0]
            rows.append((first.start, group[-1].end, first.prot, first.flags, 0, first.name, rss, shared, pss))
        return rows

    @operation
    async def usage(self) -> dict[str, int]:
        """Memory the sandbox holds (allocated) and has promised (committed), the memory file's
        high-water mark (file_end), and the private memory fork shares (cow_ranges), in bytes."""
        # (Kept file copies are charged to the account as buffers, but their pages are in the
        # memory file, so "allocated" counts them already.)
        return {"allocated": self._memfile.allocated_bytes(), "committed": self._account.anon,
                "file_end": self._memfile.end, "cow_ranges": len(self._shared),
                "shmem": self._account.shmem, "buffers": self._account.buffers - self._copies.bytes,
                "file_copies": self._copies.bytes}

    @operation
    async def memory_account(self) -> MemoryAccount:
        """The sandbox's memory account, for the VFS to charge file pages and pipe buffers to
        (once, at its start: see services/mm/account.py for why it is not an operation per charge)."""
        return self._account


def _stub_runs(mappings: list[Mapping], by_offset: bool = True) -> list[tuple[int, int, int, int]]:
    """(start, end, stub protection, file offset) of runs of mappings (in address order) that
    one host mmap (``by_offset``: contiguous in the memory file too) or mprotect can cover."""
    runs: list[tuple[int, int, int, int]] = []
    for m in mappings:
        prot = m.stub_prot
        if runs:
            start, end, last_prot, offset = runs[-1]
            if end == m.start and last_prot == prot and (not by_offset or offset + (end - start) == m.offset):
                runs[-1] = (start, m.end, prot, offset)
                continue
        runs.append((m.start, m.end, prot, m.offset))
    return runs


def _file_size(fd: int) -> int:
    """The size of the host file behind ``fd`` (EBADF and the like as the errno)."""
    try:
        return os.fstat(fd).st_size
    except OSError as error:
        raise Errno(error.errno) from None
