"""eventfd, eventfd2 and the epoll family."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EBADF, EEXIST, EINTR, EINVAL, ENOENT, EPERM
from abi.linux import (
    EFD_CLOEXEC,
    EFD_NONBLOCK,
    EFD_SEMAPHORE,
    EP_MAX_EVENTS,
    EPOLL_CLOEXEC,
    EPOLL_CTL_ADD,
    EPOLL_CTL_DEL,
    EPOLL_CTL_MOD,
    EPOLLEXCLUSIVE,
    O_NONBLOCK,
    O_PATH,
)
from abi.structs import EPOLL_EVENT, TIMESPEC
from abi.errno import Errno
from kernel.syscalls.args import Addr, Fd, Int, UInt
from kernel.syscalls.fdops import nofile_limit
from kernel.syscalls.table import syscall
from services.vfs.eventfd import Epoll, EventFd, Interest
from services.vfs.poll import deadline_after, wait_ready

if TYPE_CHECKING:
    from kernel.task import Task


@syscall
async def eventfd(t: Task, initval: UInt) -> int:
    return t.process.fds.install(EventFd(initval, 0, False), nofile_limit(t))


@syscall
async def eventfd2(t: Task, initval: UInt, flags: Int) -> int:
    if flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE):
        raise Errno(EINVAL)
    file = EventFd(initval, flags & O_NONBLOCK, bool(flags & EFD_SEMAPHORE))
    return t.process.fds.install(file, nofile_limit(t), bool(flags & EFD_CLOEXEC))


@syscall
async def epoll_create(t: Task, size: Int) -> int:
    if size <= 0:
        raise Errno(EINVAL)
    return t.process.fds.install(Epoll(0), nofile_limit(t))


@syscall
async def epoll_create1(t: Task, flags: Int) -> int:
    if flags & ~EPOLL_CLOEXEC:
        raise Errno(EINVAL)
    return t.process.fds.install(Epoll(0), nofile_limit(t), bool(flags & EPOLL_CLOEXEC))


def _epoll(t: Task, epfd: int) -> Epoll:
    file = t.process.fds.get(epfd)
    if not isinstance(file, Epoll):
        raise Errno(EINVAL)
    return file


@syscall
async def epoll_ctl(t: Task, epfd: Fd, op: Int, fd: Fd, event: Addr) -> int:
    epoll = _epoll(t, epfd)
    target = t.process.fds.get(fd)
    if target.flags & O_PATH:
        raise Errno(EBADF)
    if target is epoll:
        raise Errno(EINVAL)
    if not getattr(target, "epollable", False):
        raise Errno(EPERM)
    key = (fd, id(target))
    if op in (EPOLL_CTL_ADD, EPOLL_CTL_MOD):
        events, data = await t.mm.read_struct(EPOLL_EVENT, event)
        if op == EPOLL_CTL_ADD:
            if key in epoll.interests:
                raise Errno(EEXIST)
            epoll.interests[key] = Interest(target, events, data)
        else:
            interest = epoll.interests.get(key)
            if interest is None:
                raise Errno(ENOENT)
            if events & EPOLLEXCLUSIVE or interest.events & EPOLLEXCLUSIVE:
                raise Errno(EINVAL)
            epoll.interests[key] = Interest(target, events, data)
        return 0
    if op == EPOLL_CTL_DEL:
        if epoll.interests.pop(key, None) is None:
            raise Errno(ENOENT)
        return 0
    raise Errno(EINVAL)


async def _wait(t: Task, epfd: int, events: int, maxevents: int, timeout: float | None) -> int:
    if maxevents <= 0 or maxevents > EP_MAX_EVENTS:
        raise Errno(EINVAL)
    epoll = _epoll(t, epfd)
    await t.mm.iovecs(events, EPOLL_EVENT.size * maxevents, True)  # EFAULT before waiting
    waiting = wait_ready(lambda: epoll.ready(maxevents), epoll.waits(), deadline_after(timeout))
    ready = await t.blocking(waiting, EINTR)
    if ready:
        await t.mm.copy_out(events, b"".join(EPOLL_EVENT.pack(ev, data) for ev, data in ready))
    return len(ready)


@syscall
async def epoll_wait(t: Task, epfd: Fd, events: Addr, maxevents: Int, timeout: Int) -> int:
    return await _wait(t, epfd, events, maxevents, None if timeout < 0 else timeout / 1000)


@syscall
async def epoll_pwait(t: Task, epfd: Fd, events: Addr, maxevents: Int, timeout: Int, sigmask: Addr,
                      sigsetsize: UInt) -> int:
    return await _wait(t, epfd, events, maxevents, None if timeout < 0 else timeout / 1000)


@syscall
async def epoll_pwait2(t: Task, epfd: Fd, events: Addr, maxevents: Int, timeout: Addr, sigmask: Addr,
                       sigsetsize: UInt) -> int:
    seconds = None
    if timeout:
        sec, nsec = await t.mm.read_struct(TIMESPEC, timeout)
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            raise Errno(EINVAL)
        seconds = sec + nsec / 1e9
    return await _wait(t, epfd, events, maxevents, seconds)
