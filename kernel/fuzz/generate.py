"""Seeded random programs, with arguments typed from the syscall table.

Every handler's parameters carry a decoder (``Fd``, ``Addr``, ``Size``, ``Int`` ...) in
:mod:`kernel.syscalls.args`; the generator draws each argument from the values that break
kernels for that type: pointers valid, unmapped, read-only, just before a guard page, at the
top of user space or into the kernel; fds of every kind the executor holds (and closed, huge,
negative ones); sizes and integers at their boundaries; structures (timespecs, rlimits, sigsets
...) of boundary words. A few names refine the type (a ``path`` is a string, a ``clockid`` a
clock, a ``pid`` one of ours). Now and then a call is instead a signal whose frame the handler
mangles before rt_sigreturn, or an execve of a malformed executable.

The same seed gives the same programs: ``Generator(seed).program()`` is deterministic.
"""

from __future__ import annotations

import functools
import random
import struct
import typing
from collections.abc import Sequence
from dataclasses import dataclass

from abi.syscalls import NUMBERS
from kernel.fuzz.program import FD_KINDS, STRINGS, Arg, Call, Program
from kernel.syscalls import args as annotations

#: Never generated: they would multiply the program's processes (the existing garbage-argument
#: test, tests/processes/test_syscall_fuzz.py, calls every number including these), or, for
#: vfork, run the rest of the program in the parent's memory.
EXCLUDED = frozenset({"fork", "vfork", "clone", "clone3"})

#: Calls whose answers do not depend on the machine, the scheduler or the address-space layout:
#: with ``--native`` their errnos and the program's end are compared with Linux's.
DIFFERENTIAL = frozenset({
    "mmap", "munmap", "mprotect", "madvise", "msync", "mincore", "mremap", "getrandom", "getrlimit", "setrlimit",
    "prlimit64", "sigaltstack", "rt_sigprocmask", "rt_sigpending", "clock_gettime", "clock_getres",
    "clock_nanosleep", "nanosleep", "timer_create", "timer_settime", "timer_gettime", "timer_delete",
    "timer_getoverrun", "setitimer", "getitimer", "getrusage", "times", "wait4", "waitid", "uname",
})

_U64 = (1 << 64) - 1
_INT_MIN, _INT_MAX = -(1 << 31), (1 << 31) - 1
SIZES = (0, 1, 2, 7, 8, 15, 16, 24, 32, 63, 64, 100, 128, 255, 256, 1023, 4095, 4096, 4097, 8192, 65535, 65536,
         65537, 1 << 20, 1 << 24, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, 1 << 32, 1 << 47, (1 << 63) - 1, 1 << 63,
         _U64 - 4096, _U64 - 4095, _U64 - 1, _U64)
INTS = (0, 1, 2, 3, 4, 5, 8, 16, 31, 32, 33, 63, 64, 65, 100, 255, 256, 4096, -1, -2, -100, _INT_MAX, _INT_MIN,
        0xFFFF_FFFF, 0x8000_0000, 1 << 62, -(1 << 63))
#: Words a structure is made of: zero, ones, the edges of nanoseconds and microseconds, huge.
WORDS = (0, 1, 2, -1, 999_999, 1_000_000, 999_999_999, 1_000_000_000, 9_223_372_036, 9_223_372_036_854_775_807,
         -(1 << 63), 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 20, 1 << 40, 4096, 64)
CLOCKS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, -1, -2, -6, -7, -8, -14, -3, _INT_MIN, _INT_MAX)
#: Clocks that name nobody else's CPU time (pid 0 in the negative ids).
OWN_CLOCKS = tuple(clock for clock in CLOCKS if clock >= 0 or ~(clock >> 3) == 0 or clock == _INT_MIN)
SIGNALS = (0, 1, 2, 9, 10, 11, 12, 14, 15, 17, 19, 20, 32, 33, 34, 64, 65, -1, 128)
GUARD_DISTANCES = (1, 2, 4, 7, 8, 12, 16, 24, 32, 48, 64, 100, 128, 256, 1024, 4095)

#: Parameters that point at a structure, and its shape: T a timespec, V a timeval, Q a 64-bit
#: word (a limit, a sigset), S a stack_t. Keyed by parameter name, or by (call, parameter).
_SHAPES: dict[str | tuple[str, str], str] = {
    "req": "T", "rem": "T", "tp": "T", "res": "T", "timeout": "T", "tmo_p": "T", "utime": "T", "rqtp": "T",
    "rmtp": "T", ("timer_settime", "new_value"): "TT", ("timerfd_settime", "new_value"): "TT",
    ("setitimer", "new_value"): "VV", "old_value": "TT", "curr_value": "TT", "tv": "V", "rlim": "QQ",
    "new_limit": "QQ", "old_limit": "QQ", "set": "Q", "mask": "Q", "sigmask": "Q", "oldset": "Q", "ss": "S",
    "old_ss": "S", "uinfo": "QQQQ", "sevp": "QQQQ",
}
_SECONDS = (0, 1, 2, 59, 1 << 31, 1 << 32, 9_223_372_035, 9_223_372_036, 9_223_372_037, (1 << 63) - 1, -1,
            -(1 << 63))
_NANOSECONDS = (0, 1, 500_000_000, 999_999_999, 1_000_000_000, -1)
_MICROSECONDS = (0, 1, 999_999, 1_000_000, -1)
_LIMITS = (0, 1, 100, 1024, 1 << 20, (1 << 20) + 1, (1 << 63) - 1, _U64, _U64 - 1)

#: Kinds of fd both sides have (the sandbox has no timerfd).
NATIVE_FD_KINDS = tuple(kind for kind in FD_KINDS if kind != "timer")
_FD_NAMES = frozenset({"fd", "dirfd", "olddirfd", "newdirfd", "epfd", "oldfd", "newfd", "fd_in", "fd_out", "in_fd",
                       "out_fd", "pidfd", "fdin", "fdout"})
_PATH_NAMES = frozenset({"path", "pathname", "filename", "oldpath", "newpath", "linkpath", "target", "oldname",
                         "newname", "name", "special", "dir_name", "library"})
_PID_NAMES = frozenset({"pid", "tid", "tgid", "upid", "id"})


def _decoder(annotation: object) -> object:
    return typing.get_args(annotation)[1]


_KINDS = {
    id(_decoder(annotations.Fd)): "fd", id(_decoder(annotations.Addr)): "addr",
    id(_decoder(annotations.Size)): "size", id(_decoder(annotations.Int)): "int",
    id(_decoder(annotations.UInt)): "uint", id(_decoder(annotations.Long)): "long",
    id(_decoder(annotations.Off)): "off", id(_decoder(annotations.ULong)): "ulong",
}


@dataclass(frozen=True, slots=True)
class Spec:
    """A system call as the generator sees it: its number and (name, kind) per parameter."""

    name: str
    nr: int
    params: tuple[tuple[str, str], ...]


@functools.cache
def syscall_specs() -> tuple[Spec, ...]:
    """Every system call Sentrio serves, with its parameters' kinds (from the table)."""
    from kernel.syscalls import default_table

    table = default_table()
    specs = []
    for name in table.supported():
        entry = table.entry(name)
        if name in EXCLUDED or entry is None:
            continue
        params = tuple((param, _KINDS.get(id(decoder), "raw")) for param, decoder in entry.params)
        specs.append(Spec(name, NUMBERS[name], params))
    return tuple(specs)


@functools.cache
def unserved_numbers() -> tuple[int, ...]:
    """Numbers below 470 with no handler (ENOSYS, counted), and none of :data:`EXCLUDED`: a raw
    number drawn from all of them once made a vfork whose child slept for hours, holding its
    parent as vfork does, which the campaign mistook for a Sentry crash."""
    served = {spec.nr for spec in syscall_specs()} | {NUMBERS[name] for name in EXCLUDED}
    return tuple(nr for nr in range(470) if nr not in served)


class Generator:
    """Programs from one seed. ``differential``: only calls whose answers Linux's match, with
    pids limited to our own (the native run must not reach other processes)."""

    def __init__(self, seed: int | str, calls: Sequence[str] | None = None, differential: bool = False,
                 frames: float = 0.04, images: float = 0.02) -> None:
        self.random = random.Random(str(seed))
        self.differential = differential
        specs = list(syscall_specs())
        if differential:
            specs = [spec for spec in specs if spec.name in DIFFERENTIAL]
        if calls:
            wanted = set(calls)
            specs = [spec for spec in specs if spec.name in wanted]
        self.specs = specs
        self.frames = frames
        self.images = 0.0 if differential else images

    def program(self, size: int) -> Program:
        return Program([self.call() for _ in range(size)])

    def call(self) -> Call:
        roll = self.random.random()
        if roll < self.frames or not self.specs:
            return Call(frame=self.random.getrandbits(64) | 1)
        if roll < self.frames + self.images:
            return Call(image=malformed_executable(self.random))
        if not self.differential and roll > 0.995:  # now and then a number Sentrio does not serve
            return Call(self.random.choice(unserved_numbers()), tuple(self._raw() for _ in range(6)))
        spec = self.random.choice(self.specs)
        return Call(spec.nr, tuple(self.argument(name, kind, spec.name) for name, kind in spec.params))

    # --- arguments ----------------------------------------------------------------------------

    def argument(self, name: str, kind: str, call: str = "") -> Arg:
        r = self.random
        if self.differential and call == "mmap" and name in ("flags", "fd"):  # anonymous memory only
            return Arg("i", self._flags() | 0x20) if name == "flags" else Arg("f", name="neg")
        if kind == "fd" or name in _FD_NAMES:
            return Arg("f", name=r.choice(NATIVE_FD_KINDS if self.differential else FD_KINDS))
        if name in _PID_NAMES and kind != "addr":
            return self._pid()
        if name in ("clockid", "which_clock", "clock_id"):  # (natively, pid 1 is not ours: own clocks only)
            return Arg("i", r.choice(OWN_CLOCKS if self.differential else CLOCKS))
        if name in ("sig", "signum", "signo"):
            return Arg("i", r.choice(SIGNALS))
        if name == "resource":
            return Arg("i", r.choice((*range(17), 99, -1)))
        if kind == "addr":
            if name in _PATH_NAMES and r.random() < 0.7:
                return Arg("s", r.randrange(len(STRINGS) + 1))
            shape = _SHAPES.get((call, name)) or _SHAPES.get(name)
            if shape and r.random() < 0.6:
                return self._structure(shape)
            return self._pointer()
        if kind == "size":
            return Arg("i", r.choice(SIZES) if r.random() < 0.8 else r.randrange(0, 1 << 16))
        if name in ("flags", "prot", "options", "mode", "how", "advice", "cmd", "op", "which", "type"):
            return Arg("i", self._flags())
        if kind in ("int", "uint", "long", "off", "ulong"):
            return Arg("i", r.choice(INTS) if r.random() < 0.8 else r.getrandbits(32))
        return self._raw()

    def _structure(self, shape: str) -> Arg:
        """A structure of ``shape`` made of boundary values (mostly well-formed, so the call gets
        past its validation to the arithmetic behind it), placed in the read-write area."""
        r = self.random
        words: list[int] = []
        for part in shape:
            if part == "T":
                words += [r.choice(_SECONDS), r.choice(_NANOSECONDS)]
            elif part == "V":
                words += [r.choice(_SECONDS), r.choice(_MICROSECONDS)]
            elif part == "S":
                words += [r.choice((0, 65536, 4096)), r.choice((0, 1, 2, 1 << 31, 3)), r.choice(SIZES)]
            else:
                words.append(r.choice((*_LIMITS, *WORDS)))
        data = b"".join(struct.pack("<Q", word & _U64) for word in words)
        return Arg("d", r.randrange(0, 65536 - len(data)), data=data)

    def _raw(self) -> Arg:
        r = self.random
        return Arg("i", r.choice((*INTS, *SIZES)) if r.random() < 0.7 else r.getrandbits(64))

    def _flags(self) -> int:
        r = self.random
        choice = r.random()
        if choice < 0.3:
            return r.randrange(0, 16)
        if choice < 0.7:
            return sum(1 << r.randrange(32) for _ in range(r.randrange(1, 4)))
        return r.choice(INTS)

    def _pid(self) -> Arg:
        r = self.random
        if self.differential:
            return r.choice((Arg("i", 0), Arg("q", name="self")))
        return r.choice((Arg("i", 0), Arg("i", -1), Arg("i", 1), Arg("i", _INT_MIN), Arg("i", 999_999),
                         Arg("q", name="self"), Arg("q", name="parent"), Arg("i", r.randrange(2, 64))))

    def _pointer(self) -> Arg:
        r = self.random
        roll = r.random()
        if roll < 0.30:
            offset = r.choice((0, 8, 16, 64, 4096 - 8, 4096, 65536 - 16, 65536 - 1)) if r.random() < 0.5 \
                else r.randrange(65536)
            return Arg("p", offset, region="r")
        if roll < 0.42:
            words = [r.choice(WORDS) for _ in range(r.randrange(1, 9))]
            data = b"".join(struct.pack("<q", w) if -(1 << 63) <= w < 1 << 63 else struct.pack("<Q", w & _U64)
                            for w in words)
            return Arg("d", r.randrange(0, 65536 - len(data)), data=data)
        if roll < 0.52:
            return Arg("p", r.randrange(4096), region="o")
        if roll < 0.67:
            return Arg("p", r.choice(GUARD_DISTANCES), region="g")
        if roll < 0.75:
            return Arg("p", r.randrange(4096), region="u")
        if roll < 0.79:
            return Arg("p", r.choice((0, 4096, 1 << 40)), region="k")
        if roll < 0.83 and not self.differential:  # (where the stack is: layouts differ)
            return Arg("p", r.choice((1, 8, 16, 4096)), region="h")
        return Arg("p", 0, region="n")


# --- malformed executables ----------------------------------------------------------------------

_BASE = 0x400000
_CODE = bytes.fromhex("bf2a000000b83c0000000f05")  # mov edi, 42; mov eax, 60; syscall


def tiny_elf() -> bytes:
    """A valid static x86-64 executable of 132 bytes that exits with status 42."""
    header_size, phdr_size = 64, 56
    entry = _BASE + header_size + phdr_size
    size = header_size + phdr_size + len(_CODE)
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, bytes(7), 2, 62, 1, entry,
                       header_size, 0, 0, header_size, phdr_size, 1, 0, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, _BASE, _BASE, size, size, 0x1000)
    return ehdr + phdr + _CODE


#: (offset, struct format) of the header fields a mutation may set.
_FIELDS = (
    (16, "<H"), (18, "<H"), (24, "<Q"), (32, "<Q"), (52, "<H"), (54, "<H"), (56, "<H"),  # type .. phnum
    (64, "<I"), (68, "<I"), (72, "<Q"), (80, "<Q"), (96, "<Q"), (104, "<Q"), (112, "<Q"),  # the PT_LOAD
)
_FIELD_VALUES = (0, 1, 2, 3, 7, 0x40, 0x1000, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 1 << 47, (1 << 63) - 1, _U64,
                 _BASE, _BASE + 0x78, 0xFFFF_8000_0000_0000, 0x7FFF_FFFF_F000)


def malformed_executable(r: random.Random) -> bytes:
    """A mutation of :func:`tiny_elf`: header and program-header fields set to boundary values,
    a PT_INTERP or PT_LOAD made of nonsense, a truncation, flipped bytes, or a ``#!`` script."""
    image = bytearray(tiny_elf())
    roll = r.random()
    if roll < 0.1:
        interpreter = r.choice((b"/tmp/fuzz-exe", b"/bin/fuzz-exec", b"/nonexistent", b"", b"a" * 300, b"/"))
        return b"#!" + interpreter + r.choice((b"\n", b" -x\n", b"", b"\x00\n"))
    for _ in range(r.randrange(1, 4)):
        kind = r.random()
        if kind < 0.6:
            offset, layout = r.choice(_FIELDS)
            size = struct.calcsize(layout)
            if offset + size <= len(image):  # (an earlier mutation may have cut the file short)
                struct.pack_into(layout, image, offset, r.choice(_FIELD_VALUES) & ((1 << (8 * size)) - 1))
        elif kind < 0.75 and len(image) >= 68:  # the segment becomes a PT_INTERP naming some path
            struct.pack_into("<I", image, 64, 3)
        elif kind < 0.85 and len(image) > 1:
            del image[r.randrange(1, len(image)):]
        else:
            if image:
                image[r.randrange(len(image))] ^= 1 << r.randrange(8)
    return bytes(image)
