"""System V IPC: msgget/msgsnd/msgrcv/msgctl, semget/semop/semtimedop/semctl and
shmget/shmat/shmdt/shmctl.

The queues and sets belong to the ``ipc`` actor; this module reads and writes the guest's
structs (the x86-64 ``*64_ds`` layouts) and turns timeouts into seconds. A sleep a signal
interrupts fails with EINTR: signal(7) says these calls are never restarted.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from abi import structs
from abi.encoding import timespec_to_ns
from abi.creds import KERNEL_CALLER
from abi.errno import E2BIG, EEXIST, EINTR, EINVAL, Errno
from abi.ipc import (
    GETALL, IPC64_PERM, IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, MSG_INFO, MSG_STAT, MSG_STAT_ANY, MSGBUF_HEAD,
    MSGINFO, MSGMAX, MSQID64_DS, SEM_INFO, SEM_STAT, SEM_STAT_ANY, SEMBUF, SEMID64_DS, SEMINFO, SEMOPM, SETALL,
    SETVAL, SEM_VALUE, SHM_INFO, SHM_INFO_STRUCT, SHM_LOCK, SHM_RDONLY, SHM_REMAP, SHM_RND, SHM_EXEC, SHM_STAT,
    SHM_STAT_ANY, SHM_UNLOCK, SHMID64_DS, SHMINFO64, SHMLBA,
)
from abi.linux import MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_SHARED, NSEC_PER_SEC, PROT_EXEC, PROT_READ, PROT_WRITE
from kernel.syscalls.args import Addr, Int, Long, Size, ULong
from kernel.syscalls.table import syscall
from services.ipc.contract import MSG, SEM, SHM, IpcStat

if TYPE_CHECKING:
    from kernel.task import Task


async def _ipc(t: Task, op: str, *args: Any) -> Any:
    return await t.kernel.bus.call("ipc", op, t.caller, *args)


def _perm(stat: IpcStat) -> bytes:
    p = stat.perm
    return IPC64_PERM.pack(p.key, p.uid, p.gid, p.cuid, p.cgid, p.mode, p.seq, 0, 0)


# --- message queues -------------------------------------------------------------------------------


@syscall
async def msgget(t: Task, key: Int, msgflg: Int) -> int:
    result: int = await _ipc(t, "msgget", key, msgflg)
    return result


@syscall
async def msgsnd(t: Task, msqid: Int, msgp: Addr, msgsz: Size, msgflg: Int) -> int:
    if msgsz > MSGMAX or msqid < 0:
        raise Errno(EINVAL)
    (mtype,) = await t.mm.read_struct(MSGBUF_HEAD, msgp)
    if mtype < 1:
        raise Errno(EINVAL)
    text = await t.mm.copy_in(msgp + MSGBUF_HEAD.size, msgsz) if msgsz else b""
    await t.blocking(_ipc(t, "msgsnd", msqid, mtype, text, msgflg), EINTR)
    return 0


@syscall
async def msgrcv(t: Task, msqid: Int, msgp: Addr, msgsz: Long, msgtyp: Long, msgflg: Int) -> int:
    if msqid < 0 or msgsz < 0:
        raise Errno(EINVAL)
    mtype, text = await t.blocking(_ipc(t, "msgrcv", msqid, msgsz, msgtyp, msgflg), EINTR)
    await t.mm.copy_out(msgp, MSGBUF_HEAD.pack(mtype) + text)
    return len(text)


@syscall
async def msgctl(t: Task, msqid: Int, cmd: Int, buf: Addr) -> int:
    if msqid < 0 or cmd < 0:
        raise Errno(EINVAL)
    if cmd in (IPC_INFO, MSG_INFO):
        fields, max_index = await t.kernel.bus.call("ipc", "info", MSG, cmd == MSG_INFO)
        await t.mm.copy_out(buf, MSGINFO.pack(*fields))
        result: int = max_index
        return result
    if cmd in (IPC_STAT, MSG_STAT, MSG_STAT_ANY):
        stat: IpcStat = await _ipc(t, "stat", MSG, msqid, cmd == MSG_STAT_ANY, cmd != IPC_STAT)
        await t.mm.copy_out(buf, MSQID64_DS.pack(_perm(stat), stat.stime, stat.rtime, stat.ctime, stat.cbytes,
                                                 stat.qnum, stat.qbytes, stat.lspid, stat.lrpid))
        return 0 if cmd == IPC_STAT else stat.id
    if cmd == IPC_SET:
        perm, *_, qbytes, _lspid, _lrpid = await t.mm.read_struct(MSQID64_DS, buf)
        _key, uid, gid, _cuid, _cgid, mode, *_ = IPC64_PERM.unpack(perm)
        await _ipc(t, "set", MSG, msqid, uid, gid, mode, qbytes)
        return 0
    if cmd == IPC_RMID:
        await _ipc(t, "remove", MSG, msqid)
        return 0
    raise Errno(EINVAL)


# --- semaphore sets -------------------------------------------------------------------------------


@syscall
async def semget(t: Task, key: Int, nsems: Int, semflg: Int) -> int:
    result: int = await _ipc(t, "semget", key, nsems, semflg)
    return result


@syscall
async def semop(t: Task, semid: Int, sops: Addr, nsops: Size) -> int:
    return await semtimedop(t, semid, sops, nsops, 0)


@syscall
async def semtimedop(t: Task, semid: Int, sops: Addr, nsops: Size, timeout: Addr) -> int:
    if nsops < 1 or semid < 0:
        raise Errno(EINVAL)
    if nsops > SEMOPM:
        raise Errno(E2BIG)
    seconds = None
    if timeout:
        ns = timespec_to_ns(*await t.mm.read_struct(structs.TIMESPEC, timeout))  # EINVAL unless valid
        seconds = ns / NSEC_PER_SEC
    data = await t.mm.copy_in(sops, nsops * SEMBUF.size)
    ops = tuple(SEMBUF.iter_unpack(data))
    await t.blocking(_ipc(t, "semop", semid, ops, seconds), EINTR)
    return 0


@syscall
async def semctl(t: Task, semid: Int, semnum: Int, cmd: Int, arg: ULong) -> int:
    if semid < 0 or cmd < 0:
        raise Errno(EINVAL)
    if cmd in (IPC_INFO, SEM_INFO):
        fields, max_index = await t.kernel.bus.call("ipc", "info", SEM, cmd == SEM_INFO)
        await t.mm.copy_out(arg, SEMINFO.pack(*fields))
        result: int = max_index
        return result
    if cmd in (IPC_STAT, SEM_STAT, SEM_STAT_ANY):
        stat: IpcStat = await _ipc(t, "stat", SEM, semid, cmd == SEM_STAT_ANY, cmd != IPC_STAT)
        await t.mm.copy_out(arg, SEMID64_DS.pack(_perm(stat), stat.otime, stat.ctime, stat.nsems))
        return 0 if cmd == IPC_STAT else stat.id
    if cmd == IPC_SET:
        perm, *_ = await t.mm.read_struct(SEMID64_DS, arg)
        _key, uid, gid, _cuid, _cgid, mode, *_ = IPC64_PERM.unpack(perm)
        await _ipc(t, "set", SEM, semid, uid, gid, mode, 0)
        return 0
    if cmd == IPC_RMID:
        await _ipc(t, "remove", SEM, semid)
        return 0
    if cmd == GETALL:
        values = await _ipc(t, "semctl", semid, 0, GETALL, 0)
        await t.mm.copy_out(arg, b"".join(SEM_VALUE.pack(v) for v in values))
        return 0
    if cmd == SETALL:
        stat = await _ipc(t, "stat", SEM, semid, True, False)
        data = await t.mm.copy_in(arg, 2 * stat.nsems)
        values = tuple(v for (v,) in SEM_VALUE.iter_unpack(data))
        await _ipc(t, "semctl", semid, 0, SETALL, values)
        return 0
    value = arg & 0xFFFF_FFFF
    value = value - (1 << 32) if value >> 31 else value
    reply: int = await _ipc(t, "semctl", semid, semnum, cmd, value if cmd == SETVAL else 0)
    return reply


# --- shared memory segments -----------------------------------------------------------------------


@syscall
async def shmget(t: Task, key: Int, size: Size, shmflg: Int) -> int:
    result: int = await _ipc(t, "shmget", key, size, shmflg)
    return result


@syscall
async def shmat(t: Task, shmid: Int, shmaddr: Addr, shmflg: Int) -> int:
    """Map the segment's file MAP_SHARED: at ``shmaddr`` (rounded down with SHM_RND, and not
    over an existing mapping unless SHM_REMAP) or where the MM chooses."""
    if shmid < 0:
        raise Errno(EINVAL)
    flags = MAP_SHARED
    if shmaddr:
        if shmaddr % SHMLBA:
            if not shmflg & SHM_RND:
                raise Errno(EINVAL)
            shmaddr -= shmaddr % SHMLBA
        flags |= MAP_FIXED if shmflg & SHM_REMAP else MAP_FIXED_NOREPLACE
    elif shmflg & SHM_REMAP:
        raise Errno(EINVAL)
    prot = PROT_READ if shmflg & SHM_RDONLY else PROT_READ | PROT_WRITE
    if shmflg & SHM_EXEC:
        prot |= PROT_EXEC
    asid = t.mm.asid
    handle, size = await _ipc(t, "shmat", asid, shmid, shmflg)
    addr = None
    try:
        if flags & MAP_FIXED:  # SHM_REMAP: what was there goes first
            await t.mm.call("munmap", shmaddr, size)
        host_fd = (await t.kernel.bus.call("vfs", "map_file", KERNEL_CALLER, handle, prot, True)).fd
        try:
            addr = await t.mm.call("mmap_file", shmaddr, size, prot, flags, host_fd, 0, "SYSV",
                                   not shmflg & SHM_RDONLY)
        except Errno as error:
            if error.errno == EEXIST:  # over an existing mapping without SHM_REMAP
                raise Errno(EINVAL) from None
            raise
        finally:
            os.close(host_fd)
    finally:
        if addr is None:
            await t.kernel.bus.call("ipc", "shm_unmapped", asid, shmid)
    await t.kernel.bus.call("ipc", "shm_mapped", asid, shmid, addr)
    result: int = addr
    return result


@syscall
async def shmdt(t: Task, shmaddr: Addr) -> int:
    if shmaddr % SHMLBA:
        raise Errno(EINVAL)
    size = await _ipc(t, "shmdt", t.mm.asid, shmaddr)
    await t.mm.call("munmap", shmaddr, size)
    return 0


@syscall
async def shmctl(t: Task, shmid: Int, cmd: Int, buf: Addr) -> int:
    if shmid < 0 or cmd < 0:
        raise Errno(EINVAL)
    if cmd in (IPC_INFO, SHM_INFO):
        fields, max_index = await t.kernel.bus.call("ipc", "info", SHM, cmd == SHM_INFO)
        layout = SHM_INFO_STRUCT if cmd == SHM_INFO else SHMINFO64
        await t.mm.copy_out(buf, layout.pack(*fields))
        result: int = max_index
        return result
    if cmd in (IPC_STAT, SHM_STAT, SHM_STAT_ANY):
        stat: IpcStat = await _ipc(t, "stat", SHM, shmid, cmd == SHM_STAT_ANY, cmd != IPC_STAT)
        await t.mm.copy_out(buf, SHMID64_DS.pack(_perm(stat), stat.segsz, stat.atime, stat.dtime, stat.ctime,
                                                 stat.cpid, stat.lpid, stat.nattch))
        return 0 if cmd == IPC_STAT else stat.id
    if cmd == IPC_SET:
        perm, *_ = await t.mm.read_struct(SHMID64_DS, buf)
        _key, uid, gid, _cuid, _cgid, mode, *_ = IPC64_PERM.unpack(perm)
        await _ipc(t, "set", SHM, shmid, uid, gid, mode, 0)
        return 0
    if cmd == IPC_RMID:
        await _ipc(t, "remove", SHM, shmid)
        return 0
    if cmd in (SHM_LOCK, SHM_UNLOCK):  # nothing is swapped: locking changes nothing but is checked
        await _ipc(t, "stat", SHM, shmid, True, False)
        return 0
    raise Errno(EINVAL)
