"""``--trace-messages FILE``: one JSON record per bus message.

Each line says who sent what to whom, what came back (a value, or an errno), and how long the
actor took::

    {"seq": 12, "t": 0.003151, "caller": "task 1", "service": "mm", "op": "brk",
     "args": [1, 0], "result": 4202496, "us": 3.1}

Bulk data (bytes, memoryviews) is summarised by its length: the trace is about the messages,
not guest memory.
"""

from __future__ import annotations

import json
import time
from typing import IO, Any

from abi.errno import errorcode
from kernel.bus import Message, Proceed
from abi.errno import Errno


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
    """An interceptor writing every message to a file as JSON lines."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._start = time.monotonic()
        self.count = 0

    async def __call__(self, message: Message, proceed: Proceed) -> Any:
        started = time.monotonic()
        record: dict[str, Any] = {
            "seq": message.seq,
            "t": round(started - self._start, 6),
            "caller": message.caller,
            "service": message.service,
            "op": message.op,
            "args": summarise(message.args),
        }
        try:
            result = await proceed(message)
        except Errno as error:
            record["errno"] = errorcode.get(error.errno, error.errno)
            raise
        else:
            record["result"] = summarise(result)
            return result
        finally:
            record["us"] = round((time.monotonic() - started) * 1e6, 1)
            if message.notes:
                record["notes"] = summarise(message.notes)
            self._stream.write(json.dumps(record) + "\n")
            self.count += 1

    def close(self) -> None:
        self._stream.flush()
