"""Signal frames on the guest stack, laid out exactly as Linux x86-64 lays them.

``struct rt_sigframe`` is the return address (the action's ``sa_restorer``, which calls
rt_sigreturn), a ``struct ucontext`` (flags, link, the alternate stack, the ``sigcontext``
with every general register, and the signal mask to restore) and the ``siginfo``; the XSAVE
image of the FP/SSE/AVX state sits above it, 64-byte aligned, with the ``FP_XSTATE_MAGIC``
markers Linux and debuggers look for. :func:`push_frame` builds it and points the thread at the
handler; :func:`pop_frame` (rt_sigreturn) restores everything from it.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from abi import structs
from abi.errno import EFAULT
from abi.linux import (
    FIX_EFLAGS,
    FP_XSTATE_MAGIC1,
    FP_XSTATE_MAGIC2,
    SA_ONSTACK,
    SS_AUTODISARM,
    SS_DISABLE,
    UC_FP_XSTATE,
    UC_SIGCONTEXT_SS,
    UC_STRICT_RESTORE_SS,
)
from abi.errno import Errno

if TYPE_CHECKING:
    from kernel.task import Task

#: Below the interrupted stack pointer: the x86-64 ABI's red zone is left alone.
RED_ZONE = 128
#: sizeof(struct rt_sigframe): pretcode, ucontext, siginfo.
FRAME_SIZE = 8 + structs.UCONTEXT_SIZE + structs.SIGINFO_SIZE
_UC_OFFSET = 8
_INFO_OFFSET = 8 + structs.UCONTEXT_SIZE
_MCONTEXT_OFFSET = _UC_OFFSET + structs.UCONTEXT_HEAD.size + structs.STACK_T.size
_SIGMASK_OFFSET = _MCONTEXT_OFFSET + structs.SIGCONTEXT.size
#: struct _fpx_sw_bytes sits in the software-reserved bytes of the FXSAVE area.
_SW_BYTES_OFFSET = 464
_SW_BYTES = struct.Struct("<IIQI")
_GENERAL = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx",
            "rdx", "rax", "rcx", "rsp", "rip")
_U64 = (1 << 64) - 1


def on_altstack(altstack: tuple[int, int, int], sp: int) -> bool:
    base, _flags, size = altstack
    return size > 0 and base < sp <= base + size


async def push_frame(t: Task, signo: int, info: bytes, action: tuple[int, int, int, int], old_mask: int,
                     altstack: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """Build the frame for a caught signal and enter its handler.

    Returns the alternate stack as it must be after delivery (disarmed under SS_AUTODISARM),
    or None if unchanged. Raises Errno(EFAULT) if the frame cannot be written.
    """
    regs = t.regs
    handler, flags, restorer, _mask = action
    sp = regs.rsp
    base, ss_flags, size = altstack
    new_altstack = None
    if flags & SA_ONSTACK and size > 0 and not on_altstack(altstack, sp):
        sp = base + size
        if ss_flags & SS_AUTODISARM:
            new_altstack = (0, SS_DISABLE, 0)
    else:
        sp -= RED_ZONE
    fp_state = bytearray(t.context.get_fp_state())
    xstate_size = len(fp_state)
    sp -= xstate_size + 4  # FP_XSTATE_MAGIC2 follows the XSAVE image
    sp &= ~63
    fp_address = sp
    sp -= FRAME_SIZE
    sp = (sp & ~15) - 8
    frame = sp

    _SW_BYTES.pack_into(fp_state, _SW_BYTES_OFFSET, FP_XSTATE_MAGIC1, xstate_size + 4,
                        int.from_bytes(fp_state[512:520], "little"), xstate_size)
    fp_image = bytes(fp_state) + struct.pack("<I", FP_XSTATE_MAGIC2)

    context = structs.SIGCONTEXT.pack(
        *(getattr(regs, name) & _U64 for name in _GENERAL), regs.eflags,
        regs.cs & 0xFFFF, regs.gs & 0xFFFF, regs.fs & 0xFFFF, regs.ss & 0xFFFF,
        0, 0, old_mask, 0,    # err, trapno, oldmask, cr2
        fp_address, *([0] * 8),
    )
    if t.fault_info is not None:  # a fault's trap number, error code and address
        trapno, err, cr2 = t.fault_info
        context = bytearray(context)
        struct.pack_into("<QQ", context, 152, err, trapno)
        struct.pack_into("<Q", context, 176, cr2)
        context = bytes(context)
    ucontext = (structs.UCONTEXT_HEAD.pack(UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, 0)
                + structs.STACK_T.pack(base, ss_flags, size)  # as stored, like Linux's __save_altstack
                + context + struct.pack("<Q", old_mask))
    image = struct.pack("<Q", restorer) + ucontext + info.ljust(structs.SIGINFO_SIZE, b"\0")
    await t.mm.copy_out(fp_address, fp_image)
    await t.mm.copy_out(frame, image)

    regs.rsp = frame
    regs.rip = handler
    regs.rdi = signo
    regs.rax = 0
    # x86-64 passes the siginfo and ucontext whether or not SA_SIGINFO asked for them.
    regs.rsi = frame + _INFO_OFFSET
    regs.rdx = frame + _UC_OFFSET
    regs.eflags &= ~(0x100 | 0x400 | 0x10000)  # TF, DF, RF: handlers start with them clear
    t.context.regs_changed()
    return new_altstack


async def pop_frame(t: Task) -> tuple[int, tuple[int, int, int]]:
    """rt_sigreturn: restore registers and FP state from the frame at rsp - 8.

    Returns (mask to restore, alternate stack to restore). Raises Errno(EFAULT) for a frame
    the guest cannot read.
    """
    regs = t.regs
    frame = regs.rsp - 8
    raw = await t.mm.copy_in(frame + _UC_OFFSET, structs.UCONTEXT_SIZE)
    uc_flags, _link = structs.UCONTEXT_HEAD.unpack_from(raw)
    altstack = structs.STACK_T.unpack_from(raw, structs.UCONTEXT_HEAD.size)
    values = structs.SIGCONTEXT.unpack_from(raw, _MCONTEXT_OFFSET - _UC_OFFSET)
    (mask,) = struct.unpack_from("<Q", raw, _SIGMASK_OFFSET - _UC_OFFSET)
    for name, value in zip(_GENERAL, values[:17]):
        setattr(regs, name, value)
    regs.eflags = (regs.eflags & ~FIX_EFLAGS) | (values[17] & FIX_EFLAGS)
    fp_address = values[26]
    if fp_address:
        current = t.context.get_fp_state()
        image = await t.mm.copy_in(fp_address, len(current))
        try:
            t.context.set_fp_state(image)
        except OSError:
            raise Errno(EFAULT) from None
    regs.orig_rax = _U64  # no system call to restart
    t.context.regs_changed()
    del uc_flags
    return mask, altstack
