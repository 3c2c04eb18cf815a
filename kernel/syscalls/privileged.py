"""The calls that act on the whole machine, which a container's root is refused: acct,
reboot, vhangup, swapon and swapoff.

Linux checks the capability before looking at any argument (kernel/acct.c, kernel/reboot.c,
fs/open.c, mm/swapfile.c), so a guest without it sees EPERM whatever it passes. A sandbox
cannot grant what these do (account for, reboot, hang up or swap the host), so a guest
holding the capability through ``--cap-add`` is refused with EPERM too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EPERM, Errno
from kernel.syscalls.args import Addr, Int, UInt
from kernel.syscalls.status import errno_only
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task


@syscall
@errno_only("EPERM: process accounting needs CAP_SYS_PACCT, which a container lacks, and the "
            "sandbox writes no accounting records")
async def acct(t: Task, filename: Addr) -> int:
    raise Errno(EPERM)


@syscall
@errno_only("EPERM before the magic numbers are looked at: CAP_SYS_BOOT, which a container lacks "
            "(the sandbox's init is not ended through reboot, even with the capability)")
async def reboot(t: Task, magic1: Int, magic2: Int, cmd: UInt, arg: Addr) -> int:
    raise Errno(EPERM)


@syscall
@errno_only("EPERM: hanging up the terminal needs CAP_SYS_TTY_CONFIG, which a container lacks")
async def vhangup(t: Task) -> int:
    raise Errno(EPERM)


@syscall
@errno_only("EPERM: swap is the host's; CAP_SYS_ADMIN, which a container lacks")
async def swapon(t: Task, path: Addr, swapflags: Int) -> int:
    raise Errno(EPERM)


@syscall
@errno_only("EPERM: swap is the host's; CAP_SYS_ADMIN, which a container lacks")
async def swapoff(t: Task, path: Addr) -> int:
    raise Errno(EPERM)
