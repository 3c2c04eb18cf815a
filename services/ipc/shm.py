"""System V shared memory (Linux's ipc/shm.c): a segment is an unlinked file in memory that
the VFS keeps (a memfd, as Linux's shmfs file), mapped MAP_SHARED wherever it is attached.

The segment holds one reference to the file's description; every attachment maps the file's
bytes, so memory survives a segment's destruction in address spaces that still map it, as in
Linux. Attachments are counted by (address space, address)."""

from __future__ import annotations

import time

from abi.creds import Credentials
from abi.ipc import SHM_DEST
from services.ipc.registry import IpcObject


class Segment(IpcObject):
    def __init__(self, key: int, creds: Credentials, mode: int, size: int, handle: int, pid: int) -> None:
        super().__init__(key, creds, mode)
        self.size = size
        self.handle = handle
        self.cpid = pid
        self.lpid = 0
        self.atime = self.dtime = 0
        #: Attachments being mapped (asid -> how many) and mapped ((asid, addr)).
        self.pending: dict[int, int] = {}
        self.attached: set[tuple[int, int]] = set()

    @property
    def nattch(self) -> int:
        return len(self.attached) + sum(self.pending.values())

    @property
    def destroyed(self) -> bool:
        """Removed (SHM_DEST) and no longer attached anywhere: its file is to be dropped."""
        return bool(self.mode & SHM_DEST) and self.nattch == 0

    def begin_attach(self, asid: int, pid: int) -> None:
        self.pending[asid] = self.pending.get(asid, 0) + 1
        self.lpid = pid
        self.atime = int(time.time())

    def end_attach(self, asid: int, addr: int | None) -> None:
        """A pending attachment is mapped at ``addr``, or (None) failed."""
        left = self.pending.get(asid, 0) - 1
        if left > 0:
            self.pending[asid] = left
        else:
            self.pending.pop(asid, None)
        if addr is not None:
            self.attached.add((asid, addr))

    def detach(self, asid: int, addr: int, pid: int) -> None:
        self.attached.discard((asid, addr))
        self.lpid = pid
        self.dtime = int(time.time())
