"""Credentials as the guest sees them: set*id, getres*id, setfs*id, groups.

Nothing here changes the Sentry's own identity; the rules are Linux's for a process with and
without CAP_SETUID/CAP_SETGID, where "privileged" means an effective uid of 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.abi import structs
from kernel.abi.errno import EINVAL, EPERM
from kernel.errors import Errno
from kernel.syscalls.args import Addr, Int, UInt
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.process import Credentials
    from kernel.task import Task

_UNCHANGED = 0xFFFF_FFFF
#: Most supplementary groups a process may have (NGROUPS_MAX).
NGROUPS_MAX = 65536


def _privileged(creds: Credentials) -> bool:
    return creds.euid == 0


def _allowed(creds: Credentials, value: int, *choices: int) -> bool:
    return value == _UNCHANGED or _privileged(creds) or value in choices


@syscall
async def setuid(t: Task, uid: UInt) -> int:
    creds = t.process.creds
    if uid == _UNCHANGED:
        raise Errno(EINVAL)
    if _privileged(creds):
        creds.uid = creds.euid = creds.suid = creds.fsuid = uid
    elif uid in (creds.uid, creds.suid):
        creds.euid = creds.fsuid = uid
    else:
        raise Errno(EPERM)
    return 0


@syscall
async def setgid(t: Task, gid: UInt) -> int:
    creds = t.process.creds
    if gid == _UNCHANGED:
        raise Errno(EINVAL)
    if _privileged(creds):
        creds.gid = creds.egid = creds.sgid = creds.fsgid = gid
    elif gid in (creds.gid, creds.sgid):
        creds.egid = creds.fsgid = gid
    else:
        raise Errno(EPERM)
    return 0


@syscall
async def setreuid(t: Task, ruid: UInt, euid: UInt) -> int:
    creds = t.process.creds
    if not _allowed(creds, ruid, creds.uid, creds.euid) or not _allowed(creds, euid, creds.uid, creds.euid, creds.suid):
        raise Errno(EPERM)
    old_uid = creds.uid
    if ruid != _UNCHANGED:
        creds.uid = ruid
    if euid != _UNCHANGED:
        creds.euid = euid
    if ruid != _UNCHANGED or (euid != _UNCHANGED and euid != old_uid):
        creds.suid = creds.euid
    creds.fsuid = creds.euid
    return 0


@syscall
async def setregid(t: Task, rgid: UInt, egid: UInt) -> int:
    creds = t.process.creds
    if not _allowed(creds, rgid, creds.gid, creds.egid) or not _allowed(creds, egid, creds.gid, creds.egid, creds.sgid):
        raise Errno(EPERM)
    old_gid = creds.gid
    if rgid != _UNCHANGED:
        creds.gid = rgid
    if egid != _UNCHANGED:
        creds.egid = egid
    if rgid != _UNCHANGED or (egid != _UNCHANGED and egid != old_gid):
        creds.sgid = creds.egid
    creds.fsgid = creds.egid
    return 0


@syscall
async def setresuid(t: Task, ruid: UInt, euid: UInt, suid: UInt) -> int:
    creds = t.process.creds
    ids = (creds.uid, creds.euid, creds.suid)
    if not all(_allowed(creds, value, *ids) for value in (ruid, euid, suid)):
        raise Errno(EPERM)
    if ruid != _UNCHANGED:
        creds.uid = ruid
    if euid != _UNCHANGED:
        creds.euid = euid
    if suid != _UNCHANGED:
        creds.suid = suid
    creds.fsuid = creds.euid
    return 0


@syscall
async def setresgid(t: Task, rgid: UInt, egid: UInt, sgid: UInt) -> int:
    creds = t.process.creds
    ids = (creds.gid, creds.egid, creds.sgid)
    if not all(_allowed(creds, value, *ids) for value in (rgid, egid, sgid)):
        raise Errno(EPERM)
    if rgid != _UNCHANGED:
        creds.gid = rgid
    if egid != _UNCHANGED:
        creds.egid = egid
    if sgid != _UNCHANGED:
        creds.sgid = sgid
    creds.fsgid = creds.egid
    return 0


@syscall
async def getresuid(t: Task, ruid: Addr, euid: Addr, suid: Addr) -> int:
    creds = t.process.creds
    for addr, value in ((ruid, creds.uid), (euid, creds.euid), (suid, creds.suid)):
        await t.mm.write_struct(structs.U32, addr, value)
    return 0


@syscall
async def getresgid(t: Task, rgid: Addr, egid: Addr, sgid: Addr) -> int:
    creds = t.process.creds
    for addr, value in ((rgid, creds.gid), (egid, creds.egid), (sgid, creds.sgid)):
        await t.mm.write_struct(structs.U32, addr, value)
    return 0


@syscall
async def setfsuid(t: Task, fsuid: UInt) -> int:
    """Set the filesystem uid if allowed; always returns the previous one."""
    creds = t.process.creds
    old = creds.fsuid
    if fsuid != _UNCHANGED and (_privileged(creds) or fsuid in (creds.uid, creds.euid, creds.suid, creds.fsuid)):
        creds.fsuid = fsuid
    return old


@syscall
async def setfsgid(t: Task, fsgid: UInt) -> int:
    creds = t.process.creds
    old = creds.fsgid
    if fsgid != _UNCHANGED and (_privileged(creds) or fsgid in (creds.gid, creds.egid, creds.sgid, creds.fsgid)):
        creds.fsgid = fsgid
    return old


@syscall
async def getgroups(t: Task, size: Int, list: Addr) -> int:
    groups = t.process.creds.groups
    if size < 0:
        raise Errno(EINVAL)
    if size == 0:
        return len(groups)
    if size < len(groups):
        raise Errno(EINVAL)
    if groups:
        await t.mm.copy_out(list, b"".join(structs.U32.pack(g) for g in groups))
    return len(groups)


@syscall
async def setgroups(t: Task, size: Int, list: Addr) -> int:
    creds = t.process.creds
    if not 0 <= size <= NGROUPS_MAX:
        raise Errno(EINVAL)
    if not _privileged(creds):
        raise Errno(EPERM)
    raw = await t.mm.copy_in(list, 4 * size) if size else b""
    creds.groups = tuple(sorted(structs.U32.unpack_from(raw, 4 * i)[0] for i in range(size)))
    return 0
