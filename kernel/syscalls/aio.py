"""Linux's native asynchronous I/O: io_setup, io_submit, io_getevents, io_pgetevents,
io_cancel, io_destroy (fs/aio.c), as libaio, fio and databases use it.

A context belongs to the process that made it (fork does not pass it on, execve and exit end
it). Its id is the address of its ring, a mapping of the size Linux gives it; the ring's header
stays zero, so libaio never reads events from it and always asks io_getevents (Linux's magic
number invites libaio's user-space fast path, which a ring we do not keep in step would fool).

What each request does is the system call it stands for, through the VFS: a read or write of
a buffered file completes during io_submit, as Linux completes one, and so does an fsync; its
result (a count, or -errno) is queued as an io_event, and an eventfd named with
IOCB_FLAG_RESFD is signalled. IOCB_CMD_POLL completes at once if the file is ready, else when
it becomes ready, or with the readiness of that moment when io_cancel cancels it (which then
answers EINPROGRESS, as Linux does: the event still comes through io_getevents).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from abi.aio import (
    AIO_MAX_NR,
    AIO_U64,
    AIO_NR_EVENTS_LIMIT,
    AIO_RING_HEADER,
    AIO_SIGSET,
    IO_EVENT,
    IOCB,
    IOCB_CMD_FDSYNC,
    IOCB_CMD_FSYNC,
    IOCB_CMD_POLL,
    IOCB_CMD_PREAD,
    IOCB_CMD_PREADV,
    IOCB_CMD_PWRITE,
    IOCB_CMD_PWRITEV,
    IOCB_FLAG_IOPRIO,
    IOCB_FLAG_RESFD,
    IOCB_KEY_OFFSET,
    KIOCB_KEY,
)
from abi.errno import EAGAIN, EBADF, EFAULT, EINPROGRESS, EINTR, EINVAL, EOPNOTSUPP, Errno
from abi.linux import (
    MAP_ANONYMOUS,
    MAP_SHARED,
    O_ACCMODE,
    O_PATH,
    O_RDONLY,
    O_RDWR,
    O_WRONLY,
    PAGE_SIZE,
    POLLERR,
    POLLHUP,
    PROT_READ,
    PROT_WRITE,
    RWF_SUPPORTED,
)
from abi.structs import TIMESPEC
from kernel.syscalls.args import Addr, Long, ULong, UInt
from kernel.syscalls.attrs import fsync
from kernel.syscalls.poll import deadline_after
from kernel.syscalls.readwrite import pread64, preadv, pwrite64, pwritev
from kernel.syscalls.sigmasks import masked
from kernel.syscalls.status import partial
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.bus import Bus
    from kernel.process import ThreadGroup
    from services.vfs.contract import Handle
    from kernel.task import Task

#: A poll interest in every event (what a woken poll request reports).
_EVERY_EVENT = 0xFFFF
#: What /proc/PID/maps calls a ring (Linux's aio pseudo-file, unlinked).
RING_NAME = "/[aio] (deleted)"


@dataclass(eq=False)
class _Poll:
    """An IOCB_CMD_POLL waiting for its file."""

    data: int
    events: int
    handle: Handle
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)


@dataclass(eq=False)
class AioContext:
    """One io_setup's context: its ring, its completed events, its pending polls."""

    ring: int
    ring_size: int
    #: Requests it may hold unreaped at once (the ring's slots, one kept free).
    slots: int
    #: What io_setup asked for, counted against aio-max-nr.
    max_reqs: int
    completed: deque[bytes] = field(default_factory=deque)
    polls: dict[int, _Poll] = field(default_factory=dict)
    arrived: trio.Event = field(default_factory=trio.Event)

    def complete(self, iocb: int, data: int, result: int) -> None:
        self.completed.append(IO_EVENT.pack(data, iocb, result, 0))
        self.arrived.set()
        self.arrived = trio.Event()

    def full(self) -> bool:
        return len(self.completed) + len(self.polls) >= self.slots


def contexts(process: ThreadGroup) -> dict[int, AioContext]:
    return process.aio_contexts


def end_contexts(process: ThreadGroup) -> None:
    """execve and exit: every context goes (its pending polls are cancelled; the ring goes
    with the address space)."""
    for context in contexts(process).values():
        for poll in context.polls.values():
            poll.scope.cancel()
    contexts(process).clear()


def _context(t: Task, ctx_id: int) -> AioContext:
    context = contexts(t.process).get(ctx_id)
    if context is None:
        raise Errno(EINVAL)
    return context


@syscall
async def io_setup(t: Task, nr_events: UInt, ctxp: Addr) -> int:
    """A context for ``nr_events`` requests, its id written to ``*ctxp`` (which must hold 0)."""
    (current,) = await t.mm.read_struct(AIO_U64, ctxp)
    if current or nr_events == 0:
        raise Errno(EINVAL)
    # as ioctx_alloc sizes the ring, in 32 bits: 2^31 events or more wrap to 0 (EAGAIN)
    doubled = max(nr_events, t.kernel.online_cpus * 4) * 2 & 0xFFFFFFFF
    if doubled > AIO_NR_EVENTS_LIMIT:
        raise Errno(EINVAL)
    held = sum(c.max_reqs for p in t.kernel.processes.values() for c in contexts(p).values())
    if not doubled or nr_events > AIO_MAX_NR or held + nr_events > AIO_MAX_NR:
        raise Errno(EAGAIN)
    size = -(-(AIO_RING_HEADER + doubled * IO_EVENT.size) // PAGE_SIZE) * PAGE_SIZE
    ring = await t.mm.call("mmap", 0, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, RING_NAME)
    slots = (size - AIO_RING_HEADER) // IO_EVENT.size - 1
    contexts(t.process)[ring] = AioContext(ring, size, slots, nr_events)
    try:
        await t.mm.write_struct(AIO_U64, ctxp, ring)
    except Errno:
        await _destroy(t, ring)
        raise
    return 0


@syscall
async def io_destroy(t: Task, ctx_id: ULong) -> int:
    _context(t, ctx_id)
    await _destroy(t, ctx_id)
    return 0


async def _destroy(t: Task, ctx_id: int) -> None:
    context = contexts(t.process).pop(ctx_id)
    for poll in context.polls.values():
        poll.scope.cancel()
    await t.mm.call("munmap", context.ring, context.ring_size)


@syscall
@partial("reads, writes and fsyncs complete within io_submit (as Linux completes buffered ones; an "
         "O_DIRECT one does too); IOCB_FLAG_IOPRIO is EINVAL")
async def io_submit(t: Task, ctx_id: ULong, nr: Long, iocbpp: Addr) -> int:
    """Submit up to ``nr`` requests: how many were taken, or the first one's error."""
    if nr < 0:
        raise Errno(EINVAL)
    context = _context(t, ctx_id)
    submitted = 0
    for index in range(min(nr, context.slots + 1)):
        try:
            (iocb,) = await t.mm.read_struct(AIO_U64, iocbpp + 8 * index)
            await _submit_one(t, context, iocb)
        except Errno:
            if submitted:
                return submitted
            raise
        submitted += 1
    return submitted


async def _submit_one(t: Task, context: AioContext, iocb: int) -> None:
    """io_submit_one and __io_submit_one: the checks in Linux's order, then the request."""
    (data, _key, rw_flags, opcode, _prio, fd, buf, nbytes, offset, reserved2, flags,
     resfd) = IOCB.unpack(await t.mm.copy_in(iocb, IOCB.size))
    if reserved2 or nbytes >> 63:
        raise Errno(EINVAL)
    if context.full():
        raise Errno(EAGAIN)
    opened = t.process.fds.get(fd)  # EBADF
    eventfd = t.process.fds.get(resfd).handle if flags & IOCB_FLAG_RESFD else None
    if eventfd is not None:
        await t.kernel.bus.call("vfs", "eventfd_signal", eventfd, 0)  # EINVAL unless an eventfd
    await t.mm.copy_out(iocb + IOCB_KEY_OFFSET, KIOCB_KEY.to_bytes(4, "little"))
    if opcode in (IOCB_CMD_PREAD, IOCB_CMD_PWRITE, IOCB_CMD_PREADV, IOCB_CMD_PWRITEV):
        if flags & IOCB_FLAG_IOPRIO:
            raise Errno(EINVAL)  # no I/O priorities here (ioprio_check_cap's answer to an unknown class)
        if rw_flags & ~RWF_SUPPORTED:
            raise Errno(EOPNOTSUPP)
        result = await _transfer(t, opcode, fd, opened.handle, buf, nbytes, offset)
    elif opcode in (IOCB_CMD_FSYNC, IOCB_CMD_FDSYNC):
        if buf or offset or nbytes or rw_flags:
            raise Errno(EINVAL)
        result = await _result(fsync(t, fd))
    elif opcode == IOCB_CMD_POLL:
        if buf >> 16 or offset or nbytes or rw_flags:
            raise Errno(EINVAL)
        await _poll(t, context, iocb, data, opened.handle, buf | POLLERR | POLLHUP, eventfd)
        return
    else:
        raise Errno(EINVAL)
    await _complete(t.kernel.bus, context, iocb, data, result, eventfd)


async def _complete(bus: Bus, context: AioContext, iocb: int, data: int, result: int, eventfd: Handle | None) -> None:
    """A request's event into its context, and its eventfd (IOCB_FLAG_RESFD) signalled."""
    context.complete(iocb, data, result)
    if eventfd is not None:
        await bus.call("vfs", "eventfd_signal", eventfd, 1)


async def _transfer(t: Task, opcode: int, fd: int, handle: Handle, buf: int, nbytes: int, offset: int) -> int:
    """A read or write request of ``fd`` (its description ``handle``): its result (a count, or
    -errno: a buffer outside the guest's memory gives -EFAULT), or Errno where io_submit itself
    fails (a file not open for it: EBADF; a negative offset: EINVAL)."""
    if offset < 0:
        raise Errno(EINVAL)
    if opcode in (IOCB_CMD_PREAD, IOCB_CMD_PREADV):
        await _check_mode(t, handle, write=False)
        request = pread64(t, fd, buf, nbytes, offset) if opcode == IOCB_CMD_PREAD else \
            preadv(t, fd, buf, nbytes, offset, 0)
    else:
        await _check_mode(t, handle, write=True)
        request = pwrite64(t, fd, buf, nbytes, offset) if opcode == IOCB_CMD_PWRITE else \
            pwritev(t, fd, buf, nbytes, offset, 0)
    return await _result(request)


async def _check_mode(t: Task, handle: Handle, write: bool) -> None:
    """aio_read/aio_write: EBADF unless the description is open for the transfer."""
    flags = await t.kernel.bus.call("vfs", "get_flags", handle)
    if flags & O_PATH or flags & O_ACCMODE not in ((O_WRONLY, O_RDWR) if write else (O_RDONLY, O_RDWR)):
        raise Errno(EBADF)


async def _result(request: object) -> int:
    """A request's io_event result: its return value, or -errno."""
    try:
        return await request  # type: ignore[misc, no-any-return]
    except Errno as error:
        return -(EINTR if error.errno >= 512 else error.errno)  # a restart is EINTR here (aio_rw_done)


async def _poll(t: Task, context: AioContext, iocb: int, data: int, handle: Handle, events: int,
                eventfd: Handle | None) -> None:
    """IOCB_CMD_POLL: answered now if the file is ready, else by a waiter in the kernel's nursery."""
    caller = t.caller
    (ready,) = await t.kernel.bus.call("vfs", "poll", caller, ((handle, events),), deadline_after(0))
    if ready:
        await _complete(t.kernel.bus, context, iocb, data, ready, eventfd)
        return
    pending = context.polls[iocb] = _Poll(data, events, handle)
    held = (handle,) if eventfd is None else (handle, eventfd)
    await t.kernel.bus.call("vfs", "hold", held)
    bus, process = t.kernel.bus, t.process

    async def wait() -> None:
        try:
            with pending.scope:
                async with trio.open_nursery() as nursery:
                    async def ended() -> None:  # the process's exit ends its requests
                        await process.exited.wait()
                        nursery.cancel_scope.cancel()
                    nursery.start_soon(ended)
                    await bus.call("vfs", "poll", caller, ((handle, events),), None)
                    nursery.cancel_scope.cancel()
            if context.polls.pop(iocb, None) is pending and not process.exited.is_set():
                # Woken, Linux completes with the wake-up's key: the file's whole readiness (a
                # pipe's POLLIN | POLLRDNORM); cancelled, with what it asked for that is ready.
                asked = events if pending.scope.cancelled_caught else _EVERY_EVENT
                (answered,) = await bus.call("vfs", "poll", caller, ((handle, asked),), deadline_after(0))
                await _complete(bus, context, iocb, data, answered, eventfd)
        finally:
            with trio.CancelScope(shield=True):
                await bus.call("vfs", "drop", held, 0)

    t.kernel.spawn(wait)


@syscall
async def io_cancel(t: Task, ctx_id: ULong, iocb: Addr, result: Addr) -> int:
    """Cancel a pending request: only a poll can be; its event still comes (EINPROGRESS)."""
    context = _context(t, ctx_id)
    pending = context.polls.get(iocb)
    if pending is None:
        raise Errno(EINVAL)
    pending.scope.cancel()
    raise Errno(EINPROGRESS)


@syscall
async def io_getevents(t: Task, ctx_id: ULong, min_nr: Long, nr: Long, events: Addr, timeout: Addr) -> int:
    seconds = await _timeout(t, timeout)
    return await _getevents(t, ctx_id, min_nr, nr, events, seconds)


@syscall
async def io_pgetevents(t: Task, ctx_id: ULong, min_nr: Long, nr: Long, events: Addr, timeout: Addr,
                        usig: Addr) -> int:
    seconds = await _timeout(t, timeout)
    sigmask, sigsetsize = await t.mm.read_struct(AIO_SIGSET, usig) if usig else (0, 0)
    return await masked(t, sigmask, sigsetsize, _getevents(t, ctx_id, min_nr, nr, events, seconds))


async def _timeout(t: Task, addr: int) -> float | None:
    """io_getevents' relative timeout (not checked: a negative one is no wait at all)."""
    if not addr:
        return None
    seconds, nanoseconds = await t.mm.read_struct(TIMESPEC, addr)
    return max(0.0, seconds + nanoseconds / 1e9)


async def _getevents(t: Task, ctx_id: int, min_nr: int, nr: int, events: int, seconds: float | None) -> int:
    """At least ``min_nr`` and at most ``nr`` events into ``events``, waiting up to ``seconds``;
    when a signal or the timeout ends the wait, what has completed (EINTR if nothing, after a
    signal)."""
    context = contexts(t.process).get(ctx_id)
    if context is None or not 0 <= min_nr <= nr:
        raise Errno(EINVAL)
    interrupted = False
    if len(context.completed) < min_nr and seconds != 0:
        with trio.move_on_at(deadline_after(seconds) or float("inf")):
            try:
                while len(context.completed) < min_nr:
                    await t.blocking(context.arrived.wait(), EINTR)
            except Errno:
                interrupted = True
    taken = [context.completed.popleft() for _ in range(min(nr, len(context.completed)))]
    if not taken:
        if interrupted:
            raise Errno(EINTR)
        return 0
    try:
        await t.mm.copy_out(events, b"".join(taken))
    except Errno:
        context.completed.extendleft(reversed(taken))
        raise Errno(EFAULT) from None
    return len(taken)
