"""What a researcher would pass to --plugin and --service, used by the CLI tests."""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

from abi.errno import EPERM
from services.mm.actor import MemoryManager


def deny_uname(kernel: Any) -> None:
    """A --plugin: every uname(2) fails with EPERM, answered by an enter hook."""

    async def deny(task: Any, call: Any) -> None:
        call.result = -EPERM

    kernel.syscalls.on_enter("uname", deny)


class CountingMemoryManager(MemoryManager):
    """A --service replacement for "mm": ours, but it counts operations and reports them."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Opened now: once confined, the Sentry can open no host file.
        self.report = open(os.environ["SENTRIO_TEST_COUNTS"], "w")
        self.counts: Counter[str] = Counter()
        for op in type(self).operations:
            original = getattr(self, op)
            setattr(self, op, self._counted(op, original))

    def _counted(self, op: str, original: Any) -> Any:
        async def counted(*args: Any) -> Any:
            self.counts[op] += 1
            return await original(*args)
        return counted

    async def close(self) -> None:
        with self.report:
            json.dump(self.counts, self.report)
        await super().close()


def counting_mm(kernel: Any) -> CountingMemoryManager:
    return CountingMemoryManager(kernel.platform, kernel.memfile, kernel.config.memory_limit)
