"""eventfd, eventfd2 and the epoll family: each asks the VFS, which owns the files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EINTR, EINVAL, Errno
from abi.linux import (
    EFD_CLOEXEC,
    EFD_NONBLOCK,
    EFD_SEMAPHORE,
    EP_MAX_EVENTS,
    EPOLL_CLOEXEC,
    EPOLL_CTL_ADD,
    EPOLL_CTL_MOD,
)
from abi.structs import EPOLL_EVENT, TIMESPEC
from kernel.files import install, vfs
from kernel.syscalls.args import Addr, Fd, Int, UInt
from kernel.syscalls.poll import ready_or_waited
from kernel.syscalls.sigmasks import masked
from kernel.syscalls.table import syscall
from services.vfs.contract import Opened

if TYPE_CHECKING:
    from kernel.task import Task


@syscall
async def eventfd(t: Task, initval: UInt) -> int:
    return await eventfd2(t, initval, 0)


@syscall
async def eventfd2(t: Task, initval: UInt, flags: Int) -> int:
    if flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE):
        raise Errno(EINVAL)
    handle = await vfs(t, "eventfd", initval, flags & (EFD_NONBLOCK | EFD_SEMAPHORE))
    return await install(t, Opened(handle), bool(flags & EFD_CLOEXEC))


@syscall
async def epoll_create(t: Task, size: Int) -> int:
    if size <= 0:
        raise Errno(EINVAL)
    return await epoll_create1(t, 0)


@syscall
async def epoll_create1(t: Task, flags: Int) -> int:
    if flags & ~EPOLL_CLOEXEC:
        raise Errno(EINVAL)
    handle = await t.kernel.bus.call("vfs", "epoll_create", 0)
    return await install(t, Opened(handle), bool(flags & EPOLL_CLOEXEC))


@syscall
async def epoll_ctl(t: Task, epfd: Fd, op: Int, fd: Fd, event: Addr) -> int:
    fds = t.process.fds
    epoll, target = fds.handle(epfd), fds.handle(fd)
    events = data = 0
    if op in (EPOLL_CTL_ADD, EPOLL_CTL_MOD):
        events, data = await t.mm.read_struct(EPOLL_EVENT, event)
    await t.kernel.bus.call("vfs", "epoll_ctl", epoll, op, fd, target, events, data)
    return 0


async def _wait(t: Task, epfd: int, events: int, maxevents: int, timeout: float | None) -> int:
    if maxevents <= 0 or maxevents > EP_MAX_EVENTS:
        raise Errno(EINVAL)
    epoll = t.process.fds.handle(epfd)
    await t.mm.iovecs(events, EPOLL_EVENT.size * maxevents, True)  # EFAULT before waiting
    ready = await ready_or_waited(t, "epoll_wait", epoll, maxevents, timeout=timeout, interrupted=EINTR)
    if ready:
        await t.mm.copy_out(events, b"".join(EPOLL_EVENT.pack(ev, data) for ev, data in ready))
    return len(ready)


@syscall
async def epoll_wait(t: Task, epfd: Fd, events: Addr, maxevents: Int, timeout: Int) -> int:
    return await _wait(t, epfd, events, maxevents, None if timeout < 0 else timeout / 1000)


@syscall
async def epoll_pwait(t: Task, epfd: Fd, events: Addr, maxevents: Int, timeout: Int, sigmask: Addr,
                      sigsetsize: UInt) -> int:
    return await masked(t, sigmask, sigsetsize,
                         _wait(t, epfd, events, maxevents, None if timeout < 0 else timeout / 1000))


@syscall
async def epoll_pwait2(t: Task, epfd: Fd, events: Addr, maxevents: Int, timeout: Addr, sigmask: Addr,
                       sigsetsize: UInt) -> int:
    seconds = None
    if timeout:
        sec, nsec = await t.mm.read_struct(TIMESPEC, timeout)
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            raise Errno(EINVAL)
        seconds = sec + nsec / 1e9
    return await masked(t, sigmask, sigsetsize, _wait(t, epfd, events, maxevents, seconds))

