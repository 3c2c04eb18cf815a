"""The Sentry's classic BPF checker and interpreter, and a filter stack's remembered verdicts."""

from __future__ import annotations

import random

import pytest

from abi.errno import EINVAL, Errno
from abi.seccomp import (
    BPF_ALU,
    BPF_DIV,
    BPF_JMP,
    BPF_JEQ,
    BPF_K,
    BPF_LD,
    BPF_LEN,
    BPF_RET,
    BPF_W,
    BPF_X,
    DATA_NR,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_TRAP,
    arg_low,
    evaluate,
)
from kernel.confine.allowlist import sentry_policy
from kernel.seccomp import Filter, SeccompState
from kernel.seccomp.bpf import check, decode, run
from abi.seccomp import AUDIT_ARCH_X86_64, SECCOMP_DATA, SECCOMP_MODE_FILTER

_LD_ABS = BPF_LD | BPF_W | 0x20


def data(nr: int, *args: int) -> bytes:
    return SECCOMP_DATA.pack(nr, AUDIT_ARCH_X86_64, 0, *(tuple(args) + (0,) * 6)[:6])


def test_the_interpreter_agrees_with_the_reference_on_the_sentrys_own_allowlist() -> None:
    program = sentry_policy(1234).compile()
    checked = check(decode(program))
    rng = random.Random(15)
    for _ in range(3000):
        nr = rng.randrange(0, 460)
        args = tuple(rng.choice((0, 1, 2, 3, 17, 0x5401, rng.getrandbits(64))) for _ in range(6))
        assert run(checked, data(nr, *args))[0] == evaluate(program, nr, args), (nr, args)


def test_len_loads_become_the_size_of_seccomp_data() -> None:
    program = check([(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0), (BPF_RET | 0x10, 0, 0, 0)])
    assert run(program, data(0)) == (64, False)


def test_division_by_a_zero_x_ends_the_program_with_zero() -> None:
    program = check([(BPF_ALU | BPF_DIV | BPF_X, 0, 0, 0), (BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW)])
    assert run(program, data(39))[0] == 0


@pytest.mark.parametrize("bad", [
    [],
    [(BPF_LD | BPF_W | 0x20, 0, 0, 6), (BPF_RET | BPF_K, 0, 0, 0)],      # misaligned
    [(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 0), (BPF_RET | BPF_K, 0, 0, 0)],  # jt past the end
    [(BPF_ALU | BPF_DIV | BPF_K, 0, 0, 0), (BPF_RET | BPF_K, 0, 0, 0)],
    [(BPF_LD | BPF_W | 0x20, 0, 0, 0)],                                # no return last
])
def test_the_checker_refuses_what_linux_refuses(bad: list[tuple[int, int, int, int]]) -> None:
    with pytest.raises(Errno) as error:
        check(bad)
    assert error.value.errno == EINVAL


def _only(nr: int, action: int) -> Filter:
    return Filter(check([(_LD_ABS, 0, 0, DATA_NR), (BPF_JMP | BPF_JEQ | BPF_K, 0, 1, nr),
                         (BPF_RET | BPF_K, 0, 0, action), (BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW)]))


def _when_arg0(value: int, action: int) -> Filter:
    return Filter(check([(_LD_ABS, 0, 0, arg_low(0)), (BPF_JMP | BPF_JEQ | BPF_K, 0, 1, value),
                         (BPF_RET | BPF_K, 0, 0, action), (BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW)]))


def test_a_stack_remembers_only_verdicts_that_depend_on_the_number_alone() -> None:
    state = SeccompState(SECCOMP_MODE_FILTER).with_filter(_only(39, SECCOMP_RET_ERRNO | 1))
    assert state.decide(39, 0, (0,) * 6) == SECCOMP_RET_ERRNO | 1
    assert state.verdicts == {39: SECCOMP_RET_ERRNO | 1}
    state = state.with_filter(_when_arg0(7, SECCOMP_RET_TRAP))
    assert state.decide(62, 0, (7, 0, 0, 0, 0, 0)) == SECCOMP_RET_TRAP
    assert state.decide(62, 0, (8, 0, 0, 0, 0, 0)) == SECCOMP_RET_ALLOW
    assert state.verdicts == {}


def test_the_lowest_action_wins_and_kill_process_is_lowest() -> None:
    state = SeccompState(SECCOMP_MODE_FILTER)
    for action in (SECCOMP_RET_ERRNO | 3, SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_TRAP):
        state = state.with_filter(_only(39, action))
    assert state.decide(39, 0, (0,) * 6) == SECCOMP_RET_KILL_PROCESS
    assert state.decide(40, 0, (0,) * 6) == SECCOMP_RET_ALLOW
