"""What every System V IPC object has: its ipc_perm, its id, and the table of its kind
(Linux's ``ipc_ids``), with the permission rules of ``ipcperms`` and ``ipcctl_obtain_check``."""

from __future__ import annotations

import time
from typing import Generic, TypeVar

import trio

from abi.creds import CAP_IPC_OWNER, CAP_SYS_ADMIN, Credentials
from abi.errno import EACCES, EEXIST, EIDRM, EINVAL, ENOENT, ENOSPC, EPERM, Errno
from abi.ipc import IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPCMNI, IPCMNI_SEQ_MULTIPLIER, SEQ_MAX
from services.ipc.contract import IpcPerm


class IpcObject:
    """An object's identity, permissions and wake-ups; message queues and sets extend it."""

    def __init__(self, key: int, creds: Credentials, mode: int) -> None:
        self.key = key
        self.uid = self.cuid = creds.euid
        self.gid = self.cgid = creds.egid
        self.mode = mode & 0o777
        self.seq = 0
        self.ident = -1
        self.ctime = int(time.time())
        self.removed = False
        self._changed = trio.Event()

    def perm(self) -> IpcPerm:
        return IpcPerm(self.key, self.uid, self.gid, self.cuid, self.cgid, self.mode, self.seq)

    def may(self, creds: Credentials, flag: int) -> bool:
        """``ipcperms``: whether the rwx bits ``flag`` asks (in any of its three triplets) are
        granted to ``creds`` by the owner, group or other bits, or CAP_IPC_OWNER."""
        requested = (flag >> 6 | flag >> 3 | flag) & 0o7
        granted = self.mode
        if creds.euid in (self.cuid, self.uid):
            granted >>= 6
        elif creds.in_group(self.cgid) or creds.in_group(self.gid):
            granted >>= 3
        return not (requested & ~granted & 0o7) or creds.has_cap(CAP_IPC_OWNER)

    def check(self, creds: Credentials, flag: int) -> None:
        if not self.may(creds, flag):
            raise Errno(EACCES)

    def check_owner(self, creds: Credentials) -> None:
        """IPC_SET and IPC_RMID: the owner, the creator or CAP_SYS_ADMIN; EPERM otherwise."""
        if creds.euid not in (self.cuid, self.uid) and not creds.has_cap(CAP_SYS_ADMIN):
            raise Errno(EPERM)

    def changed(self) -> None:
        """Wake every sleeper on this object to look again."""
        self._changed.set()
        self._changed = trio.Event()

    async def wait_change(self) -> None:
        """Sleep until :meth:`changed`; EIDRM if the object was removed meanwhile."""
        await self._changed.wait()
        if self.removed:
            raise Errno(EIDRM)


Obj = TypeVar("Obj", bound=IpcObject)


class IdTable(Generic[Obj]):
    """The objects of one kind by slot index and by key; ids are ``seq * 32768 + index``."""

    def __init__(self, limit: int) -> None:
        self.limit = min(limit, IPCMNI)
        self.slots: dict[int, Obj] = {}
        self.keys: dict[int, Obj] = {}
        self._seq = 0

    def find_key(self, key: int, flags: int) -> Obj | None:
        """The object of ``key`` if the caller is to use it; None if a new one is to be made.
        ENOENT, EEXIST as ``ipcget``."""
        if key == IPC_PRIVATE:
            return None
        found = self.keys.get(key)
        if found is None:
            if not flags & IPC_CREAT:
                raise Errno(ENOENT)
            return None
        if flags & IPC_CREAT and flags & IPC_EXCL:
            raise Errno(EEXIST)
        return found

    def add(self, obj: Obj) -> int:
        """Put ``obj`` in the lowest free slot; its id. ENOSPC when the table is full."""
        if len(self.slots) >= self.limit:
            raise Errno(ENOSPC)
        index = next(i for i in range(len(self.slots) + 1) if i not in self.slots)
        obj.seq = self._seq
        self._seq = 0 if self._seq >= SEQ_MAX else self._seq + 1
        obj.ident = obj.seq * IPCMNI_SEQ_MULTIPLIER + index
        self.slots[index] = obj
        if obj.key != IPC_PRIVATE:
            self.keys[obj.key] = obj
        return obj.ident

    def get(self, ident: int) -> Obj:
        """The object of id ``ident``; EINVAL if none (a stale id included)."""
        if ident < 0:
            raise Errno(EINVAL)
        obj = self.slots.get(ident % IPCMNI_SEQ_MULTIPLIER)
        if obj is None or obj.ident != ident:
            raise Errno(EINVAL)
        return obj

    def at_index(self, index: int) -> Obj:
        obj = self.slots.get(index) if index >= 0 else None
        if obj is None:
            raise Errno(EINVAL)
        return obj

    def remove(self, obj: Obj) -> None:
        del self.slots[obj.ident % IPCMNI_SEQ_MULTIPLIER]
        if self.keys.get(obj.key) is obj:
            del self.keys[obj.key]
        obj.removed = True
        obj.changed()

    def max_index(self) -> int:
        return max(self.slots, default=0)
