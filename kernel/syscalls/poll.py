"""poll, ppoll, select and pselect6: waiting until some fds are ready.

Signal masks (ppoll/pselect6's sigmask) are accepted and not applied until signals exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EBADF, EINVAL, ERESTARTNOHAND
from abi.linux import (
    FD_SETSIZE,
    POLLERR,
    POLLHUP,
    POLLIN,
    POLLNVAL,
    POLLOUT,
    POLLPRI,
    POLLRDNORM,
    POLLWRNORM,
)
from abi.structs import POLLFD, TIMESPEC, TIMEVAL
from abi.errno import Errno
from kernel.syscalls.args import Addr, Int, UInt
from kernel.syscalls.fdops import nofile_limit
from kernel.syscalls.table import syscall
from services.vfs.poll import deadline_after, wait_ready

if TYPE_CHECKING:
    from kernel.task import Task
    from services.vfs.file import File

_SELECT_IN = POLLIN | POLLRDNORM | POLLHUP | POLLERR
_SELECT_OUT = POLLOUT | POLLWRNORM | POLLERR
_SELECT_EX = POLLPRI


async def _poll(t: Task, fds: int, nfds: int, timeout: float | None) -> int:
    if nfds > nofile_limit(t):
        raise Errno(EINVAL)
    raw = await t.mm.copy_in(fds, POLLFD.size * nfds) if nfds else b""
    entries = [list(entry) for entry in POLLFD.iter_unpack(raw)]
    files: list[File | None] = []
    for fd, _, _ in entries:
        try:
            files.append(t.process.fds.get(fd) if fd >= 0 else None)
        except Errno:
            files.append(None)

    def check() -> int:
        ready = 0
        for entry, file in zip(entries, files, strict=True):
            fd, events, _ = entry
            if fd < 0:
                revents = 0
            elif file is None:
                revents = POLLNVAL
            else:
                revents = file.poll() & ((events & 0xFFFF) | POLLERR | POLLHUP)
            entry[2] = revents
            ready += bool(revents)
        return ready

    waits = [(file, entry[1]) for entry, file in zip(entries, files, strict=True) if file is not None]
    ready = await t.blocking(wait_ready(check, waits, deadline_after(timeout)), ERESTARTNOHAND)
    if nfds:
        await t.mm.copy_out(fds, b"".join(POLLFD.pack(fd, ev, rev) for fd, ev, rev in entries))
    return ready


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
    return await _poll(t, fds, nfds, await _timespec(t, tmo_p))


async def _select(t: Task, nfds: int, readfds: int, writefds: int, exceptfds: int, timeout: float | None) -> int:
    if nfds < 0 or nfds > max(FD_SETSIZE, nofile_limit(t)):
        raise Errno(EINVAL)
    size = (nfds + 63) // 64 * 8
    sets = []
    for addr in (readfds, writefds, exceptfds):
        sets.append(int.from_bytes(await t.mm.copy_in(addr, size), "little") if addr and size else 0)
    wanted: dict[int, int] = {}
    for bits, mask in zip(sets, (_SELECT_IN, _SELECT_OUT, _SELECT_EX), strict=True):
        fd = 0
        while bits:
            if bits & 1:
                wanted[fd] = wanted.get(fd, 0) | mask
            bits >>= 1
            fd += 1
    files = {}
    for fd in wanted:
        try:
            files[fd] = t.process.fds.get(fd)
        except Errno:
            raise Errno(EBADF) from None
    results = [0, 0, 0]

    def check() -> int:
        results[:] = [0, 0, 0]
        count = 0
        for fd, file in files.items():
            ready = file.poll()
            for index, mask in enumerate((_SELECT_IN, _SELECT_OUT, _SELECT_EX)):
                if sets[index] >> fd & 1 and ready & mask:
                    results[index] |= 1 << fd
                    count += 1
        return count

    waits = [(file, POLLIN if wanted[fd] & _SELECT_IN else POLLOUT) for fd, file in files.items()]
    count = await t.blocking(wait_ready(check, waits, deadline_after(timeout)), ERESTARTNOHAND)
    for addr, bits in zip((readfds, writefds, exceptfds), results, strict=True):
        if addr and size:
            await t.mm.copy_out(addr, bits.to_bytes(size, "little"))
    return count


@syscall
async def select(t: Task, nfds: Int, readfds: Addr, writefds: Addr, exceptfds: Addr, timeout: Addr) -> int:
    seconds = None
    if timeout:
        sec, usec = await t.mm.read_struct(TIMEVAL, timeout)
        if sec < 0 or not 0 <= usec < 1_000_000:
            raise Errno(EINVAL)
        seconds = sec + usec / 1e6
    return await _select(t, nfds, readfds, writefds, exceptfds, seconds)


@syscall
async def pselect6(t: Task, nfds: Int, readfds: Addr, writefds: Addr, exceptfds: Addr, timeout: Addr,
                   sigmask: Addr) -> int:
    return await _select(t, nfds, readfds, writefds, exceptfds, await _timespec(t, timeout))
