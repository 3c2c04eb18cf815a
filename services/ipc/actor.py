"""Our ``ipc`` actor: the sandbox's IPC namespace of message queues and semaphore sets."""

from __future__ import annotations

import time

from abi.creds import CAP_SYS_RESOURCE, KERNEL_CALLER, Caller
from abi.errno import E2BIG, EIDRM, EINVAL, ENOSPC, EPERM, Errno
from abi.ipc import (
    GETALL, GETNCNT, GETPID, GETVAL, GETZCNT, MSGMAP, MSGMAX, MSGMNB, MSGMNI, MSGPOOL, MSGSEG, MSGSSZ, MSGTQL,
    S_IRUGO, S_IWUGO, SEMAEM, SEMMAP, SEMMNI, SEMMNS, SEMMNU, SEMMSL, SEMOPM, SEMUME, SEMUSZ, SEMVMX, SETALL,
    SETVAL, SHM_DEST, SHM_RDONLY, SHMALL, SHMMAX, SHMMIN, SHMMNI, SHMSEG,
)
from abi.linux import PAGE_SIZE
from kernel.bus import Bus, operation
from services.ipc.contract import MSG, SEM, IpcContract, IpcStat, SemOp
from services.ipc.mqueue import MqueueOperations, PosixQueue
from services.ipc.msg import MessageQueue, check_receive, check_send
from services.ipc.registry import IdTable, IpcObject, Obj
from services.ipc.sem import SemaphoreSet
from services.ipc.shm import Segment


class IpcNamespace(MqueueOperations, IpcContract):  # type: ignore[misc]
    """Every queue, set and segment of the sandbox, by id and key (one IPC namespace).

    Segments' memory is files of the ``vfs`` service, reached through ``bus``."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.queues: IdTable[MessageQueue] = IdTable(MSGMNI)
        self.sets: IdTable[SemaphoreSet] = IdTable(SEMMNI)
        self.segments: IdTable[Segment] = IdTable(SHMMNI)
        self.semaphores = 0
        self.shm_pages = 0
        #: POSIX message queues by name, and every one still open (unlinked or not) by id.
        self.mqueues: dict[bytes, PosixQueue] = {}
        self.mqueue_ids: dict[int, PosixQueue] = {}

    def _table(self, kind: str) -> IdTable[MessageQueue] | IdTable[SemaphoreSet] | IdTable[Segment]:
        if kind == MSG:
            return self.queues
        if kind == SEM:
            return self.sets
        return self.segments

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
        if isinstance(obj, Segment):
            return IpcStat(obj.ident, obj.perm(), obj.ctime, segsz=obj.size, atime=obj.atime, dtime=obj.dtime,
                           cpid=obj.cpid, lpid=obj.lpid, nattch=obj.nattch)
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
        if isinstance(obj, Segment):
            obj.mode |= SHM_DEST
            if self.segments.keys.get(obj.key) is obj:
                del self.segments.keys[obj.key]
            obj.key = 0
            await self._destroy_if_done(obj)
            return
        table.remove(obj)  # type: ignore[arg-type]
        if isinstance(obj, SemaphoreSet):
            self.semaphores -= len(obj.values)

    # --- shared memory segments --------------------------------------------------------------

    @operation
    async def shmget(self, caller: Caller, key: int, size: int, flags: int) -> int:
        found = self.segments.find_key(key, flags)
        if found is not None:
            if size > found.size:
                raise Errno(EINVAL)
            found.check(caller.creds, flags)
            return found.ident
        if not SHMMIN <= size <= SHMMAX:
            raise Errno(EINVAL)
        pages = -(-size // PAGE_SIZE)
        if self.shm_pages + pages > SHMALL or len(self.segments.slots) >= self.segments.limit:
            raise Errno(ENOSPC)
        handle = await self.bus.call("vfs", "memfd_create", KERNEL_CALLER, b"SYSV%08x" % (key & 0xFFFF_FFFF), 0)
        try:
            await self.bus.call("vfs", "ftruncate", KERNEL_CALLER, handle, size)
        except Errno:
            await self.bus.call("vfs", "drop", (handle,), 0)
            raise
        self.shm_pages += pages
        return self.segments.add(Segment(key, caller.creds, flags, size, handle, caller.pid))

    @operation
    async def shmat(self, caller: Caller, asid: int, shmid: int, flags: int) -> tuple[int, int]:
        segment = self.segments.get(shmid)
        segment.check(caller.creds, S_IRUGO if flags & SHM_RDONLY else S_IRUGO | S_IWUGO)
        if segment.destroyed:
            raise Errno(EIDRM)
        segment.begin_attach(asid, caller.pid)
        return segment.handle, segment.size

    @operation
    async def shm_mapped(self, asid: int, shmid: int, addr: int) -> None:
        self.segments.get(shmid).end_attach(asid, addr)

    @operation
    async def shm_unmapped(self, asid: int, shmid: int) -> None:
        segment = self.segments.get(shmid)
        segment.end_attach(asid, None)
        await self._destroy_if_done(segment)

    @operation
    async def shmdt(self, caller: Caller, asid: int, addr: int) -> int:
        for segment in self.segments.slots.values():
            if (asid, addr) in segment.attached:
                segment.detach(asid, addr, caller.pid)
                await self._destroy_if_done(segment)
                return segment.size
        raise Errno(EINVAL)

    @operation
    async def address_space_forked(self, parent: int, child: int) -> None:
        for segment in self.segments.slots.values():
            segment.attached.update({(child, addr) for asid, addr in segment.attached if asid == parent})

    @operation
    async def address_space_gone(self, asid: int) -> None:
        for segment in list(self.segments.slots.values()):
            gone = [(a, addr) for a, addr in segment.attached if a == asid]
            for _, addr in gone:
                segment.detach(asid, addr, segment.lpid)
            if gone:
                await self._destroy_if_done(segment)

    async def _destroy_if_done(self, segment: Segment) -> None:
        """Free a removed segment nobody has attached: its file and its pages."""
        if not segment.destroyed or segment.removed:
            return
        self.segments.remove(segment)
        self.shm_pages -= -(-segment.size // PAGE_SIZE)
        await self.bus.call("vfs", "drop", (segment.handle,), 0)

    # --- every kind ---------------------------------------------------------------------------

    @operation
    async def info(self, kind: str, usage: bool) -> tuple[tuple[int, ...], int]:
        if kind not in (MSG, SEM):
            if usage:
                rss = self.shm_pages
                return (len(self.segments.slots), self.shm_pages, rss, 0, 0, 0), self.segments.max_index()
            return (SHMMAX, SHMMIN, SHMMNI, SHMSEG, SHMALL), self.segments.max_index()
        if kind == MSG:
            queues = self.queues.slots.values()
            pool, map_, tql = ((len(queues), sum(len(q.messages) for q in queues), sum(q.cbytes for q in queues))
                               if usage else (MSGPOOL, MSGMAP, MSGTQL))
            return (pool, map_, MSGMAX, MSGMNB, MSGMNI, MSGSSZ, tql, MSGSEG), self.queues.max_index()
        usz, aem = (len(self.sets.slots), self.semaphores) if usage else (SEMUSZ, SEMAEM)
        return (SEMMAP, SEMMNI, SEMMNS, SEMMNU, SEMMSL, SEMOPM, SEMUME, usz, SEMVMX, aem), self.sets.max_index()

    @operation
    async def proc_sysvipc(self, kind: str) -> bytes:
        if kind == MSG:
            lines = ["       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid"
                     "      stime      rtime      ctime"]
            lines += [f"{q.key:10d} {q.ident:10d}  {q.mode:4o}  {q.cbytes:10d} {len(q.messages):10d} {q.lspid:5d} "
                      f"{q.lrpid:5d} {q.uid:5d} {q.gid:5d} {q.cuid:5d} {q.cgid:5d} {q.stime:10d} {q.rtime:10d} "
                      f"{q.ctime:10d}" for q in self._in_order(self.queues)]
        elif kind == SEM:
            lines = ["       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime"]
            lines += [f"{s.key:10d} {s.ident:10d}  {s.mode:4o} {len(s.values):10d} {s.uid:5d} {s.gid:5d} "
                      f"{s.cuid:5d} {s.cgid:5d} {s.otime:10d} {s.ctime:10d}" for s in self._in_order(self.sets)]
        else:
            lines = ["       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid"
                     "      atime      dtime      ctime                   rss                  swap"]
            lines += [f"{m.key:10d} {m.ident:10d}  {m.mode:4o} {m.size:21d} {m.cpid:5d} {m.lpid:5d}  "
                      f"{m.nattch:5d} {m.uid:5d} {m.gid:5d} {m.cuid:5d} {m.cgid:5d} {m.atime:10d} {m.dtime:10d} "
                      f"{m.ctime:10d} {0:21d} {0:21d}" for m in self._in_order(self.segments)]
        return ("\n".join(lines) + "\n").encode()

    @staticmethod
    def _in_order(table: IdTable[Obj]) -> list[Obj]:
        return [table.slots[index] for index in sorted(table.slots)]

    @operation
    async def process_exit(self, pid: int) -> None:
        for sems in self.sets.slots.values():
            sems.exit(pid)
