"""Inputs for the loader tests: C sources for gcc, and hand-built ELF images to break."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from kernel.loader.elf import (
    EM_X86_64,
    ET_EXEC,
    PF_R,
    PF_W,
    PF_X,
    PT_GNU_STACK,
    PT_LOAD,
    ProgramHeader,
)

HELLO = r"""
#include <stdio.h>
int zeroes[4096];
int answer = 42;
int main(void) { printf("%d\n", answer + zeroes[7]); return 0; }
"""

#: Dumps this process's initial stack, from sp to the stack top, as hex (see test_initial_stack).
STACK_DUMP = r"""
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
int main(int argc, char **argv) {
    unsigned char *sp = (unsigned char *)(argv - 1);
    const char *execfn = (const char *)getauxval(AT_EXECFN);
    unsigned char *top = (unsigned char *)execfn + strlen(execfn) + 1 + sizeof(void *);
    printf("%lx %lx\n", (unsigned long)sp, (unsigned long)top);
    for (unsigned char *p = sp; p < top; p++) printf("%02x", *p);
    printf("\n");
    return 0;
}
"""

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
IDENT = b"\x7fELF\x02\x01\x01" + bytes(9)


class BytesReader:
    """A FileReader over bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def pread(self, length: int, offset: int) -> bytes:
        return self.data[offset:offset + length]


def phdr(type: int, flags: int, offset: int, vaddr: int, filesz: int, memsz: int,
         align: int = 0x1000) -> ProgramHeader:
    """A program header with a page alignment unless told otherwise."""
    return ProgramHeader(type, flags, offset, vaddr, filesz, memsz, align)


def pack_phdr(ph: ProgramHeader) -> bytes:
    """The Elf64_Phdr bytes of ``ph`` (p_paddr = p_vaddr, as linkers write it)."""
    return PHDR.pack(ph.type, ph.flags, ph.offset, ph.vaddr, ph.vaddr, ph.filesz, ph.memsz,
                     ph.align)


@dataclass
class Image:
    """An ELF file as fields; ``build()`` gives its bytes (headers, then ``body`` at 0x1000)."""

    phdrs: list[ProgramHeader] = field(default_factory=list)
    ident: bytes = IDENT
    type: int = ET_EXEC
    machine: int = EM_X86_64
    entry: int = 0x401000
    phoff: int = 64
    phentsize: int = PHDR.size
    phnum: int | None = None
    body: bytes = b"\xcc" * 64
    tail: bytes = b""

    def build(self) -> bytes:
        phnum = len(self.phdrs) if self.phnum is None else self.phnum
        header = EHDR.pack(self.ident, self.type, self.machine, 1, self.entry, self.phoff, 0, 0,
                           64, self.phentsize, phnum, 64, 0, 0)
        table = b"".join(pack_phdr(p) for p in self.phdrs)
        head = bytearray(0x1000)
        head[:64] = header
        head[self.phoff:self.phoff + len(table)] = table
        return bytes(head[:max(0x1000, self.phoff + len(table))]) + self.body + self.tail


def minimal(base: int = 0x400000, **changes) -> Image:
    """A valid static ET_EXEC: headers in a read-only page, code in an R+X page, some bss."""
    phdrs = [
        phdr(PT_LOAD, PF_R, 0, base, 0x1000, 0x1000),
        phdr(PT_LOAD, PF_R | PF_X, 0x1000, base + 0x1000, 64, 64),
        phdr(PT_LOAD, PF_R | PF_W, 0x1000, base + 0x3000, 64, 0x2100),
        phdr(PT_GNU_STACK, PF_R | PF_W, 0, 0, 0, 0, 16),
    ]
    return replace(Image(phdrs=phdrs, entry=base + 0x1000), **changes)
