"""Classic BPF as seccomp runs it: the checker a guest's program must pass, and the interpreter.

:func:`check` accepts exactly what Linux's ``bpf_check_classic`` followed by
``seccomp_check_filter`` accept, and fails everything else with EINVAL: a length of 1 to 4096
instructions, only the opcodes seccomp allows (no packet loads, no MOD, no BPF extensions),
loads of ``struct seccomp_data`` that are aligned 32-bit words inside it, jumps that stay inside
the program (forward only, so every run ends), scratch memory read only after it was written on
every path, no division or shift by an impossible constant, and a return as the last
instruction. As Linux does, the checker rewrites ``BPF_LEN`` loads into immediates of the data's
size.

:func:`run` is the reference interpreter: a 32-bit accumulator A, index register X and sixteen
words of scratch memory, over the 64 bytes of one ``struct seccomp_data``.
"""

from __future__ import annotations

import struct

from abi.errno import EINVAL, Errno
from abi.seccomp import (
    BPF_A,
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_AND,
    BPF_DIV,
    BPF_IMM,
    BPF_JA,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JMP,
    BPF_JSET,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LEN,
    BPF_LSH,
    BPF_MAXINSNS,
    BPF_MEM,
    BPF_MEMWORDS,
    BPF_MISC,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RET,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_TAX,
    BPF_TXA,
    BPF_W,
    BPF_X,
    BPF_XOR,
    SECCOMP_DATA,
    SOCK_FILTER,
)

#: One checked instruction: (code, jt, jf, k).
Insn = tuple[int, int, int, int]

_U32 = 0xFFFF_FFFF
_DATA_SIZE = SECCOMP_DATA.size  # 64
_WORD = struct.Struct("<I")

_LD_ABS = BPF_LD | BPF_W | BPF_ABS
_LD_LEN = BPF_LD | BPF_W | BPF_LEN
_LDX_LEN = BPF_LDX | BPF_W | BPF_LEN
_LD_IMM = BPF_LD | BPF_IMM
_LDX_IMM = BPF_LDX | BPF_IMM
_LD_MEM = BPF_LD | BPF_MEM
_LDX_MEM = BPF_LDX | BPF_MEM
_RET_K = BPF_RET | BPF_K
_RET_A = BPF_RET | BPF_A
_JA = BPF_JMP | BPF_JA
_ALU_OPS = (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH)
_CONDITIONAL = frozenset(BPF_JMP | op | src for op in (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET) for src in (BPF_K, BPF_X))
#: Every opcode seccomp accepts (after the LEN rewrite).
_ALLOWED = frozenset({
    _LD_ABS, _LD_LEN, _LDX_LEN, _LD_IMM, _LDX_IMM, _LD_MEM, _LDX_MEM, BPF_ST, BPF_STX, _RET_K, _RET_A, _JA,
    BPF_ALU | BPF_NEG, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA,
    *(BPF_ALU | op | src for op in _ALU_OPS for src in (BPF_K, BPF_X)),
    *_CONDITIONAL,
})


def decode(raw: bytes) -> list[Insn]:
    """``struct sock_filter`` array -> (code, jt, jf, k) tuples."""
    return [SOCK_FILTER.unpack_from(raw, offset) for offset in range(0, len(raw) - len(raw) % 8, 8)]


def check(program: list[Insn]) -> tuple[Insn, ...]:
    """The program as seccomp will run it, or EINVAL if Linux would refuse it."""
    flen = len(program)
    if not 0 < flen <= BPF_MAXINSNS:
        raise Errno(EINVAL)
    checked = []
    for pc, (code, jt, jf, k) in enumerate(program):
        if code not in _ALLOWED:
            raise Errno(EINVAL)
        if code in (BPF_ALU | BPF_DIV | BPF_K,) and k == 0:
            raise Errno(EINVAL)
        elif code in (BPF_ALU | BPF_LSH | BPF_K, BPF_ALU | BPF_RSH | BPF_K) and k >= 32:
            raise Errno(EINVAL)
        elif code in (_LD_MEM, _LDX_MEM, BPF_ST, BPF_STX) and k >= BPF_MEMWORDS:
            raise Errno(EINVAL)
        elif code == _JA and k >= flen - pc - 1:
            raise Errno(EINVAL)
        elif code in _CONDITIONAL and (pc + jt + 1 >= flen or pc + jf + 1 >= flen):
            raise Errno(EINVAL)
        elif code == _LD_ABS and (k >= _DATA_SIZE or k & 3):
            raise Errno(EINVAL)
        if code == _LD_LEN:
            code, k = _LD_IMM, _DATA_SIZE
        elif code == _LDX_LEN:
            code, k = _LDX_IMM, _DATA_SIZE
        checked.append((code, jt, jf, k))
    if checked[-1][0] not in (_RET_K, _RET_A):
        raise Errno(EINVAL)
    _check_memory(checked)
    return tuple(checked)


def _check_memory(program: list[Insn]) -> None:
    """EINVAL if some path reads a scratch word before writing it: one bit per word, what is
    certainly written when control reaches each instruction (the meet of every way in)."""
    everything = (1 << BPF_MEMWORDS) - 1
    valid_at = [everything] * len(program)
    valid = 0
    for pc, (code, jt, jf, k) in enumerate(program):
        valid &= valid_at[pc]
        if code in (BPF_ST, BPF_STX):
            valid |= 1 << k
        elif code in (_LD_MEM, _LDX_MEM):
            if not valid >> k & 1:
                raise Errno(EINVAL)
        elif code == _JA:
            valid_at[pc + 1 + k] &= valid
            valid = everything
        elif code in _CONDITIONAL:
            valid_at[pc + 1 + jt] &= valid
            valid_at[pc + 1 + jf] &= valid
            valid = everything


def run(program: tuple[Insn, ...], data: bytes) -> tuple[int, bool]:
    """Run a checked program on one ``struct seccomp_data``: (its return value, whether it read
    anything beyond ``nr`` and ``arch``). A run that read only those two words decides the same
    way for every call with that number, which lets a filter remember its verdict per number."""
    a = x = 0
    mem = [0] * BPF_MEMWORDS
    wide = False
    pc = 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        cls = code & 0x07
        if cls == BPF_JMP:
            op = code & 0xF0
            if op == BPF_JA:
                pc += k
                continue
            operand = x if code & BPF_X else k
            if op == BPF_JEQ:
                taken = a == operand
            elif op == BPF_JGT:
                taken = a > operand
            elif op == BPF_JGE:
                taken = a >= operand
            else:
                taken = bool(a & operand)
            pc += jt if taken else jf
        elif cls == BPF_LD:
            if code == _LD_ABS:
                a = _WORD.unpack_from(data, k)[0]
                wide = wide or k >= 8
            elif code == _LD_IMM:
                a = k
            else:
                a = mem[k]
        elif cls == BPF_RET:
            return (a if code == _RET_A else k), wide
        elif cls == BPF_ALU:
            op = code & 0xF0
            if op == BPF_NEG:
                a = -a & _U32
                continue
            operand = x if code & BPF_X else k
            if op == BPF_ADD:
                a = (a + operand) & _U32
            elif op == BPF_SUB:
                a = (a - operand) & _U32
            elif op == BPF_MUL:
                a = (a * operand) & _U32
            elif op == BPF_DIV:
                if operand == 0:
                    return 0, wide  # a division by X = 0 ends the program with 0, as Linux's does
                a //= operand
            elif op == BPF_AND:
                a &= operand
            elif op == BPF_OR:
                a |= operand
            elif op == BPF_XOR:
                a ^= operand
            elif op == BPF_LSH:
                a = (a << (operand & 31)) & _U32
            else:
                a >>= operand & 31
        elif cls == BPF_LDX:
            x = k if code == _LDX_IMM else mem[k]
        elif cls == BPF_ST:
            mem[k] = a
        elif cls == BPF_STX:
            mem[k] = x
        else:  # BPF_MISC
            if code & 0xF8 == BPF_TXA:
                a = x
            else:
                x = a
