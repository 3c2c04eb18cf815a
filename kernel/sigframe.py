"""Signal frames on the guest stack, laid out exactly as Linux x86-64 lays them.

``struct rt_sigframe`` is the return address (the action's ``sa_restorer``, which calls
rt_sigreturn), a ``struct ucontext`` (flags, link, the alternate stack, the ``sigcontext``
with every general register, and the signal mask to restore) and the ``siginfo``; the XSAVE
image of the FP/SSE/AVX state sits above it, 64-byte aligned, with the ``FP_XSTATE_MAGIC``
markers Linux and debuggers look for. :func:`push_frame` builds it and points the thread at the
handler; :func:`sigreturn` restores everything from it.

Every address here comes from the guest (its stack pointer, its alternate stack, the frame it
hands back), so it is computed on 64-bit registers as the CPU would and checked with
``access_ok`` before use. A frame that does not fit, or that cannot be read back, is
:class:`BadFrame`: Linux then forces SIGSEGV on the thread, and so does the task loop. The
FP state a guest hands back is judged as XRSTOR/FXRSTOR would judge it (``fpu__restore_sig``):
a legacy-only or zeroed image is fine, a bad header or MXCSR is a SIGSEGV.

The image in a frame is the process's *user* XSAVE image, which need not be the one ptrace
shows: on a CPU with dynamically enabled components (AMX tile data, behind XFD) Linux leaves a
component out of a process's frames, sizes and ``xfeatures`` until the process asks for it
(``ARCH_REQ_XCOMP_PERM``), while ``NT_X86_XSTATE`` always has every component XCR0 enables.
:data:`HOST_XSAVE` reads what the host offers (CPUID leaf 0xD, ``ARCH_GET_XCOMP_PERM``) once,
at import, before the Sentry is confined; :class:`Xstate` derives the frame's layout from it.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abi import structs
from abi.encoding import c_int, c_uint
from abi.errno import EFAULT, Errno
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
from abi.ranges import fits, wrapping_add, wrapping_sub

if TYPE_CHECKING:
    from kernel.task import Task

#: Below the interrupted stack pointer: the x86-64 ABI's red zone is left alone.
RED_ZONE = 128
#: sizeof(struct rt_sigframe): pretcode, ucontext, siginfo.
FRAME_SIZE = 8 + structs.UCONTEXT_SIZE + structs.SIGINFO_SIZE
_UC_OFFSET = 8
_INFO_OFFSET = 8 + structs.UCONTEXT_SIZE
_STACK_OFFSET = _UC_OFFSET + structs.UCONTEXT_HEAD.size
_MCONTEXT_OFFSET = _STACK_OFFSET + structs.STACK_T.size
_SIGMASK_OFFSET = _MCONTEXT_OFFSET + structs.SIGCONTEXT.size
_GENERAL = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rdi", "rsi", "rbp", "rbx",
            "rdx", "rax", "rcx", "rsp", "rip")
_FPSTATE_FIELD = 26  # sigcontext.fpstate among SIGCONTEXT's fields
_U64 = (1 << 64) - 1

# The XSAVE image (standard format): the 512-byte legacy FXSAVE area, whose software-reserved
# bytes hold struct _fpx_sw_bytes in a signal frame, then the 64-byte XSAVE header.
_LEGACY_SIZE = 512
_HEADER_SIZE = 64
_MIN_XSTATE = _LEGACY_SIZE + _HEADER_SIZE
_MXCSR_OFFSET = 24
_MXCSR_MASK_OFFSET = 28
_SW_BYTES_OFFSET = 464
_SW_BYTES = struct.Struct("<IIQI28x")  # magic1, extended_size, xfeatures, xstate_size, padding
_HEADER = struct.Struct("<QQ")          # xstate_bv, xcomp_bv
_MAGIC2 = struct.Struct("<I")
_FEATURE_FP, _FEATURE_SSE, _FEATURE_YMM = 1, 2, 4
_FEATURE_FPSSE = _FEATURE_FP | _FEATURE_SSE
#: Linux's mxcsr_feature_mask when the CPU reports none.
_DEFAULT_MXCSR_MASK = 0xFFBF
_SYS_ARCH_PRCTL = 158
_ARCH_GET_XCOMP_PERM = 0x1022
#: ``cpuid(leaf, subleaf, uint32_t out[4])`` for x86-64 (System V calling convention): push rbx;
#: mov r8, rdx; mov eax, edi; mov ecx, esi; cpuid; store eax, ebx, ecx, edx at [r8]; pop rbx; ret.
_CPUID_CODE = bytes.fromhex("53 4989d0 89f8 89f1 0fa2 418900 41895804 41894808 4189500c 5b c3")


@dataclass(frozen=True, slots=True)
class HostXsave:
    """What this host's CPU and kernel say about user XSAVE state, beyond what ptrace shows.

    Read once (:func:`probe_host_xsave`); both parts may be unknown, and then the frame layout
    falls back to ptrace's image, which is exact on every CPU without dynamic components.
    """

    #: The components a process that never asked for more may use (``ARCH_GET_XCOMP_PERM``:
    #: the stubs are freshly exec'd, which resets the permission, and never ask); None on a
    #: kernel older than 5.16, which has no dynamic components and so permits all of XCR0.
    permitted: int | None
    #: (bit, offset, size) of each user component in the standard-format image (CPUID leaf
    #: 0xD, sub-leaf = bit); empty if CPUID could not be run.
    components: tuple[tuple[int, int, int], ...]

    def user_layout(self, xcr0: int, ptrace_size: int) -> tuple[int, int]:
        """(features, size) of the XSAVE image in a signal frame, given ptrace's XCR0 and image
        size: XCR0 less what the process is not permitted, and the standard-format size of
        that (Linux's ``fpstate->user_xfeatures`` and ``user_size``)."""
        features = xcr0 if self.permitted is None else xcr0 & (self.permitted | _FEATURE_FPSSE)
        if features == xcr0:
            return xcr0, ptrace_size  # nothing withheld: ptrace's image is the frame's
        known = {bit: offset + size for bit, offset, size in self.components}
        wanted = [bit for bit in range(2, 64) if features >> bit & 1]
        if not all(bit in known for bit in wanted):
            return xcr0, ptrace_size  # cannot size it; the best left is ptrace's view
        return features, max([_MIN_XSTATE, *(known[bit] for bit in wanted)])


def _cpuid_function() -> tuple[mmap.mmap, Callable[..., None]] | None:
    """A callable CPUID, from a page of machine code (written, then made read-only and
    executable: never writable and executable at once); None if no such page can be had."""
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    except (OSError, ValueError):
        return None
    page.write(_CPUID_CODE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mprotect(ctypes.c_void_p(address), ctypes.c_size_t(mmap.PAGESIZE), mmap.PROT_READ | mmap.PROT_EXEC):
        return None
    prototype = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32))
    return page, prototype(address)


def _xsave_components() -> tuple[tuple[int, int, int], ...]:
    """(bit, offset, size) of every user XSAVE component the CPU supports (CPUID leaf 0xD)."""
    made = _cpuid_function()
    if made is None:
        return ()
    _page, cpuid = made
    out = (ctypes.c_uint32 * 4)()

    def query(leaf: int, subleaf: int) -> tuple[int, int, int, int]:
        cpuid(leaf, subleaf, out)
        return out[0], out[1], out[2], out[3]

    if query(0, 0)[0] < 0xD:
        return ()
    eax, _ebx, _ecx, edx = query(0xD, 0)
    supported = eax | edx << 32
    components = []
    for bit in range(2, 64):
        if supported >> bit & 1:
            size, offset, flags, _ = query(0xD, bit)
            if not flags & 1:  # ECX bit 0 set: a supervisor component, never in a user image
                components.append((bit, offset, size))
    return tuple(components)


def _xcomp_permitted() -> int | None:
    """``ARCH_GET_XCOMP_PERM`` of this process, which, like the stubs, never asked for more."""
    libc = ctypes.CDLL(None, use_errno=True)
    value = ctypes.c_uint64()
    if libc.syscall(ctypes.c_long(_SYS_ARCH_PRCTL), ctypes.c_long(_ARCH_GET_XCOMP_PERM), ctypes.byref(value)):
        return None  # EINVAL: a kernel without dynamic XSAVE components
    return value.value


def probe_host_xsave() -> HostXsave:
    """Read the host's XSAVE facts. It maps an executable page and calls arch_prctl, which the
    confined Sentry may no longer do, so it runs at import (the Sentry imports every module
    before it is confined)."""
    return HostXsave(_xcomp_permitted(), _xsave_components())


#: This host's XSAVE facts, read once (see :func:`probe_host_xsave`).
HOST_XSAVE = probe_host_xsave()


class BadFrame(Errno):
    """A signal frame that cannot be written, or a frame handed to rt_sigreturn that cannot be
    restored: Linux forces SIGSEGV on the thread (the caller does)."""

    def __init__(self) -> None:
        super().__init__(EFAULT)


@dataclass(frozen=True, slots=True)
class Xstate:
    """This machine's XSAVE layout: the image ptrace reads and writes, and the (possibly
    smaller) one a signal frame holds."""

    #: Bytes of the standard-format XSAVE image of every user state component: what ptrace
    #: reads and insists on being written (``fpu_user_cfg.max_size``).
    size: int
    #: The user state components (XCR0, which ptrace reports in the software-reserved bytes).
    features: int
    #: The MXCSR bits the CPU implements: a set bit outside it makes (F)XRSTOR fault.
    mxcsr_mask: int
    #: Bytes of the image in a signal frame (``fpstate->user_size``): up to the last component
    #: the process may use.
    user_size: int
    #: The components a frame carries and rt_sigreturn restores (``fpstate->user_xfeatures``).
    user_features: int

    @classmethod
    def of(cls, state: bytes | bytearray) -> Xstate:
        """The layout of the FP state ``state`` of a thread, as ptrace read it."""
        features = int.from_bytes(state[_SW_BYTES_OFFSET:_SW_BYTES_OFFSET + 8], "little")
        mask = int.from_bytes(state[_MXCSR_MASK_OFFSET:_MXCSR_MASK_OFFSET + 4], "little")
        return _layout(len(state), features or _FEATURE_FPSSE, mask or _DEFAULT_MXCSR_MASK)

    def init_state(self) -> bytearray:
        """The FP state of a fresh thread (``fpu__clear_user_states``): every component in its
        initial configuration, x87 control word 0x37f, MXCSR 0x1f80."""
        state = bytearray(self.size)
        struct.pack_into("<H", state, 0, 0x037F)
        struct.pack_into("<II", state, _MXCSR_OFFSET, 0x1F80, self.mxcsr_mask)
        return state

    def mxcsr_valid(self, image: bytes | bytearray) -> bool:
        (mxcsr,) = struct.unpack_from("<I", image, _MXCSR_OFFSET)
        return not mxcsr & ~self.mxcsr_mask


@functools.lru_cache(maxsize=8)
def _layout(size: int, features: int, mxcsr_mask: int) -> Xstate:
    """The :class:`Xstate` for ptrace's image size and XCR0 (the same for every thread)."""
    user_features, user_size = HOST_XSAVE.user_layout(features, size)
    return Xstate(size, features, mxcsr_mask, min(user_size, size), user_features)


def _within_altstack(base: int, size: int, sp: int) -> bool:
    """Linux's ``__on_sig_stack``: sp in (base, base + size], the stack growing down."""
    return sp > base and sp - base <= size


def frame_place(sp: int, flags: int, altstack: tuple[int, int, int], math_size: int) -> tuple[int, int] | None:
    """Where the frame and its FP image go (``get_sigframe``): (frame, fp image), or None when
    they would overflow the alternate stack the thread is on or is entering.

    The red zone is kept, SA_ONSTACK moves to the top of the alternate stack unless the thread
    already runs on it (SS_AUTODISARM stacks never count as "already on"), the FP image is 64-
    byte aligned below and the frame 16-byte aligned minus 8 below that: the ABI's alignment at
    a function's entry, as if the handler had been called.
    """
    base, ss_flags, size = altstack

    def on_altstack(at: int) -> bool:
        return not ss_flags & SS_AUTODISARM and _within_altstack(base, size, at)

    nested = on_altstack(sp)
    entering = False
    sp = wrapping_sub(sp, RED_ZONE)
    if flags & SA_ONSTACK and size and not on_altstack(sp):
        sp = wrapping_add(base, size)
        entering = True
    fp_address = wrapping_sub(sp, math_size) & ~63
    frame = wrapping_sub(wrapping_sub(fp_address, FRAME_SIZE) & ~15, 8)
    if (nested or entering) and not _within_altstack(base, size, frame):
        return None
    return frame, fp_address


async def push_frame(t: Task, signo: int, info: bytes, action: tuple[int, int, int, int], old_mask: int,
                     altstack: tuple[int, int, int]) -> tuple[int, int, int] | None:
    """Build the frame for a caught signal and enter its handler.

    Returns the alternate stack as it must be after delivery (disarmed under SS_AUTODISARM),
    or None if unchanged. Raises :class:`BadFrame` if the frame does not fit or cannot be
    written; nothing of the thread has changed then.
    """
    regs = t.regs
    handler, flags, restorer, _mask = action
    fp_state = bytearray(t.context.get_fp_state())
    layout = Xstate.of(fp_state)
    math_size = layout.user_size + _MAGIC2.size  # FP_XSTATE_MAGIC2 follows the XSAVE image
    place = frame_place(regs.rsp, flags, altstack, math_size)
    if place is None:
        raise BadFrame
    frame, fp_address = place
    if not fits(fp_address, math_size) or not fits(frame, FRAME_SIZE):
        raise BadFrame

    del fp_state[layout.user_size:]  # components the process may not use are not in its frames
    _SW_BYTES.pack_into(fp_state, _SW_BYTES_OFFSET, FP_XSTATE_MAGIC1, math_size, layout.user_features,
                        layout.user_size)
    # As Linux does, x87 and SSE are marked present whatever their state, so that a handler
    # that edits only the legacy area (unaware of the header) has its changes restored.
    (xstate_bv,) = struct.unpack_from("<Q", fp_state, _LEGACY_SIZE)
    struct.pack_into("<Q", fp_state, _LEGACY_SIZE, xstate_bv & layout.user_features | _FEATURE_FPSSE)
    fp_image = bytes(fp_state) + _MAGIC2.pack(FP_XSTATE_MAGIC2)

    base, ss_flags, size = altstack
    context = bytearray(structs.SIGCONTEXT.pack(
        *(getattr(regs, name) & _U64 for name in _GENERAL), regs.eflags & _U64,
        regs.cs & 0xFFFF, regs.gs & 0xFFFF, regs.fs & 0xFFFF, regs.ss & 0xFFFF,
        0, 0, old_mask, 0,    # err, trapno, oldmask, cr2
        fp_address, *([0] * 8),
    ))
    if t.fault_info is not None:  # a fault's trap number, error code and address
        trapno, err, cr2 = t.fault_info
        struct.pack_into("<QQ", context, 152, err & _U64, trapno & _U64)
        struct.pack_into("<Q", context, 176, cr2 & _U64)
    ucontext = (structs.UCONTEXT_HEAD.pack(UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, 0)
                + structs.STACK_T.pack(base, c_int(ss_flags), size)  # as stored, like __save_altstack
                + bytes(context) + struct.pack("<Q", old_mask))
    image = struct.pack("<Q", restorer & _U64) + ucontext + info[:structs.SIGINFO_SIZE].ljust(structs.SIGINFO_SIZE,
                                                                                           b"\0")
    try:
        await t.mm.copy_out(fp_address, fp_image)
        await t.mm.copy_out(frame, image)
    except Errno:
        raise BadFrame from None

    regs.rsp = frame
    regs.rip = handler & _U64
    regs.rdi = signo
    regs.rax = 0
    # x86-64 passes the siginfo and ucontext whether or not SA_SIGINFO asked for them.
    regs.rsi = frame + _INFO_OFFSET
    regs.rdx = frame + _UC_OFFSET
    regs.eflags &= ~(0x100 | 0x400 | 0x10000)  # TF, DF, RF: handlers start with them clear
    t.context.regs_changed()
    # A delivered signal disarms an SS_AUTODISARM stack, whichever stack its frame is on.
    return (0, SS_DISABLE, 0) if ss_flags & SS_AUTODISARM else None


async def sigreturn(t: Task) -> int:
    """rt_sigreturn: restore the mask, the registers, the FP state and the alternate stack from
    the frame at rsp - 8, in Linux's order; returns the restored ``rax``.

    Raises :class:`BadFrame` when the frame is unreadable or its FP state would make XRSTOR
    fault; what was restored before that point stays restored, as in Linux (the mask first,
    then the registers), and a bad FP image leaves the FP state in its initial configuration.
    """
    regs = t.regs
    bus = t.kernel.bus
    frame = wrapping_sub(regs.rsp, 8)
    if not fits(frame, FRAME_SIZE):
        raise BadFrame
    try:
        (mask,) = await t.mm.read_struct(structs.U64, frame + _SIGMASK_OFFSET)
        await t.mm.read_struct(structs.UCONTEXT_HEAD, frame + _UC_OFFSET)  # uc_flags, read as Linux does
    except Errno:
        raise BadFrame from None
    await bus.call("signals", "set_mask", t.tid, mask)
    try:
        values = await t.mm.read_struct(structs.SIGCONTEXT, frame + _MCONTEXT_OFFSET)
    except Errno:
        raise BadFrame from None
    for name, value in zip(_GENERAL, values[:17], strict=True):
        setattr(regs, name, value)
    regs.eflags = (regs.eflags & ~FIX_EFLAGS) | (values[17] & FIX_EFLAGS)
    regs.orig_rax = _U64  # no system call to restart
    t.context.regs_changed()
    await restore_fp_state(t, values[_FPSTATE_FIELD])
    try:
        sp, flags, size = await t.mm.read_struct(structs.STACK_T, frame + _STACK_OFFSET)
    except Errno:
        raise BadFrame from None
    try:  # restore_altstack: only EFAULT counts; an unusable stack_t is ignored
        await bus.call("signals", "sigaltstack", t.tid, (sp, c_uint(flags), size), regs.rsp)
    except Errno:
        pass
    return int(regs.rax)


async def restore_fp_state(t: Task, address: int) -> None:
    """Load the FP state image at ``address`` as ``fpu__restore_sig`` does; NULL resets it.

    A frame whose software bytes carry FP_XSTATE_MAGIC1 and a consistent size, and the
    FP_XSTATE_MAGIC2 after the image, is a full XSAVE image (XRSTOR: 64-byte aligned, a header
    XRSTOR accepts, only the components the process may use restored); anything else is a
    legacy FXSAVE area (FXRSTOR: 16-byte aligned) and the other components start afresh. An
    MXCSR with reserved bits set faults either way. On failure the state is reset and
    :class:`BadFrame` raised.
    """
    context = t.context
    layout = Xstate.of(context.get_fp_state())
    if address == 0:
        context.set_fp_state(bytes(layout.init_state()))
        return
    try:
        state = await _fp_image(t, address, layout)
        if state is not None:
            context.set_fp_state(bytes(state))
            return
    except (Errno, OSError):
        pass
    context.set_fp_state(bytes(layout.init_state()))
    raise BadFrame


async def _fp_image(t: Task, address: int, layout: Xstate) -> bytearray | None:
    """The full XSAVE image to load for the guest's image at ``address``; None if XRSTOR or
    FXRSTOR would fault on it (EFAULT from the MM for an unreadable one)."""
    if not fits(address, layout.user_size + _MAGIC2.size):
        return None
    sw = await t.mm.copy_in(address + _SW_BYTES_OFFSET, _SW_BYTES.size)
    magic1, extended_size, xfeatures, xstate_size = _SW_BYTES.unpack(sw)
    full = False
    if (magic1 == FP_XSTATE_MAGIC1 and _MIN_XSTATE <= xstate_size <= layout.user_size
            and xstate_size <= extended_size):
        (magic2,) = await t.mm.read_struct(_MAGIC2, address + xstate_size)
        full = magic2 == FP_XSTATE_MAGIC2
    if full:
        if address % 64:
            return None
        state = bytearray(layout.size)  # ptrace takes only a whole image; the rest stays unused
        state[:layout.user_size] = await t.mm.copy_in(address, layout.user_size)
        xstate_bv, _xcomp_bv = _HEADER.unpack_from(state, _LEGACY_SIZE)
        header_rest = state[_LEGACY_SIZE + 8:_LEGACY_SIZE + 24]  # XCOMP_BV and the next 8 bytes
        # XRSTOR's own checks are against XCR0, which has the components not yet permitted
        # too; Linux asks it to restore only the permitted ones, so the others count for nothing.
        if xstate_bv & ~layout.features or any(header_rest):
            return None
        restored = xfeatures & layout.user_features
        if restored & (_FEATURE_SSE | _FEATURE_YMM) and not layout.mxcsr_valid(state):
            return None
        # Components not asked for (or not in use) start afresh; the rest of the header is
        # reserved and zero as ptrace wants it.
        state[_LEGACY_SIZE:_LEGACY_SIZE + _HEADER_SIZE] = bytes(_HEADER_SIZE)
        _HEADER.pack_into(state, _LEGACY_SIZE, xstate_bv & restored, 0)
        return state
    if address % 16:
        return None
    legacy = await t.mm.copy_in(address, _LEGACY_SIZE)
    if not layout.mxcsr_valid(legacy):
        return None
    state = layout.init_state()
    state[:_SW_BYTES_OFFSET] = legacy[:_SW_BYTES_OFFSET]
    _HEADER.pack_into(state, _LEGACY_SIZE, _FEATURE_FP | _FEATURE_SSE, 0)
    return state
