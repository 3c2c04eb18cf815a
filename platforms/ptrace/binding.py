"""The host's ptrace, wait and signalfd interfaces, as the ptrace platform needs them.

python-ptrace provides the register struct layouts, the request numbers it knows and the
signal names; this module adds what it lacks (``PTRACE_SYSEMU``, ``PTRACE_GETREGSET``,
``PTRACE_O_EXITKILL``, signalfd) and calls ``ptrace(2)`` without allocating: the hot path passes
the address of a preallocated register struct, so a call costs the kernel's work plus one call
into a small C module (``_fastptrace.c``, ~0.1 µs; ctypes where it was not built, ~1.4 µs), not
a fresh struct per call as python-ptrace's helpers do.
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
from collections.abc import Callable

from ptrace.binding.func import (
    PTRACE_CONT,
    PTRACE_GETEVENTMSG,
    PTRACE_GETREGS,
    PTRACE_GETSIGINFO,
    PTRACE_POKEUSER,
    PTRACE_SETOPTIONS,
    PTRACE_SETREGS,
    PTRACE_TRACEME,
)
from ptrace.binding.linux_struct import user_regs_struct

__all__ = [
    "PTRACE_CONT", "PTRACE_GETEVENTMSG", "PTRACE_GETREGS", "PTRACE_GETSIGINFO", "PTRACE_POKEUSER",
    "PTRACE_SETOPTIONS", "PTRACE_SETREGS", "PTRACE_TRACEME", "user_regs_struct",
]

# Requests python-ptrace does not define.
PTRACE_SYSEMU = 31
PTRACE_GETREGSET = 0x4204
PTRACE_SETREGSET = 0x4205

# PTRACE_SETOPTIONS bits.
PTRACE_O_TRACESYSGOOD = 0x01
PTRACE_O_TRACEFORK = 0x02
PTRACE_O_TRACEVFORK = 0x04
PTRACE_O_TRACECLONE = 0x08
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_TRACEEXIT = 0x40
PTRACE_O_EXITKILL = 0x100000

PTRACE_EVENT_FORK = 1
PTRACE_EVENT_CLONE = 3

NT_X86_XSTATE = 0x202

#: waitpid option: wait for clone children (threads) as well as ordinary ones.
WALL = 0x40000000

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_SET_NO_NEW_PRIVS = 38

#: Offset of ``rax`` in struct user (and user_regs_struct): the 11th 8-byte register.
RAX_OFFSET = user_regs_struct.rax.offset

_libc = ctypes.CDLL(None, use_errno=True)
_ptrace = _libc.ptrace
_ptrace.restype = ctypes.c_long
_ptrace.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p)
_prctl = _libc.prctl
_prctl.restype = ctypes.c_int
_prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)


class PtraceError(OSError):
    """A ptrace request failed; ``errno`` says why (ESRCH: the thread is gone or not stopped)."""


def ctypes_ptrace(request: int, tid: int, addr: int = 0, data: int = 0) -> int:
    """:func:`ptrace` through ctypes, for when the C module was not built."""
    result = _ptrace(request, tid, addr, data)
    if result == -1:
        err = ctypes.get_errno()
        if err:  # a PEEK may return -1 with errno 0: that is a value
            raise PtraceError(err, f"ptrace({request}, {tid}): {os.strerror(err)}")
    return result


try:
    from platforms.ptrace import _fastptrace
except ImportError:  # not built (a plain checkout): ctypes does the same, ~1.3 µs slower per call
    _fastptrace = None  # type: ignore[assignment]

#: ``ptrace(request, tid, addr=0, data=0)``: the call's result; raises :class:`PtraceError` on
#: failure. ``addr`` and ``data`` are plain integers (addresses of preallocated buffers too), so
#: nothing is allocated per call. The C module when it was built (three calls per trapped system
#: call make its ~0.1 µs against ctypes' ~1.4 matter), else :func:`ctypes_ptrace`.
ptrace: Callable[..., int]
if _fastptrace is not None:
    _fastptrace.set_error_type(PtraceError)
    ptrace = _fastptrace.ptrace
else:
    ptrace = ctypes_ptrace


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> None:
    if _prctl(option, arg2, arg3, arg4, arg5) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


_SYS_TGKILL = 234
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def tgkill(pid: int, tid: int, signo: int) -> None:
    """Send ``signo`` to host thread ``tid`` of process ``pid``; a vanished thread is ignored."""
    _syscall(ctypes.c_long(_SYS_TGKILL), ctypes.c_long(pid), ctypes.c_long(tid), ctypes.c_long(signo))


class Iovec(ctypes.Structure):
    _fields_ = (("base", ctypes.c_void_p), ("len", ctypes.c_size_t))


#: struct siginfo is 128 bytes; the fields the platform reads sit at fixed offsets.
SIGINFO_SIZE = 128
_SIGINFO_HEAD = struct.Struct("<iii4xQ")  # si_signo, si_errno, si_code, pad, si_addr


def decode_siginfo(raw: bytes) -> tuple[int, int, int]:
    """(signo, code, addr) of a raw siginfo; ``addr`` is meaningful for fault signals only."""
    signo, _errno, code, addr = _SIGINFO_HEAD.unpack_from(raw)
    return signo, code, addr


# --- signalfd -------------------------------------------------------------------------------

SFD_NONBLOCK = os.O_NONBLOCK
SFD_CLOEXEC = os.O_CLOEXEC
SIGNALFD_SIGINFO_SIZE = 128
_signalfd = _libc.signalfd
_signalfd.restype = ctypes.c_int
_signalfd.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)


def signalfd(signals: set[int]) -> int:
    """A non-blocking, close-on-exec signalfd for ``signals`` (which the caller keeps blocked)."""
    mask = ctypes.create_string_buffer(128)  # sigset_t as glibc defines it (1024 bits)
    bits = 0
    for signo in signals:
        bits |= 1 << (signo - 1)
    struct.pack_into("<Q", mask, 0, bits)
    fd = _signalfd(-1, ctypes.addressof(mask), SFD_NONBLOCK | SFD_CLOEXEC)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"signalfd: {os.strerror(err)}")
    return fd


def block_sigchld() -> None:
    """Block SIGCHLD in the calling thread so it is read from a signalfd and never handled.

    Threads started afterwards inherit the mask; the CLI calls this before anything else.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
