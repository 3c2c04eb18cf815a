"""Reaching another process: process_vm_readv/writev (its memory) and kcmp (whether two
processes share a kernel object). Both need ptrace_may_access (mm/process_vm_access.c,
kernel/kcmp.c): the caller's own process, one of the same user, or CAP_SYS_PTRACE."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.linux import IOV_MAX
from abi.errno import EFAULT, EINVAL, EOPNOTSUPP, EPERM, ESRCH, Errno
from abi.linux import KCMP_EPOLL_TFD, KCMP_FILE, KCMP_FILES, KCMP_FS, KCMP_IO, KCMP_SIGHAND, KCMP_SYSVSEM, KCMP_VM
from kernel.syscalls.args import Addr, Int, ULong
from kernel.syscalls.pidfd import may_access
from kernel.syscalls.status import partial
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task



def _thread(t: Task, pid: int) -> Task:
    target = t.kernel.threads.get(pid) if pid > 0 else None
    if target is None:
        raise Errno(ESRCH)
    return target


async def _iovecs(t: Task, addr: int, count: int) -> list[tuple[int, int]]:
    if not 0 <= count <= IOV_MAX:
        raise Errno(EINVAL)
    raw = await t.mm.copy_in(addr, structs.IOVEC.size * count) if count else b""
    return [(base, length) for base, length in structs.IOVEC.iter_unpack(raw) if length]


async def _transfer(t: Task, pid: int, local_iov: int, liovcnt: int, remote_iov: int, riovcnt: int, flags: int,
                    write: bool) -> int:
    if flags:
        raise Errno(EINVAL)
    local, remote = await _iovecs(t, local_iov, liovcnt), await _iovecs(t, remote_iov, riovcnt)
    target = _thread(t, pid)
    if not may_access(t, target.process):
        raise Errno(EPERM)
    source_asid, dest_asid = (t.mm.asid, target.mm.asid) if write else (target.mm.asid, t.mm.asid)
    source, dest = (local, remote) if write else (remote, local)
    call = t.kernel.bus.call
    done = 0
    dest_index, dest_offset = 0, 0
    for base, length in source:
        offset = 0
        while offset < length and dest_index < len(dest):
            dest_base, dest_length = dest[dest_index]
            size = min(length - offset, dest_length - dest_offset)
            try:
                data = await call("mm", "copy_in", source_asid, base + offset, size)
                await call("mm", "copy_out", dest_asid, dest_base + dest_offset, data, False)
            except Errno:
                if done:
                    return done  # a partial transfer stops at the first fault
                raise Errno(EFAULT) from None
            done += size
            offset += size
            dest_offset += size
            if dest_offset == dest_length:
                dest_index, dest_offset = dest_index + 1, 0
    return done


@syscall
async def process_vm_readv(t: Task, pid: Int, local_iov: Addr, liovcnt: ULong, remote_iov: Addr, riovcnt: ULong,
                           flags: ULong) -> int:
    """Copy from process ``pid``'s memory (the remote iovecs) into the caller's (the local ones)."""
    return await _transfer(t, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, write=False)


@syscall
async def process_vm_writev(t: Task, pid: Int, local_iov: Addr, liovcnt: ULong, remote_iov: Addr, riovcnt: ULong,
                            flags: ULong) -> int:
    """Copy from the caller's memory (the local iovecs) into process ``pid``'s (the remote ones)."""
    return await _transfer(t, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, write=True)


def _order(first: object, second: object) -> int:
    """kcmp's answer: 0 the same object, else 1 or 2 as an (arbitrary, stable) order says."""
    if first == second:
        return 0
    return 1 if hash(first) < hash(second) else 2


@syscall
@partial("KCMP_EPOLL_TFD is EOPNOTSUPP; KCMP_FS and KCMP_IO compare processes (no CLONE_FS/CLONE_IO sharing)")
async def kcmp(t: Task, pid1: Int, pid2: Int, type: Int, idx1: ULong, idx2: ULong) -> int:  # noqa: A002
    """Whether two processes share a kernel object of ``type``: 0 when they do."""
    first, second = _thread(t, pid1), _thread(t, pid2)
    if not may_access(t, first.process) or not may_access(t, second.process):
        raise Errno(EPERM)
    if type == KCMP_FILE:
        return _order(first.process.fds.get(idx1).handle, second.process.fds.get(idx2).handle)  # EBADF
    if type == KCMP_VM:
        return _order(first.mm.asid, second.mm.asid)
    if type == KCMP_FILES:
        return _order(first.process.fds.id, second.process.fds.id)
    if type in (KCMP_FS, KCMP_IO, KCMP_SIGHAND, KCMP_SYSVSEM):
        return _order(first.process.pid, second.process.pid)
    if type == KCMP_EPOLL_TFD:
        raise Errno(EOPNOTSUPP)
    raise Errno(EINVAL)
