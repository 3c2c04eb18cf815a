"""The initial stack: decoded back from its bytes, and compared with a real Linux process's."""

from __future__ import annotations

import errno
import os
import struct
import subprocess
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loader_samples import STACK_DUMP
from abi.linux import (
    AT_EXECFN,
    AT_HWCAP,
    AT_NULL,
    AT_PLATFORM,
    AT_RANDOM,
    AT_SECURE,
    RLIM_INFINITY,
)
from abi.errno import Errno
from kernel.loader.stack import (
    ARG_MAX,
    MAX_ARG_STRLEN,
    InitialStack,
    build_initial_stack,
    linux_auxv,
)

TOP = 0x7FFFFFFFF000
RANDOM = bytes(range(100, 116))
AUXV = linux_auxv(hwcap=0x178BFBFF, hwcap2=2, minsigstksz=3376, sysinfo_ehdr=0x7FFFF7FC1000,
                  phdr=0x400040, phent=56, phnum=10, entry=0x4014F0, uid=1, euid=2, gid=3,
                  egid=4, rseq_feature_size=28, rseq_align=32)
U64 = struct.Struct("<Q")


@dataclass
class Decoded:
    argv: list[bytes]
    envp: list[bytes]
    auxv: list[tuple[int, int]]


class Memory:
    """Reads the stack image as the guest would, through absolute addresses."""

    def __init__(self, start: int, data: bytes) -> None:
        self.start, self.data = start, data

    def word(self, addr: int) -> int:
        return U64.unpack_from(self.data, addr - self.start)[0]

    def cstring(self, addr: int) -> bytes:
        offset = addr - self.start
        return self.data[offset:self.data.index(b"\0", offset)]

    def bytes(self, addr: int, length: int) -> bytes:
        return self.data[addr - self.start:addr - self.start + length]


def decode(mem: Memory, sp: int) -> Decoded:
    """argc, argv, envp and auxv from the words at ``sp``, following every pointer."""
    argc = mem.word(sp)
    argv = [mem.cstring(mem.word(sp + 8 * (1 + i))) for i in range(argc)]
    assert mem.word(sp + 8 * (1 + argc)) == 0
    addr = sp + 8 * (2 + argc)
    envp = []
    while (ptr := mem.word(addr)) != 0:
        envp.append(mem.cstring(ptr))
        addr += 8
    addr += 8
    auxv = []
    while True:
        key, value = mem.word(addr), mem.word(addr + 8)
        auxv.append((key, value))
        addr += 16
        if key == AT_NULL:
            return Decoded(argv, envp, auxv)


def build(argv, envp, execfn=b"/bin/prog", **kwargs) -> tuple[InitialStack, Decoded]:
    stack = build_initial_stack(TOP, argv, envp, execfn, AUXV, RANDOM, **kwargs)
    assert stack.start == stack.sp and stack.sp + len(stack.data) == TOP
    return stack, decode(Memory(stack.start, stack.data), stack.sp)


def test_layout_decodes_back():
    argv, envp = [b"prog", b"-x", b""], [b"HOME=/", b"PATH=/bin"]
    stack, got = build(argv, envp)
    mem = Memory(stack.start, stack.data)
    assert stack.sp % 16 == 0
    assert (got.argv, got.envp) == (argv, envp)
    aux = dict(got.auxv)
    assert mem.bytes(aux[AT_RANDOM], 16) == RANDOM
    assert mem.cstring(aux[AT_EXECFN]) == b"/bin/prog"
    assert mem.cstring(aux[AT_PLATFORM]) == b"x86_64"
    assert stack.data[-8:] == bytes(8)
    assert aux[AT_EXECFN] + len(b"/bin/prog") + 1 == TOP - 8
    # Strings are contiguous, argv[0] lowest, envp after argv, execfn last.
    assert mem.cstring(stack.arg_start) == b"prog"
    assert stack.arg_end == stack.env_start == mem.word(stack.sp + 8 * 5)
    assert stack.env_end == aux[AT_EXECFN]
    assert list(stack.auxv) == got.auxv


def test_auxv_order_is_linuxs():
    _, got = build([b"a"], [])
    keys = [key for key, _ in got.auxv]
    assert keys == [33, 51, 16, 6, 17, 3, 4, 5, 7, 8, 9, 11, 12, 13, 14, 23, 25, 26, 31, 15,
                    27, 28, 0]


def test_auxv_without_optional_entries():
    auxv = [(AT_HWCAP, 1), (AT_SECURE, 0)]
    stack = build_initial_stack(TOP, [b"a"], [], b"/a", auxv, RANDOM, platform=b"")
    keys = [key for key, _ in decode(Memory(stack.start, stack.data), stack.sp).auxv]
    assert keys == [AT_HWCAP, AT_SECURE, AT_RANDOM, AT_EXECFN, AT_NULL]


def test_empty_argv_gets_an_empty_argv0():
    _, got = build([], [b"A=1"])
    assert got.argv == [b""] and got.envp == [b"A=1"]


_strings = st.lists(st.binary(max_size=40).filter(lambda s: b"\0" not in s), max_size=12)


@settings(max_examples=200)
@given(_strings, _strings, st.binary(min_size=1, max_size=30).filter(lambda s: b"\0" not in s))
def test_any_arguments_round_trip_with_sp_aligned(argv, envp, execfn):
    stack, got = build(argv, envp, execfn)
    assert stack.sp % 16 == 0
    assert got.argv == (argv or [b""]) and got.envp == envp
    mem = Memory(stack.start, stack.data)
    assert mem.cstring(dict(got.auxv)[AT_EXECFN]) == execfn
    assert mem.bytes(dict(got.auxv)[AT_RANDOM], 16) == RANDOM


def _e2big(argv, envp=(), execfn=b"/p", **kwargs) -> None:
    with pytest.raises(Errno) as info:
        build_initial_stack(TOP, list(argv), list(envp), execfn, AUXV, RANDOM, **kwargs)
    assert info.value.errno == errno.E2BIG


def test_single_string_limit():
    longest = b"x" * (MAX_ARG_STRLEN - 1)
    build_initial_stack(TOP, [longest], [], b"/p", AUXV, RANDOM)
    _e2big([longest + b"x"])
    _e2big([b"p"], [longest + b"x"])
    _e2big([b"p"], execfn=longest + b"x")


@pytest.mark.parametrize("rlimit, limit", [
    (8 << 20, 2 << 20),             # a quarter of the rlimit
    (64 << 10, ARG_MAX),            # never below 32 pages
    (RLIM_INFINITY, 6 << 20),       # never above 3/4 of _STK_LIM
    (100 << 20, 6 << 20),
])
def test_total_limit(rlimit, limit):
    chunk = MAX_ARG_STRLEN - 1
    execfn = b"/p"
    count = limit // (chunk + 1) + 1
    ptr_size = 8 * count
    budget = limit - ptr_size - (len(execfn) + 1)
    strings = [b"x" * chunk] * (budget // (chunk + 1))
    rest = budget - len(strings) * (chunk + 1)
    padding = count - len(strings)
    # Fill the budget exactly with ``count`` strings (the last ones short), then go one over.
    tail = [b"y" * (rest // padding - 1)] * padding
    tail[-1] += b"y" * (rest - sum(len(s) + 1 for s in tail))
    exact = strings + tail
    assert sum(len(s) + 1 for s in exact) + len(execfn) + 1 + ptr_size == limit
    build_initial_stack(TOP, exact, [], execfn, AUXV, RANDOM, stack_limit=rlimit)
    exact[-1] += b"y"
    _e2big(exact, execfn=execfn, stack_limit=rlimit)


def test_pointers_alone_can_exceed_the_limit():
    _e2big([b""] * (ARG_MAX // 8), stack_limit=0)


def test_caller_errors_are_value_errors():
    with pytest.raises(ValueError):
        build_initial_stack(TOP, [b"a"], [], b"/a", AUXV + [(AT_RANDOM, 0)], RANDOM)
    with pytest.raises(ValueError):
        build_initial_stack(TOP, [b"a"], [], b"/a", AUXV, RANDOM[:8])
    with pytest.raises(ValueError):
        build_initial_stack(TOP, [b"a\0b"], [], b"/a", AUXV, RANDOM)
    with pytest.raises(ValueError):
        build_initial_stack(TOP + 8, [b"a"], [], b"/a", AUXV, RANDOM)


def _native_dump(program: str, argv: list[bytes], envp: list[bytes]) -> tuple[int, int, bytes]:
    """sp, stack top and the stack bytes of ``program`` run by Linux with ASLR off."""
    env = dict(item.split(b"=", 1) for item in envp)
    try:
        out = subprocess.run([b"setarch", b"-R", program.encode(), *argv[1:]], env=env,
                             check=True, capture_output=True).stdout.decode().split()
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"cannot run with ASLR off here: {error}")
    return int(out[0], 16), int(out[1], 16), bytes.fromhex(out[2])


@pytest.mark.parametrize("argv, envp", [
    ([b"prog"], []),
    ([b"prog", b"a", b"bb", b"", b"ccc"], [b"FOO=bar", b"X="]),
    ([b"p", b"x" * 1000], [b"A=" + b"y" * 37, b"B=1", b"C=22"]),
])
def test_identical_to_linux(compile_c, argv, envp):
    """Same inputs, same bytes: Linux's own stack, rebuilt from its auxv values and random bytes."""
    program = str(compile_c(STACK_DUMP, "-static"))
    sp, top, data = _native_dump(program, argv, envp)
    assert top % 4096 == 0
    native = decode(Memory(sp, data), sp)
    assert native.envp == envp and native.argv[1:] == argv[1:]
    values = dict(native.auxv)
    random_bytes = Memory(sp, data).bytes(values[AT_RANDOM], 16)
    ours = [(k, v) for k, v in native.auxv if k not in (AT_RANDOM, AT_EXECFN, AT_PLATFORM, AT_NULL)]
    stack = build_initial_stack(top, native.argv, envp, os.fsencode(program), ours, random_bytes)
    assert (stack.sp, stack.data) == (sp, data)
    # linux_auxv knows every entry this kernel writes, in its order.
    named = {3: "phdr", 4: "phent", 5: "phnum", 6: "pagesz", 7: "base", 8: "flags", 9: "entry",
             11: "uid", 12: "euid", 13: "gid", 14: "egid", 16: "hwcap", 17: "clktck",
             23: "secure", 26: "hwcap2", 27: "rseq_feature_size", 28: "rseq_align",
             33: "sysinfo_ehdr", 51: "minsigstksz"}
    assert linux_auxv(**{named[k]: v for k, v in ours}) == ours
