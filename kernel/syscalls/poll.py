"""poll, ppoll, select and pselect6: waiting until some fds are ready.

ppoll and pselect6 wait with the signal mask they are given (``kernel/syscalls/sigmasks.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from abi.errno import EBADF, EINVAL, ERESTARTNOHAND, Errno
from abi.linux import (
    FD_SETSIZE,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLOUT,
    POLLPRI,
    POLLRDNORM,
    POLLWRNORM,
)
from abi.structs import POLLFD, PSELECT6_SIGMASK, TIMESPEC, TIMEVAL
from kernel.files import nofile_limit, vfs
from kernel.syscalls.args import Addr, Int, UInt
from kernel.syscalls.sigmasks import masked
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

_SELECT_IN = POLLIN | POLLRDNORM | POLLHUP | POLLERR
_SELECT_OUT = POLLOUT | POLLWRNORM | POLLERR
_SELECT_EX = POLLPRI
_MASKS = (_SELECT_IN, _SELECT_OUT, _SELECT_EX)
#: What each of select's three sets asks poll for.
_ASKED = (POLLIN | POLLRDNORM, POLLOUT | POLLWRNORM, POLLPRI)


def deadline_after(seconds: float | None) -> float | None:
    """A trio deadline ``seconds`` from now; None means never."""
    return None if seconds is None else trio.current_time() + max(0.0, seconds)


async def ready_or_waited(t: Task, operation: str, *args: object, timeout: float | None,
                          interrupted: int) -> Any:
    """The VFS's readiness ``operation`` waiting up to ``timeout``, as the calling thread's sleep.

    Linux's poll loop looks at the files before it looks for a signal: with a signal already
    pending (one that a ppoll's mask has just unblocked), what is ready now is the answer, and
    the call fails with ``interrupted`` only when nothing is.
    """
    if t.signal_pending:
        answered = await vfs(t, operation, *args, deadline_after(0))
        if any(answered):
            return answered
        raise Errno(interrupted)
    return await t.blocking(vfs(t, operation, *args, deadline_after(timeout)), interrupted)


async def _poll(t: Task, fds: int, nfds: int, timeout: float | None) -> int:
    if nfds > nofile_limit(t):
        raise Errno(EINVAL)
    raw = await t.mm.copy_in(fds, POLLFD.size * nfds) if nfds else b""
    entries = list(POLLFD.iter_unpack(raw))
    table = t.process.fds
    # A negative fd is skipped (revents 0); an fd that is not open reports POLLNVAL (handle -1).
    watched = [(index, fd, events) for index, (fd, events, _) in enumerate(entries) if fd >= 0]
    interests = tuple((table.handle(fd) if fd in table else -1, events) for _, fd, events in watched)
    revents = [0] * nfds
    if interests or timeout != 0:
        answered = await ready_or_waited(t, "poll", interests, timeout=timeout, interrupted=ERESTARTNOHAND)
        for (index, _, _), value in zip(watched, answered, strict=True):
            revents[index] = value
    if nfds:
        await t.mm.copy_out(fds, b"".join(POLLFD.pack(fd, events, revents[i])
                                         for i, (fd, events, _) in enumerate(entries)))
    return sum(1 for value in revents if value)


@syscall
async def poll(t: Task, fds: Addr, nfds: UInt, timeout: Int) -> int:
    return await _poll(t, fds, nfds, None if timeout < 0 else timeout / 1000)


async def _timespec(t: Task, addr: int) -> float | None:
    if addr == 0:
        return None
    seconds, nanoseconds = await t.mm.read_struct(TIMESPEC, addr)
    if seconds < 0 or not 0 <= nanoseconds < 1_000_000_000:
        raise Errno(EINVAL)
    return seconds + nanoseconds / 1e9


@syscall
async def ppoll(t: Task, fds: Addr, nfds: UInt, tmo_p: Addr, sigmask: Addr, sigsetsize: UInt) -> int:
    return await masked(t, sigmask, sigsetsize, _poll(t, fds, nfds, await _timespec(t, tmo_p)))


def _set_bits(bits: int) -> list[int]:
    """The positions of the 1 bits of ``bits``, in order: linear in the number of set bits
    (a select over a million fds with few set costs little)."""
    positions = []
    while bits:
        low = bits & -bits
        positions.append(low.bit_length() - 1)
        bits ^= low
    return positions


async def _select(t: Task, nfds: int, readfds: int, writefds: int, exceptfds: int, timeout: float | None) -> int:
    if nfds < 0 or nfds > max(FD_SETSIZE, nofile_limit(t)):
        raise Errno(EINVAL)
    size = (nfds + 63) // 64 * 8
    sets = []
    for addr in (readfds, writefds, exceptfds):
        sets.append(int.from_bytes(await t.mm.copy_in(addr, size), "little") if addr and size else 0)
    wanted: dict[int, int] = {}
    for bits, events in zip(sets, _ASKED, strict=True):
        for fd in _set_bits(bits):
            wanted[fd] = wanted.get(fd, 0) | events
    table = t.process.fds
    if any(fd not in table for fd in wanted):
        raise Errno(EBADF)
    order = sorted(wanted)
    interests = tuple((table.handle(fd), wanted[fd]) for fd in order)
    answered = await ready_or_waited(t, "poll", interests, timeout=timeout, interrupted=ERESTARTNOHAND) \
        if interests or timeout != 0 else ()
    results = [0, 0, 0]
    count = 0
    for fd, ready in zip(order, answered, strict=True):
        for index, mask in enumerate(_MASKS):
            if sets[index] >> fd & 1 and ready & mask:
                results[index] |= 1 << fd
                count += 1
    for addr, bits in zip((readfds, writefds, exceptfds), results, strict=True):
        if addr and size:
            await t.mm.copy_out(addr, bits.to_bytes(size, "little"))
    return count
@syscall
async def select(t: Task, nfds: Int, readfds: Addr, writefds: Addr, exceptfds: Addr, timeout: Addr) -> int:
    seconds = None
    if timeout:
        sec, usec = await t.mm.read_struct(TIMEVAL, timeout)
        # Linux folds whole seconds of tv_usec into tv_sec (C division truncates toward zero),
        # then rejects what is still negative.
        carried = abs(usec) // 1_000_000
        sec += carried if usec >= 0 else -carried
        usec -= (carried if usec >= 0 else -carried) * 1_000_000
        if sec < 0 or usec < 0:
            raise Errno(EINVAL)
        seconds = sec + usec / 1e6
    return await _select(t, nfds, readfds, writefds, exceptfds, seconds)


@syscall
async def pselect6(t: Task, nfds: Int, readfds: Addr, writefds: Addr, exceptfds: Addr, timeout: Addr,
                   sigmask: Addr) -> int:
    seconds = await _timespec(t, timeout)
    mask_addr, mask_size = await t.mm.read_struct(PSELECT6_SIGMASK, sigmask) if sigmask else (0, 0)
    return await masked(t, mask_addr, mask_size, _select(t, nfds, readfds, writefds, exceptfds, seconds))
