"""The gofer's seccomp filter, as classic BPF: pure code that builds the program's bytes.

A deny list rather than an allow list: CPython, trio and glibc between them make system calls
that vary by version, and a file server wedged by an unexpected ``ENOSYS`` is worse than a
slightly wider surface. What is denied is what a file server never needs and what would let a
compromised gofer leave its chroot or reach other processes. Denied calls fail with ``EPERM``
(``clone3`` with ``ENOSYS``, so glibc falls back to ``clone``, whose flags a filter can see);
a foreign architecture or the x32 ABI kills the process.
"""

from __future__ import annotations

import errno
import struct

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1

_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# offsets in struct seccomp_data
_NR = 0
_ARCH = 4
_ARG0_LOW = 16

_SYS_CLONE = 56
_SYS_CLONE3 = 435
#: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
_CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 \
    | 0x20000000 | 0x40000000 | 0x00000080

#: x86-64 numbers of the denied calls, by name (for reading; the filter uses the numbers).
DENIED = {
    "socket": 41, "connect": 42, "bind": 49, "listen": 50, "execve": 59, "kill": 62,
    "ptrace": 101, "setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114,
    "setgroups": 116, "setresuid": 117, "setresgid": 119, "setfsuid": 122, "setfsgid": 123,
    "personality": 135, "vhangup": 153, "pivot_root": 155, "adjtimex": 159, "chroot": 161,
    "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167,
    "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172,
    "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179, "tkill": 200,
    "clock_settime": 227, "tgkill": 234, "kexec_load": 246, "add_key": 248,
    "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "execveat": 322, "userfaultfd": 323,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442,
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def filter_program() -> bytes:
    """The filter as an array of ``struct sock_filter``."""
    deny = _insn(_RET_K, _RET_ERRNO | errno.EPERM)
    prog = [
        _insn(_LD_W_ABS, _ARCH),
        _insn(_JEQ_K, _AUDIT_ARCH_X86_64, jt=1),
        _insn(_RET_K, _RET_KILL_PROCESS),
        _insn(_LD_W_ABS, _NR),
        _insn(_JGE_K, _X32_SYSCALL_BIT, jf=1),
        _insn(_RET_K, _RET_KILL_PROCESS),
        _insn(_JEQ_K, _SYS_CLONE3, jf=1),
        _insn(_RET_K, _RET_ERRNO | errno.ENOSYS),
    ]
    for nr in sorted(DENIED.values()):
        prog += [_insn(_JEQ_K, nr, jf=1), deny]
    prog += [
        _insn(_JEQ_K, _SYS_CLONE, jf=3),
        _insn(_LD_W_ABS, _ARG0_LOW),
        _insn(_JSET_K, _CLONE_NAMESPACES, jf=1),
        deny,
        _insn(_RET_K, _RET_ALLOW),
    ]
    return b"".join(prog)
