"""Our ``ipc`` actor: the sandbox's IPC namespace of message queues and semaphore sets."""

from __future__ import annotations

import time

from abi.creds import CAP_SYS_RESOURCE, Caller
from abi.errno import E2BIG, EINVAL, ENOSPC, EPERM, Errno
from abi.ipc import (
    GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, MSGMAP, MSGMAX, MSGMNB, MSGMNI, MSGPOOL, MSGSEG, MSGSSZ, MSGTQL,
    S_IRUGO, S_IWUGO, SEMAEM, SEMMAP, SEMMNI, SEMMNS, SEMMNU, SEMMSL, SEMOPM, SEMUME, SEMUSZ, SEMVMX, SETALL,
    SETVAL,
)
from kernel.bus import operation
from services.ipc.contract import MSG, IpcContract, IpcStat, SemOp
from services.ipc.msg import MessageQueue, check_receive, check_send
from services.ipc.registry import IdTable, IpcObject
from services.ipc.sem import SemaphoreSet


class IpcNamespace(IpcContract):
    """Every queue and set of the sandbox, by id and key (one IPC namespace)."""

    def __init__(self) -> None:
        self.queues: IdTable[MessageQueue] = IdTable(MSGMNI)
        self.sets: IdTable[SemaphoreSet] = IdTable(SEMMNI)
        self.semaphores = 0

    def _table(self, kind: str) -> IdTable[MessageQueue] | IdTable[SemaphoreSet]:
        if kind == MSG:
            return self.queues
        return self.sets

    # --- message queues -----------------------------------------------------------------------

    @operation
    async def msgget(self, caller: Caller, key: int, flags: int) -> int:
        queue = self.queues.find_key(key, flags)
        if queue is not None:
            queue.check(caller.creds, flags)
            return queue.ident
        return self.queues.add(MessageQueue(key, caller.creds, flags))

    @operation
    async def msgsnd(self, caller: Caller, msqid: int, mtype: int, text: bytes, flags: int) -> None:
        check_send(mtype, len(text))
        await self.queues.get(msqid).send(caller.creds, caller.pid, mtype, text, flags)

    @operation
    async def msgrcv(self, caller: Caller, msqid: int, size: int, msgtyp: int, flags: int) -> tuple[int, bytes]:
        check_receive(size, flags)
        return await self.queues.get(msqid).receive(caller.creds, caller.pid, size, msgtyp, flags)

    # --- semaphore sets -----------------------------------------------------------------------

    @operation
    async def semget(self, caller: Caller, key: int, nsems: int, flags: int) -> int:
        if not 0 <= nsems <= SEMMSL:
            raise Errno(EINVAL)
        found = self.sets.find_key(key, flags)
        if found is not None:
            if nsems > len(found.values):
                raise Errno(EINVAL)
            found.check(caller.creds, flags)
            return found.ident
        if nsems == 0:
            raise Errno(EINVAL)
        if self.semaphores + nsems > SEMMNS:
            raise Errno(ENOSPC)
        ident = self.sets.add(SemaphoreSet(key, caller.creds, flags, nsems))
        self.semaphores += nsems
        return ident

    @operation
    async def semop(self, caller: Caller, semid: int, ops: tuple[SemOp, ...], timeout: float | None) -> None:
        if not ops:
            raise Errno(EINVAL)
        if len(ops) > SEMOPM:
            raise Errno(E2BIG)
        await self.sets.get(semid).operate(caller.creds, caller.pid, ops, timeout)

    @operation
    async def semctl(self, caller: Caller, semid: int, semnum: int, cmd: int,
                     value: int | tuple[int, ...]) -> int | tuple[int, ...]:
        sems = self.sets.get(semid)
        if cmd == GETALL:
            sems.check(caller.creds, S_IRUGO)
            return tuple(sems.values)
        if cmd == SETALL:
            sems.check(caller.creds, S_IWUGO)
            if not isinstance(value, tuple) or len(value) != len(sems.values):
                raise Errno(EINVAL)
            sems.set_values(0, list(value), caller.pid)
            return 0
        if cmd not in (GETVAL, GETPID, GETNCNT, GETZCNT, SETVAL):
            raise Errno(EINVAL)
        if not 0 <= semnum < len(sems.values):
            raise Errno(EINVAL)
        if cmd == SETVAL:
            sems.check(caller.creds, S_IWUGO)
            if not isinstance(value, int):
                raise Errno(EINVAL)
            sems.set_values(semnum, [value], caller.pid)
            return 0
        sems.check(caller.creds, S_IRUGO)
        table = {GETVAL: sems.values, GETPID: sems.pids, GETNCNT: sems.ncnt, GETZCNT: sems.zcnt}[cmd]
        return table[semnum]

    # --- both kinds ---------------------------------------------------------------------------

    @operation
    async def stat(self, caller: Caller, kind: str, ident: int, any_caller: bool, by_index: bool) -> IpcStat:
        table = self._table(kind)
        obj: IpcObject = table.at_index(ident) if by_index else table.get(ident)
        if not any_caller:
            obj.check(caller.creds, S_IRUGO)
        if isinstance(obj, MessageQueue):
            return IpcStat(obj.ident, obj.perm(), obj.ctime, stime=obj.stime, rtime=obj.rtime, cbytes=obj.cbytes,
                           qnum=len(obj.messages), qbytes=obj.qbytes, lspid=obj.lspid, lrpid=obj.lrpid)
        assert isinstance(obj, SemaphoreSet)
        return IpcStat(obj.ident, obj.perm(), obj.ctime, otime=obj.otime, nsems=len(obj.values))

    @operation
    async def set(self, caller: Caller, kind: str, ident: int, uid: int, gid: int, mode: int, qbytes: int) -> None:
        obj: IpcObject = self._table(kind).get(ident)
        obj.check_owner(caller.creds)
        if isinstance(obj, MessageQueue):
            if qbytes > MSGMNB and not caller.creds.has_cap(CAP_SYS_RESOURCE):
                raise Errno(EPERM)
            obj.qbytes = qbytes
        obj.uid, obj.gid = uid, gid
        obj.mode = (obj.mode & ~0o777) | (mode & 0o777)
        obj.ctime = int(time.time())
        obj.changed()  # a larger queue may take a waiting sender's message

    @operation
    async def remove(self, caller: Caller, kind: str, ident: int) -> None:
        table = self._table(kind)
        obj: IpcObject = table.get(ident)
        obj.check_owner(caller.creds)
        table.remove(obj)  # type: ignore[arg-type]
        if isinstance(obj, SemaphoreSet):
            self.semaphores -= len(obj.values)

    @operation
    async def info(self, kind: str, usage: bool) -> tuple[tuple[int, ...], int]:
        if kind == MSG:
            queues = self.queues.slots.values()
            pool, map_, tql = ((len(queues), sum(len(q.messages) for q in queues), sum(q.cbytes for q in queues))
                               if usage else (MSGPOOL, MSGMAP, MSGTQL))
            return (pool, map_, MSGMAX, MSGMNB, MSGMNI, MSGSSZ, tql, MSGSEG), self.queues.max_index()
        usz, aem = (len(self.sets.slots), self.semaphores) if usage else (SEMUSZ, SEMAEM)
        return (SEMMAP, SEMMNI, SEMMNS, SEMMNU, SEMMSL, SEMOPM, SEMUME, usz, SEMVMX, aem), self.sets.max_index()

    @operation
    async def process_exit(self, pid: int) -> None:
        for sems in self.sets.slots.values():
            sems.exit(pid)
