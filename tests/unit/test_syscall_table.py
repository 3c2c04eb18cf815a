"""The syscall table: argument decoding, ENOSYS counting, and the researchers' hooks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from abi import syscalls as numbers
from abi.errno import EBADF, ENOSYS
from abi.errno import Errno
from kernel.syscalls.args import Addr, Fd, Int, Size
from kernel.syscalls.table import Call, SyscallTable


def _task(*args: int) -> Any:
    names = ("rdi", "rsi", "rdx", "r10", "r8", "r9")
    regs = SimpleNamespace(**dict.fromkeys(names, 0))
    for name, value in zip(names, args):
        setattr(regs, name, value)
    return SimpleNamespace(regs=regs, tid=1)


async def write(t: Any, fd: Fd, buf: Addr, count: Size) -> int:
    if fd < 0:
        raise Errno(EBADF)
    return count


async def close(t: Any, fd: Int) -> int:
    return fd


async def test_arguments_are_decoded_by_annotation() -> None:
    table = SyscallTable({"write": write, "close": close})
    minus_one = (1 << 64) - 1
    assert await table.dispatch(_task(1, 0x1000, 5), numbers.number("write")) == 5
    # An int argument takes the low 32 bits, signed: -1 in a 64-bit register is fd -1.
    assert await table.dispatch(_task(minus_one, 0, 5), numbers.number("write")) == -EBADF
    assert await table.dispatch(_task(0xFFFF_FFFF_0000_0007), numbers.number("close")) == 7


async def test_unknown_numbers_are_enosys_and_counted() -> None:
    table = SyscallTable({"write": write})
    for nr in (numbers.number("getppid"), 1000, numbers.number("getppid")):
        assert await table.dispatch(_task(), nr) == -ENOSYS
    assert table.unsupported == {numbers.number("getppid"): 2, 1000: 1}


async def test_enter_hook_can_answer_and_exit_hook_can_change_the_result() -> None:
    table = SyscallTable({"write": write, "close": close})
    seen: list[tuple[str, tuple[int, ...], int | None]] = []

    async def deny_stdout(t: Any, call: Call) -> None:
        if call.args[0] == 1:
            call.result = -EBADF

    async def record(t: Any, call: Call) -> None:
        seen.append((call.name, call.args, call.result))

    async def plus_one(t: Any, call: Call) -> None:
        assert call.result is not None
        call.result += 1

    table.on_enter("write", deny_stdout)
    table.on_exit(None, record)
    table.on_exit(numbers.number("close"), plus_one)
    assert await table.dispatch(_task(1, 0, 9), numbers.number("write")) == -EBADF
    assert await table.dispatch(_task(2, 0, 9), numbers.number("write")) == 9
    assert await table.dispatch(_task(4), numbers.number("close")) == 5
    assert seen == [("write", (1, 0, 9), -EBADF), ("write", (2, 0, 9), 9), ("close", (4,), 5)]


async def test_replace_swaps_a_handler_and_may_call_the_old_one() -> None:
    table = SyscallTable({"write": write})
    old = table.entry("write").handler  # type: ignore[union-attr]

    async def doubled(t: Any, fd: Fd, buf: Addr, count: Size) -> int:
        return 2 * await old(t, fd, buf, count)

    table.replace("write", doubled)
    assert await table.dispatch(_task(1, 0, 21), numbers.number("write")) == 42
    table.replace("getppid", lambda t: _const(99))
    assert await table.dispatch(_task(), numbers.number("getppid")) == 99


async def _const(value: int) -> int:
    return value


def test_the_default_table_serves_the_core_calls() -> None:
    from kernel.syscalls import default_table

    supported = set(default_table().supported())
    for name in ("read", "write", "readv", "writev", "pread64", "pwrite64", "exit", "exit_group",
                 "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "uname",
                 "arch_prctl", "set_tid_address", "set_robust_list", "prlimit64", "getrlimit",
                 "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep",
                 "clock_nanosleep", "getrandom", "sched_yield", "sched_getaffinity", "ioctl",
                 "sysinfo", "getcwd", "mmap", "munmap", "mprotect", "mremap", "brk", "madvise",
                 "msync", "mincore"):
        assert name in supported, name


async def broken(t: Any) -> int:
    raise KeyError("a Sentry bug")


async def test_a_handler_bug_becomes_eio_and_propagates_when_strict() -> None:
    import pytest

    from abi.errno import EIO

    assert await SyscallTable({"getpid": broken}).dispatch(_task(), numbers.number("getpid")) == -EIO
    with pytest.raises(KeyError):
        await SyscallTable({"getpid": broken}, strict=True).dispatch(_task(), numbers.number("getpid"))


def test_docs_syscalls_md_is_current() -> None:
    from pathlib import Path

    from kernel.syscalls.coverage import coverage_markdown

    committed = (Path(__file__).resolve().parents[2] / "docs" / "syscalls.md").read_text()
    assert committed == coverage_markdown(), "regenerate: python -m kernel syscalls > docs/syscalls.md"
