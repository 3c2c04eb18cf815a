"""execve: load a program from the VFS into a fresh address space and start its first thread.

The program (and, for a dynamically linked one, its PT_INTERP interpreter) is opened through
the VFS like any file. The ELF loader (:mod:`kernel.loader`) decides what goes where; this
module carries it out through the memory manager: one anonymous mapping per PT_LOAD segment with
the file's bytes copied in (bss is the zero remainder), the program break after the program's
last segment, a stack with argv, envp and the auxiliary vector laid out as Linux lays them, and
registers as Linux leaves them at the entry point — the interpreter's entry when there is one,
with AT_BASE its load address and AT_PHDR/AT_ENTRY the program's.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Hashable
from typing import TYPE_CHECKING

from abi.creds import Caller
from abi.errno import EACCES, ELIBBAD
from abi.linux import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_GROWSDOWN,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    RLIMIT_STACK,
    USER_HZ,
    page_down,
    page_up,
)
from abi.errno import Errno
from kernel import determinism
from kernel.creds import ExecCredentials, commit_exec, exec_credentials
from kernel.errors import SentryError
from kernel.loader.elf import ElfFile, LoadPlan, choose_bias, parse_elf, plan_load
from kernel.loader.stack import build_initial_stack, linux_auxv
from kernel.files import release
from kernel.process import ThreadGroup
from kernel.task import Task

if TYPE_CHECKING:
    from kernel.kernel import Kernel
    from kernel.memory import MemoryClient
    from services.vfs.contract import Stat

#: The stack's top sits one guard page below the highest address the platform offers.
STACK_GAP = PAGE_SIZE
#: How much stack is mapped up front, at most (RLIMIT_STACK may be unlimited).
MAX_INITIAL_STACK = 64 << 20
#: x86-64 eflags at process start: only the interrupt flag (IF) set.
_INITIAL_EFLAGS = 0x202


class CommandNotFound(Exception):
    """The first process's program does not exist in the image."""

    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


class CommandNotExecutable(Exception):
    """The first process's program exists but cannot be executed."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(command, reason)
        self.command = command
        self.reason = reason


def _host_auxv() -> dict[int, int]:
    """The Sentry's own auxiliary vector: the CPU's HWCAP bits are the guest's too."""
    with open("/proc/self/auxv", "rb") as f:
        raw = f.read()
    words = memoryview(raw).cast("Q")
    return {words[i]: words[i + 1] for i in range(0, len(words) - 1, 2)}


_HOST_AUXV = _host_auxv()
_AT_HWCAP, _AT_HWCAP2, _AT_MINSIGSTKSZ = 16, 26, 51


class ExecutableFile:
    """A program opened through the VFS; satisfies the ELF loader's reader protocol.

    Its bytes are read from the host fd the VFS grants for mapping the file (``map_file``), the
    same fast path mmap(2) of a file takes; the fd is this object's to close.
    """

    def __init__(self, fd: int, stat: Stat, path: bytes, nosuid: bool, identity: Hashable | None = None) -> None:
        self.fd = fd
        #: The identity the VFS gave its bytes, if they cannot change (see ``MapGrant``).
        self.identity = identity
        self.stat = stat
        self.size = stat.size
        #: The path it was reached by (/proc/PID/exe), and whether its mount ignores set-id bits.
        self.path = path
        self.nosuid = nosuid

    def pread(self, length: int, offset: int) -> bytes:
        return os.pread(self.fd, length, offset)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> ExecutableFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def caller_of(process: ThreadGroup) -> Caller:
    """The process as the caller of the messages exec sends (its first thread's id)."""
    return Caller(process.pid, process.pid, process.creds)


async def open_executable(kernel: Kernel, process: ThreadGroup, path: bytes, start: int | None = None,
                          follow: bool = True) -> ExecutableFile:
    """Open ``path`` for execve, from ``start`` (a directory's or, with an empty path, the
    program's own handle; the cwd by default): EACCES unless it is a regular file the process
    may execute."""
    bus = kernel.bus
    caller = caller_of(process)
    start = process.cwd if start is None else start
    program = await bus.call("vfs", "open_exec", caller, process.root, start, path, follow)
    handle = program.opened.handle
    try:
        grant = await bus.call("vfs", "map_file", caller, handle, PROT_READ, False)
        if grant is None:
            raise Errno(EACCES)
    except Errno:
        raise Errno(EACCES) from None
    finally:
        await release(bus, 0, (handle,))
    return ExecutableFile(grant.fd, program.stat, program.path, program.nosuid, grant.identity)


def _load_plan(elf: ElfFile, program: ExecutableFile, bias: int) -> LoadPlan:
    """``program``'s plan at ``bias``, its segments' bytes read, unless the file's pages are to
    be mapped (see :func:`_map_plan`): a file whose bytes cannot change (the VFS gave it an
    identity), each segment at the same place within a page in the file as in memory (as
    ELF requires of every file a linker makes) and no two segments sharing a page."""
    if program.identity is not None:
        plan = plan_load(elf, program, bias, read_data=False)
        if _mappable(plan):
            return plan
    return plan_load(elf, program, bias)


def _mappable(plan: LoadPlan) -> bool:
    previous_end = 0
    for segment in plan.segments:
        if segment.start < previous_end or (segment.data_addr - segment.file_offset) % PAGE_SIZE:
            return False
        previous_end = segment.end
    return True


async def _map_plan(mm: MemoryClient, plan: LoadPlan, program: ExecutableFile) -> None:
    """Map the plan's segments. A segment whose bytes were not read maps the file's pages
    copy-on-write from the MM's kept copy of the file (one copy for every process that runs
    the program, as Linux's binfmt_elf maps the page cache), then fresh memory for the bss,
    and zeros over the rest of the last file page when the bss begins inside it (padzero)."""
    if all(segment.data or not segment.file_size for segment in plan.segments):
        await _copy_plan(mm, plan)
        return
    for segment in plan.segments:
        file_end = page_up(segment.data_addr + segment.file_size) if segment.file_size else segment.start
        if segment.file_size:
            offset = segment.file_offset - (segment.data_addr - segment.start)
            await mm.call("mmap_file", segment.start, file_end - segment.start, segment.prot,
                          MAP_PRIVATE | MAP_FIXED, program.fd, offset, "", None, program.identity)
        if file_end < segment.end:
            await mm.call("mmap", file_end, segment.end - file_end, segment.prot,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        bss = segment.data_addr + segment.file_size
        if segment.file_size and segment.memory_size > segment.file_size and bss % PAGE_SIZE:
            await mm.copy_out(bss, bytes(PAGE_SIZE - bss % PAGE_SIZE), force=True)


async def _copy_plan(mm: MemoryClient, plan: LoadPlan) -> None:
    # Map every segment before copying any data: adjacent segments may share a page, and a
    # later mapping of that page would wipe data copied for the earlier one.
    for segment in plan.segments:
        await mm.call("mmap", segment.start, segment.end - segment.start, segment.prot,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    for segment in plan.segments:
        if segment.data:
            await mm.copy_out(segment.data_addr, segment.data, force=True)


async def _load_interpreter(mm: MemoryClient, kernel: Kernel, process: ThreadGroup, path: bytes) -> LoadPlan:
    """Map the program's interpreter where the MM finds room; its plan gives AT_BASE and the entry."""
    try:
        interp = await open_executable(kernel, process, path)
    except Errno as error:
        raise Errno(ELIBBAD if error.errno == EACCES else error.errno) from None
    with interp:
        elf = parse_elf(interp)
        if elf.interpreter is not None:
            raise Errno(ELIBBAD)
        span = elf.load_span + elf.max_alignment
        base = await mm.call("mmap", 0, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS)
        await mm.call("munmap", base, span)
        aligned = (base + elf.max_alignment - 1) & ~(elf.max_alignment - 1)
        plan = _load_plan(elf, interp, choose_bias(elf, aligned))
        await _map_plan(mm, plan, interp)
    return plan


async def load_program(mm: MemoryClient, kernel: Kernel, process: ThreadGroup, path: bytes,
                       argv: list[bytes], envp: list[bytes],
                       opened: ExecutableFile | None = None) -> tuple[int, int, ExecCredentials]:
    """Map ``path`` (or the program already ``opened`` for it) and its initial stack into
    ``mm``; returns the entry point, the stack pointer, and the credentials the program runs
    with (for the caller to commit)."""
    with opened or await open_executable(kernel, process, path) as program:
        elf = parse_elf(program)
        plan = _load_plan(elf, program, choose_bias(elf))
        binary = program.stat
        exec_creds = exec_credentials(process.creds, binary.mode, binary.uid, binary.gid,
                                      no_new_privs=process.no_new_privs, nosuid=program.nosuid)
        await _map_plan(mm, plan, program)
    await mm.call("set_brk_base", plan.brk_start)
    entry, base = plan.entry, 0
    if elf.interpreter is not None:
        interp = await _load_interpreter(mm, kernel, process, os.fsencode(elf.interpreter))
        entry, base = interp.entry, interp.segments[0].start if interp.segments else 0

    stack_top = kernel.platform.max_user_address - STACK_GAP
    stack_size = min(process.rlimits[RLIMIT_STACK][0], MAX_INITIAL_STACK)
    stack_size = max(page_down(stack_size), 32 * PAGE_SIZE)
    stack_prot = PROT_READ | PROT_WRITE | (PROT_EXEC if plan.executable_stack else 0)
    await mm.call("mmap", stack_top - stack_size, stack_size, stack_prot,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN)

    creds = exec_creds.creds
    auxv = linux_auxv(
        hwcap=_HOST_AUXV.get(_AT_HWCAP, 0),
        hwcap2=_HOST_AUXV.get(_AT_HWCAP2, 0),
        minsigstksz=_HOST_AUXV.get(_AT_MINSIGSTKSZ),
        pagesz=PAGE_SIZE,
        clktck=USER_HZ,
        phdr=plan.phdr_addr,
        phent=plan.phent,
        phnum=plan.phnum,
        base=base,
        entry=plan.entry,
        uid=creds.uid, euid=creds.euid, gid=creds.gid, egid=creds.egid,
        secure=int(exec_creds.secure),
        sysinfo_ehdr=_vdso_base(kernel),
    )
    stack = build_initial_stack(
        stack_top, argv, envp, execfn=path, auxv=auxv, random_bytes=os.urandom(16),
        stack_limit=process.rlimits[RLIMIT_STACK][0],
    )
    await mm.copy_out(stack.start, stack.data)
    process.comm = os.path.basename(path)[:15]
    process.argv, process.envp = list(argv), list(envp)
    process.exe = program.path
    process.auxv = stack.auxv
    return entry, stack.sp, exec_creds


def _vdso_base(kernel: Kernel) -> int | None:
    """AT_SYSINFO_EHDR: the platform's vDSO, whose clocks read the host's time without a trap;
    none in a deterministic run, whose clocks are virtual and must all come to the Sentry."""
    vdso = kernel.platform.vdso
    return None if vdso is None or determinism.deterministic() else vdso.base


def reset_registers(task: Task, entry: int, sp: int) -> None:
    """Registers at the entry point: rip and rsp set, every other general register zero."""
    regs = task.regs
    for name in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11",
                 "r12", "r13", "r14", "r15", "fs_base", "gs_base"):
        setattr(regs, name, 0)
    regs.rip = entry
    regs.rsp = sp
    regs.eflags = _INITIAL_EFLAGS
    task.context.regs_changed()


async def _working_directory(kernel: Kernel, process: ThreadGroup, path: bytes) -> int:
    """A handle of the first process's working directory (``-w``, a bundle's ``process.cwd``),
    or a runtime error naming it when the image has no such directory."""
    try:
        return await kernel.bus.call("vfs", "chdir", caller_of(process), process.root, process.root, path)
    except Errno as error:
        raise SentryError(f"working directory {os.fsdecode(path)!r}: {os.strerror(error.errno)}") from None


async def exec_first_process(kernel: Kernel, argv: list[bytes], envp: list[bytes]) -> ThreadGroup:
    """Create pid 1 from ``argv[0]`` in the image and start it running."""
    command = os.fsdecode(argv[0])
    asid = await kernel.bus.call("mm", "create")
    process = ThreadGroup(kernel, kernel.allocate_pid(), None, asid)
    bus = kernel.bus
    caller = caller_of(process)
    streams = await bus.call("vfs", "host_streams", (0, 1, 2), kernel.pty)
    for fd, stream in enumerate(streams):
        if stream is not None:
            process.fds.put(fd, stream)
    if not any(stream is not None and stream.terminal for stream in streams):
        kernel.tty.sid = kernel.tty.foreground = None  # no terminal: pid 1's session has none
    process.root = await bus.call("vfs", "root", caller)
    try:
        if kernel.config.cwd != b"/":
            process.cwd = await _working_directory(kernel, process, kernel.config.cwd)
        else:
            process.cwd = await bus.call("vfs", "root", caller)
        entry, sp, exec_creds = await load_program(process.mm, kernel, process, argv[0], argv, envp)
    except (Errno, SentryError) as error:
        await release(bus, process.fds.id, [process.root, process.cwd, *process.fds.close_all()])
        await process.mm.call("destroy")
        if isinstance(error, SentryError):
            raise
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            raise CommandNotFound(command) from None
        raise CommandNotExecutable(command, os.strerror(error.errno)) from None
    commit_exec(process, exec_creds)
    kernel.processes[process.pid] = process
    kernel.use_mm(asid)
    await kernel.bus.call("signals", "new_process", process.pid, None)
    await kernel.bus.call("signals", "new_thread", process.pid, process.pid, None, True)
    context = await process.mm.call("new_thread")
    task = Task(kernel, process, process.pid, context)
    reset_registers(task, entry, sp)
    kernel.start_task(task)
    return process
