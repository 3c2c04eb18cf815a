"""The VFS's readiness operations: poll/select over handles, and epoll instances.

Waiting is the calling task's own: the operation checks every file's readiness and, if nothing
is ready, sleeps until one of the files says its readiness may have changed (or the deadline
passes) and checks again (:func:`services.vfs.poll.wait_ready`). The kernel runs these calls as
interruptible sleeps, so a signal ends the wait.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from abi.errno import EBADF, EEXIST, EINVAL, ELOOP, ENOENT, EPERM, Errno
from abi.linux import (
    EP_MAX_NESTS,
    EPOLL_CTL_ADD,
    EPOLL_CTL_DEL,
    EPOLL_CTL_MOD,
    EPOLLEXCLUSIVE,
    O_NONBLOCK,
    O_PATH,
    POLLERR,
    POLLHUP,
    POLLNVAL,
)
from kernel.bus import operation
from services.vfs.contract import Handle
from services.vfs.core import VfsCore
from services.vfs.eventfd import Epoll, Interest
from services.vfs.poll import wait_ready

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.vfs.file import File


class ReadinessOperations(VfsCore):
    """poll, select and epoll."""

    @operation
    async def poll(self, caller: Caller, interests: tuple[tuple[Handle, int], ...],
                   deadline: float | None) -> tuple[int, ...]:
        files: list[File | None] = [self.files.get(handle) for handle, _ in interests]
        revents = [0] * len(interests)

        def check() -> int:
            ready = 0
            for index, ((_, events), file) in enumerate(zip(interests, files, strict=True)):
                wanted = (events & 0xFFFF) | POLLERR | POLLHUP
                revents[index] = POLLNVAL if file is None else file.poll(caller) & wanted
                ready += bool(revents[index])
            return ready

        waits = [(file, events) for (_, events), file in zip(interests, files, strict=True) if file is not None]
        await wait_ready(check, waits, math.inf if deadline is None else deadline)
        return tuple(revents)

    @operation
    async def epoll_create(self, flags: int) -> Handle:
        return self.new_handle(Epoll(flags & O_NONBLOCK))

    def _epoll(self, handle: Handle) -> Epoll:
        epoll = self.file(handle)
        if not isinstance(epoll, Epoll):
            raise Errno(EINVAL)
        return epoll

    @operation
    async def epoll_ctl(self, handle: Handle, op: int, fd: int, target: Handle, events: int, data: int) -> None:
        epoll = self._epoll(handle)
        watched = self.file(target)
        if watched.flags & O_PATH:
            raise Errno(EBADF)
        if watched is epoll:
            raise Errno(EINVAL)
        if not watched.epollable:
            raise Errno(EPERM)
        key = (fd, target)
        if op == EPOLL_CTL_ADD:
            if key in epoll.interests:
                raise Errno(EEXIST)
            if isinstance(watched, Epoll) and (watched.reaches(epoll) or watched.depth() + 1 > EP_MAX_NESTS):
                raise Errno(ELOOP)  # a cycle, or deeper than Linux nests epolls
            epoll.interests[key] = Interest(watched, events, data)
        elif op == EPOLL_CTL_MOD:
            interest = epoll.interests.get(key)
            if interest is None:
                raise Errno(ENOENT)
            if events & EPOLLEXCLUSIVE or interest.events & EPOLLEXCLUSIVE:
                raise Errno(EINVAL)
            epoll.interests[key] = Interest(watched, events, data)
        elif op == EPOLL_CTL_DEL:
            if epoll.interests.pop(key, None) is None:
                raise Errno(ENOENT)
        else:
            raise Errno(EINVAL)
        epoll.listed.notify()  # a waiter re-checks: an added or re-armed file may be ready now

    @operation
    async def epoll_wait(self, caller: Caller, handle: Handle, maxevents: int,
                         deadline: float | None) -> list[tuple[int, int]]:
        epoll = self._epoll(handle)
        return await wait_ready(lambda: epoll.ready(maxevents, caller), [(epoll, 0)],
                                math.inf if deadline is None else deadline)
