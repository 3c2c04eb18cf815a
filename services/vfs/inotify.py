"""inotify(7): watches on inodes, kept by the VFS actor, told of the VFS's own changes.

An instance is a file (:class:`Inotify`) holding a queue of events and its watches by watch
descriptor. Every watch of the sandbox is also listed by inode in the actor's :attr:`Notifying.watched`;
the VFS's operations (names, descriptions) tell :class:`Notifying` what they changed, so every
file system — tmpfs, the overlay, ``--rw`` and volumes through the gofer, devices — reports the
changes made inside the sandbox. Changes the host makes to a ``--rw`` root or a volume are not
seen (Linux's inotify does not see a remote file system's changes either).

The hooks cost one test of :attr:`Notifying.watched` (empty while no watch exists) for a
sandbox that watches nothing, and a dictionary lookup per inode touched otherwise.

Linux's order of events is kept: a directory watching its entries hears of an entry's event
before the entry's own watch, with the entry's name; an unlinked file's last name going gives
IN_ATTRIB, IN_DELETE_SELF and IN_IGNORED on it, then IN_DELETE in its directory; a file
unlinked while open says IN_DELETE_SELF at its last close.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from abi.errno import EAGAIN, EEXIST, EINVAL, EMFILE, ENOENT, ENOSPC, ENOTDIR, Errno
from abi.inotify import (
    INOTIFY_EVENT,
    INOTIFY_MAX_QUEUED_EVENTS,
    INOTIFY_MAX_USER_INSTANCES,
    INOTIFY_MAX_USER_WATCHES,
    IN_ACCESS,
    IN_ALL_EVENTS,
    IN_ATTRIB,
    IN_CLOSE_NOWRITE,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_DONT_FOLLOW,
    IN_EXCL_UNLINK,
    IN_IGNORED,
    IN_ISDIR,
    IN_MASK_ADD,
    IN_MASK_CREATE,
    IN_MODIFY,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_ONESHOT,
    IN_ONLYDIR,
    IN_OPEN,
    IN_Q_OVERFLOW,
)
from abi.linux import O_NONBLOCK, O_PATH, O_RDONLY, POLLIN, POLLRDNORM, S_IFDIR, S_IFIFO
from kernel.bus import operation
from services.vfs.contract import Attrs, Handle
from services.vfs.core import VfsCore
from services.vfs.eventfd import AnonInodeFile
from services.vfs.file import File, scatter
from services.vfs.inode import Dir, Inode
from services.vfs.permissions import MAY_READ, permission
from services.vfs.poll import Changes

if TYPE_CHECKING:
    from abi.creds import Caller
    from kernel.bus import Bus

#: What a watch keeps of inotify_add_watch's mask: the events and the flags that steer delivery.
_KEPT = IN_ALL_EVENTS | IN_EXCL_UNLINK | IN_ONESHOT


class Event(NamedTuple):
    """One queued struct inotify_event."""

    wd: int
    mask: int
    cookie: int
    name: bytes

    @property
    def size(self) -> int:
        """Its size as read: the head, and the name NUL-padded to a multiple of the head's size."""
        return INOTIFY_EVENT.size + padded(self.name)

    def pack(self) -> bytes:
        length = padded(self.name)
        return INOTIFY_EVENT.pack(self.wd, self.mask, self.cookie, length) + self.name.ljust(length, b"\0")


def padded(name: bytes) -> int:
    """struct inotify_event's len for ``name``: none for no name, else with at least one NUL,
    rounded up to a multiple of the head's size (as Linux pads it)."""
    if not name:
        return 0
    step = INOTIFY_EVENT.size
    return (len(name) + 1 + step - 1) // step * step


_OVERFLOW = Event(-1, IN_Q_OVERFLOW, 0, b"")


@dataclass(slots=True)
class Watch:
    """An instance's watch on one inode."""

    instance: Inotify
    inode: Inode
    wd: int
    mask: int


@dataclass
class InotifyLimits:
    """/proc/sys/fs/inotify: what each user may have, and how long a queue may grow."""

    max_user_instances: int = INOTIFY_MAX_USER_INSTANCES
    max_user_watches: int = INOTIFY_MAX_USER_WATCHES
    max_queued_events: int = INOTIFY_MAX_QUEUED_EVENTS


class InotifyState:
    """The VFS actor's inotify state: every watch by inode, and what each user holds."""

    def __init__(self) -> None:
        self.by_inode: dict[Inode, list[Watch]] = {}
        self.limits = InotifyLimits()
        #: Instances and watches by the effective uid that made them (Linux's ucounts).
        self.instances: Counter[int] = Counter()
        self.watches: Counter[int] = Counter()
        #: Watched files unlinked while open: IN_DELETE_SELF comes at their last close.
        self.unlinked: set[Inode] = set()
        #: The cookie that pairs a rename's IN_MOVED_FROM and IN_MOVED_TO.
        self.cookies = itertools.count(1)

    def forget(self, watch: Watch) -> None:
        """``watch`` leaves the inode's list and its user's count."""
        watches = self.by_inode[watch.inode]
        watches.remove(watch)
        if not watches:
            del self.by_inode[watch.inode]
            self.unlinked.discard(watch.inode)
        self.watches[watch.instance.uid] -= 1


class Inotify(AnonInodeFile):
    """An inotify instance: its watches and its queue of events."""

    epollable = True
    may_block = True

    def __init__(self, flags: int, state: InotifyState, uid: int) -> None:
        super().__init__(flags)
        self.flags = O_RDONLY | flags  # read-only, as Linux opens it: a write is EBADF
        self.set_access(self.flags)
        self.state = state
        self.uid = uid
        self.max_queued = state.limits.max_queued_events
        self.queue: deque[Event] = deque()
        self.overflowed = False
        self.watches: dict[int, Watch] = {}
        self.by_inode: dict[Inode, Watch] = {}
        self._wds = itertools.count(1)
        self._changes = Changes()

    def add(self, wd: int, mask: int, cookie: int = 0, name: bytes = b"") -> None:
        """Queue an event; one equal to the last unread event merges with it, and a full queue
        ends with one IN_Q_OVERFLOW, as Linux's do."""
        queue = self.queue
        if len(queue) >= self.max_queued:
            if not self.overflowed:
                self.overflowed = True
                queue.append(_OVERFLOW)
                self._changes.notify()
            return
        event = Event(wd, mask, cookie, name)
        if queue and queue[-1] == event:
            return
        queue.append(event)
        self._changes.notify()

    def watch(self, inode: Inode, mask: int) -> int:
        """A new watch on ``inode``: its wd."""
        watch = Watch(self, inode, next(self._wds), mask)
        self.watches[watch.wd] = watch
        self.by_inode[inode] = watch
        self.state.by_inode.setdefault(inode, []).append(watch)
        self.state.watches[self.uid] += 1
        inode.pristine = False  # a watched inode stays in the overlay's cache: its watch lives on it
        return watch.wd

    def remove(self, watch: Watch) -> None:
        """The watch goes; IN_IGNORED says so."""
        del self.watches[watch.wd]
        del self.by_inode[watch.inode]
        self.state.forget(watch)
        self.add(watch.wd, IN_IGNORED)

    # --- the file -----------------------------------------------------------------------------

    async def read(self, buffers: list[memoryview]) -> int:
        while not self.queue:
            if self.flags & O_NONBLOCK:
                raise Errno(EAGAIN)
            await self._changes.wait()
        return self._take(buffers)

    def read_nowait(self, buffers: list[memoryview]) -> int | None:
        if not self.queue:
            if self.flags & O_NONBLOCK:
                raise Errno(EAGAIN)
            return None
        return self._take(buffers)

    def _take(self, buffers: list[memoryview]) -> int:
        """As many whole events as ``buffers`` hold (EINVAL if not even the first fits)."""
        room = sum(len(b) for b in buffers)
        queue = self.queue
        out = bytearray()
        while queue and len(out) + queue[0].size <= room:
            event = queue.popleft()
            if event is _OVERFLOW:
                self.overflowed = False
            out += event.pack()
        if not out:
            raise Errno(EINVAL)  # the next event does not fit
        self._changes.notify()
        return scatter(memoryview(out), buffers)

    def poll(self, caller: Caller | None = None) -> int:
        return POLLIN | POLLRDNORM if self.queue else 0

    async def wait(self, events: int) -> None:
        await self._changes.wait()

    def notifier(self) -> Changes:
        return self._changes

    @property
    def changes(self) -> int:
        return self._changes.count

    def readable_bytes(self) -> int:
        return sum(event.size for event in self.queue)

    def proc_target(self) -> bytes:
        return b"anon_inode:inotify"

    def release(self) -> None:
        """The last fd closed: every watch goes (no IN_IGNORED: no one can read it)."""
        for watch in self.watches.values():
            self.state.forget(watch)
        self.watches.clear()
        self.by_inode.clear()
        self.state.instances[self.uid] -= 1
        super().release()


def attribute_events(attrs: Attrs) -> int:
    """The event a change of attributes gives (fsnotify_change): IN_ATTRIB for owner, mode or
    both times; a change of one time alone is IN_ACCESS (atime) or IN_MODIFY (mtime)."""
    mask = IN_ATTRIB if attrs.mode is not None or attrs.uid is not None or attrs.gid is not None else 0
    atime, mtime = attrs.atime_ns is not None, attrs.mtime_ns is not None
    if atime and mtime:
        mask |= IN_ATTRIB
    elif atime:
        mask |= IN_ACCESS
    elif mtime:
        mask |= IN_MODIFY
    return mask


def _isdir(inode: Inode) -> int:
    return IN_ISDIR if inode.kind == S_IFDIR else 0


def _entry(inode: Inode, parent: Dir | None, name: bytes | None) -> tuple[Dir | None, bytes]:
    """The directory and name an event on ``inode`` reaches its directory's watches by: the
    given ones, or a directory's own place in the tree."""
    if name is not None and name not in (b".", b".."):
        return parent, name
    if isinstance(inode, Dir) and inode.parent is not inode:
        return inode.parent, inode.name
    return None, b""


class Notifying(VfsCore):
    """The actor's inotify watches, its three operations, and the notices its other operations
    give of what they changed (each called only while :attr:`watched` is not empty)."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(bus)
        self.inotify = InotifyState()
        #: Every watched inode: what each hook tests first.
        self.watched = self.inotify.by_inode

    # --- delivering ---------------------------------------------------------------------------

    def _deliver(self, inode: Inode, mask: int, name: bytes = b"", cookie: int = 0,
                 child: Inode | None = None) -> None:
        """``mask`` to every watch on ``inode`` that asks for it (``child``: the entry the
        event is about, which an IN_EXCL_UNLINK watch ignores once unlinked)."""
        for watch in tuple(self.watched.get(inode, ())):
            if not watch.mask & mask & IN_ALL_EVENTS:
                continue
            if child is not None and watch.mask & IN_EXCL_UNLINK and child.nlink == 0:
                continue
            watch.instance.add(watch.wd, mask, cookie, name)
            if watch.mask & IN_ONESHOT:
                watch.instance.remove(watch)

    def notify(self, inode: Inode, mask: int, parent: Dir | None = None, name: bytes | None = None) -> None:
        """An event on ``inode`` (reached as ``parent``/``name``): its directory's watches hear
        it with the name, then its own watches without. An unwatched file in an unwatched
        directory costs two lookups."""
        watched = self.watched
        directory, entry = _entry(inode, parent, name)
        to_directory = directory in watched
        to_inode = inode in watched
        if not (to_directory or to_inode):
            return
        mask |= _isdir(inode)
        if to_directory and directory is not None:
            self._deliver(directory, mask, entry, child=inode)
        if to_inode:
            self._deliver(inode, mask)

    @staticmethod
    def place(file: File) -> tuple[Dir | None, bytes | None]:
        """The directory and name ``file`` was opened by (none for a directory: its own)."""
        where = file.opened_at
        return (where[1], where[2]) if where is not None and where[2] is not None else (None, None)

    def notify_file(self, file: File, mask: int) -> None:
        """An event on the file an open description reads or writes (a FIFO's data moving is
        none: Linux 6.18 tells only of its opens and closes)."""
        inode = file.inode
        if inode is not None and not (mask & (IN_ACCESS | IN_MODIFY) and inode.kind == S_IFIFO):
            self.notify(inode, mask, *self.place(file))

    def notify_opened(self, file: File) -> None:
        if not file.flags & O_PATH:
            self.notify_file(file, IN_OPEN)

    def notify_closed(self, file: File) -> None:
        """The description's last reference went: IN_CLOSE_WRITE or IN_CLOSE_NOWRITE, and an
        unlinked file's IN_DELETE_SELF if it was the last one open."""
        if not file.flags & O_PATH:
            self.notify_file(file, IN_CLOSE_WRITE if file.writable else IN_CLOSE_NOWRITE)
        inode = file.inode
        if inode is not None and inode in self.inotify.unlinked:
            self._gone(inode)

    def notify_created(self, directory: Dir, name: bytes, inode: Inode) -> None:
        self._deliver(directory, IN_CREATE | _isdir(inode), name)

    def notify_linked(self, directory: Dir, name: bytes, inode: Inode) -> None:
        """link(2): the file's link count changed, and its new directory has an entry."""
        self._deliver(inode, IN_ATTRIB)
        self.notify_created(directory, name, inode)

    def notify_removed(self, directory: Dir, name: bytes, inode: Inode) -> None:
        """unlink(2), rmdir(2): a file's link count fell (IN_ATTRIB), the file went with its
        last name (IN_DELETE_SELF, IN_IGNORED), and its directory lost the entry."""
        if not isinstance(inode, Dir):
            self._deliver(inode, IN_ATTRIB)
        self._gone(inode)
        self._deliver(directory, IN_DELETE | _isdir(inode), name)

    def notify_moved(self, old: Dir, old_name: bytes, new: Dir, new_name: bytes, inode: Inode,
                     replaced: Inode | None) -> None:
        """rename(2): IN_MOVED_FROM and IN_MOVED_TO with one cookie, IN_ATTRIB on a replaced
        file, IN_MOVE_SELF on the file moved; then the replaced file goes if that was its last name."""
        cookie = next(self.inotify.cookies)
        isdir = _isdir(inode)
        self._deliver(old, IN_MOVED_FROM | isdir, old_name, cookie)
        self._deliver(new, IN_MOVED_TO | isdir, new_name, cookie)
        if replaced is not None:
            self._deliver(replaced, IN_ATTRIB | _isdir(replaced))
        self._deliver(inode, IN_MOVE_SELF)
        if replaced is not None:
            self._gone(replaced)

    def _gone(self, inode: Inode) -> None:
        """If ``inode`` lost its last name (a directory removed is gone) and no description
        holds it open: IN_DELETE_SELF, and every watch on it ends (IN_IGNORED). Held open, it
        goes at the last close, as Linux's inode does."""
        if inode not in self.watched or not isinstance(inode, Dir) and inode.nlink > 0:
            return
        if not isinstance(inode, Dir) and any(file.inode is inode for file in self.files.values()):
            self.inotify.unlinked.add(inode)
            return
        self.inotify.unlinked.discard(inode)
        self._deliver(inode, IN_DELETE_SELF)
        for watch in tuple(self.watched.get(inode, ())):
            watch.instance.remove(watch)

    # --- the operations -----------------------------------------------------------------------

    def _instance(self, handle: Handle) -> Inotify:
        file = self.file(handle)
        if not isinstance(file, Inotify):
            raise Errno(EINVAL)
        return file

    @operation
    async def inotify_init(self, caller: Caller, flags: int) -> Handle:
        uid = caller.creds.euid
        if self.inotify.instances[uid] >= self.inotify.limits.max_user_instances:
            raise Errno(EMFILE)
        self.inotify.instances[uid] += 1
        return self.new_handle(Inotify(flags & O_NONBLOCK, self.inotify, uid))

    @operation
    async def inotify_add_watch(self, caller: Caller, handle: Handle, root: Handle, start: Handle, path: bytes,
                                mask: int) -> int:
        instance = self._instance(handle)
        if not path:
            raise Errno(ENOENT)
        inode = await self.target(caller, root, start, path, not mask & IN_DONT_FOLLOW)
        if mask & IN_ONLYDIR and not isinstance(inode, Dir):
            raise Errno(ENOTDIR)
        permission(caller.creds, inode, MAY_READ)
        watch = instance.by_inode.get(inode)
        if watch is not None:
            if mask & IN_MASK_CREATE:
                raise Errno(EEXIST)
            watch.mask = (watch.mask if mask & IN_MASK_ADD else 0) | (mask & _KEPT)
            return watch.wd
        if self.inotify.watches[instance.uid] >= self.inotify.limits.max_user_watches:
            raise Errno(ENOSPC)
        return instance.watch(inode, mask & _KEPT)

    @operation
    async def inotify_rm_watch(self, caller: Caller, handle: Handle, wd: int) -> None:
        instance = self._instance(handle)
        watch = instance.watches.get(wd)
        if watch is None:
            raise Errno(EINVAL)
        instance.remove(watch)
