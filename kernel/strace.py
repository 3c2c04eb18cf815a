"""``--strace``: every system call with its decoded arguments and result, as strace prints them.

Built on the syscall table's hooks (the same API researchers use), with argument names and C
types from python-ptrace's prototype table. Strings and buffers the call reads are shown from
guest memory at entry; a result that is an errno is shown by name::

    [   1] write(1, "hello\\n", 6) = 6
    [   1] openat(AT_FDCWD, "/nope", O_RDONLY) = -1 ENOENT (No such file or directory)
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING

from ptrace.syscall.prototypes import SYSCALL_PROTOTYPES

from abi.errno import RESTART_DESCRIPTIONS, errorcode
from abi.errno import Errno
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

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream or sys.stderr
        self._pending: dict[int, str] = {}

    def install(self, table: SyscallTable) -> None:
        table.on_enter(None, self._enter)
        table.on_exit(None, self._exit)

    async def _enter(self, task: Task, call: Call) -> None:
        self._pending[task.tid] = f"{call.name}({await self._arguments(task, call)})"

    async def _exit(self, task: Task, call: Call) -> None:
        text = self._pending.pop(task.tid, call.name + "(...)")
        self._stream.write(f"[{task.tid:4}] {text} = {self.result(call.result)}\n")
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
