"""The stub: a tiny static ELF that every guest address space is a copy of.

The platform writes this program itself: one page at :data:`STUB_BASE`, at the top of the user
address space, holding

* a ``syscall; int3`` *gadget*: the platform injects a host system call into a stub by pointing
  ``rip`` at it, continuing, and reading ``rax`` when the ``int3`` stops the thread;
* a seccomp filter that kills the stub if it ever makes a host system call from anywhere but
  the gadget (defence in depth: under ``PTRACE_SYSEMU`` guest system calls stop before seccomp
  runs and are never executed by the host, so this only fires if ptrace itself were bypassed);
* the data those injected calls need (a name for ``PR_SET_NAME``, an ignoring ``sigaction``).

The first stub is started traced and becomes the pristine *template*; every later address space
is a fork of it. Guest memory is mapped below :data:`STUB_BASE`.
"""

from __future__ import annotations

import struct

from abi.linux import PAGE_SIZE, TASK_SIZE
from abi.seccomp import (
    AUDIT_ARCH_X86_64,
    BPF_ALU_AND_K,
    BPF_JMP_JEQ_K,
    BPF_LD_W_ABS,
    BPF_RET_K,
    DATA_ARCH,
    DATA_IP,
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_TRAP,
    SOCK_FILTER,
    insn,
)

#: Where the stub's single page lives.
STUB_BASE = TASK_SIZE - PAGE_SIZE
#: The host's vDSO and its data pages ([vvar], [vvar_vclock]: 8 pages on Linux 6.x) are moved
#: here, below the stub page, in the template and so in every address space; the guest may use
#: every address below it.
VDSO_AREA = STUB_BASE - 64 * PAGE_SIZE
#: The legacy vsyscall page, at a fixed address in every x86-64 process (0x0: gettimeofday,
#: 0x400: time, 0x800: getcpu), executable-only: the host kernel emulates a call into it.
VSYSCALL_PAGE = 0xFFFF_FFFF_FF60_0000
#: The file descriptor number under which every stub holds the memory file.
MEMFILE_FD = 3
#: The name stubs give themselves (visible in ps), so tests and people can find them.
STUB_NAME = b"sentrio-stub"

_ELF_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_PROGRAM_HEADER = struct.Struct("<IIQQQQQQ")
_SOCK_FPROG = struct.Struct("<H6xQ")
_KERNEL_SIGACTION = struct.Struct("<QQQQ")

_CODE_OFFSET = 0x80
# Machine code: `_start: int3; jmp _start` (never run: the template stops at exec) and the gadget.
_START = bytes.fromhex("cc" "eb fd")
_GADGET = bytes.fromhex("0f05" "cc")  # syscall; int3

SIG_IGN = 1


class StubLayout:
    """Addresses inside the stub page, computed once."""

    def __init__(self) -> None:
        self.entry = STUB_BASE + _CODE_OFFSET
        self.gadget = self.entry + len(_START)
        #: ``rip`` after the gadget's ``syscall`` (what seccomp sees) and after its ``int3``.
        self.after_syscall = self.gadget + 2
        self.after_trap = self.gadget + 3
        offset = _CODE_OFFSET + len(_START) + len(_GADGET)
        offset = (offset + 15) & ~15
        self.name = STUB_BASE + offset
        offset += 16
        self.sigaction_ignore = STUB_BASE + offset
        offset += _KERNEL_SIGACTION.size
        self.filter = STUB_BASE + offset
        self.filter_len = len(self._filter_program()) // SOCK_FILTER.size
        offset += SOCK_FILTER.size * self.filter_len
        self.fprog = STUB_BASE + offset
        offset += _SOCK_FPROG.size
        self.size = offset
        assert self.size <= PAGE_SIZE

    def _filter_program(self) -> bytes:
        """Allow a syscall only from the gadget: arch, then both halves of the instruction pointer
        (abi.seccomp's policies dispatch on the call number; this one only on where it comes from).

        One exception: a guest's call into the vsyscall page, which the host kernel emulates as a
        system call from that page, is trapped (SIGSYS, never run by the host), and the platform
        serves it as a guest system call (:func:`platforms.ptrace.context.vsyscall_number`).
        """
        ip = self.after_syscall
        vsyscall, kill, trap, allow = 6, 11, 12, 13  # indices of the branch targets

        def skip(here: int, to: int) -> int:  # BPF jumps count from the next instruction
            return to - here - 1

        return b"".join((
            insn(BPF_LD_W_ABS, DATA_ARCH),
            insn(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, 0, skip(1, kill)),
            insn(BPF_LD_W_ABS, DATA_IP),
            insn(BPF_JMP_JEQ_K, ip & 0xFFFFFFFF, 0, skip(3, vsyscall)),
            insn(BPF_LD_W_ABS, DATA_IP + 4),
            insn(BPF_JMP_JEQ_K, ip >> 32, skip(5, allow), skip(5, kill)),
            insn(BPF_LD_W_ABS, DATA_IP + 4),
            insn(BPF_JMP_JEQ_K, VSYSCALL_PAGE >> 32, 0, skip(7, kill)),
            insn(BPF_LD_W_ABS, DATA_IP),
            insn(BPF_ALU_AND_K, ~(PAGE_SIZE - 1) & 0xFFFFFFFF),
            insn(BPF_JMP_JEQ_K, VSYSCALL_PAGE & 0xFFFFFFFF, skip(10, trap), skip(10, kill)),
            insn(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
            insn(BPF_RET_K, SECCOMP_RET_TRAP),
            insn(BPF_RET_K, SECCOMP_RET_ALLOW),
        ))

    def build_elf(self) -> bytes:
        """The complete stub executable."""
        image = bytearray(self.size)
        _ELF_HEADER.pack_into(
            image, 0,
            b"\x7fELF\x02\x01\x01" + bytes(9),  # 64-bit, little-endian, version 1, SysV ABI
            2,                    # ET_EXEC
            62,                   # EM_X86_64
            1,                    # EV_CURRENT
            self.entry,
            _ELF_HEADER.size,     # e_phoff: program headers right after this header
            0,                    # e_shoff: no sections
            0,                    # e_flags
            _ELF_HEADER.size,
            _PROGRAM_HEADER.size,
            1,                    # one program header
            0, 0, 0,              # no section headers
        )
        _PROGRAM_HEADER.pack_into(
            image, _ELF_HEADER.size,
            1,                    # PT_LOAD
            0x5,                  # PF_R | PF_X
            0, STUB_BASE, STUB_BASE,
            self.size, PAGE_SIZE,
            PAGE_SIZE,
        )
        code = _START + _GADGET
        image[_CODE_OFFSET:_CODE_OFFSET + len(code)] = code
        name_at = self.name - STUB_BASE
        image[name_at:name_at + len(STUB_NAME)] = STUB_NAME
        _KERNEL_SIGACTION.pack_into(image, self.sigaction_ignore - STUB_BASE, SIG_IGN, 0, 0, 0)
        program = self._filter_program()
        image[self.filter - STUB_BASE:self.filter - STUB_BASE + len(program)] = program
        _SOCK_FPROG.pack_into(image, self.fprog - STUB_BASE, self.filter_len, self.filter)
        return bytes(image)


LAYOUT = StubLayout()
