"""POSIX message queues (Linux's ipc/mqueue.c): named queues of prioritised messages.

A queue lives in the sandbox's IPC namespace under a name (without the leading slash glibc
strips) until ``mq_unlink`` and its last descriptor close. Its descriptors are VFS files
(:mod:`services.vfs.mqueue`) that name the queue by its id here and watch its readiness through
a :class:`QueueWatch`, as socket descriptors watch the netstack's sockets.

Messages are taken highest priority first, in arrival order within a priority. One process may
register for a notification (``mq_notify``): when a message arrives on an empty queue and no
receiver is waiting for it, the process gets its signal (SIGEV_SIGNAL) with si_code SI_MESGQ,
or nothing (SIGEV_NONE), and the registration ends.
"""

from __future__ import annotations

import bisect
import itertools
import time
from dataclasses import dataclass

import trio

from abi.creds import CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SYS_RESOURCE, Caller, Credentials
from abi.errno import (
    EACCES,
    EAGAIN,
    EBUSY,
    EEXIST,
    EINVAL,
    EMSGSIZE,
    ENAMETOOLONG,
    ENOENT,
    ENOSPC,
    EPERM,
    ETIMEDOUT,
    Errno,
)
from abi.linux import (
    DFLT_MSG,
    DFLT_MSGMAX,
    DFLT_MSGSIZE,
    DFLT_MSGSIZEMAX,
    DFLT_QUEUESMAX,
    HARD_MSGMAX,
    HARD_MSGSIZEMAX,
    NAME_MAX,
    O_ACCMODE,
    O_CREAT,
    O_EXCL,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    POLLIN,
    POLLOUT,
    POLLRDNORM,
    POLLWRNORM,
    SI_MESGQ,
    SIGEV_NONE,
    SIGEV_SIGNAL,
)
from abi.structs import SIGINFO_KILL
from kernel.bus import Bus, operation

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class QueueOpened:
    """A queue ``mq_open`` found or made: its id, its watch, and the file's owner and mode."""

    qid: int
    watch: QueueWatch
    uid: int
    gid: int
    mode: int


@dataclass(frozen=True, slots=True)
class Notification:
    """A registration of ``mq_notify``: who, how (SIGEV_SIGNAL/SIGEV_NONE), which signal, the value."""

    pid: int
    notify: int
    signo: int
    value: int


class QueueWatch:
    """A queue's readiness as its descriptors see it (read-only to them)."""

    def __init__(self, queue: PosixQueue) -> None:
        self._queue = queue
        #: Bumped at every change, so a poller knows to look again.
        self.count = 0
        self._event = trio.Event()

    def poll(self) -> int:
        queue = self._queue
        events = 0
        if queue.messages:
            events |= POLLIN | POLLRDNORM
        if len(queue.messages) < queue.maxmsg:
            events |= POLLOUT | POLLWRNORM
        return events

    async def wait(self) -> None:
        await self._event.wait()

    def changed(self) -> None:
        self.count += 1
        self._event.set()
        self._event = trio.Event()

    def status(self) -> bytes:
        """What read(2) of a descriptor shows: QSIZE, NOTIFY, SIGNO, NOTIFY_PID."""
        queue = self._queue
        note = queue.notification
        return b"QSIZE:%-10d NOTIFY:%-5d SIGNO:%-5d NOTIFY_PID:%-6d\n" % (
            queue.qsize, note.notify if note else 0, note.signo if note else 0, note.pid if note else 0)


class PosixQueue:
    """One queue: its attributes, owner and mode, its messages and waiters."""

    def __init__(self, name: bytes, creds: Credentials, mode: int, maxmsg: int, msgsize: int) -> None:
        self.name: bytes | None = name
        self.qid = next(_ids)
        self.uid, self.gid = creds.fsuid, creds.fsgid
        self.mode = mode & 0o777
        self.maxmsg, self.msgsize = maxmsg, msgsize
        #: (-priority, arrival, text), sorted: the first is the next to receive.
        self.messages: list[tuple[int, int, bytes]] = []
        self._arrivals = itertools.count()
        self.qsize = 0
        self.notification: Notification | None = None
        #: Descriptors open on it (a queue unlinked goes with its last one).
        self.opens = 0
        #: Receivers waiting now: a message that arrives is theirs, and notifies nobody.
        self.receivers = 0
        self.watch = QueueWatch(self)
        self._changed = trio.Event()

    def may(self, creds: Credentials, want: int) -> bool:
        """generic_permission on the queue's inode: owner, group or other bits (r=4, w=2)."""
        if creds.fsuid == self.uid:
            bits = self.mode >> 6
        elif creds.in_group(self.gid):
            bits = self.mode >> 3
        else:
            bits = self.mode
        return want & ~bits & 0o7 == 0 or creds.has_cap(CAP_DAC_OVERRIDE) \
            or want == 4 and creds.has_cap(CAP_DAC_READ_SEARCH)

    def changed(self) -> None:
        self._changed.set()
        self._changed = trio.Event()
        self.watch.changed()

    async def _wait(self, deadline: int | None) -> None:
        """Sleep until the queue changes; ETIMEDOUT past ``deadline`` (CLOCK_REALTIME ns)."""
        event = self._changed
        if deadline is None:
            await event.wait()
            return
        remaining = (deadline - time.time_ns()) / 1e9
        if remaining <= 0:
            raise Errno(ETIMEDOUT)
        with trio.move_on_after(remaining):
            await event.wait()
            return
        raise Errno(ETIMEDOUT)

    async def send(self, bus: Bus, caller: Caller, text: bytes, priority: int, nonblock: bool,
                   deadline: int | None) -> None:
        if len(text) > self.msgsize:
            raise Errno(EMSGSIZE)
        while len(self.messages) >= self.maxmsg:
            if nonblock:
                raise Errno(EAGAIN)
            await self._wait(deadline)
        bisect.insort(self.messages, (-priority, next(self._arrivals), text))
        self.qsize += len(text)
        if len(self.messages) == 1 and not self.receivers:
            await self._notify(bus, caller)
        self.changed()

    async def receive(self, size: int, nonblock: bool, deadline: int | None) -> tuple[bytes, int]:
        if size < self.msgsize:
            raise Errno(EMSGSIZE)
        while not self.messages:
            if nonblock:
                raise Errno(EAGAIN)
            self.receivers += 1
            try:
                await self._wait(deadline)
            finally:
                self.receivers -= 1
        negative_priority, _, text = self.messages.pop(0)
        self.qsize -= len(text)
        self.changed()
        return text, -negative_priority

    async def _notify(self, bus: Bus, sender: Caller) -> None:
        """__do_notify: the registered process learns a message arrived; the registration ends."""
        note, self.notification = self.notification, None
        if note is None or note.notify != SIGEV_SIGNAL or note.signo == 0:
            return
        info = SIGINFO_KILL.pack(note.signo, 0, SI_MESGQ, sender.pid, sender.creds.uid, note.value)
        try:
            await bus.call("signals", "send", note.pid, None, note.signo, info)
        except Errno:
            pass  # the process is gone


def check_name(name: bytes) -> None:
    """A queue's name as the mqueue file system looks it up: EACCES for "." and ".." and for a
    slash inside, ENAMETOOLONG past NAME_MAX, ENOENT if empty."""
    if not name:
        raise Errno(ENOENT)
    if len(name) > NAME_MAX:
        raise Errno(ENAMETOOLONG)
    if name in (b".", b"..") or b"/" in name:
        raise Errno(EACCES)


class MqueueOperations:
    """The ``ipc`` actor's POSIX message queue operations (mixed into the actor)."""

    bus: Bus
    mqueues: dict[bytes, PosixQueue]
    mqueue_ids: dict[int, PosixQueue]

    def _queue(self, qid: int) -> PosixQueue:
        queue = self.mqueue_ids.get(qid)
        if queue is None:
            raise Errno(EINVAL)
        return queue

    @operation
    async def mq_open(self, caller: Caller, name: bytes, flags: int, mode: int,
                      attr: tuple[int, int] | None) -> QueueOpened:
        check_name(name)
        creds = caller.creds
        queue = self.mqueues.get(name)
        if queue is not None:
            if flags & O_CREAT and flags & O_EXCL:
                raise Errno(EEXIST)
        elif not flags & O_CREAT:
            raise Errno(ENOENT)
        else:
            maxmsg, msgsize = attr if attr is not None else (DFLT_MSG, DFLT_MSGSIZE)
            if attr is not None:
                if maxmsg <= 0 or msgsize <= 0:
                    raise Errno(EINVAL)
                if not creds.has_cap(CAP_SYS_RESOURCE) and (maxmsg > DFLT_MSGMAX or msgsize > DFLT_MSGSIZEMAX):
                    raise Errno(EINVAL)
                if maxmsg > HARD_MSGMAX or msgsize > HARD_MSGSIZEMAX:
                    raise Errno(EINVAL)
            if len(self.mqueues) >= DFLT_QUEUESMAX and not creds.has_cap(CAP_SYS_RESOURCE):
                raise Errno(ENOSPC)
            queue = PosixQueue(name, creds, mode, maxmsg, msgsize)
            self.mqueues[name] = queue
            self.mqueue_ids[queue.qid] = queue
            queue.opens += 1
            return QueueOpened(queue.qid, queue.watch, queue.uid, queue.gid, queue.mode)
        access = flags & O_ACCMODE
        if access == O_ACCMODE:
            raise Errno(EINVAL)
        want = {O_RDONLY: 4, O_WRONLY: 2, O_RDWR: 6}[access]
        if not queue.may(creds, want):
            raise Errno(EACCES)
        queue.opens += 1
        return QueueOpened(queue.qid, queue.watch, queue.uid, queue.gid, queue.mode)

    @operation
    async def mq_unlink(self, caller: Caller, name: bytes) -> None:
        check_name(name)
        queue = self.mqueues.get(name)
        if queue is None:
            raise Errno(ENOENT)
        creds = caller.creds
        # The mqueue root is sticky and world-writable (1777, root's): may_delete.
        if creds.fsuid not in (queue.uid, 0) and not creds.has_cap(CAP_FOWNER):
            raise Errno(EPERM)
        del self.mqueues[name]
        queue.name = None
        if not queue.opens:
            del self.mqueue_ids[queue.qid]

    @operation
    async def mq_send(self, caller: Caller, qid: int, text: bytes, priority: int, nonblock: bool,
                      deadline: int | None) -> None:
        await self._queue(qid).send(self.bus, caller, text, priority, nonblock, deadline)

    @operation
    async def mq_receive(self, caller: Caller, qid: int, size: int, nonblock: bool,
                         deadline: int | None) -> tuple[bytes, int]:
        return await self._queue(qid).receive(size, nonblock, deadline)

    @operation
    async def mq_notify(self, caller: Caller, qid: int, notification: tuple[int, int, int] | None) -> None:
        queue = self._queue(qid)
        if notification is None:
            if queue.notification is not None and queue.notification.pid == caller.pid:
                queue.notification = None
                queue.changed()
            return
        if queue.notification is not None:
            raise Errno(EBUSY)
        notify, signo, value = notification
        assert notify in (SIGEV_SIGNAL, SIGEV_NONE)
        queue.notification = Notification(caller.pid, notify, signo, value)
        queue.changed()

    @operation
    async def mq_getattr(self, qid: int) -> tuple[int, int, int]:
        queue = self._queue(qid)
        return queue.maxmsg, queue.msgsize, len(queue.messages)

    @operation
    async def mq_close(self, qid: int) -> None:
        queue = self.mqueue_ids.get(qid)
        if queue is None:
            return
        queue.opens -= 1
        if queue.opens <= 0:
            queue.notification = None
            if queue.name is None:
                del self.mqueue_ids[qid]

    @operation
    async def mq_status(self, qid: int) -> bytes:
        return self._queue(qid).watch.status()
