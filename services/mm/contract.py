"""The ``mm`` service's contract: guest address spaces, their mappings, and guest memory.

Every operation the memory manager offers, with its arguments, reply and errnos. Our actor
(:class:`services.mm.actor.MemoryManager`) and any replacement subclass :class:`MemoryContract`
and implement every operation; ``tests/contracts/test_mm.py`` is the behaviour they must show.

An address space is named by its *asid*, an int the MM hands out; every operation on an asid
the MM does not know fails with EFAULT. Guest memory is pages of the sandbox's memory file
(``kernel.memfile``): addresses are page-aligned where Linux wants them to be, and a mapping's
pages are mapped into the address space's stub whole, so a guest touching valid memory never
traps into the Sentry. Placement of a mapping without MAP_FIXED is the MM's policy: a free,
page-aligned hint at or above vm.mmap_min_addr (65536) is honoured, anything else goes wherever the
policy puts it (ours: top-down below the stack gap).

Replies are ints, bytes and tuples, except two that carry references on purpose: ``iovecs``
(views of the memory file, so bulk data reaches host I/O without a copy) and ``new_thread``
(a platform context, which the caller owns from then on).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from kernel.bus import Contract, operation
from services.mm.account import MemoryAccount
from platforms import Context

#: One VMA as /proc/PID/maps lists it: (start, end, prot, flags, file offset, name).
MapsRow = tuple[int, int, int, int, int, str]
#: A futex's identity: ("shared", memory-file offset) or (asid, guest address).
FutexId = tuple[object, int]
#: A row of /proc/PID/smaps: a MapsRow, then resident, shared and proportional bytes.
SmapsRow = tuple[int, int, int, int, int, str, int, int, int]


class MemoryContract(Contract):
    """The ``mm`` service."""

    service: ClassVar[str] = "mm"

    # --- address spaces -------------------------------------------------------------------

    @operation
    async def create(self) -> int:
        """A new, empty address space (with its stub); replies its asid."""
        raise NotImplementedError

    @operation
    async def destroy(self, asid: int) -> None:
        """Free every mapping of the address space and kill its stub. An unknown asid is no
        error (the last user of a space may already have destroyed it)."""
        raise NotImplementedError

    @operation
    async def new_thread(self, asid: int) -> Context:
        """A new guest thread running in the address space; its registers are the caller's to
        set. EFAULT for an unknown asid."""
        raise NotImplementedError

    @operation
    async def fork(self, asid: int) -> int:
        """A copy of the address space for a forked child; replies the child's asid.

        Private memory is copied, MAP_SHARED memory stays shared with the parent, the break
        is the parent's. ENOMEM if the copy would pass the memory limit.
        """
        raise NotImplementedError

    @operation
    async def translate(self, asid: int, addr: int, write: bool = False) -> int:
        """The memory-file offset behind guest ``addr``: a futex's key, equal for every
        address space sharing the page. EFAULT if the page is unmapped, unreadable, past the end
        of its file or (``write``) not writable."""
        raise NotImplementedError

    @operation
    async def futex_key(self, asid: int, addr: int, private: bool, write: bool = False) -> tuple[FutexId, int]:
        """Which futex the word at guest ``addr`` is, and where it lies: (identity, memory-file
        offset). As Linux's get_futex_key: a word of MAP_SHARED memory, unless the operation is
        FUTEX_PRIVATE, is the same futex in every address space that maps the page (its
        identity is the page's place in the memory file); any other word is the futex of this
        address space at this address, whatever page is behind it now (so a copy-on-write
        page copied between a wait and a wake is still the same futex). With ``write`` the
        caller will store into the word: the page must be the caller's own. Errnos as
        ``translate``."""
        raise NotImplementedError

    # --- mappings ---------------------------------------------------------------------------

    @operation
    async def mmap(self, asid: int, addr: int, length: int, prot: int, flags: int, name: str = "") -> int:
        """mmap(2) of anonymous memory (MAP_ANONYMOUS must be set); replies the address.

        Fresh memory reads as zeroes. ``name`` is what /proc/PID/maps shows ("[stack]" by
        default for MAP_GROWSDOWN). MAP_FIXED replaces what was there; MAP_FIXED_NOREPLACE
        does not. Errnos: EINVAL (length 0, no or a bad mapping type, MAP_ANONYMOUS missing, a
        fixed address not page-aligned), EOPNOTSUPP (MAP_SHARED_VALIDATE with an unknown flag),
        EPERM (a fixed address below vm.mmap_min_addr), EEXIST (MAP_FIXED_NOREPLACE over a mapping),
        ENOMEM (longer than the address space, no free range, or past the memory limit).
        """
        raise NotImplementedError

    @operation
    async def mmap_file(self, asid: int, addr: int, length: int, prot: int, flags: int, fd: int, offset: int,
                        name: str = "", writable: bool | None = None, identity: Hashable | None = None) -> int:
        """mmap(2) of the file behind host ``fd`` from ``offset``; replies the address.

        MAP_PRIVATE maps a copy of the file's bytes: with an ``identity`` (the VFS's promise
        that the bytes cannot change, ``MapGrant``), one copy shared copy-on-write by every
        private mapping made under it. MAP_SHARED maps pages shared by every
        shared mapping of the file, whose stores reach the file on ``msync``/``sync_file``.
        Whole pages past the file's end fault with SIGBUS (see ``fault``). ``writable``: whether
        a MAP_SHARED mapping may be made writable later (the guest's description was opened for
        writing; None: as ``fd`` is), else mprotect to PROT_WRITE is EACCES. Errnos as ``mmap``,
        plus EINVAL for a MAP_SHARED ``offset`` not page-aligned and the host's errno for ``fd``.
        """
        raise NotImplementedError

    @operation
    async def munmap(self, asid: int, addr: int, length: int) -> None:
        """munmap(2): unmap whole pages of [addr, addr+length); unmapped pages in the range
        are no error. EINVAL for ``addr`` not page-aligned, ``length`` 0 or past the top."""
        raise NotImplementedError

    @operation
    async def mprotect(self, asid: int, addr: int, length: int, prot: int) -> None:
        """mprotect(2). EINVAL for ``addr`` not page-aligned or unknown ``prot`` bits (or both
        PROT_GROWSDOWN and PROT_GROWSUP); ENOMEM if part of the range is unmapped, or making
        private memory writable passes the memory limit."""
        raise NotImplementedError

    @operation
    async def mremap(self, asid: int, old_addr: int, old_size: int, new_size: int, flags: int,
                     new_addr: int) -> int:
        """mremap(2): shrink, grow in place or (MREMAP_MAYMOVE) move; the contents move with
        the mapping. Replies the new address.

        ``old_size`` 0 with MREMAP_MAYMOVE duplicates a MAP_SHARED mapping. Errnos: EINVAL (bad
        flags or combinations, ``old_addr`` not page-aligned, ``new_size`` 0, overlapping fixed
        ranges), EFAULT (``old_addr`` not mapped, or the old range is not one mapping), ENOMEM
        (cannot grow in place without MREMAP_MAYMOVE, or past the memory limit).
        """
        raise NotImplementedError

    @operation
    async def set_brk_base(self, asid: int, addr: int) -> None:
        """Where the heap starts (the loader calls this with the end of the bss); the break
        is set there too."""
        raise NotImplementedError

    @operation
    async def brk(self, asid: int, addr: int) -> int:
        """brk(2): move the break to ``addr`` and reply the break. Never an errno: a break
        below the base, over another mapping or past the memory limit replies the old one.
        The heap shows as "[heap]" in ``maps``."""
        raise NotImplementedError

    @operation
    async def madvise(self, asid: int, addr: int, length: int, advice: int) -> None:
        """madvise(2). MADV_DONTNEED and MADV_FREE make private memory read as zeroes again;
        MADV_REMOVE frees shared memory; the other known advice is a hint. Errnos: EINVAL
        (``addr`` not page-aligned, unknown advice, MADV_REMOVE on private memory), EPERM
        (MADV_HWPOISON), ENOMEM (part of the range is unmapped)."""
        raise NotImplementedError

    @operation
    async def msync(self, asid: int, addr: int, length: int, flags: int) -> None:
        """msync(2): write back the shared file pages of the range. EINVAL (``addr`` not
        page-aligned, unknown flags, MS_ASYNC with MS_SYNC), ENOMEM (part of the range is
        unmapped)."""
        raise NotImplementedError

    @operation
    async def sync_file(self, asid: int, fd: int) -> None:
        """Write back the stores made through MAP_SHARED mappings of the file behind host
        ``fd`` (fsync and friends call this)."""
        raise NotImplementedError

    @operation
    async def reload_file(self, asid: int, fd: int) -> None:
        """The file behind host ``fd`` was written by write(2): its shared mappings see the
        new bytes."""
        raise NotImplementedError

    @operation
    async def mincore(self, asid: int, addr: int, length: int) -> bytes:
        """mincore(2): one byte per page of the range, 1 where the page holds memory. EINVAL
        for ``addr`` not page-aligned; ENOMEM if part of the range is unmapped."""
        raise NotImplementedError

    # --- guest memory -------------------------------------------------------------------------

    @operation
    async def copy_in(self, asid: int, addr: int, length: int) -> bytes:
        """The bytes of guest [addr, addr+length). EFAULT if any page is unmapped, unreadable
        or past the end of its file."""
        raise NotImplementedError

    @operation
    async def copy_out(self, asid: int, addr: int, data: bytes | bytearray | memoryview, force: bool = False) -> None:
        """Write ``data`` at guest ``addr``. EFAULT if any page is unmapped, past the end of
        its file, or not writable (unless ``force``: the loader writing into read-only text)."""
        raise NotImplementedError

    @operation
    async def iovecs(self, asid: int, addr: int, length: int, write: bool) -> list[memoryview]:
        """Views of the memory file covering guest [addr, addr+length), in order, for host I/O
        straight into (``write``) or out of guest memory. EFAULT as ``copy_out``/``copy_in``."""
        raise NotImplementedError

    @operation
    async def read_cstring(self, asid: int, addr: int, limit: int) -> bytes:
        """The NUL-terminated string at ``addr`` without its NUL, reading at most ``limit``
        bytes. EFAULT if it runs into an unreadable page; ENAMETOOLONG if no NUL comes within
        ``limit``."""
        raise NotImplementedError

    # --- what others ask about ------------------------------------------------------------------

    @operation
    async def fault(self, asid: int, addr: int, is_write: bool, may_be_stale: bool = False) -> tuple[int, int] | None:
        """What a guest's memory fault at ``addr`` means: (signal, si_code), or None when the
        MM resolved it and the access can run again.

        A write to copy-on-write memory (private memory after fork) is resolved. A fault on a
        writable page is resolved too if it ``may_be_stale`` (another thread made the page
        writable meanwhile): the task says so unless its last fault, resolved, was at the same
        address — then it is a real violation (an instruction fetch).

        (SIGSEGV, SEGV_MAPERR) where nothing is mapped, (SIGSEGV, SEGV_ACCERR) for a protection
        violation, (SIGBUS, BUS_ADRERR) for a page of a file mapping past the file's end (None
        if a MAP_SHARED file has grown to reach it since).
        """
        raise NotImplementedError

    @operation
    async def maps(self, asid: int) -> list[MapsRow]:
        """The address space's VMAs in address order, as /proc/PID/maps lists them."""
        raise NotImplementedError

    @operation
    async def smaps(self, asid: int) -> list[SmapsRow]:
        """The VMAs as :meth:`maps` lists them, each followed by the bytes of it that are
        resident, resident and shared with another mapping (copy-on-write since fork, or
        MAP_SHARED memory mapped more than once), and its proportional share (PSS)."""
        raise NotImplementedError

    @operation
    async def usage(self) -> dict[str, int]:
        """Memory of the whole sandbox in bytes: ``allocated`` (held now), ``committed``
        (writable private and shared memory promised to the guests) and ``file_end`` (the
        memory file's high-water mark); ``cow_ranges``, how many memory-file ranges fork
        shares copy-on-write; ``shmem`` and ``buffers``, the file pages (tmpfs, overlay upper
        layer, memfd) and pipe buffers charged to the sandbox's memory account; ``file_copies``,
        the image files kept for private mappings (in ``allocated``; charged to the account too)."""
        raise NotImplementedError

    @operation
    async def memory_account(self) -> MemoryAccount:
        """The sandbox's memory account (services/mm/account.py), which the VFS charges file
        pages and pipe buffers to. Asked once, by the VFS at its start."""
        raise NotImplementedError
