"""arch_prctl: the thread's FS and GS bases (TLS)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.errno import EINVAL, ENODEV, EPERM
from abi.linux import (
    ARCH_GET_CPUID,
    ARCH_GET_FS,
    ARCH_GET_GS,
    ARCH_SET_CPUID,
    ARCH_SET_FS,
    ARCH_SET_GS,
    TASK_SIZE,
)
from abi.errno import Errno
from kernel.syscalls.args import Int, ULong
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task


@syscall
async def arch_prctl(t: Task, code: Int, addr: ULong) -> int:
    regs = t.regs
    if code in (ARCH_SET_FS, ARCH_SET_GS):
        if addr >= TASK_SIZE:
            raise Errno(EPERM)
        if code == ARCH_SET_FS:
            regs.fs_base = addr
        else:
            regs.gs_base = addr
        t.context.regs_changed()
        return 0
    if code in (ARCH_GET_FS, ARCH_GET_GS):
        value = regs.fs_base if code == ARCH_GET_FS else regs.gs_base
        await t.mm.write_struct(structs.U64, addr, value)
        return 0
    if code == ARCH_GET_CPUID:
        return 1  # CPUID is not trapped
    if code == ARCH_SET_CPUID:
        raise Errno(ENODEV)  # no CPUID faulting to offer, as on hardware without it
    raise Errno(EINVAL)
