"""ELF64 x86-64 executables: parse and validate them, and plan where their segments go.

This module is pure: it reads the file only through a :class:`FileReader` and never touches an
address space. :func:`parse_elf` decides whether execve may load the file at all (anything Linux's
``load_elf_binary`` would refuse, and anything it would only discover too late, after the point
of no return, is ``ENOEXEC`` here). :func:`plan_load` turns a parsed file and a load bias into the
list of anonymous mappings and file bytes the caller puts into a fresh address space.
"""

from __future__ import annotations

import errno
import os
import struct
from dataclasses import dataclass
from typing import Protocol

from abi.linux import (
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    TASK_SIZE,
    page_down,
    page_up,
)
from abi.errno import Errno

# --- <uapi/linux/elf.h>, <uapi/linux/elf-em.h> ----------------------------------------------
# Kept here, not in abi/linux.py, because only the loader reads ELF files.
ELFMAG = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
ET_EXEC = 2
ET_DYN = 3
EM_X86_64 = 62

PT_NULL = 0
PT_LOAD = 1
PT_DYNAMIC = 2
PT_INTERP = 3
PT_NOTE = 4
PT_PHDR = 6
PT_TLS = 7
PT_GNU_STACK = 0x6474E551

PF_X = 0x1
PF_W = 0x2
PF_R = 0x4

#: The x86-64 kernel's limit on the size of the program header table (load_elf_phdrs).
MAX_PHDR_TABLE = 65536
#: Longest PT_INTERP accepted, NUL included (PATH_MAX).
PATH_MAX = 4096
#: Where Linux puts a PIE main program when ASLR is off: two thirds of the 47-bit user space
#: (ELF_ET_DYN_BASE = DEFAULT_MAP_WINDOW / 3 * 2), page-aligned.
ELF_ET_DYN_BASE = page_down(TASK_SIZE // 3 * 2)

#: Elf64_Ehdr: e_ident[16], e_type, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags,
#: e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx.
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
#: Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align.
_PHDR = struct.Struct("<IIQQQQQQ")
EHDR_SIZE = _EHDR.size
PHDR_SIZE = _PHDR.size


class FileReader(Protocol):
    """Where the loader's bytes come from: an open file of the image, or bytes in a test."""

    size: int

    def pread(self, length: int, offset: int) -> bytes:
        """Up to ``length`` bytes at ``offset``; fewer only at end of file."""
        ...


@dataclass(slots=True, frozen=True)
class ProgramHeader:
    """One Elf64_Phdr, as the file has it (p_paddr is ignored by every loader, so dropped)."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int

    @property
    def prot(self) -> int:
        """The PROT_* bits of a mapping of this segment."""
        return ((PROT_READ if self.flags & PF_R else 0)
                | (PROT_WRITE if self.flags & PF_W else 0)
                | (PROT_EXEC if self.flags & PF_X else 0))


@dataclass(slots=True, frozen=True)
class ElfFile:
    """A validated ELF executable or shared object: what execve needs from its headers."""

    type: int
    entry: int
    phoff: int
    phentsize: int
    phnum: int
    program_headers: tuple[ProgramHeader, ...]
    #: PT_INTERP's path (up to its first NUL, decoded with os.fsdecode), or None.
    interpreter: str | None
    #: True only if a PT_GNU_STACK asks for PF_X (x86-64 has no READ_IMPLIES_EXEC default).
    executable_stack: bool

    @property
    def loads(self) -> tuple[ProgramHeader, ...]:
        """The PT_LOAD headers in file order."""
        return tuple(ph for ph in self.program_headers if ph.type == PT_LOAD)

    @property
    def min_vaddr(self) -> int:
        """The page-aligned lowest address the PT_LOAD segments ask for (before bias)."""
        return page_down(min(ph.vaddr for ph in self.loads))

    @property
    def load_span(self) -> int:
        """Bytes of address space the image needs, from its lowest to its highest page."""
        return page_up(max(ph.vaddr + ph.memsz for ph in self.loads)) - self.min_vaddr

    @property
    def max_alignment(self) -> int:
        """Largest power-of-two PT_LOAD p_align, at least a page: the alignment of a DYN's base."""
        aligns = [ph.align for ph in self.loads if ph.align > 0 and ph.align & (ph.align - 1) == 0]
        return max([PAGE_SIZE, *aligns])


@dataclass(slots=True, frozen=True)
class Segment:
    """One anonymous mapping [start, end) with ``prot``, and the file bytes to copy into it.

    ``data`` goes at ``data_addr`` (the segment's biased p_vaddr); the rest of the mapping is
    left as the zero-filled memory a fresh anonymous mapping has, which is exactly what Linux
    guarantees for the bss (memsz beyond filesz). Two segments may share a page at their edges
    in exotic files; map every segment before copying any data so no copy is zeroed by a later
    mapping.

    Where the bytes are in the file (``file_offset``, ``file_size``: p_offset and p_filesz) and
    p_memsz (``memory_size``) are kept too, for a loader that maps the file's pages instead of
    copying (a plan made without reading the data has ``data`` empty).
    """

    start: int
    end: int
    prot: int
    data: bytes
    data_addr: int
    file_offset: int = 0
    file_size: int = 0
    memory_size: int = 0


@dataclass(slots=True, frozen=True)
class LoadPlan:
    """Everything execve must do to an empty address space to load one ELF image."""

    segments: tuple[Segment, ...]
    entry: int
    #: Where the program headers are in memory (AT_PHDR).
    phdr_addr: int
    phent: int
    phnum: int
    #: The initial program break: the page after the end of the highest segment's bss.
    brk_start: int
    load_bias: int
    lowest_address: int
    highest_address: int
    interpreter: str | None
    executable_stack: bool


def _noexec() -> Errno:
    return Errno(errno.ENOEXEC)


def _read_exact(reader: FileReader, length: int, offset: int) -> bytes:
    """``length`` bytes at ``offset`` or ENOEXEC: a file too short for its own headers."""
    if length == 0:
        return b""
    if offset < 0 or offset + length > reader.size:
        raise _noexec()
    data = reader.pread(length, offset)
    if len(data) != length:
        raise _noexec()
    return bytes(data)


def _check_ident(ident: bytes, elf_type: int, machine: int) -> None:
    """ELF magic, 64-bit, little-endian, x86-64, and a type execve can run."""
    if ident[:4] != ELFMAG or ident[4] != ELFCLASS64 or ident[5] != ELFDATA2LSB:
        raise _noexec()
    if elf_type not in (ET_EXEC, ET_DYN) or machine != EM_X86_64:
        raise _noexec()


def _check_load(ph: ProgramHeader, file_size: int) -> None:
    """A PT_LOAD Linux could map: bytes inside the file, fits user space, page-congruent."""
    if ph.filesz > ph.memsz:
        raise _noexec()
    if ph.offset + ph.filesz > file_size:
        raise _noexec()
    if ph.memsz > TASK_SIZE or ph.vaddr > TASK_SIZE - ph.memsz:
        raise _noexec()
    if (ph.vaddr - ph.offset) % PAGE_SIZE:
        raise _noexec()


def _read_interpreter(reader: FileReader, ph: ProgramHeader) -> str:
    """PT_INTERP's path: 2..PATH_MAX bytes ending in NUL (Linux's checks), cut at the first NUL."""
    if not 2 <= ph.filesz <= PATH_MAX:
        raise _noexec()
    raw = _read_exact(reader, ph.filesz, ph.offset)
    if raw[-1] != 0:
        raise _noexec()
    return os.fsdecode(raw[:raw.index(0)])


def _read_program_headers(reader: FileReader, phoff: int, phnum: int) -> list[ProgramHeader]:
    table = _read_exact(reader, phnum * PHDR_SIZE, phoff)
    headers = []
    for p_type, p_flags, offset, vaddr, _paddr, filesz, memsz, align in _PHDR.iter_unpack(table):
        headers.append(ProgramHeader(p_type, p_flags, offset, vaddr, filesz, memsz, align))
    return headers


def parse_elf(reader: FileReader) -> ElfFile:
    """Read and validate the headers of an executable; ENOEXEC for anything execve would refuse."""
    header = _read_exact(reader, EHDR_SIZE, 0)
    (ident, elf_type, machine, _version, entry, phoff, _shoff, _flags,
     _ehsize, phentsize, phnum, _shentsize, _shnum, _shstrndx) = _EHDR.unpack(header)
    _check_ident(ident, elf_type, machine)
    if phentsize != PHDR_SIZE or phnum < 1 or phnum * PHDR_SIZE > MAX_PHDR_TABLE:
        raise _noexec()
    headers = _read_program_headers(reader, phoff, phnum)
    interpreter: str | None = None
    executable_stack = False
    for ph in headers:
        if ph.type == PT_LOAD:
            _check_load(ph, reader.size)
        elif ph.type == PT_INTERP and interpreter is None:
            interpreter = _read_interpreter(reader, ph)
        elif ph.type == PT_GNU_STACK:
            executable_stack = bool(ph.flags & PF_X)
    if not any(ph.type == PT_LOAD for ph in headers):
        raise _noexec()
    return ElfFile(elf_type, entry, phoff, phentsize, phnum, tuple(headers), interpreter,
                   executable_stack)


def choose_bias(elf: ElfFile, interpreter_base: int | None = None) -> int:
    """The load bias: what is added to every p_vaddr.

    ET_EXEC is linked for fixed addresses: 0. An ET_DYN interpreter goes where the caller's MM
    found room (``interpreter_base``, page-aligned, ideally aligned to ``elf.max_alignment``). An
    ET_DYN main program goes at ELF_ET_DYN_BASE aligned to its largest segment alignment, as
    Linux places a PIE with ASLR off. The lowest segment's page-aligned vaddr is subtracted, so
    the image's first page lands exactly on the base.
    """
    if elf.type == ET_EXEC:
        return 0
    if interpreter_base is None:
        base = ELF_ET_DYN_BASE & ~(elf.max_alignment - 1)
    else:
        if interpreter_base % PAGE_SIZE:
            raise ValueError(f"interpreter base {interpreter_base:#x} is not page-aligned")
        base = interpreter_base
    return base - elf.min_vaddr


def _segment(ph: ProgramHeader, reader: FileReader, bias: int, read_data: bool) -> Segment:
    addr = ph.vaddr + bias
    if addr < 0 or addr + ph.memsz > TASK_SIZE:
        raise _noexec()
    if read_data:
        data = _read_exact(reader, ph.filesz, ph.offset)
    elif ph.filesz and (ph.offset < 0 or ph.offset + ph.filesz > reader.size):
        raise _noexec()  # (as _read_exact would find)
    else:
        data = b""
    return Segment(page_down(addr), page_up(addr + ph.memsz), ph.prot, data, addr, ph.offset, ph.filesz, ph.memsz)


def _phdr_vaddr(elf: ElfFile) -> int:
    """Unbiased address of the program header table: PT_PHDR, else the PT_LOAD holding it.

    Linux itself ignores PT_PHDR and takes the PT_LOAD whose file bytes start the table; the two
    agree in every linker's output. Unlike Linux (which then reports the bias alone), a table
    found in neither is refused: AT_PHDR would point at garbage and libc would misread it.
    """
    for ph in elf.program_headers:
        if ph.type == PT_PHDR:
            return ph.vaddr
    for ph in elf.loads:
        if ph.offset <= elf.phoff < ph.offset + ph.filesz:
            return ph.vaddr + (elf.phoff - ph.offset)
    raise _noexec()


def plan_load(elf: ElfFile, reader: FileReader, bias: int, read_data: bool = True) -> LoadPlan:
    """The mappings, file bytes and auxv addresses of ``elf`` loaded at ``bias``.

    ``bias`` must be page-aligned (use :func:`choose_bias`); ENOEXEC if a segment would leave
    user space at that bias or the program headers are not in memory (AT_PHDR would lie).
    Without ``read_data`` the segments say where their bytes are but do not carry them.
    """
    if bias % PAGE_SIZE:
        raise ValueError(f"load bias {bias:#x} is not page-aligned")
    segments = tuple(_segment(ph, reader, bias, read_data) for ph in elf.loads if ph.memsz)
    entry = elf.entry + bias
    if not segments or not 0 <= entry < TASK_SIZE:
        raise _noexec()
    phdr_addr = _phdr_vaddr(elf) + bias
    top = max(ph.vaddr + ph.memsz for ph in elf.loads) + bias
    return LoadPlan(
        segments=segments,
        entry=entry,
        phdr_addr=phdr_addr,
        phent=elf.phentsize,
        phnum=elf.phnum,
        brk_start=page_up(top),
        load_bias=bias,
        lowest_address=min(s.start for s in segments),
        highest_address=max(s.end for s in segments),
        interpreter=elf.interpreter,
        executable_stack=elf.executable_stack,
    )
