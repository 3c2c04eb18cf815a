"""ptrace(2), served entirely by the Sentry: a guest tracer (strace, gdb) and its tracees are
guest threads, the tracee's stops Sentry states (:mod:`kernel.tracee`).

The requests act on a tracee in a ptrace-stop of the calling process (ESRCH otherwise), as
Linux's ``ptrace_check_attach``; memory goes through the MM (writes with ``force``, as a
debugger writes breakpoints into read-only text), registers through the platform context.
"""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING

from abi import structs
from abi.creds import CAP_SYS_PTRACE, Credentials
from abi.errno import EFAULT, EINVAL, EIO, EPERM, ESRCH, Errno
from abi.linux import Signal, signal_status
from abi.ptrace import (
    AUDIT_ARCH_X86_64,
    NT_PRFPREG,
    NT_PRSTATUS,
    NT_X86_XSTATE,
    PTRACE_ATTACH,
    PTRACE_CONT,
    PTRACE_DETACH,
    PTRACE_EVENT_STOP,
    PTRACE_GET_SYSCALL_INFO,
    PTRACE_GETEVENTMSG,
    PTRACE_GETFPREGS,
    PTRACE_GETREGS,
    PTRACE_GETREGSET,
    PTRACE_GETSIGINFO,
    PTRACE_INTERRUPT,
    PTRACE_KILL,
    PTRACE_LISTEN,
    PTRACE_O_MASK,
    PTRACE_PEEKDATA,
    PTRACE_PEEKTEXT,
    PTRACE_PEEKUSER,
    PTRACE_POKEDATA,
    PTRACE_POKETEXT,
    PTRACE_POKEUSER,
    PTRACE_SEIZE,
    PTRACE_SETFPREGS,
    PTRACE_SETOPTIONS,
    PTRACE_SETREGS,
    PTRACE_SETREGSET,
    PTRACE_SETSIGINFO,
    PTRACE_SINGLESTEP,
    PTRACE_SYSCALL,
    PTRACE_SYSCALL_INFO_ENTRY,
    PTRACE_SYSCALL_INFO_EXIT,
    PTRACE_SYSCALL_INFO_NONE,
    PTRACE_TRACEME,
    SYSCALL_TRAP,
    USER_DEBUGREG_OFFSET,
    USER_FPREGS_SIZE,
    USER_REGS_SIZE,
    USER_SIZE,
)
from kernel.syscalls.args import Addr, Int, ULong
from kernel.syscalls.table import syscall
from kernel.tracee import EVENTMSG_SYSCALL_ENTRY, EVENTMSG_SYSCALL_EXIT, LISTEN, RUN, STEP, SYSCALL, Tracee, mark_traced

if TYPE_CHECKING:
    from kernel.task import Task

_U64 = struct.Struct("<Q")
#: Offsets in user_regs_struct of the registers a tracer may not set freely.
_CS, _SS, _DS, _ES, _FS, _GS = 17 * 8, 20 * 8, 23 * 8, 24 * 8, 25 * 8, 26 * 8
_FS_BASE, _GS_BASE = 21 * 8, 22 * 8
_SEGMENTS = (_CS, _SS, _DS, _ES, _FS, _GS)
_TASK_SIZE = 0x7FFF_FFFF_F000
#: XSAVE header: xstate_bv, whose x87 and SSE bits must be set once FXSAVE state is written.
_XSTATE_BV = 512
_RESUMES = {PTRACE_CONT: RUN, PTRACE_SYSCALL: SYSCALL, PTRACE_SINGLESTEP: STEP}


@syscall
async def ptrace(t: Task, request: Int, pid: Int, addr: Addr, data: ULong) -> int:
    """ptrace(2)."""
    if request == PTRACE_TRACEME:
        _traceme(t)
        await mark_traced(t, True)
        return 0
    if request in (PTRACE_ATTACH, PTRACE_SEIZE):
        return await _attach(t, pid, request == PTRACE_SEIZE, addr, data)
    tracee = _traced_by(t, pid)
    if request == PTRACE_KILL:
        if tracee.stopped:
            tracee.kill()
        else:
            t.kernel.spawn(tracee.task.process.exit, signal_status(Signal.SIGKILL))
        return 0
    if request == PTRACE_INTERRUPT:
        if not tracee.seized:
            raise Errno(EIO)
        if not tracee.stopped:
            tracee.interrupt = True
            tracee.task.signal_arrived()
        return 0
    if not tracee.stopped:
        raise Errno(ESRCH)
    return await _on_stopped(t, tracee, request, addr, data)


def _traceme(t: Task) -> None:
    parent = t.process.parent
    if t.ptrace is not None or parent is None:
        raise Errno(EPERM)
    t.ptrace = Tracee(t, parent)


def may_access(tracer: Credentials, target: Credentials, dumpable: int) -> bool:
    """Linux's ``__ptrace_may_access`` for PTRACE_MODE_ATTACH_REALCREDS (no Yama): the
    tracer's real uid and gid are all of the target's, and the target is dumpable; or the
    tracer holds CAP_SYS_PTRACE."""
    if tracer.has_cap(CAP_SYS_PTRACE):
        return True
    same_user = tracer.uid == target.uid == target.euid == target.suid
    same_group = tracer.gid == target.gid == target.egid == target.sgid
    return same_user and same_group and bool(dumpable)


async def _attach(t: Task, pid: int, seize: bool, addr: int, options: int) -> int:
    target = t.kernel.threads.get(pid)
    if target is None or target.exited:
        raise Errno(ESRCH)
    if seize and (addr or options & ~PTRACE_O_MASK):
        raise Errno(EINVAL if addr == 0 else EIO)
    process = target.process
    if process is t.process or target.ptrace is not None:
        raise Errno(EPERM)
    if not may_access(t.process.creds, process.creds, process.dumpable):
        raise Errno(EPERM)
    target.ptrace = Tracee(target, t.process, options if seize else 0, seize)
    await mark_traced(target, True)
    if process.stopped:
        await target.ptrace.attached_in_group_stop(process.stop_report or int(Signal.SIGSTOP))
    if not seize:
        await t.kernel.bus.call("signals", "send", process.pid, target.tid, int(Signal.SIGSTOP),
                                structs.SIGINFO_KILL.pack(int(Signal.SIGSTOP), 0, 0x80, 0, 0, 0))
    return 0


def _traced_by(t: Task, pid: int) -> Tracee:
    target = t.kernel.threads.get(pid)
    tracee = target.ptrace if target is not None else None
    if tracee is None or tracee.tracer is not t.process or target is None or target.exited:
        raise Errno(ESRCH)
    return tracee


async def _on_stopped(t: Task, tracee: Tracee, request: int, addr: int, data: int) -> int:
    task = tracee.task
    if request in _RESUMES or request == PTRACE_DETACH:
        if not 0 <= data <= 64:
            raise Errno(EIO)
        if request == PTRACE_DETACH:
            tracee.detach()
            await mark_traced(task, False)
        tracee.resume(_RESUMES.get(request, RUN), data)
        return 0
    if request == PTRACE_LISTEN:
        if not tracee.seized or (tracee.last >> 16) != PTRACE_EVENT_STOP:
            raise Errno(EIO)
        tracee.resume(LISTEN, 0)
        return 0
    if request in (PTRACE_PEEKTEXT, PTRACE_PEEKDATA):
        try:
            word = await task.mm.copy_in(addr, 8)
        except Errno:
            raise Errno(EIO) from None
        await t.mm.copy_out(data, word)
        return 0
    if request in (PTRACE_POKETEXT, PTRACE_POKEDATA):
        try:
            await task.mm.copy_out(addr, _U64.pack(data), force=True)
        except Errno:
            raise Errno(EIO) from None
        return 0
    if request == PTRACE_PEEKUSER:
        await t.mm.write_struct(_U64, data, _peek_user(task, addr))
        return 0
    if request == PTRACE_POKEUSER:
        _poke_user(task, addr, data)
        return 0
    if request == PTRACE_GETREGS:
        await t.mm.copy_out(data, bytes(task.regs))
        return 0
    if request == PTRACE_SETREGS:
        _set_regs(task, await t.mm.copy_in(data, USER_REGS_SIZE))
        return 0
    if request == PTRACE_GETFPREGS:
        await t.mm.copy_out(data, task.context.get_fp_state()[:USER_FPREGS_SIZE])
        return 0
    if request == PTRACE_SETFPREGS:
        _set_fpregs(task, await t.mm.copy_in(data, USER_FPREGS_SIZE))
        return 0
    if request in (PTRACE_GETREGSET, PTRACE_SETREGSET):
        return await _regset(t, task, request == PTRACE_SETREGSET, addr, data)
    if request == PTRACE_GETSIGINFO:
        await t.mm.copy_out(data, tracee.siginfo.ljust(structs.SIGINFO_SIZE, b"\0"))
        return 0
    if request == PTRACE_SETSIGINFO:
        tracee.siginfo = await t.mm.copy_in(data, structs.SIGINFO_SIZE)
        return 0
    if request == PTRACE_GETEVENTMSG:
        await t.mm.write_struct(_U64, data, tracee.event_msg & 0xFFFF_FFFF_FFFF_FFFF)
        return 0
    if request == PTRACE_SETOPTIONS:
        if data & ~PTRACE_O_MASK:
            raise Errno(EINVAL)
        tracee.options = data
        return 0
    if request == PTRACE_GET_SYSCALL_INFO:
        return await _syscall_info(t, tracee, addr, data)
    raise Errno(EIO)


def _peek_user(task: Task, offset: int) -> int:
    """A word of struct user: the registers, the rest (debug registers included) zeros."""
    if offset & 7 or not 0 <= offset < USER_SIZE:
        raise Errno(EIO)
    if offset < USER_REGS_SIZE:
        return int(_U64.unpack_from(bytes(task.regs), offset)[0])
    return 0


def _poke_user(task: Task, offset: int, value: int) -> None:
    """Set a register (or clear a debug register: hardware breakpoints are not offered)."""
    if offset & 7 or not 0 <= offset < USER_SIZE:
        raise Errno(EIO)
    if offset < USER_REGS_SIZE:
        raw = bytearray(bytes(task.regs))
        _U64.pack_into(raw, offset, value)
        _set_regs(task, bytes(raw))
        return
    if offset >= USER_DEBUGREG_OFFSET and value == 0:
        return
    raise Errno(EIO)


def _set_regs(task: Task, raw: bytes) -> None:
    """SETREGS: as Linux's ``putreg``, the segment selectors stay the user's and the bases
    inside the user half (EIO, EPERM otherwise)."""
    old = bytes(task.regs)
    for offset in _SEGMENTS:
        if raw[offset:offset + 8] != old[offset:offset + 8]:
            raise Errno(EIO)
    for offset in (_FS_BASE, _GS_BASE):
        if _U64.unpack_from(raw, offset)[0] >= _TASK_SIZE:
            raise Errno(EPERM)
    ctypes.memmove(ctypes.addressof(task.regs), raw, USER_REGS_SIZE)
    task.context.regs_changed()


def _set_fpregs(task: Task, raw: bytes) -> None:
    state = bytearray(task.context.get_fp_state())
    state[:USER_FPREGS_SIZE] = raw
    if len(state) >= _XSTATE_BV + 8:
        bv = _U64.unpack_from(state, _XSTATE_BV)[0] | 3
        _U64.pack_into(state, _XSTATE_BV, bv)
    try:
        task.context.set_fp_state(bytes(state))
    except OSError:
        raise Errno(EINVAL) from None


async def _regset(t: Task, task: Task, write: bool, kind: int, iov_addr: int) -> int:
    """GETREGSET/SETREGSET with an iovec: NT_PRSTATUS, NT_PRFPREG, NT_X86_XSTATE (read)."""
    base, length = await t.mm.read_struct(structs.IOVEC, iov_addr)
    if kind == NT_PRSTATUS:
        current = bytes(task.regs)
    elif kind in (NT_PRFPREG, NT_X86_XSTATE):
        current = task.context.get_fp_state()
        if kind == NT_PRFPREG:
            current = current[:USER_FPREGS_SIZE]
    else:
        raise Errno(EINVAL)
    size = min(length, len(current))
    if write:
        if kind == NT_X86_XSTATE:
            raise Errno(EINVAL)
        raw = await t.mm.copy_in(base, size) + current[size:]
        if kind == NT_PRSTATUS:
            _set_regs(task, raw)
        else:
            _set_fpregs(task, raw)
    else:
        await t.mm.copy_out(base, current[:size])
    await t.mm.write_struct(structs.IOVEC, iov_addr, base, size)
    return 0


_INFO_HEAD = struct.Struct("<BxxxIQQ")


async def _syscall_info(t: Task, tracee: Tracee, size: int, addr: int) -> int:
    """PTRACE_GET_SYSCALL_INFO: the system call at a syscall-stop (what strace reads)."""
    regs = tracee.task.regs
    code = struct.unpack_from("<i", tracee.siginfo, 8)[0] if len(tracee.siginfo) >= 12 else 0
    op = PTRACE_SYSCALL_INFO_NONE
    if code == SYSCALL_TRAP or code == (int(Signal.SIGTRAP) | 0x80):
        op = {EVENTMSG_SYSCALL_ENTRY: PTRACE_SYSCALL_INFO_ENTRY,
              EVENTMSG_SYSCALL_EXIT: PTRACE_SYSCALL_INFO_EXIT}.get(tracee.event_msg, op)
    info = bytearray(_INFO_HEAD.pack(op, AUDIT_ARCH_X86_64, regs.rip, regs.rsp))
    if op == PTRACE_SYSCALL_INFO_ENTRY:
        info += struct.pack("<7Q", regs.orig_rax, regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)
    elif op == PTRACE_SYSCALL_INFO_EXIT:
        rax = regs.rax - (1 << 64) if regs.rax >> 63 else regs.rax
        info += struct.pack("<qB", rax, int(-4095 <= rax < 0))
    else:
        info = info[:4]  # only ``op`` (offsetof arch) when no system call is in progress
    if size and addr:
        try:
            await t.mm.copy_out(addr, bytes(info[:size]))
        except Errno:
            raise Errno(EFAULT) from None
    return len(info)
