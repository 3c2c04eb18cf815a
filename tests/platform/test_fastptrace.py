"""The C ptrace call of the hot path and its ctypes twin behave the same (results and errors)."""

from __future__ import annotations

import ctypes
import errno
import os
import signal
from collections.abc import Callable, Iterator

import pytest

from platforms.ptrace import binding
from platforms.ptrace.binding import (
    PTRACE_GETREGS,
    PTRACE_POKEUSER,
    RAX_OFFSET,
    WALL,
    PtraceError,
    ctypes_ptrace,
    user_regs_struct,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ptrace tests run as root")

PTRACE_PEEKUSER = 3
PTRACE_TRACEME = 0


def implementations() -> list[Callable[..., int]]:
    fast = binding._fastptrace
    return [ctypes_ptrace] if fast is None else [ctypes_ptrace, fast.ptrace]


def test_the_c_module_is_built_where_the_project_is_installed() -> None:
    """pip builds it with the package (setup.sh's editable install); without it every trapped
    system call pays ~4 µs of ctypes. A plain checkout without it still works (ctypes)."""
    assert binding._fastptrace is not None
    assert binding.ptrace is binding._fastptrace.ptrace


@pytest.fixture
def stopped_child() -> Iterator[int]:
    """A traced child stopped by its own SIGSTOP."""
    pid = os.fork()
    if pid == 0:
        try:
            binding.ptrace(PTRACE_TRACEME, 0)
            os.kill(os.getpid(), signal.SIGSTOP)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, WALL)
    assert os.WIFSTOPPED(status)
    yield pid
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, WALL)


@pytest.mark.parametrize("call", implementations(), ids=lambda f: f.__module__ + "." + f.__name__)
def test_a_thread_that_is_not_traced_is_ESRCH(call: Callable[..., int]) -> None:
    with pytest.raises(PtraceError) as raised:
        call(PTRACE_GETREGS, os.getpid(), 0, 0)
    assert raised.value.errno == errno.ESRCH
    assert "ptrace(" in str(raised.value)


def test_both_read_and_write_the_same_registers(stopped_child: int) -> None:
    calls = implementations()
    regs = [user_regs_struct() for _ in calls]
    for call, buffer in zip(calls, regs):
        assert call(PTRACE_GETREGS, stopped_child, 0, ctypes.addressof(buffer)) == 0
    assert len({bytes(buffer) for buffer in regs}) == 1
    for value in (0, 7, (1 << 64) - 2, -2, -1):  # 64-bit registers: -2 is 2**64-2; a PEEK may read -1
        for call in calls:
            call(PTRACE_POKEUSER, stopped_child, RAX_OFFSET, value)
            assert [c(PTRACE_PEEKUSER, stopped_child, RAX_OFFSET) & (1 << 64) - 1 for c in calls] == \
                [value & (1 << 64) - 1] * len(calls)
