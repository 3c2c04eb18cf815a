"""Seccomp filters as classic BPF: constants, an assembler from rules, and an interpreter.

Pure code that only builds and reads bytes; the processes that install a filter (the Sentry, its
stubs, the gofers) do the system calls themselves.

A filter is compiled from a *policy*: for each system call it names, a :class:`Rule` (an action,
taken always or only when the arguments match one of a few patterns), and a default action for
every other call. The program

1. kills the process for a foreign architecture (an ``int 0x80`` i386 call would otherwise be
   judged by x86-64 numbers) and for the x32 ABI;
2. finds the call number by binary search, so a lookup costs about ``2·log2(n)`` instructions
   however long the list is;
3. checks the arguments of calls that have patterns, 32 bits at a time (classic BPF has no 64-bit
   loads), and returns the rule's action or the default.

:func:`evaluate` runs a program on one ``struct seccomp_data``, as the kernel would: the tests
use it to check a policy call by call without installing anything.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from abi.structs import STACK_T, UCONTEXT_HEAD

# --- the ABI: seccomp(2), <linux/seccomp.h>, <linux/audit.h>, <linux/filter.h> ---------------------

SECCOMP_MODE_FILTER = 2  # what /proc/PID/status shows as "Seccomp: 2"
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
SECCOMP_FILTER_FLAG_LOG = 1 << 1

SECCOMP_RET_KILL_PROCESS = 0x8000_0000
SECCOMP_RET_KILL_THREAD = 0x0000_0000
SECCOMP_RET_TRAP = 0x0003_0000
SECCOMP_RET_ERRNO = 0x0005_0000
SECCOMP_RET_TRACE = 0x7FF0_0000
SECCOMP_RET_LOG = 0x7FFC_0000
SECCOMP_RET_ALLOW = 0x7FFF_0000
SECCOMP_RET_ACTION_FULL = 0xFFFF_0000
SECCOMP_RET_DATA = 0x0000_FFFF

AUDIT_ARCH_X86_64 = 0xC000_003E
AUDIT_ARCH_I386 = 0x4000_0003
#: Set in the number of an x32 system call.
X32_SYSCALL_BIT = 0x4000_0000

#: ``struct seccomp_data``: nr, arch, instruction_pointer, args[6].
SECCOMP_DATA = struct.Struct("<iIQ6Q")
DATA_NR = 0
DATA_ARCH = 4
DATA_IP = 8
DATA_ARGS = 16

#: Classic BPF opcodes (class | size | mode, class | op | source).
BPF_LD_W_ABS = 0x20
BPF_ALU_AND_K = 0x54
BPF_JMP_JA = 0x05
BPF_JMP_JEQ_K = 0x15
BPF_JMP_JGT_K = 0x25
BPF_JMP_JGE_K = 0x35
BPF_JMP_JSET_K = 0x45
BPF_RET_K = 0x06
#: ``struct sock_filter``: code, jt, jf, k.
SOCK_FILTER = struct.Struct("<HBBI")
#: Instructions a filter may have (BPF_MAXINSNS).
BPF_MAXINSNS = 4096

_U32 = 0xFFFF_FFFF
_U64 = 0xFFFF_FFFF_FFFF_FFFF


def errno_action(code: int) -> int:
    """``SECCOMP_RET_ERRNO`` failing the call with ``code``."""
    return SECCOMP_RET_ERRNO | (code & SECCOMP_RET_DATA)


def insn(code: int, k: int = 0, jt: int = 0, jf: int = 0) -> bytes:
    """One ``struct sock_filter``."""
    return SOCK_FILTER.pack(code, jt, jf, k & _U32)


def arg_low(index: int) -> int:
    """Offset of the low 32 bits of argument ``index`` in ``struct seccomp_data`` (little-endian)."""
    return DATA_ARGS + 8 * index


def arg_high(index: int) -> int:
    return DATA_ARGS + 8 * index + 4


# --- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arg:
    """``args[index] & mask == value``; a mask within the low 32 bits checks only those bits (for
    ``int`` parameters, whose upper half the caller need not clear and the kernel ignores)."""

    index: int
    value: int
    mask: int = _U64

    def __post_init__(self) -> None:
        if not 0 <= self.index < 6:
            raise ValueError(f"system calls have arguments 0-5, not {self.index}")
        if self.value & ~self.mask & _U64:
            raise ValueError(f"value {self.value:#x} has bits outside mask {self.mask:#x}: it can never match")

    def matches(self, args: tuple[int, ...]) -> bool:
        return args[self.index] & self.mask & _U64 == self.value & _U64


def eq(index: int, value: int) -> Arg:
    """Argument ``index`` is exactly ``value`` (all 64 bits; negative values as the kernel sees them)."""
    return Arg(index, value & _U64)


def eq32(index: int, value: int) -> Arg:
    """The low 32 bits of argument ``index`` are ``value``: for ``int`` parameters (fds, signals,
    ioctl requests, which the kernel truncates to 32 bits)."""
    return Arg(index, value & _U32, _U32)


def clear(index: int, bits: int) -> Arg:
    """None of ``bits`` is set in argument ``index``."""
    return Arg(index, 0, bits & _U64)


def masked(index: int, mask: int, value: int) -> Arg:
    """``args[index] & mask == value``."""
    return Arg(index, value & _U64, mask & _U64)


#: One way a call's arguments may look: every check must hold.
Pattern = tuple[Arg, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    """What a filter does with one system call: ``action`` if the arguments match one of
    ``patterns`` (always, if there are none), else the filter's default action."""

    action: int = SECCOMP_RET_ALLOW
    patterns: tuple[Pattern, ...] = ()

    def decide(self, args: tuple[int, ...], default: int) -> int:
        if not self.patterns or any(all(arg.matches(args) for arg in pattern) for pattern in self.patterns):
            return self.action
        return default


ALLOW = Rule()


def allow_if(*patterns: Pattern | Arg) -> Rule:
    """Allow the call when its arguments match one of ``patterns`` (an Arg alone is a pattern)."""
    if not patterns:
        raise ValueError("allow_if needs at least one pattern; use ALLOW to allow always")
    return Rule(SECCOMP_RET_ALLOW, tuple((p,) if isinstance(p, Arg) else tuple(p) for p in patterns))


def one_of(index: int, values: Iterable[int], *, bits: int = 32) -> tuple[Pattern, ...]:
    """Patterns matching argument ``index`` equal to any of ``values`` (low 32 bits, or all 64)."""
    make = eq32 if bits == 32 else eq
    return tuple((make(index, value),) for value in sorted(set(values)))


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of an allowlist: a system call by name, what is allowed of it, and why."""

    name: str
    why: str
    rule: Rule = ALLOW


def rules_of(entries: Iterable[Entry], number: Callable[[str], int]) -> dict[int, Rule]:
    """An allowlist's rules by call number (``number`` maps names, e.g. abi.syscalls.number)."""
    rules: dict[int, Rule] = {}
    for entry in entries:
        nr = number(entry.name)
        if nr in rules:
            raise ValueError(f"{entry.name} is listed twice")
        rules[nr] = entry.rule
    return rules


@dataclass(frozen=True)
class Policy:
    """A complete filter: rules by system call number, and what happens to everything else."""

    rules: Mapping[int, Rule]
    default: int
    #: What a call from another architecture or the x32 ABI gets.
    foreign: int = SECCOMP_RET_KILL_PROCESS

    def decide(self, nr: int, args: tuple[int, ...] = (0,) * 6, arch: int = AUDIT_ARCH_X86_64) -> int:
        """The action the compiled filter takes (the reference :func:`evaluate` is checked against)."""
        if arch != AUDIT_ARCH_X86_64 or nr & X32_SYSCALL_BIT:
            return self.foreign
        rule = self.rules.get(nr)
        return self.default if rule is None else rule.decide(args, self.default)

    def compile(self) -> bytes:
        return compile_policy(self)


# --- the assembler ---------------------------------------------------------------------------------


@dataclass
class _Insn:
    code: int
    k: int | str = 0          # a label for BPF_JMP_JA
    jt: int | str = 0         # labels for conditional jumps
    jf: int | str = 0


@dataclass
class _Assembler:
    """Instructions with symbolic jump targets, resolved at the end."""

    code: list[_Insn] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    _count: int = 0

    def new_label(self, hint: str) -> str:
        self._count += 1
        return f"{hint}.{self._count}"

    def place(self, label: str) -> None:
        self.labels[label] = len(self.code)

    def emit(self, code: int, k: int | str = 0, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append(_Insn(code, k, jt, jf))

    def assemble(self) -> bytes:
        out = []
        for here, ins in enumerate(self.code):
            k, jt, jf = (self._offset(here, x) if isinstance(x, str) else x for x in (ins.k, ins.jt, ins.jf))
            if not (0 <= jt <= 255 and 0 <= jf <= 255):
                raise ValueError(f"a conditional jump at {here} reaches too far ({jt}, {jf}): split the rule")
            out.append(insn(ins.code, k, jt, jf))
        if len(out) > BPF_MAXINSNS:
            raise ValueError(f"the filter has {len(out)} instructions; the kernel takes {BPF_MAXINSNS}")
        return b"".join(out)

    def _offset(self, here: int, label: str) -> int:
        target = self.labels[label]
        if target <= here:
            raise ValueError(f"jump backwards to {label}")
        return target - here - 1


#: Numbers at most this many are tested one after another instead of split further.
_LEAF = 3


def compile_policy(policy: Policy) -> bytes:
    """The filter ``policy`` describes, as an array of ``struct sock_filter``."""
    asm = _Assembler()
    asm.emit(BPF_LD_W_ABS, DATA_ARCH)
    asm.emit(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, jt=1)
    asm.emit(BPF_RET_K, policy.foreign)
    asm.emit(BPF_LD_W_ABS, DATA_NR)
    asm.emit(BPF_JMP_JGE_K, X32_SYSCALL_BIT, jf=1)
    asm.emit(BPF_RET_K, policy.foreign)
    numbers = sorted(policy.rules)
    for nr in numbers:
        if not 0 <= nr < X32_SYSCALL_BIT:
            raise ValueError(f"not an x86-64 system call number: {nr}")
    _search(asm, policy, numbers)
    return asm.assemble()


def _search(asm: _Assembler, policy: Policy, numbers: list[int]) -> None:
    """Binary search for the number in the accumulator among ``numbers``; each leaf returns."""
    if len(numbers) <= _LEAF:
        for nr in numbers:
            after = asm.new_label("not")
            asm.emit(BPF_JMP_JEQ_K, nr, jf=after)
            _rule_block(asm, policy.rules[nr], policy.default)
            asm.place(after)
        asm.emit(BPF_RET_K, policy.default)
        return
    middle = len(numbers) // 2
    upper = asm.new_label("ge")
    asm.emit(BPF_JMP_JGE_K, numbers[middle], jt=0, jf=1)  # >= pivot: take the long jump below
    asm.emit(BPF_JMP_JA, upper)
    _search(asm, policy, numbers[:middle])
    asm.place(upper)
    _search(asm, policy, numbers[middle:])


def _rule_block(asm: _Assembler, rule: Rule, default: int) -> None:
    """Return ``rule.action`` if one of its patterns matches the arguments, else ``default``.

    The accumulator is reloaded only when it does not already hold the word a check needs
    (several patterns on one argument, as a list of ioctl requests, cost one load).
    """
    if not rule.patterns:
        asm.emit(BPF_RET_K, rule.action)
        return
    loaded: int | None = None  # the seccomp_data offset the accumulator holds, unmasked
    for pattern in rule.patterns:
        failed = asm.new_label("nomatch")
        for arg in pattern:
            for offset, mask, value in ((arg_high(arg.index), arg.mask >> 32, arg.value >> 32),
                                        (arg_low(arg.index), arg.mask & _U32, arg.value & _U32)):
                if mask == 0:
                    continue
                if loaded != offset:
                    asm.emit(BPF_LD_W_ABS, offset)
                    loaded = offset
                if mask != _U32:
                    asm.emit(BPF_ALU_AND_K, mask)
                    loaded = None
                asm.emit(BPF_JMP_JEQ_K, value, jf=failed)
        asm.emit(BPF_RET_K, rule.action)
        asm.place(failed)
        # Jumps reach here from any check of the pattern: the accumulator is known only when
        # the pattern made a single check, with nothing masked after the load.
        if not (len(pattern) == 1 and loaded is not None and _single_word(pattern[0])):
            loaded = None
    asm.emit(BPF_RET_K, default)


def _single_word(arg: Arg) -> bool:
    return (arg.mask >> 32) == 0 or (arg.mask & _U32) == 0


# --- one filter, many processes -------------------------------------------------------------------

#: What stands for the pid in a :class:`PidTemplate`: no pid is this large (PID_MAX_LIMIT is 2**22).
PID_PLACEHOLDER = 0x7FFF_FFF0


class PidTemplate:
    """A filter that differs between processes only in the pid its rules compare with (a helper
    may signal only itself), compiled once and then given each process's pid.

    Compiling is Python work over every rule. A zygote compiles the templates before it forks
    runs (:meth:`compile`), so that a run's Sentry and helpers only put their pid in: ~0.6 ms of
    CPU each, and the pages the compiler would touch in a forked process, each a page copied.
    """

    def __init__(self, policy: Callable[[int], Policy]) -> None:
        self._policy = policy
        self._compiled: tuple[bytes, tuple[int, ...]] | None = None

    def compile(self) -> tuple[bytes, tuple[int, ...]]:
        """The program compiled with :data:`PID_PLACEHOLDER`, and the offsets of the
        instructions whose constant it is; compiled on the first call."""
        if self._compiled is None:
            program = self._policy(PID_PLACEHOLDER).compile()
            offsets = tuple(offset for offset in range(0, len(program), SOCK_FILTER.size)
                            if SOCK_FILTER.unpack_from(program, offset)[3] == PID_PLACEHOLDER)
            self._compiled = (program, offsets)
        return self._compiled

    def program(self, pid: int) -> bytes:
        """The filter for process ``pid``: what ``policy(pid).compile()`` gives."""
        template, offsets = self.compile()
        program = bytearray(template)
        for offset in offsets:
            code, jt, jf, _ = SOCK_FILTER.unpack_from(program, offset)
            SOCK_FILTER.pack_into(program, offset, code, jt, jf, pid & _U32)
        return bytes(program)


# --- reading programs ----------------------------------------------------------------------------


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    """``(code, jt, jf, k)`` of each instruction."""
    if len(program) % SOCK_FILTER.size:
        raise ValueError("a filter is a whole number of 8-byte instructions")
    return [SOCK_FILTER.unpack_from(program, offset) for offset in range(0, len(program), SOCK_FILTER.size)]


def evaluate(program: bytes, nr: int, args: tuple[int, ...] = (0,) * 6, *,
             arch: int = AUDIT_ARCH_X86_64, ip: int = 0) -> int:
    """Run ``program`` on one system call as the kernel's classic BPF interpreter would; returns
    the action. Only the instructions seccomp programs use here are understood."""
    data = SECCOMP_DATA.pack(nr, arch, ip & _U64, *(a & _U64 for a in (tuple(args) + (0,) * 6)[:6]))
    code = instructions(program)
    pc, acc = 0, 0
    while pc < len(code):
        op, jt, jf, k = code[pc]
        pc += 1
        if op == BPF_LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
        elif op == BPF_ALU_AND_K:
            acc &= k
        elif op == BPF_RET_K:
            return k
        elif op == BPF_JMP_JA:
            pc += k
        elif op in (BPF_JMP_JEQ_K, BPF_JMP_JGT_K, BPF_JMP_JGE_K, BPF_JMP_JSET_K):
            taken = {BPF_JMP_JEQ_K: acc == k, BPF_JMP_JGT_K: acc > k, BPF_JMP_JGE_K: acc >= k,
                     BPF_JMP_JSET_K: bool(acc & k)}[op]
            pc += jt if taken else jf
        else:
            raise ValueError(f"instruction {pc - 1}: opcode {op:#x} is not one this interpreter knows")
    raise ValueError("the program ran off its end without returning")


# --- reporting a trapped call --------------------------------------------------------------------

#: Offsets in the siginfo of a SIGSYS: ``si_code`` (SYS_SECCOMP when a filter raised it) and
#: ``si_syscall`` (after si_call_addr).
SIGINFO_SI_CODE = 0x08
SIGINFO_SI_SYSCALL = 0x18
#: Offset of the saved ``rax`` in the ``ucontext`` a handler gets: after uc_flags, uc_link and
#: uc_stack, the 14th register of ``struct sigcontext`` (r8-r15, rdi, rsi, rbp, rbx, rdx, rax).
UCONTEXT_RAX = UCONTEXT_HEAD.size + STACK_T.size + 13 * 8
#: What a trapped call returns once the trampoline has run: ``-ENOSYS``.
TRAPPED_RESULT = -errno.ENOSYS


def sigsys_trampoline(slot: int, handler: int) -> bytes:
    """x86-64 code for a ``SA_SIGINFO`` SIGSYS handler: when a seccomp filter raised the signal,
    it stores the refused call's number at address ``slot`` (an int32) and makes the call fail
    with ENOSYS; then it tail-calls ``handler(signo)``, a plain C signal handler.

    A Python process cannot see the siginfo of a signal; this is the least code that hands the
    number on. The result matters as much: for ``SECCOMP_RET_TRAP`` Linux leaves the call's own
    *number* in ``rax``, so once the handler returns the interrupted C code would take it for
    a result — mmap "returns" address 9, pread "read" 17 bytes — and crash or act on garbage
    before Python's handler, which runs only at the next bytecode and only in the main thread,
    can report the call. Rewriting the saved ``rax`` makes it an ordinary failure instead.
    A SIGSYS sent by kill() (any other si_code) changes nothing. Each step is async-signal-safe:
    compare, load, stores, jump.
    """
    report = b"".join((
        bytes.fromhex("8b46") + bytes([SIGINFO_SI_SYSCALL]),        # mov eax, [rsi + si_syscall]
        bytes.fromhex("48b9") + struct.pack("<Q", slot),             # movabs rcx, slot
        bytes.fromhex("8901"),                                       # mov [rcx], eax
        bytes.fromhex("48c782") + struct.pack("<Ii", UCONTEXT_RAX, TRAPPED_RESULT),  # saved rax = -ENOSYS
    ))
    return b"".join((
        bytes.fromhex("837e") + bytes([SIGINFO_SI_CODE, SYS_SECCOMP]),  # cmp dword [rsi + si_code], SYS_SECCOMP
        bytes.fromhex("75") + bytes([len(report)]),                     # jne past the report
        report,
        bytes.fromhex("48b8") + struct.pack("<Q", handler),              # movabs rax, handler
        bytes.fromhex("ffe0"),                                           # jmp rax (rdi still holds signo)
    ))


# --- guest seccomp: what a guest's seccomp(2) and prctl(PR_SET_SECCOMP) take --------------------

SECCOMP_MODE_DISABLED = 0
SECCOMP_MODE_STRICT = 1
#: seccomp(2)'s operations.
SECCOMP_SET_MODE_STRICT = 0
SECCOMP_GET_ACTION_AVAIL = 2
SECCOMP_GET_NOTIF_SIZES = 3
#: SECCOMP_SET_MODE_FILTER's flags beyond TSYNC and LOG.
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1 << 2
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 1 << 5
SECCOMP_FILTER_FLAG_MASK = (SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW
                            | SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC_ESRCH
                            | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
SECCOMP_RET_USER_NOTIF = 0x7FC0_0000
#: The return actions Linux knows, for SECCOMP_GET_ACTION_AVAIL.
SECCOMP_ACTIONS = frozenset({SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP, SECCOMP_RET_ERRNO,
                             SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE, SECCOMP_RET_LOG, SECCOMP_RET_ALLOW})
#: The largest errno SECCOMP_RET_ERRNO returns (a larger one is capped to it).
MAX_ERRNO = 4095
#: si_code of the SIGSYS a seccomp filter raises.
SYS_SECCOMP = 1
#: The sum over a thread's filters of (length + 4) may not exceed this (ENOMEM).
MAX_INSNS_PER_PATH = (1 << 18) // 8
#: struct seccomp_notif_sizes: seccomp_notif, seccomp_notif_resp, seccomp_data.
SECCOMP_NOTIF_SIZES = struct.Struct("<HHH")
SECCOMP_NOTIF_SIZE = 80
SECCOMP_NOTIF_RESP_SIZE = 24
#: struct sock_fprog { unsigned short len; struct sock_filter *filter; }
SOCK_FPROG = struct.Struct("<H6xQ")
#: Words of the scratch memory M[] of classic BPF.
BPF_MEMWORDS = 16

#: Classic BPF, <linux/bpf_common.h>: instruction classes, sizes, modes, operations, sources.
BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ST = 0x02
BPF_STX = 0x03
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_RET = 0x06
BPF_MISC = 0x07
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MEM = 0x60
BPF_LEN = 0x80
BPF_MSH = 0xA0
BPF_ADD = 0x00
BPF_SUB = 0x10
BPF_MUL = 0x20
BPF_DIV = 0x30
BPF_OR = 0x40
BPF_AND = 0x50
BPF_LSH = 0x60
BPF_RSH = 0x70
BPF_NEG = 0x80
BPF_MOD = 0x90
BPF_XOR = 0xA0
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JGE = 0x30
BPF_JSET = 0x40
BPF_K = 0x00
BPF_X = 0x08
BPF_A = 0x10
BPF_TAX = 0x00
BPF_TXA = 0x80
