"""A wrapper that logs every operation of the actor it wraps, one line per message.

    python -m kernel run --service vfs=examples.oplog:vfs IMAGE -- CMD
    SENTRIO_OPLOG=/tmp/vfs.log python -m kernel run --service vfs=examples.oplog:vfs ...

Each line says who called, the service and operation, its arguments, and the reply or the
errno::

    task 1 vfs.getcwd(<GoferDir 0x7edfe62d1550>, <GoferDir 0x7edfe62d1550>) -> b'/'
    task 1 vfs.open(<GoferDir 0x7edfe62d1550>, <GoferDir 0x7edfe62d1550>, b'/nonexist', 0, 0, 0, 0, 0) = ENOENT

Lines go to the file named by ``$SENTRIO_OPLOG`` (appended to), else to stderr.

The wrapper knows nothing of the service it wraps: it is a :class:`kernel.bus.Delegating`
whose :meth:`~kernel.bus.Delegating.forward` hook sees every operation of the inner actor,
whatever its operation set is, so it keeps working as a service's operations change. The
factories below wrap our actor of each service; ``OperationLog(inner, name)`` wraps any other.
``--trace-messages`` records the same messages from the bus's side, for every service at once.
"""

from __future__ import annotations

import os
import re
import reprlib
import sys
from typing import Any, TextIO

from abi.errno import Errno, errorcode
from kernel.bus import Actor, Delegating, current_caller
from kernel.kernel import DEFAULT_SERVICES, Kernel

#: Where the log goes unless stderr: the environment variable naming a file.
LOG_VARIABLE = "SENTRIO_OPLOG"

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 120
_short.maxlist = 6
_short.maxtuple = 6
#: ``<services.vfs.inode.Dir object at 0x7f..>``, as ``<Dir 0x7f..>``.
_DEFAULT_REPR = re.compile(r"<(?:[\w.]+\.)?(\w+) object at (0x[0-9a-f]+)>")


def brief(value: Any) -> str:
    """``value`` in a few dozen characters: long strings, lists and default object reprs cut short."""
    return _DEFAULT_REPR.sub(r"<\1 \2>", _short.repr(value))


class OperationLog(Delegating):
    """Forwards every operation to ``inner`` and logs it as ``caller service.op(args) -> reply``."""

    def __init__(self, inner: Actor, name: str, stream: TextIO | None = None) -> None:
        super().__init__(inner)
        self.name = name
        self._owned = stream is None and bool(os.environ.get(LOG_VARIABLE))
        self._stream = stream or (open(os.environ[LOG_VARIABLE], "a", buffering=1) if self._owned else sys.stderr)

    async def forward(self, op: str, *args: Any) -> Any:
        call = f"{current_caller.get()} {self.name}.{op}({', '.join(map(brief, args))})"
        try:
            reply = await super().forward(op, *args)
        except Errno as error:
            self._write(f"{call} = {errorcode.get(error.errno, error.errno)}")
            raise
        except BaseException as error:  # cancelled, or the actor crashed: the bus decides what it means
            self._write(f"{call} !! {type(error).__name__}")
            raise
        self._write(f"{call} -> {brief(reply)}")
        return reply

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._owned:
                self._stream.close()


def vfs(kernel: Kernel) -> OperationLog:
    """Our VFS, logged."""
    return OperationLog(DEFAULT_SERVICES["vfs"](kernel), "vfs")


def mm(kernel: Kernel) -> OperationLog:
    """Our memory manager, logged."""
    return OperationLog(DEFAULT_SERVICES["mm"](kernel), "mm")


def signals(kernel: Kernel) -> OperationLog:
    """Our signals actor, logged."""
    return OperationLog(DEFAULT_SERVICES["signals"](kernel), "signals")


def gofer(kernel: Kernel) -> OperationLog:
    """Our gofer proxy, logged."""
    return OperationLog(DEFAULT_SERVICES["gofer"](kernel), "gofer")
