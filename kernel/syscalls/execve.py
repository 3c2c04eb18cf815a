"""execve and execveat from a running guest.

The new program gets a fresh address space (the old one goes once nothing uses it, so a vfork
parent keeps its memory); every other thread of the process ends, and the calling thread takes
the process's pid; ``#!`` scripts run their interpreter with at most one argument. If loading
fails the caller is untouched and sees the errno.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from abi import structs
from abi.errno import E2BIG, EFAULT, EINVAL, ELOOP, ENOENT, ENOEXEC
from abi.linux import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_SYMLINK_NOFOLLOW,
    BINPRM_BUF_SIZE,
    MAX_ARG_STRINGS,
    MAX_ARG_STRLEN,
    MAX_INTERPRETER_DEPTH,
    PAGE_SIZE,
    RLIMIT_STACK,
)
from abi.errno import Errno
from kernel.memory import MemoryClient
from kernel.syscalls.aio import end_contexts
from kernel.syscalls.args import Addr, Int
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.exec import ExecutableFile
    from kernel.task import Task

#: Path names are at most PATH_MAX bytes, NUL included.
PATH_MAX = 4096


async def read_string_vector(t: Task, addr: int) -> list[bytes]:
    """A NULL-terminated array of string pointers (argv, envp); NULL itself is empty."""
    strings: list[bytes] = []
    if not addr:
        return strings
    while True:
        (pointer,) = await t.mm.read_struct(structs.U64, addr + 8 * len(strings))
        if not pointer:
            return strings
        if len(strings) >= MAX_ARG_STRINGS:
            raise Errno(E2BIG)
        try:
            strings.append(await t.mm.read_cstring(pointer, MAX_ARG_STRLEN))
        except Errno as error:
            raise Errno(E2BIG if error.errno != EFAULT else EFAULT) from None


def check_size(t: Task, argv: list[bytes], envp: list[bytes]) -> None:
    """E2BIG when the strings and their pointers would take more than a quarter of the stack
    limit (Linux's rule), with at least 32 pages allowed."""
    total = sum(len(s) + 1 + 8 for s in argv) + sum(len(s) + 1 + 8 for s in envp)
    limit = max(min(t.process.rlimits[RLIMIT_STACK][0], 1 << 62) // 4, 32 * PAGE_SIZE)
    if total > limit:
        raise Errno(E2BIG)


def parse_shebang(head: bytes) -> tuple[bytes, bytes | None] | None:
    """(interpreter, optional argument) of a ``#!`` line, or None if ``head`` is not a script."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0]  # a line cut at BINPRM_BUF_SIZE still counts, as in Linux
    line = line.replace(b"\t", b" ").strip(b" ")
    if not line:
        raise Errno(ENOEXEC)
    interpreter, _, argument = line.partition(b" ")
    argument = argument.strip(b" ")
    return interpreter, (argument or None)


async def resolve_script(t: Task, path: bytes, argv: list[bytes], start: int | None = None, follow: bool = True,
                         script_name: bytes | None = None) -> tuple[bytes, list[bytes], ExecutableFile]:
    """Follow ``#!`` lines to the binary that really runs, rewriting argv as Linux does; returns
    its path, the argv and the binary, opened. The first program is found from ``start`` (a
    dirfd's or its own handle, for execveat) and is ``script_name`` in an interpreter's argv."""
    from kernel.exec import open_executable

    for _ in range(MAX_INTERPRETER_DEPTH + 1):
        program = await open_executable(t.kernel, t.process, path, start, follow)
        head = program.pread(BINPRM_BUF_SIZE, 0)
        shebang = parse_shebang(head)
        if shebang is None:
            return path, argv, program
        program.close()
        if script_name is None and start is not None:
            raise Errno(ENOENT)  # a close-on-exec dirfd: the interpreter could not open /dev/fd/N
        interpreter, argument = shebang
        argv = [interpreter, *([argument] if argument is not None else []), script_name or path, *argv[1:]]
        path, start, follow, script_name = interpreter, None, True, None
    raise Errno(ELOOP)


async def execute(t: Task, path: bytes, argv: list[bytes], envp: list[bytes], start: int | None = None,
                  follow: bool = True, script_name: bytes | None = None) -> int:
    """Replace the calling process's program with ``path`` (found from ``start``, as
    :func:`resolve_script` says)."""
    from kernel.creds import commit_exec
    from kernel.exec import load_program, reset_registers

    if not path and start is None:
        raise Errno(ENOENT)
    check_size(t, argv, envp)
    binary, argv, program = await resolve_script(t, path, argv, start, follow, script_name)
    kernel = t.kernel
    process = t.process
    asid = await kernel.bus.call("mm", "create")
    mm = MemoryClient(kernel.bus, asid)
    try:
        entry, sp, exec_creds = await load_program(mm, kernel, process, binary or script_name or b"", argv, envp,
                                                   program)
        context = await mm.call("new_thread")
    except BaseException:
        await mm.call("destroy")
        raise
    # The point of no return: from here the old program is gone.
    kernel.use_mm(asid)
    await t.dethread()
    old_asid = process.mm.asid
    process.mm = mm
    t.switch_context(context, mm)
    await kernel.release_mm(old_asid)
    reset_registers(t, entry, sp)
    process.comm = os.path.basename(binary)[:15]
    process.execed = True
    commit_exec(process, exec_creds)
    for timer in process.posix_timers.values():  # POSIX timers do not survive execve
        timer.countdown.disarm()
    process.posix_timers.clear()
    end_contexts(process)  # nor do AIO contexts (exit_aio)
    await process.close_on_exec()
    t.robust_list = (0, 0)
    await t.exec_reset()
    process.vfork_done.set()
    return 0


@syscall
async def execve(t: Task, pathname: Addr, argv: Addr, envp: Addr) -> int:
    path = await t.mm.read_cstring(pathname, PATH_MAX)
    args = await read_string_vector(t, argv)
    env = await read_string_vector(t, envp)
    return await execute(t, path, args, env)


@syscall
async def execveat(t: Task, dirfd: Int, pathname: Addr, argv: Addr, envp: Addr, flags: Int) -> int:
    """execve relative to a directory fd, or (AT_EMPTY_PATH with an empty path) of the program
    the fd itself opened; AT_SYMLINK_NOFOLLOW refuses a symlink with ELOOP. A script run that
    way is named /dev/fd/N (/dev/fd/N/path) in its interpreter's argv, which a close-on-exec fd
    cannot give it: ENOENT, as on Linux."""
    if flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW):
        raise Errno(EINVAL)
    path = await t.mm.read_cstring(pathname, PATH_MAX)
    if not path and not flags & AT_EMPTY_PATH:
        raise Errno(ENOENT)
    start = None
    script_name = None
    if dirfd != AT_FDCWD and not path.startswith(b"/"):
        start = t.process.fds.handle(dirfd)
        if not t.process.fds.get_cloexec(dirfd):
            script_name = b"/dev/fd/%d" % dirfd + (b"/" + path if path else b"")
    args = await read_string_vector(t, argv)
    env = await read_string_vector(t, envp)
    return await execute(t, path, args, env, start, not flags & AT_SYMLINK_NOFOLLOW, script_name)
