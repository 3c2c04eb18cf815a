"""Signal-driven I/O: an open file description's owner, and the signal it gets when the file
becomes ready (fcntl(2) "Managing signals": F_SETOWN, F_SETOWN_EX, F_SETSIG, O_ASYNC).

The owner and the signal belong to the description, as on Linux, so they are kept here with
it. A description with O_ASYNC set and an owner has a watcher: a task that sleeps on the file's
readiness as poll does (so every file kind that can be polled — pipes, sockets, terminals,
eventfds — is covered without code of its own) and, whenever the file becomes ready for
something it was not ready for, asks the ``proc`` service to send the owner its signal. A
description without O_ASYNC costs nothing.

Linux sends a signal at each event of the file (every write into a pipe, every segment a socket
receives); the watcher sends one when readiness is gained: a pipe that already holds data sends
no second SIGIO for more. A standard SIGIO is pending at most once either way; a real-time
F_SETSIG signal queues, and there the count can be lower than Linux's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from abi.creds import KERNEL_CALLER
from abi.errno import EINVAL, ENOTTY, Errno
from abi.linux import NSIG, O_ASYNC, POLL_ERR, POLL_HUP, POLL_IN, POLL_OUT, POLL_PRI, POLLERR, POLLHUP, POLLIN, POLLOUT
from abi.linux import POLLPRI
from kernel.bus import operation
from services.vfs.contract import Handle, SigioOwner
from services.vfs.descriptions import DescriptionOperations
from services.vfs.inotify import Inotify
from services.vfs.pipe import PipeFile
from services.vfs.poll import until_changed

if TYPE_CHECKING:
    from services.vfs.file import File

log = logging.getLogger("sentrio.vfs.fasync")

#: The readiness each reason reports, in the order Linux's wake-ups would report them.
_REASONS = ((POLLIN, POLL_IN), (POLLPRI, POLL_PRI), (POLLOUT, POLL_OUT), (POLLERR, POLL_ERR), (POLLHUP, POLL_HUP))
_WATCHED = POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP


@dataclass
class _Fasync:
    """One description's signal-driven I/O state (the VFS's own, never handed out)."""

    owner: SigioOwner | None = None
    #: F_SETSIG's signal; 0 is SIGIO without siginfo.
    signo: int = 0
    #: The fd number O_ASYNC was set through: the si_fd of the signals.
    fd: int = -1
    watcher: trio.CancelScope | None = None


def _signals_readiness(file: File) -> bool:
    """Whether Linux's file has a fasync method (pipes, sockets, terminals, inotify): FIOASYNC
    is ENOTTY for the others, and F_SETFL keeps no O_ASYNC on them (Linux 6.18)."""
    return (isinstance(file, (PipeFile, Inotify)) or file.socket_identity is not None or file.is_terminal
            or file.pts_index is not None)


class SignalDrivenIo(DescriptionOperations):
    """F_SETOWN/F_GETOWN(_EX), F_SETSIG/F_GETSIG and O_ASYNC, and the watchers they start."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fasync_states: dict[File, _Fasync] = {}
        #: The nursery watchers run in (the VFS's own, from its ``serve``).
        self.background: trio.Nursery | None = None

    def _fasync(self, file: File) -> _Fasync:
        state = self._fasync_states.get(file)
        if state is None:
            state = self._fasync_states[file] = _Fasync()
        return state

    def _fasync_known(self, file: File) -> _Fasync | None:
        return self._fasync_states.get(file)

    @operation
    async def set_flags(self, handle: Handle, flags: int, fd: int | None = None) -> None:
        file = self.usable(handle)
        if not _signals_readiness(file):
            flags &= ~O_ASYNC  # setfl keeps O_ASYNC only where the file can signal (Linux 6.18)
        await super().set_flags(handle, flags)
        if flags & O_ASYNC and fd is not None:
            self._fasync(file).fd = fd
        if _signals_readiness(file):
            self._rewatch(file)

    @operation
    async def set_async(self, handle: Handle, on: bool, fd: int) -> None:
        file = self.usable(handle)
        if not _signals_readiness(file):
            raise Errno(ENOTTY)  # ioctl_fioasync: a file without a fasync method
        await self.set_flags(handle, file.flags | O_ASYNC if on else file.flags & ~O_ASYNC, fd)

    @operation
    async def set_owner(self, handle: Handle, owner: SigioOwner | None) -> None:
        file = self.usable(handle)
        self._fasync(file).owner = owner
        self._rewatch(file)

    @operation
    async def owner(self, handle: Handle) -> SigioOwner | None:
        state = self._fasync_known(self.usable(handle))
        return None if state is None else state.owner

    @operation
    async def set_sigio_signal(self, handle: Handle, signo: int) -> None:
        if not 0 <= signo <= NSIG:  # valid_signal: 1..64, and 0 for SIGIO itself
            raise Errno(EINVAL)
        self._fasync(self.usable(handle)).signo = signo

    @operation
    async def sigio_signal(self, handle: Handle) -> int:
        state = self._fasync_known(self.usable(handle))
        return 0 if state is None else state.signo

    @operation
    async def drop(self, handles: tuple[Handle, ...], table: int) -> tuple[int, ...]:
        files = [self.files.get(handle) for handle in handles]
        hung_up = await super().drop(handles, table)
        for file in files:
            if file is not None and file.refs == 0:
                state = self._fasync_known(file)
                if state is not None:
                    if state.watcher is not None:
                        state.watcher.cancel()
                    del self._fasync_states[file]
        return hung_up

    def _rewatch(self, file: File) -> None:
        """Start the file's watcher if it now has O_ASYNC and an owner, stop it if not."""
        state = self._fasync_known(file)
        if state is None:
            return
        wanted = bool(file.flags & O_ASYNC) and state.owner is not None and state.owner.id != 0
        if wanted and state.watcher is None and self.background is not None:
            state.watcher = trio.CancelScope()
            # What it is ready for now sends nothing; what it gains from now on does, even
            # before the watcher first runs.
            ready, seen = file.poll(KERNEL_CALLER) & _WATCHED, file.changes
            self.background.start_soon(self._watch, file, state, state.watcher, ready, seen)
        elif not wanted and state.watcher is not None:
            state.watcher.cancel()
            state.watcher = None

    async def _watch(self, file: File, state: _Fasync, scope: trio.CancelScope, ready: int, seen: int) -> None:
        with scope:
            while True:
                await until_changed([(file, _WATCHED)], [seen])
                seen = file.changes
                now = file.poll(KERNEL_CALLER) & _WATCHED
                gained, ready = now & ~ready, now
                for bit, reason in _REASONS:
                    if gained & bit and state.owner is not None:
                        await self._send(state, reason)

    async def _send(self, state: _Fasync, reason: int) -> None:
        """Have the kernel signal the owner. A failure here is logged, never the VFS's end: a
        watcher runs in the VFS's own nursery, and nothing a guest does may bring that down."""
        try:
            await self.bus.call("proc", "send_sigio", state.owner, state.signo, state.fd, reason)
        except Exception:
            log.exception("signal-driven I/O: sending %s's signal failed", state.owner)
