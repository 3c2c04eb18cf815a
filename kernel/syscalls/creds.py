"""Credentials as the guest sees them: set*id, getres*id, setfs*id, groups.

Nothing here changes the Sentry's own identity; the rules are Linux's for a process with and
without CAP_SETUID/CAP_SETGID, where "privileged" means an effective uid of 0.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from abi import structs
from abi.errno import EINVAL, EPERM
from abi.errno import Errno
from kernel.syscalls.args import Addr, Int, UInt
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from abi.creds import Credentials
    from kernel.process import ThreadGroup
    from kernel.task import Task

_UNCHANGED = 0xFFFF_FFFF
#: Most supplementary groups a process may have (NGROUPS_MAX).
NGROUPS_MAX = 65536


def _privileged(creds: Credentials) -> bool:
    return creds.euid == 0


class _IdSet:
    """The four ids of one kind (user or group) of a process's credentials: real, effective,
    saved and filesystem. The set*uid and set*gid calls follow the same rules on their own set.
    Credentials are values: a change gives the process new ones."""

    __slots__ = ("process", "names")

    def __init__(self, process: ThreadGroup, names: tuple[str, str, str, str]) -> None:
        self.process = process
        self.names = names

    @property
    def creds(self) -> Credentials:
        return self.process.creds

    def get(self) -> list[int]:
        return [getattr(self.creds, name) for name in self.names]

    def put(self, real: int, effective: int, saved: int) -> None:
        """Set the three ids (``_UNCHANGED`` keeps one); the filesystem id follows the effective."""
        changes = {name: value for name, value in zip(self.names, (real, effective, saved)) if value != _UNCHANGED}
        changes[self.names[3]] = changes.get(self.names[1], getattr(self.creds, self.names[1]))
        self.process.creds = dataclasses.replace(self.creds, **changes)

    def allowed(self, value: int, *choices: int) -> bool:
        return value == _UNCHANGED or _privileged(self.creds) or value in choices


def _users(t: Task) -> _IdSet:
    return _IdSet(t.process, ("uid", "euid", "suid", "fsuid"))


def _groups(t: Task) -> _IdSet:
    return _IdSet(t.process, ("gid", "egid", "sgid", "fsgid"))


def _set_id(ids: _IdSet, value: int) -> int:
    """setuid/setgid: privileged, all of real, effective and saved; else only the effective,
    and only to the real or saved one."""
    real, _, saved, _ = ids.get()
    if value == _UNCHANGED:
        raise Errno(EINVAL)
    if _privileged(ids.creds):
        ids.put(value, value, value)
    elif value in (real, saved):
        ids.put(_UNCHANGED, value, _UNCHANGED)
    else:
        raise Errno(EPERM)
    return 0


def _set_real_effective(ids: _IdSet, real: int, effective: int) -> int:
    """setreuid/setregid: the saved id becomes the new effective one when the real one is set
    or the effective one changes to something other than the old real one."""
    old_real, old_effective, old_saved, _ = ids.get()
    if not ids.allowed(real, old_real, old_effective) or \
            not ids.allowed(effective, old_real, old_effective, old_saved):
        raise Errno(EPERM)
    ids.put(real, effective, _UNCHANGED)
    if real != _UNCHANGED or (effective != _UNCHANGED and effective != old_real):
        ids.put(_UNCHANGED, _UNCHANGED, ids.get()[1])
    return 0


def _set_real_effective_saved(ids: _IdSet, real: int, effective: int, saved: int) -> int:
    """setresuid/setresgid: unprivileged, each new id must be one of the three current ones."""
    current = ids.get()[:3]
    if not all(ids.allowed(value, *current) for value in (real, effective, saved)):
        raise Errno(EPERM)
    ids.put(real, effective, saved)
    return 0


def _set_filesystem_id(ids: _IdSet, value: int) -> int:
    """setfsuid/setfsgid: set if allowed (privileged, or any of the four current ids); the
    previous filesystem id is returned either way."""
    current = ids.get()
    if value != _UNCHANGED and ids.allowed(value, *current):
        ids.process.creds = dataclasses.replace(ids.creds, **{ids.names[3]: value})
    return current[3]


@syscall
async def setuid(t: Task, uid: UInt) -> int:
    return _set_id(_users(t), uid)


@syscall
async def setgid(t: Task, gid: UInt) -> int:
    return _set_id(_groups(t), gid)


@syscall
async def setreuid(t: Task, ruid: UInt, euid: UInt) -> int:
    return _set_real_effective(_users(t), ruid, euid)


@syscall
async def setregid(t: Task, rgid: UInt, egid: UInt) -> int:
    return _set_real_effective(_groups(t), rgid, egid)


@syscall
async def setresuid(t: Task, ruid: UInt, euid: UInt, suid: UInt) -> int:
    return _set_real_effective_saved(_users(t), ruid, euid, suid)


@syscall
async def setresgid(t: Task, rgid: UInt, egid: UInt, sgid: UInt) -> int:
    return _set_real_effective_saved(_groups(t), rgid, egid, sgid)


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
    return _set_filesystem_id(_users(t), fsuid)


@syscall
async def setfsgid(t: Task, fsgid: UInt) -> int:
    return _set_filesystem_id(_groups(t), fsgid)


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
    groups = tuple(sorted(structs.U32.unpack_from(raw, 4 * i)[0] for i in range(size)))
    t.process.creds = dataclasses.replace(t.process.creds, groups=groups)
    return 0
