"""``--trace-messages FILE``: a trace of the run you can analyse, as JSON lines.

The file holds three kinds of record, told apart by ``type``:

``header``   the first line, written by :meth:`MessageTracer.header`: the trace format's
             version, the command line, the seed, the fault rules and the services swapped.
``syscall``  a span per system call: its id (the one ``--strace`` prints as ``<#17>``), the
             thread, its name as ``op`` (``service`` is ``sys``), raw arguments, start and end
             (seconds since the trace began) and result.
``message``  a span per bus message: who sent what to whom, its arguments (paths in full, bulk
             data by its length), the reply or errno, ``start``/``end`` and the actor's time in
             µs, the ``syscall`` it served, the ``parent`` message it was sent from (the VFS asks
             the gofer while serving a read), the absolute ``paths`` of the files it names, and
             any notes interceptors left (an injected fault)::

    {"type": "message", "seq": 12, "t": 0.003151, "start": 0.003151, "end": 0.003154,
     "caller": "task 1", "service": "mm", "op": "brk", "args": [1, 0], "result": 4202496,
     "us": 3.1, "syscall": 5, "parent": null}

A record is written when its span ends, so a child comes before its parent. ``python -m kernel
trace summarize|timeline FILE`` reads it back (:mod:`kernel.tracetools`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import IO, Any

from abi.errno import Errno, errorcode
from kernel.argnames import PATH_ARGS, ArgNames, PathBook
from kernel.bus import Bus, Message, Proceed, current_message, current_syscall
from kernel.strace import SyscallSpan

#: The trace format; a reader refuses a trace of a later major version.
VERSION = 2
#: Arguments shown as text: paths, a symlink's target.
_TEXT_ARGS = frozenset(PATH_ARGS) | {"target"}
_LEARNS = frozenset({"root", "open", "chdir", "open_exec"})

_current_message = current_message


def summarise(value: Any) -> Any:
    """A JSON-friendly picture of a message argument or reply."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": len(value)}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, memoryview) for v in value):
            return {"buffers": len(value), "bytes": sum(len(v) for v in value)}
        return [summarise(v) for v in value]
    if isinstance(value, dict):
        return {str(k): summarise(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return type(value).__name__


class MessageTracer:
    """An interceptor writing every message, and (once :meth:`follow_syscalls` is called)
    every system call, to a file as JSON lines."""

    def __init__(self, stream: IO[str], bus: Bus | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._start = clock()
        self._names = ArgNames(bus) if bus is not None else None
        self._book = PathBook()
        self.count = 0

    def header(self, **facts: Any) -> None:
        """Write the header record (call it before the run): argv, seed, rules..."""
        self._write({"type": "header", "version": VERSION, **facts})

    def follow_syscalls(self, ids: Any) -> None:
        """Write a span for each system call ``ids`` (a :class:`~kernel.strace.SyscallIds`) numbers."""
        ids.clock = self._clock  # one time base for syscall and message spans
        ids.listeners.append(self._syscall)

    def footer(self, **facts: Any) -> None:
        """Write a closing record (the fault summary, the exit status)."""
        self._write({"type": "end", **facts})

    def _syscall(self, span: SyscallSpan) -> None:
        self._write({
            "type": "syscall", "id": span.id, "tid": span.tid, "caller": f"task {span.tid}",
            "service": "sys", "op": span.name,
            "args": list(span.args), "start": self._since(span.start), "end": self._since(span.end),
            "result": span.result,
        })

    def _since(self, when: float) -> float:
        return round(when - self._start, 6)

    async def __call__(self, message: Message, proceed: Proceed) -> Any:
        started = self._clock()
        span = current_syscall.get()
        named = self._names.named(message.service, message.op, message.args) if self._names else {}
        record: dict[str, Any] = {
            "type": "message",
            "seq": message.seq,
            "t": self._since(started),
            "caller": message.caller,
            "service": message.service,
            "op": message.op,
            "args": self._arguments(message, named),
            "syscall": span.id if span is not None else None,
            "parent": _current_message.get(),
        }
        if named:
            paths = self._book.paths(named)
            if paths:
                record["paths"] = paths
        token = _current_message.set(message.seq)
        try:
            result = await proceed(message)
        except Errno as error:
            record["errno"] = errorcode.get(error.errno, error.errno)
            raise
        else:
            record["result"] = summarise(result)
            if message.service == "vfs" and message.op in _LEARNS:
                self._book.learn(message.service, message.op, named, result)
            return result
        finally:
            _current_message.reset(token)
            ended = self._clock()
            record["start"] = record["t"]
            record["end"] = self._since(ended)
            record["us"] = round((ended - started) * 1e6, 1)
            if message.notes:
                record["notes"] = summarise(message.notes)
            self._write(record)
            self.count += 1

    @staticmethod
    def _arguments(message: Message, named: dict[str, Any]) -> Any:
        if not named:
            return summarise(message.args)
        shown = []
        for name, value in zip(named, message.args):
            if name in _TEXT_ARGS and isinstance(value, (bytes, bytearray)):
                shown.append(bytes(value).decode("utf-8", "surrogateescape"))
            else:
                shown.append(summarise(value))
        shown.extend(summarise(value) for value in message.args[len(shown):])
        return shown

    def _write(self, record: dict[str, Any]) -> None:
        self._stream.write(json.dumps(record, default=str) + "\n")

    def close(self) -> None:
        self._stream.flush()
