"""Resource limits: prlimit64, getrlimit, setrlimit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.errno import EINVAL, ESRCH
from abi.linux import RLIM_NLIMITS
from abi.errno import Errno
from kernel.syscalls.args import Addr, Int, UInt
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task


def _resource(resource: int) -> int:
    if not 0 <= resource < RLIM_NLIMITS:
        raise Errno(EINVAL)
    return resource


async def _exchange(t: Task, process: ThreadGroup, resource: int, new: int, old: int) -> int:
    """Read the new limit first (EFAULT/EINVAL leave the old one in place), then swap."""
    _resource(resource)
    replacement = None
    if new:
        soft, hard = await t.mm.read_struct(structs.RLIMIT, new)
        if soft > hard:
            raise Errno(EINVAL)
        replacement = (soft, hard)
    if old:
        await t.mm.write_struct(structs.RLIMIT, old, *process.rlimits[resource])
    if replacement is not None:
        process.rlimits[resource] = replacement
    return 0


@syscall
async def prlimit64(t: Task, pid: Int, resource: UInt, new_limit: Addr, old_limit: Addr) -> int:
    process = t.process if pid in (0, t.process.pid) else t.kernel.processes.get(pid)
    if process is None:
        raise Errno(ESRCH)
    return await _exchange(t, process, resource, new_limit, old_limit)


@syscall
async def getrlimit(t: Task, resource: UInt, rlim: Addr) -> int:
    await t.mm.write_struct(structs.RLIMIT, rlim, *t.process.rlimits[_resource(resource)])
    return 0


@syscall
async def setrlimit(t: Task, resource: UInt, rlim: Addr) -> int:
    return await _exchange(t, t.process, resource, rlim, 0)
