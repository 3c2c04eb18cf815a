"""POSIX message queues: mq_open, mq_unlink, mq_timedsend, mq_timedreceive, mq_notify,
mq_getsetattr.

The queues are the ``ipc`` service's (:mod:`services.ipc.mqueue`); a descriptor is a VFS file
naming one (:mod:`services.vfs.mqueue`), close-on-exec as Linux makes it, pollable, closed by
close(2). The handlers copy the arguments in Linux's order (the timeout first, then the
descriptor, then the message) and sleep interruptibly: a signal ends a send or receive with
EINTR, never restarted (signal(7)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EBADF, EFAULT, EINTR, EINVAL, EMSGSIZE, ENOSYS, Errno
from abi.linux import (
    MQ_PRIO_MAX,
    O_ACCMODE,
    O_NONBLOCK,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    SIGEV_NONE,
    SIGEV_SIGNAL,
    SIGEV_THREAD,
)
from abi.structs import MQ_ATTR, SIGEVENT, TIMESPEC
from kernel.files import install
from kernel.syscalls.args import Addr, Fd, Int, Size, UInt
from kernel.syscalls.paths import read_path
from kernel.syscalls.status import partial
from kernel.syscalls.table import syscall
from services.vfs.contract import Opened

if TYPE_CHECKING:
    from kernel.task import Task

_NS = 1_000_000_000
#: The highest signal number (_NSIG).
_NSIG = 64


async def _ipc(t: Task, op: str, *args: object) -> object:
    return await t.kernel.bus.call("ipc", op, t.caller, *args)


async def _deadline(t: Task, addr: int) -> int | None:
    """An absolute CLOCK_REALTIME timeout in nanoseconds (prepare_timeout: EFAULT, EINVAL)."""
    if not addr:
        return None
    seconds, nanoseconds = await t.mm.read_struct(TIMESPEC, addr)
    if seconds < 0 or not 0 <= nanoseconds < _NS:
        raise Errno(EINVAL)
    return seconds * _NS + nanoseconds


async def _queue(t: Task, mqdes: int) -> tuple[int, int]:
    """(queue id, status flags) of a descriptor; EBADF unless it is a message queue's."""
    return await t.kernel.bus.call("vfs", "mq_identity", t.process.fds.handle(mqdes))  # type: ignore[no-any-return]


@syscall
async def mq_open(t: Task, name: Addr, oflag: Int, mode: UInt, attr: Addr) -> int:
    attributes = None
    if attr:
        _, maxmsg, msgsize, _ = await t.mm.read_struct(MQ_ATTR, attr)
        attributes = (maxmsg, msgsize)
    path = await read_path(t, name)
    queue = await _ipc(t, "mq_open", path, oflag, mode & ~t.process.umask & 0o777, attributes)
    handle = await t.kernel.bus.call("vfs", "mqueue_file", t.caller, queue, path, oflag & (O_ACCMODE | O_NONBLOCK))
    return await install(t, Opened(handle), cloexec=True)


@syscall
async def mq_unlink(t: Task, name: Addr) -> int:
    await _ipc(t, "mq_unlink", await read_path(t, name))
    return 0


@syscall
async def mq_timedsend(t: Task, mqdes: Fd, msg_ptr: Addr, msg_len: Size, msg_prio: UInt, abs_timeout: Addr) -> int:
    deadline = await _deadline(t, abs_timeout)
    if msg_prio >= MQ_PRIO_MAX:
        raise Errno(EINVAL)
    qid, flags = await _queue(t, mqdes)
    if flags & O_ACCMODE not in (O_WRONLY, O_RDWR):
        raise Errno(EBADF)
    _, msgsize, _ = await t.kernel.bus.call("ipc", "mq_getattr", qid)
    if msg_len > msgsize:
        raise Errno(EMSGSIZE)
    text = await t.mm.copy_in(msg_ptr, msg_len) if msg_len else b""
    await t.blocking(_ipc(t, "mq_send", qid, text, msg_prio, bool(flags & O_NONBLOCK), deadline), EINTR)
    return 0


@syscall
async def mq_timedreceive(t: Task, mqdes: Fd, msg_ptr: Addr, msg_len: Size, msg_prio: Addr,
                          abs_timeout: Addr) -> int:
    deadline = await _deadline(t, abs_timeout)
    qid, flags = await _queue(t, mqdes)
    if flags & O_ACCMODE not in (O_RDONLY, O_RDWR):
        raise Errno(EBADF)
    text, priority = await t.blocking(
        _ipc(t, "mq_receive", qid, msg_len, bool(flags & O_NONBLOCK), deadline), EINTR)  # type: ignore[misc]
    if text:
        await t.mm.copy_out(msg_ptr, text)
    if msg_prio:
        await t.mm.copy_out(msg_prio, priority.to_bytes(4, "little"))
    return len(text)


@syscall
@partial("SIGEV_THREAD fails with ENOSYS: glibc's helper thread waits on a netlink socket the "
         "queue would have to write to; the registration ends at the descriptor's last close, "
         "not at any close by its process")
async def mq_notify(t: Task, mqdes: Fd, sevp: Addr) -> int:
    notification = None
    if sevp:
        try:
            value, signo, notify, _ = SIGEVENT.unpack(await t.mm.copy_in(sevp, SIGEVENT.size))
        except Errno:
            raise Errno(EFAULT) from None
        if notify not in (SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD):
            raise Errno(EINVAL)
        if notify == SIGEV_SIGNAL and not 0 <= signo <= _NSIG:
            raise Errno(EINVAL)
        if notify == SIGEV_THREAD:
            raise Errno(ENOSYS)
        notification = (notify, signo, value)
    qid, _ = await _queue(t, mqdes)
    await _ipc(t, "mq_notify", qid, notification)
    return 0


@syscall
async def mq_getsetattr(t: Task, mqdes: Fd, newattr: Addr, oldattr: Addr) -> int:
    new_flags = None
    if newattr:
        new_flags, _, _, _ = await t.mm.read_struct(MQ_ATTR, newattr)
        if new_flags & ~O_NONBLOCK:
            raise Errno(EINVAL)
    handle = t.process.fds.handle(mqdes)
    qid, flags = await _queue(t, mqdes)
    if oldattr:
        maxmsg, msgsize, curmsgs = await t.kernel.bus.call("ipc", "mq_getattr", qid)
        old = MQ_ATTR.pack(flags & O_NONBLOCK, maxmsg, msgsize, curmsgs)
    if new_flags is not None:
        await t.kernel.bus.call("vfs", "set_flags", handle, (flags & ~O_NONBLOCK) | new_flags)
    if oldattr:
        await t.mm.copy_out(oldattr, old)
    return 0


