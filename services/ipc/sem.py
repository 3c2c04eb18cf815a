"""System V semaphore sets (Linux's ipc/sem.c): values changed all at once or not at all,
with the adjustments SEM_UNDO makes at process exit."""

from __future__ import annotations

import time

import trio

from abi.creds import Credentials
from abi.errno import EAGAIN, EFBIG, ERANGE, Errno
from abi.ipc import IPC_NOWAIT, S_IRUGO, S_IWUGO, SEM_UNDO, SEMAEM, SEMVMX
from services.ipc.contract import SemOp
from services.ipc.registry import IpcObject


class SemaphoreSet(IpcObject):
    def __init__(self, key: int, creds: Credentials, mode: int, nsems: int) -> None:
        super().__init__(key, creds, mode)
        self.values = [0] * nsems
        self.pids = [0] * nsems
        #: Sleepers waiting for each semaphore to grow (semncnt) or reach zero (semzcnt).
        self.ncnt = [0] * nsems
        self.zcnt = [0] * nsems
        self.otime = 0
        #: pid -> its SEM_UNDO adjustment of each semaphore.
        self.undo: dict[int, list[int]] = {}

    async def operate(self, creds: Credentials, pid: int, ops: tuple[SemOp, ...], timeout: float | None) -> None:
        """semop once the set is looked up: sleep until every operation can be done at once."""
        if max(num for num, _, _ in ops) >= len(self.values):
            raise Errno(EFBIG)
        self.check(creds, S_IWUGO if any(op for _, op, _ in ops) else S_IRUGO)
        deadline = trio.current_time() + timeout if timeout is not None else float("inf")
        while True:
            blocked = self._try(pid, ops)
            if blocked is None:
                return
            num, op, flg = blocked
            if flg & IPC_NOWAIT:
                raise Errno(EAGAIN)
            counts = self.ncnt if op < 0 else self.zcnt
            counts[num] += 1
            try:
                with trio.move_on_at(deadline):
                    await self.wait_change()
                    continue
            finally:
                if not self.removed:
                    counts[num] -= 1
            raise Errno(EAGAIN)  # timed out

    def _try(self, pid: int, ops: tuple[SemOp, ...]) -> SemOp | None:
        """Apply ``ops`` if all can be; else change nothing and reply the one that must wait."""
        values = list(self.values)
        adjust = list(self.undo.get(pid, ())) or [0] * len(values)
        undoing = False
        for num, op, flg in ops:
            value = values[num] + op
            if op == 0 and values[num] != 0 or value < 0:
                return num, op, flg
            if value > SEMVMX:
                raise Errno(ERANGE)
            if flg & SEM_UNDO:
                undoing = True
                if not -SEMAEM - 1 <= adjust[num] - op <= SEMAEM:
                    raise Errno(ERANGE)
                adjust[num] -= op
            values[num] = value
        self.values = values
        if undoing:
            self.undo[pid] = adjust
        for num, _, _ in ops:
            self.pids[num] = pid
        self.otime = int(time.time())
        self.changed()
        return None

    def set_values(self, first: int, values: list[int], pid: int) -> None:
        """SETVAL / SETALL: new values; every process's adjustments of them are cleared."""
        if any(not 0 <= value <= SEMVMX for value in values):
            raise Errno(ERANGE)
        for num, value in enumerate(values, first):
            self.values[num] = value
            self.pids[num] = pid
            for adjust in self.undo.values():
                adjust[num] = 0
        self.ctime = int(time.time())
        self.changed()

    def exit(self, pid: int) -> None:
        """Apply and drop ``pid``'s adjustments, clamped to 0..SEMVMX as Linux's exit_sem."""
        adjust = self.undo.pop(pid, None)
        if adjust is None:
            return
        for num, delta in enumerate(adjust):
            if delta:
                self.values[num] = min(max(self.values[num] + delta, 0), SEMVMX)
                self.pids[num] = pid
        self.changed()
