"""``--strace``: every system call with its decoded arguments and result, as strace prints them.

Built on the syscall table's hooks (the same API researchers use), with argument names and C
types from python-ptrace's prototype table. Strings and buffers the call reads are shown from
guest memory at entry; a result that is an errno is shown by name::

    [   1] write(1, "hello\\n", 6) = 6
    [   1] openat(AT_FDCWD, "/nope", O_RDONLY) = -1 ENOENT (No such file or directory)

Every system call also gets an *id*, counted from 1 in the order calls enter the kernel
(:class:`SyscallIds`). The message trace records it on each syscall span and on every bus
message sent while serving the call; when both are on, ``--strace`` ends each line with it
(``= 6 <#17>``), so a line of one finds its records in the other.
"""

from __future__ import annotations

import os
import sys
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from ptrace.syscall.prototypes import SYSCALL_PROTOTYPES

from abi.errno import RESTART_DESCRIPTIONS, errorcode
from abi.errno import Errno
from kernel.bus import current_syscall as bus_current_syscall
from kernel.syscalls.table import Call, SyscallTable

if TYPE_CHECKING:
    from kernel.task import Task

#: How much of a string or buffer to show, as strace's default -s 32.
STRING_LIMIT = 32
#: Calls whose first ``const char *``/``void *`` argument is data the call writes out, sized by
#: the argument after it.
_OUTPUT_BUFFERS = {"write": ("buf", "count"), "pwrite64": ("buf", "count")}
_SPECIAL_FDS = {-100: "AT_FDCWD"}
#: Parameter names (from the prototypes) that hold NUL-terminated path strings.
_STRING_PARAMS = frozenset({"filename", "pathname", "path", "oldname", "newname", "name", "specialfile"})


@dataclass(slots=True)
class SyscallSpan:
    """One system call being served: its id, thread, name, raw arguments and times."""

    id: int
    tid: int
    name: str
    args: tuple[Any, ...]
    start: float
    end: float = 0.0
    result: int | None = None
    #: Argument values by parameter name (``fd``, ``count``...), filled on first use.
    _named: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def named(self) -> dict[str, Any]:
        if self._named is None:
            prototype = SYSCALL_PROTOTYPES.get(self.name)
            names = [name for _, name in prototype[1]] if prototype else []
            self._named = dict(zip(names, self.args))
        return self._named


#: The system call the current trio task is serving (None outside one, or with no ids installed).
current_syscall = bus_current_syscall


class SyscallIds:
    """Numbers every system call and keeps it in :data:`current_syscall` while it is served.

    One per syscall table (:meth:`install` is idempotent), shared by ``--strace``, the message
    trace and fault rules that look at the call (``fd=``, ``syscall=``). Listeners get each
    finished call's span.
    """

    _installed: weakref.WeakKeyDictionary[SyscallTable, SyscallIds] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self.count = 0
        self.listeners: list[Callable[[SyscallSpan], None]] = []
        self.clock: Callable[[], float] = time.monotonic

    @classmethod
    def install(cls, table: SyscallTable) -> SyscallIds:
        ids = cls._installed.get(table)
        if ids is None:
            ids = cls._installed[table] = cls()
            table.on_enter(None, ids._enter)
            table.on_exit(None, ids._exit)
        return ids

    async def _enter(self, task: Task, call: Call) -> None:
        self.count += 1
        current_syscall.set(SyscallSpan(self.count, task.tid, call.name, call.args, self.clock()))

    async def _exit(self, task: Task, call: Call) -> None:
        span = current_syscall.get()
        if span is None:
            return
        span.end = self.clock()
        span.result = call.result
        current_syscall.set(None)
        for listener in self.listeners:
            listener(span)


def quote(data: bytes, truncated: bool) -> str:
    """``data`` as a C string literal, the way strace shows it."""
    out = []
    for byte in data:
        char = chr(byte)
        if char == '"' or char == "\\":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif 32 <= byte < 127:
            out.append(char)
        else:
            out.append(f"\\{byte:o}")
    return '"' + "".join(out) + '"' + ("..." if truncated else "")


class Strace:
    """Formats calls on enter and prints them, with their result, on exit."""

    def __init__(self, stream: IO[str] | None = None, show_ids: bool = False) -> None:
        self._stream = stream or sys.stderr
        self._pending: dict[int, tuple[str, int | None]] = {}
        #: End each line with the call's id (``<#17>``), as the message trace names it.
        self.show_ids = show_ids

    def install(self, table: SyscallTable) -> None:
        SyscallIds.install(table)  # first, so the id is set before our enter hook runs
        table.on_enter(None, self._enter)
        table.on_exit(None, self._exit)

    async def _enter(self, task: Task, call: Call) -> None:
        span = current_syscall.get()
        text = f"{call.name}({await self._arguments(task, call)})"
        self._pending[task.tid] = (text, span.id if span is not None else None)

    async def _exit(self, task: Task, call: Call) -> None:
        text, syscall_id = self._pending.pop(task.tid, (call.name + "(...)", None))
        suffix = f" <#{syscall_id}>" if self.show_ids and syscall_id is not None else ""
        self._stream.write(f"[{task.tid:4}] {text} = {self.result(call.result)}{suffix}\n")
        self._stream.flush()

    @staticmethod
    def result(value: int | None) -> str:
        if value is None:
            return "?"
        if -value in RESTART_DESCRIPTIONS:  # interrupted; the guest sees EINTR or a restart
            return "? {} ({})".format(*RESTART_DESCRIPTIONS[-value])
        if -4096 < value < 0:
            name = errorcode.get(-value, str(-value))
            return f"-1 {name} ({os.strerror(-value)})"
        return hex(value) if value > 0xFFFF else str(value)

    async def _arguments(self, task: Task, call: Call) -> str:
        prototype = SYSCALL_PROTOTYPES.get(call.name)
        if prototype is None:
            return ", ".join(hex(a) if a > 0xFFFF else str(a) for a in call.args)
        params = prototype[1]
        args = call.args[:len(params)]  # an unsupported call arrives with all six registers
        values = dict(zip((name for _, name in params), args))
        shown = []
        for (c_type, name), value in zip(params, args):
            shown.append(await self._argument(task, call.name, c_type, name, value, values))
        return ", ".join(shown)

    async def _argument(self, task: Task, syscall: str, c_type: str, name: str, value: int,
                        values: dict[str, int]) -> str:
        output = _OUTPUT_BUFFERS.get(syscall)
        if output and name == output[0]:
            return await self._buffer(task, value, values.get(output[1], 0))
        if "char *" in c_type and name in _STRING_PARAMS:
            return await self._string(task, value)
        if isinstance(value, int) and value < 0 and "fd" in name:
            return _SPECIAL_FDS.get(value, str(value))
        if "*" in c_type:
            return "NULL" if value == 0 else hex(value)
        return hex(value) if isinstance(value, int) and value > 0xFFFF else str(value)

    async def _buffer(self, task: Task, addr: int, length: int) -> str:
        shown = min(length, STRING_LIMIT)
        try:
            data = await task.mm.copy_in(addr, shown) if shown else b""
        except Errno:
            return hex(addr)
        return quote(data, length > shown)

    async def _string(self, task: Task, addr: int) -> str:
        if addr == 0:
            return "NULL"
        try:
            data = await task.mm.read_cstring(addr, 4096)
        except Errno:
            return hex(addr)
        return quote(data[:STRING_LIMIT], len(data) > STRING_LIMIT)
