"""Signal-driven I/O: an open file description's owner, and the signal it gets when the file
becomes ready (fcntl(2) "Managing signals": F_SETOWN, F_SETOWN_EX, F_SETSIG, O_ASYNC).

The owner and the signal belong to the description, as on Linux, so they are kept here with
it. A description with O_ASYNC set and an owner is hooked to the notifier its file announces
readiness changes on — the :class:`~services.vfs.poll.Changes` of a pipe, a pseudo-terminal or
an inotify instance, the :class:`~services.netstack.contract.SocketWatch` of a socket — the
one that wakes poll and epoll. At each change the hook works out, as Linux's kill_fasync
callers do, whether it was an event to signal, and has the ``proc`` service send the owner its
signal at once: it is pending before the system call that made the file ready returns, as on
Linux. A notifier without such a description costs one attribute test per change.

Which events signal: a pipe's read end hears every write and its last writer's close
(POLL_IN), its write end every read and its last reader's close (POLL_OUT), as pipe_write,
pipe_read and pipe_release tell them; other files a hang-up (POLL_HUP, but not a terminal's,
which __tty_hangup tells with SIGHUP to its session alone), an error (POLL_ERR),
data arriving (POLL_IN, at every arrival: the bytes waiting grew), urgent data (POLL_PRI) and
room to write regained (POLL_OUT). Urgent data on a socket (MSG_OOB) sends its owner SIGURG
whether or not O_ASYNC is set, as F_SETOWN promises, then POLL_PRI and POLL_IN. A file whose
readiness comes from the host (the sandbox's own terminal) has no notifier: a watcher task
sleeps on it as poll does and signals readiness gained.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from abi.creds import KERNEL_CALLER
from abi.errno import EINVAL, ENOTTY, Errno
from abi.linux import NSIG, O_ASYNC, POLL_ERR, POLL_HUP, POLL_IN, POLL_OUT, POLL_PRI, POLLERR, POLLHUP, POLLIN, POLLOUT
from abi.linux import POLLPRI, Signal
from kernel.bus import call_now, operation
from services.netstack.contract import SocketWatch
from services.vfs.contract import Handle, SigioOwner
from services.vfs.descriptions import DescriptionOperations
from services.vfs.inotify import Inotify
from services.vfs.pipe import PipeFile
from services.vfs.poll import Changes, until_changed

if TYPE_CHECKING:
    from services.vfs.file import File

log = logging.getLogger("sentrio.vfs.fasync")

_WATCHED = POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP

Notifier = Changes | SocketWatch


@dataclass(eq=False)
class _Fasync:
    """One description's signal-driven I/O state (the VFS's own, never handed out)."""

    file: File
    owner: SigioOwner | None = None
    #: F_SETSIG's signal; 0 is SIGIO without siginfo.
    signo: int = 0
    #: The fd number O_ASYNC was set through: the si_fd of the signals.
    fd: int = -1
    #: While hooked: the hook it is on, and the file's readiness and waiting bytes at the
    #: last change (what the next change is compared with).
    hook: _Hook | None = None
    ready: int = 0
    queued: int = 0
    #: For a file without a notifier: its watcher task.
    watcher: trio.CancelScope | None = None


def _signals_readiness(file: File) -> bool:
    """Whether Linux's file has a fasync method (pipes, sockets, terminals, inotify): FIOASYNC
    is ENOTTY for the others, and F_SETFL keeps no O_ASYNC on them (Linux 6.18)."""
    return (isinstance(file, (PipeFile, Inotify)) or file.socket_identity is not None or file.is_terminal
            or file.pts_index is not None)


def _queued(file: File) -> int:
    """The bytes a read would find (FIONREAD), 0 where the file cannot tell."""
    try:
        return file.readable_bytes()
    except Errno:
        return 0


def _events(state: _Fasync) -> tuple[int, ...]:
    """The POLL_* reasons the change just announced is signalled with, the state moved on to
    the file's readiness now."""
    file = state.file
    now = file.poll(KERNEL_CALLER) & _WATCHED
    queued = _queued(file)
    gained = now & ~state.ready
    more, fewer = queued > state.queued, queued < state.queued
    state.ready, state.queued = now, queued
    if isinstance(file, PipeFile):
        if file.read_end and (more or gained & POLLHUP):
            return (POLL_IN,)
        if file.write_end and (fewer or gained & POLLERR):
            return (POLL_OUT,)
        return ()
    if gained & POLLHUP:
        return () if file.pts_index is not None else (POLL_HUP,)  # a terminal's hang-up is SIGHUP's
    if gained & POLLERR:
        return (POLL_ERR,)
    if gained & POLLPRI:
        return POLL_PRI, POLL_IN  # urgent data, which is data arriving too
    if now & POLLIN and (gained & POLLIN or more):
        return (POLL_IN,)
    if gained & POLLOUT:
        return (POLL_OUT,)
    return ()


class _Hook:
    """Called by a notifier at each change: signals the owners of its O_ASYNC descriptions."""

    __slots__ = ("sigio", "states")

    def __init__(self, sigio: SignalDrivenIo) -> None:
        self.sigio = sigio
        self.states: list[_Fasync] = []

    def __call__(self) -> None:
        for state in tuple(self.states):
            reasons = _events(state)
            if POLL_PRI in reasons and state.file.socket_identity is not None:
                self.sigio.send(state, 0, Signal.SIGURG)  # sk_send_sigurg: O_ASYNC or not
            if state.file.flags & O_ASYNC:
                for reason in reasons:
                    if reason != POLL_PRI or state.signo:  # kill_fasync sends no SIGIO for SIGURG's
                        self.sigio.send(state, reason)


class SignalDrivenIo(DescriptionOperations):
    """F_SETOWN/F_GETOWN(_EX), F_SETSIG/F_GETSIG and O_ASYNC, and the hooks they set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fasync_states: dict[File, _Fasync] = {}
        #: The nursery watchers run in (the VFS's own, from its ``serve``).
        self.background: trio.Nursery | None = None

    def _fasync(self, file: File) -> _Fasync:
        state = self._fasync_states.get(file)
        if state is None:
            state = self._fasync_states[file] = _Fasync(file)
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
                    self._unwatch(state)
                    del self._fasync_states[file]
        return hung_up

    def _rewatch(self, file: File) -> None:
        """Hook the description to its file's changes if it now has O_ASYNC and an owner,
        unhook it if not. What the file is ready for now sends nothing; what it gains from now
        on does."""
        state = self._fasync_known(file)
        if state is None:
            return
        owned = state.owner is not None and state.owner.id != 0
        wanted = owned and (bool(file.flags & O_ASYNC) or file.socket_identity is not None)  # sockets: SIGURG
        if not wanted:
            self._unwatch(state)
            return
        if state.hook is not None or state.watcher is not None:
            return
        notifier = file.notifier()
        state.ready, state.queued = file.poll(KERNEL_CALLER) & _WATCHED, _queued(file)
        if notifier is not None:
            hook = notifier.fasync
            if not isinstance(hook, _Hook):
                hook = notifier.fasync = _Hook(self)
            hook.states.append(state)
            state.hook = hook
        elif self.background is not None:
            state.watcher = trio.CancelScope()
            self.background.start_soon(self._watch, state, state.watcher, file.changes)

    @staticmethod
    def _unwatch(state: _Fasync) -> None:
        """Take the description off its notifier's hook (the hook off the notifier with its
        last one), or stop its watcher."""
        hook = state.hook
        if hook is not None:
            hook.states.remove(state)
            state.hook = None
            if not hook.states:
                notifier = state.file.notifier()
                if notifier is not None:
                    notifier.fasync = None
        if state.watcher is not None:
            state.watcher.cancel()
            state.watcher = None

    async def _watch(self, state: _Fasync, scope: trio.CancelScope, seen: int) -> None:
        """A file without a notifier: signal readiness gained, found by sleeping as poll does."""
        file = state.file
        with scope:
            while True:
                await until_changed([(file, _WATCHED)], [seen])
                seen = file.changes
                now = file.poll(KERNEL_CALLER) & _WATCHED
                gained, state.ready = now & ~state.ready, now
                for bit, reason in ((POLLHUP, POLL_HUP), (POLLERR, POLL_ERR), (POLLIN, POLL_IN),
                                    (POLLPRI, POLL_PRI), (POLLOUT, POLL_OUT)):
                    if gained & bit:
                        self.send(state, reason)
                        break

    def send(self, state: _Fasync, reason: int, signo: int | None = None) -> None:
        """Have the kernel signal the owner, now: the description's signal for ``reason``, or
        ``signo`` plain (reason 0). A failure is logged, never raised: it comes in the middle
        of another call's change to a file (a write into a pipe), which stands."""
        if state.owner is None:
            return
        try:
            call_now(self.bus, "proc", "send_sigio", state.owner, state.signo if signo is None else signo, state.fd,
                     reason)
        except Exception:
            log.exception("signal-driven I/O: sending %s's signal failed", state.owner)
