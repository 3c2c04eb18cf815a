"""The syscall table reads a handler's signature on the call's first use, not at start-up."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import weakref

import pytest

from abi import syscalls as numbers
from kernel.syscalls import table as table_module
from kernel.syscalls.args import Fd, Int, Size
from kernel.syscalls.table import SyscallTable


def _task(*args: int) -> Any:
    names = ("rdi", "rsi", "rdx", "r10", "r8", "r9")
    return SimpleNamespace(regs=SimpleNamespace(**dict(zip(names, (*args, 0, 0, 0, 0, 0, 0)))), tid=1)


async def write(t: Any, fd: Fd, buf: int, count: Size) -> int:
    return fd + count


async def close(t: Any, fd: Int) -> int:
    return fd


async def dup(t: Any, fd: int) -> int:  # raw register: no sign extension
    return fd


async def test_signatures_are_read_once_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    real = table_module._parameters

    def counting(handler: Any) -> Any:
        read.append(handler.__name__)
        return real(handler)

    monkeypatch.setattr(table_module, "_parameters", counting)
    monkeypatch.setattr(table_module, "_COMPILED", weakref.WeakKeyDictionary())
    table = SyscallTable({"write": write, "close": close})
    assert read == []  # building the table read no signature
    minus_one = (1 << 64) - 1
    assert await table.dispatch(_task(minus_one, 0, 5), numbers.number("write")) == 4
    assert await table.dispatch(_task(2, 0, 5), numbers.number("write")) == 7
    assert read == ["write"]
    table.replace("write", dup)  # a new handler is read again, with its own signature
    assert await table.dispatch(_task(minus_one), numbers.number("write")) == minus_one
    assert read == ["write", "dup"]


async def test_decoders_compiled_once_serve_every_later_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a zygote does before it forks runs: their tables then read no signature."""
    read: list[str] = []
    real = table_module._parameters
    monkeypatch.setattr(table_module, "_parameters", lambda handler: read.append(handler.__name__) or real(handler))
    monkeypatch.setattr(table_module, "_COMPILED", weakref.WeakKeyDictionary())
    monkeypatch.setattr(table_module, "REGISTRY", {"write": write, "close": close})
    table_module.compile_decoders()
    assert sorted(read) == ["close", "write"]
    table = SyscallTable()
    assert await table.dispatch(_task(3, 0, 5), numbers.number("write")) == 8
    assert await table.dispatch(_task((1 << 64) - 1), numbers.number("close")) == -1
    assert sorted(read) == ["close", "write"]


def test_params_are_there_without_a_call() -> None:
    entry = SyscallTable({"write": write}).entry("write")
    assert entry is not None
    assert [name for name, _ in entry.params] == ["fd", "buf", "count"]
    assert entry.params[1][1] is None and entry.params[0][1] is not None


def test_too_many_arguments_are_refused_when_registered() -> None:
    async def seven(t: Any, a: int, b: int, c: int, d: int, e: int, f: int, g: int) -> int:
        return 0

    with pytest.raises(TypeError, match="more than six"):
        SyscallTable({"write": seven})
