"""Credentials as the guest sees them: set*id, getres*id, setfs*id, groups.

Nothing here changes the Sentry's own identity. The rules are Linux's (:mod:`kernel.creds`):
changing user ids freely takes CAP_SETUID, group ids and the group list CAP_SETGID, and a
change of uid moves capabilities as it does on Linux (leaving uid 0 drops them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.creds import CAP_SETGID
from abi.errno import EINVAL
from abi.errno import Errno
from kernel import creds as rules
from kernel.creds import GROUPS, USERS
from kernel.syscalls.args import Addr, Int, UInt
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

#: Most supplementary groups a process may have (NGROUPS_MAX).
NGROUPS_MAX = 65536


@syscall
async def setuid(t: Task, uid: UInt) -> int:
    rules.commit(t.process, rules.set_id(t.process.creds, USERS, uid))
    return 0


@syscall
async def setgid(t: Task, gid: UInt) -> int:
    rules.commit(t.process, rules.set_id(t.process.creds, GROUPS, gid))
    return 0


@syscall
async def setreuid(t: Task, ruid: UInt, euid: UInt) -> int:
    rules.commit(t.process, rules.set_real_effective(t.process.creds, USERS, ruid, euid))
    return 0


@syscall
async def setregid(t: Task, rgid: UInt, egid: UInt) -> int:
    rules.commit(t.process, rules.set_real_effective(t.process.creds, GROUPS, rgid, egid))
    return 0


@syscall
async def setresuid(t: Task, ruid: UInt, euid: UInt, suid: UInt) -> int:
    rules.commit(t.process, rules.set_real_effective_saved(t.process.creds, USERS, ruid, euid, suid))
    return 0


@syscall
async def setresgid(t: Task, rgid: UInt, egid: UInt, sgid: UInt) -> int:
    rules.commit(t.process, rules.set_real_effective_saved(t.process.creds, GROUPS, rgid, egid, sgid))
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
    """Set the filesystem uid if allowed; the previous one is returned either way."""
    old = t.process.creds
    rules.commit(t.process, rules.set_filesystem_id(old, USERS, fsuid))
    return old.fsuid


@syscall
async def setfsgid(t: Task, fsgid: UInt) -> int:
    """Set the filesystem gid if allowed; the previous one is returned either way."""
    old = t.process.creds
    rules.commit(t.process, rules.set_filesystem_id(old, GROUPS, fsgid))
    return old.fsgid


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
    """Replace the supplementary groups: CAP_SETGID (EPERM), then at most NGROUPS_MAX (EINVAL)."""
    rules.require(t.process.creds, CAP_SETGID)
    if not 0 <= size <= NGROUPS_MAX:
        raise Errno(EINVAL)
    raw = await t.mm.copy_in(list, 4 * size) if size else b""
    groups = tuple(structs.U32.unpack_from(raw, 4 * i)[0] for i in range(size))
    rules.commit(t.process, rules.set_groups(t.process.creds, groups))
    return 0
