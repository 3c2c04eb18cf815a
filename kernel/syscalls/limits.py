"""Resource limits: prlimit64, getrlimit, setrlimit.

As Linux's do_prlimit: a soft limit above the hard one is EINVAL, RLIMIT_NOFILE above
``nr_open`` is EPERM whoever asks, and raising a hard limit takes CAP_SYS_RESOURCE (which a
container's root does not hold by default). prlimit64 on another process needs the caller's
ids to match all of its ids, or CAP_SYS_RESOURCE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.creds import CAP_SYS_RESOURCE, Credentials
from abi.errno import EINVAL, EPERM, ESRCH, Errno
from abi.linux import NR_OPEN, RLIM_NLIMITS, RLIMIT_NOFILE
from kernel.syscalls.args import Addr, Int, UInt
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task


def _resource(resource: int) -> int:
    if not 0 <= resource < RLIM_NLIMITS:
        raise Errno(EINVAL)
    return resource


def _may_set(caller: Credentials, process: ThreadGroup, resource: int, soft: int, hard: int) -> None:
    """EINVAL/EPERM unless ``caller`` may give ``process`` these limits."""
    if soft > hard:
        raise Errno(EINVAL)
    if resource == RLIMIT_NOFILE and hard > NR_OPEN:
        raise Errno(EPERM)
    if hard > process.rlimits[resource][1] and not caller.has_cap(CAP_SYS_RESOURCE):
        raise Errno(EPERM)


def _may_access(caller: Credentials, target: Credentials) -> bool:
    """check_prlimit_permission: every id of the target is the caller's uid/gid, or the caller
    holds CAP_SYS_RESOURCE."""
    same_ids = (caller.uid == target.uid == target.euid == target.suid
                and caller.gid == target.gid == target.egid == target.sgid)
    return same_ids or caller.has_cap(CAP_SYS_RESOURCE)


async def _exchange(t: Task, process: ThreadGroup, resource: int, new: tuple[int, int] | None, old: int) -> int:
    """do_prlimit: check and apply the new limit, then write the old one out (an EFAULT there
    comes after the new limit took effect, as in Linux)."""
    _resource(resource)
    previous = process.rlimits[resource]
    if new is not None:
        _may_set(t.process.creds, process, resource, *new)
        process.rlimits[resource] = new
    if old:
        await t.mm.write_struct(structs.RLIMIT, old, *previous)
    return 0


async def _read_limit(t: Task, addr: int) -> tuple[int, int]:
    soft, hard = await t.mm.read_struct(structs.RLIMIT, addr)
    return soft, hard


@syscall
async def prlimit64(t: Task, pid: Int, resource: UInt, new_limit: Addr, old_limit: Addr) -> int:
    new = await _read_limit(t, new_limit) if new_limit else None
    if pid == 0:
        process = t.process
    else:
        task = t.kernel.threads.get(pid)
        found = task.process if task is not None else t.kernel.processes.get(pid)
        if found is None:
            raise Errno(ESRCH)
        process = found
    if process is not t.process and not _may_access(t.process.creds, process.creds):
        raise Errno(EPERM)
    return await _exchange(t, process, resource, new, old_limit)


@syscall
async def getrlimit(t: Task, resource: UInt, rlim: Addr) -> int:
    await t.mm.write_struct(structs.RLIMIT, rlim, *t.process.rlimits[_resource(resource)])
    return 0


@syscall
async def setrlimit(t: Task, resource: UInt, rlim: Addr) -> int:
    return await _exchange(t, t.process, resource, await _read_limit(t, rlim), 0)
