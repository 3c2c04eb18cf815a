"""The ELF loader against real gcc output (read back with readelf) and against broken files."""

from __future__ import annotations

import errno
import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader_samples import HELLO, BytesReader, minimal, phdr
from abi.linux import PROT_EXEC, PROT_READ, PROT_WRITE, TASK_SIZE, page_down, page_up
from abi.errno import Errno
from kernel.loader.elf import (
    ELF_ET_DYN_BASE,
    ET_DYN,
    ET_EXEC,
    PF_R,
    PF_W,
    PF_X,
    PT_INTERP,
    PT_LOAD,
    PT_PHDR,
    choose_bias,
    parse_elf,
    plan_load,
)

PT_NAMES = {"LOAD": PT_LOAD, "INTERP": PT_INTERP, "PHDR": PT_PHDR, "GNU_STACK": 0x6474E551}
_ROW = re.compile(r"^\s+(\w+)\s+0x(\w+) 0x(\w+) 0x\w+ 0x(\w+) 0x(\w+) (.{3}) 0x(\w+)$")


@dataclass
class ReadelfRow:
    type: str
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    flags: int
    align: int


@dataclass
class Readelf:
    type: int
    entry: int
    rows: list[ReadelfRow]


def readelf(path: Path) -> Readelf:
    """The ELF type, entry point and program headers as ``readelf -lW`` prints them."""
    out = subprocess.run(["readelf", "-lW", str(path)], check=True, capture_output=True,
                         text=True).stdout
    elf_type = ET_DYN if "Elf file type is DYN" in out else ET_EXEC
    entry = int(re.search(r"Entry point 0x(\w+)", out).group(1), 16)
    rows = []
    for line in out.splitlines():
        m = _ROW.match(line)
        if m:
            name, off, vaddr, filesz, memsz, flg, align = m.groups()
            flags = (PF_R if "R" in flg else 0) | (PF_W if "W" in flg else 0) | (PF_X if "E" in flg else 0)
            rows.append(ReadelfRow(name, int(off, 16), int(vaddr, 16), int(filesz, 16),
                                   int(memsz, 16), flags, int(align, 16)))
    return Readelf(elf_type, entry, rows)


def reader_for(path: Path) -> BytesReader:
    return BytesReader(path.read_bytes())


def expect_enoexec(data: bytes) -> None:
    with pytest.raises(Errno) as info:
        parse_elf(BytesReader(data))
    assert info.value.errno == errno.ENOEXEC


def prot_of(flags: int) -> int:
    return ((PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0)
            | (PROT_EXEC if flags & PF_X else 0))


def check_against_readelf(path: Path, bias: int) -> None:
    """parse_elf and plan_load agree with readelf on every header and every PT_LOAD."""
    truth = readelf(path)
    reader = reader_for(path)
    elf = parse_elf(reader)
    assert elf.type == truth.type
    assert elf.entry == truth.entry
    assert len(elf.program_headers) == len(truth.rows) == elf.phnum
    for ph, row in zip(elf.program_headers, truth.rows):
        if row.type in PT_NAMES:
            assert ph.type == PT_NAMES[row.type]
        assert (ph.offset, ph.vaddr, ph.filesz, ph.memsz, ph.flags, ph.align) == (
            row.offset, row.vaddr, row.filesz, row.memsz, row.flags, row.align)
    plan = plan_load(elf, reader, bias)
    loads = [row for row in truth.rows if row.type == "LOAD"]
    assert len(plan.segments) == len(loads)
    for seg, row in zip(plan.segments, loads):
        assert seg.start == page_down(row.vaddr + bias)
        assert seg.end == page_up(row.vaddr + bias + row.memsz)
        assert seg.prot == prot_of(row.flags)
        assert seg.data_addr == row.vaddr + bias
        assert seg.data == reader.data[row.offset:row.offset + row.filesz]
    assert plan.entry == truth.entry + bias
    assert plan.brk_start == page_up(max(r.vaddr + r.memsz for r in loads) + bias)
    assert plan.lowest_address == page_down(loads[0].vaddr + bias)
    assert plan.highest_address == page_up(max(r.vaddr + r.memsz for r in loads) + bias)
    stacks = [row for row in truth.rows if row.type == "GNU_STACK"]
    assert plan.executable_stack == bool(stacks and stacks[-1].flags & PF_X)
    # AT_PHDR: the table's bytes in memory are the file's program headers.
    holder = next(r for r in loads if r.offset <= elf.phoff < r.offset + r.filesz)
    assert plan.phdr_addr == holder.vaddr + elf.phoff - holder.offset + bias
    assert (plan.phent, plan.phnum) == (56, len(truth.rows))


def test_static_executable_matches_readelf(compile_c):
    path = compile_c(HELLO, "-static")
    elf = parse_elf(reader_for(path))
    assert elf.type == ET_EXEC and elf.interpreter is None and not elf.executable_stack
    assert choose_bias(elf) == 0
    check_against_readelf(path, 0)
    assert plan_load(elf, reader_for(path), 0).phdr_addr == 0x400040


def test_static_pie_lands_at_elf_et_dyn_base(compile_c):
    path = compile_c(HELLO, "-static-pie")
    elf = parse_elf(reader_for(path))
    assert elf.type == ET_DYN and elf.interpreter is None and not elf.executable_stack
    bias = choose_bias(elf)
    assert bias == ELF_ET_DYN_BASE == 0x555555554000
    check_against_readelf(path, bias)


def test_static_pie_as_interpreter_takes_the_callers_base(compile_c):
    path = compile_c(HELLO, "-static-pie")
    elf = parse_elf(reader_for(path))
    assert choose_bias(elf, interpreter_base=0x7FFFF7FC0000) == 0x7FFFF7FC0000
    check_against_readelf(path, 0x7FFFF7FC0000)
    with pytest.raises(ValueError):
        choose_bias(elf, interpreter_base=0x7FFFF7FC0010)


def test_dynamic_executable_names_its_interpreter(compile_c):
    path = compile_c(HELLO)
    elf = parse_elf(reader_for(path))
    assert elf.interpreter == "/lib64/ld-linux-x86-64.so.2"
    check_against_readelf(path, choose_bias(elf))
    plan = plan_load(elf, reader_for(path), choose_bias(elf))
    phdr = next(ph for ph in elf.program_headers if ph.type == PT_PHDR)
    assert plan.phdr_addr == phdr.vaddr + plan.load_bias
    assert plan.interpreter == elf.interpreter


def test_execstack_is_reported(compile_c):
    path = compile_c(HELLO, "-static", "-z", "execstack", "-Wl,--no-warn-execstack")
    assert parse_elf(reader_for(path)).executable_stack
    check_against_readelf(path, 0)


def test_synthetic_minimal_plan():
    data = minimal().build()
    reader = BytesReader(data)
    elf = parse_elf(reader)
    plan = plan_load(elf, reader, choose_bias(elf))
    assert [(s.start, s.end, s.prot) for s in plan.segments] == [
        (0x400000, 0x401000, PROT_READ),
        (0x401000, 0x402000, PROT_READ | PROT_EXEC),
        (0x403000, 0x406000, PROT_READ | PROT_WRITE),
    ]
    assert plan.segments[2].data == data[0x1000:0x1040]
    assert plan.brk_start == 0x406000 and plan.entry == 0x401000 and plan.phdr_addr == 0x400040


def test_dyn_with_nonzero_first_vaddr_lands_on_the_base():
    image = minimal(base=0x10000, type=ET_DYN)
    elf = parse_elf(BytesReader(image.build()))
    bias = choose_bias(elf)
    assert bias == ELF_ET_DYN_BASE - 0x10000
    plan = plan_load(elf, BytesReader(image.build()), bias)
    assert plan.lowest_address == ELF_ET_DYN_BASE
    assert choose_bias(elf, interpreter_base=0x7F0000000000) + 0x10000 == 0x7F0000000000


def test_dyn_base_honours_large_segment_alignment():
    image = minimal(type=ET_DYN, base=0)
    image.phdrs[:3] = [replace(ph, align=0x200000) for ph in image.phdrs[:3]]
    elf = parse_elf(BytesReader(image.build()))
    assert elf.max_alignment == 0x200000
    assert choose_bias(elf) == ELF_ET_DYN_BASE & ~0x1FFFFF


def test_pt_interp_is_read_up_to_its_nul():
    image = minimal(tail=b"/lib/ld.so\0")
    offset = 0x1000 + len(image.body)
    image.phdrs.insert(0, phdr(PT_INTERP, PF_R, offset, 0x400000 + offset, 11, 11, 1))
    assert parse_elf(BytesReader(image.build())).interpreter == "/lib/ld.so"


def test_no_phdr_in_memory_is_refused_by_plan_load():
    image = minimal(phoff=0x800)
    image.phdrs[0] = replace(image.phdrs[0], filesz=0x400, memsz=0x400)
    elf = parse_elf(BytesReader(image.build()))
    with pytest.raises(Errno) as info:
        plan_load(elf, BytesReader(image.build()), 0)
    assert info.value.errno == errno.ENOEXEC


def _with_phdr(index: int, **changes) -> bytes:
    image = minimal()
    image.phdrs[index] = replace(image.phdrs[index], **changes)
    return image.build()


def _interp(data: bytes, filesz: int | None = None, offset: int | None = None) -> bytes:
    image = minimal(tail=data)
    at = 0x1000 + len(image.body)
    image.phdrs.insert(0, phdr(PT_INTERP, PF_R, at if offset is None else offset, 0,
                               len(data) if filesz is None else filesz, len(data), 1))
    return image.build()


MALFORMED = {
    "empty": b"",
    "not elf": b"#!/bin/sh\necho hi\n" + bytes(100),
    "truncated header": minimal().build()[:40],
    "truncated phdrs": minimal().build()[:64 + 56 * 2],
    "32-bit class": minimal(ident=b"\x7fELF\x01\x01\x01" + bytes(9)).build(),
    "big endian": minimal(ident=b"\x7fELF\x02\x02\x01" + bytes(9)).build(),
    "wrong machine": minimal(machine=3).build(),
    "relocatable": minimal(type=1).build(),
    "core file": minimal(type=4).build(),
    "bad phentsize": minimal(phentsize=32).build(),
    "zero phnum": minimal(phnum=0).build(),
    "huge phnum": minimal(phnum=0xFFFF).build(),
    "phnum just over 64KiB": minimal(phnum=65536 // 56 + 1).build(),
    "phoff beyond eof": minimal(phoff=1 << 40).build(),
    "phoff overflow": minimal(phoff=(1 << 64) - 8).build(),
    "filesz > memsz": _with_phdr(1, filesz=0x2000, memsz=0x1000),
    "offset beyond eof": _with_phdr(1, offset=0x10_0000),
    "filesz beyond eof": _with_phdr(1, filesz=0x10_0000, memsz=0x10_0000),
    "offset overflow": _with_phdr(1, offset=(1 << 64) - 0x1000),
    "vaddr not congruent": _with_phdr(1, vaddr=0x401010),
    "vaddr beyond user space": _with_phdr(1, vaddr=TASK_SIZE),
    "memsz overflow": _with_phdr(2, memsz=(1 << 64) - 1),
    "vaddr + memsz wraps": _with_phdr(2, vaddr=(1 << 64) - 0x1000),
    "no PT_LOAD": minimal(phdrs=[phdr(0x6474E551, PF_R | PF_W, 0, 0, 0, 0)]).build(),
    "interp without NUL": _interp(b"/lib/ld.so"),
    "interp too short": _interp(b"\0"),
    "interp too long": _interp(b"/" * 4096 + b"\0"),
    "interp beyond eof": _interp(b"/lib/ld.so\0", offset=1 << 30),
    "interp filesz beyond eof": _interp(b"/lib/ld.so\0", filesz=4000),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_files_are_enoexec(name):
    expect_enoexec(MALFORMED[name])


def test_segment_pushed_out_of_user_space_by_the_bias():
    image = minimal(type=ET_DYN, base=0)
    reader = BytesReader(image.build())
    elf = parse_elf(reader)
    with pytest.raises(Errno) as info:
        plan_load(elf, reader, TASK_SIZE - 0x2000)
    assert info.value.errno == errno.ENOEXEC


def _parse_and_plan(data: bytes) -> None:
    """Only ENOEXEC may escape, whatever the bytes."""
    reader = BytesReader(data)
    try:
        elf = parse_elf(reader)
        plan_load(elf, reader, choose_bias(elf))
    except Errno as error:
        assert error.errno == errno.ENOEXEC


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_only_raise_enoexec(data):
    _parse_and_plan(data)
    _parse_and_plan(b"\x7fELF\x02\x01\x01" + data)


_VALID = minimal().build()


@settings(max_examples=500)
@given(st.lists(st.tuples(st.integers(0, 64 + 56 * 4 - 1), st.integers(0, 255)), min_size=1,
                max_size=8))
def test_mutated_headers_only_raise_enoexec(edits):
    data = bytearray(_VALID)
    for offset, value in edits:
        data[offset] = value
    _parse_and_plan(bytes(data))


@settings(max_examples=200)
@given(st.integers(0, len(_VALID)))
def test_truncations_only_raise_enoexec(length):
    _parse_and_plan(_VALID[:length])
