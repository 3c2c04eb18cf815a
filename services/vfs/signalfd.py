"""signalfd(2): pending signals read as a file.

A read takes signals in the file's mask that are pending for the reading thread (or its
process), as sigtimedwait does, and returns each as a ``struct signalfd_siginfo``. The
signals stay queued in the signals actor until a read takes them; poll reports POLLIN while
one is pending for the polling thread.
"""

from __future__ import annotations

from abi import structs
from abi.errno import EAGAIN, EINVAL
from abi.linux import (
    O_NONBLOCK,
    POLLIN,
    POLLRDNORM,
    SI_KERNEL,
    SI_SIGIO,
    SI_TIMER,
    SI_USER,
    Signal,
)
from typing import TYPE_CHECKING

from abi.errno import Errno
from kernel.bus import Bus
from services.signals.watch import PendingWatch
from services.vfs.eventfd import AnonInodeFile
from services.vfs.file import scatter

if TYPE_CHECKING:
    from abi.creds import Caller

_FAULTS = (Signal.SIGILL, Signal.SIGFPE, Signal.SIGSEGV, Signal.SIGBUS, Signal.SIGTRAP)


class SignalFd(AnonInodeFile):
    """A signalfd: a signal mask and the way to the signals actor."""

    epollable = True
    may_block = True

    def __init__(self, bus: Bus, watch: PendingWatch, mask: int, flags: int) -> None:
        super().__init__(flags)
        self.bus = bus
        self.watch = watch
        self.mask = mask

    async def read_as(self, caller: Caller, buffers: list[memoryview]) -> int:
        """Take signals pending for the reading thread (or its process) that the mask names."""
        size = structs.SIGNALFD_SIGINFO.size
        room = sum(len(b) for b in buffers) // size
        if room == 0:
            raise Errno(EINVAL)
        tid = caller.tid
        out = []
        while len(out) < room:
            wait = None if not out and not self.flags & O_NONBLOCK else 0.0
            taken = await self.bus.call("signals", "take", tid, self.mask, wait)
            if taken is None:
                break
            out.append(signalfd_siginfo(*taken))
        if not out:
            raise Errno(EAGAIN)
        scatter(memoryview(b"".join(out)), buffers)
        return len(out) * size

    def poll(self, caller: Caller | None = None) -> int:
        """POLLIN while a signal of the mask is pending for the polling thread."""
        if caller is not None and self.watch.pending(caller.tid) & self.mask:
            return POLLIN | POLLRDNORM
        return 0

    async def wait(self, events: int) -> None:
        await self.watch.wait()

    @property
    def changes(self) -> int:
        return self.watch.count


def signalfd_siginfo(signo: int, info: bytes) -> bytes:
    """A siginfo as signalfd reads it: the fields its layout (by signal and code) has."""
    info = info.ljust(structs.SIGINFO_SIZE, b"\0")
    _, errno, code = structs.SIGINFO_HEAD.unpack_from(info)
    fields = dict.fromkeys(("pid", "uid", "fd", "tid", "band", "overrun", "status", "int", "ptr",
                            "utime", "stime", "addr", "syscall", "call_addr", "arch"), 0)
    if SI_USER < code < SI_KERNEL and signo in _FAULTS:
        (fields["addr"],) = structs.U64.unpack_from(info, 16)
    elif SI_USER < code < SI_KERNEL and signo == Signal.SIGCHLD:
        _, _, _, pid, uid, status, utime, stime = structs.SIGINFO_CHLD.unpack_from(info)
        fields.update(pid=pid, uid=uid, status=status, utime=utime, stime=stime)
    elif SI_USER < code < SI_KERNEL and signo == Signal.SIGSYS:
        call_addr, syscall, arch = structs.SIGINFO_SYS.unpack_from(info, 16)
        fields.update(call_addr=call_addr, syscall=syscall, arch=arch)
    elif (SI_USER < code < SI_KERNEL and signo == Signal.SIGIO) or code == SI_SIGIO:
        band, fd = structs.SIGINFO_POLL.unpack_from(info, 16)
        fields.update(band=band & 0xFFFF_FFFF, fd=fd)
    elif code == SI_TIMER:
        _, _, _, tid, overrun, value = structs.SIGINFO_TIMER.unpack_from(info)
        fields.update(tid=tid, overrun=overrun, ptr=value, int=_int(value))
    else:
        _, _, _, pid, uid, value = structs.SIGINFO_KILL.unpack_from(info)
        fields.update(pid=pid, uid=uid)
        if code < 0:  # sigqueue, tkill ...: the value too
            fields.update(ptr=value, int=_int(value))
    f = fields
    return structs.SIGNALFD_SIGINFO.pack(
        signo, errno, code, f["pid"] & 0xFFFF_FFFF, f["uid"], f["fd"], f["tid"] & 0xFFFF_FFFF, f["band"],
        f["overrun"] & 0xFFFF_FFFF, 0, f["status"], f["int"], f["ptr"], f["utime"] & _U64_MAX,
        f["stime"] & _U64_MAX, f["addr"], 0, 0, f["syscall"], f["call_addr"], f["arch"])


def _int(value: int) -> int:
    low = value & 0xFFFF_FFFF
    return low - (1 << 32) if low & 0x8000_0000 else low


_U64_MAX = (1 << 64) - 1
