"""The ``proc`` service, served by the kernel: its processes as immutable snapshots.

procfs (in the VFS) and /dev/tty's session check ask these operations instead of reading the
kernel's process objects, so the VFS never touches kernel state; the VFS tells it, in turn,
which pseudo-terminals it hung up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import ESRCH, Errno
from kernel.bus import operation
from kernel.sigio import send_sigio
from kernel.tty import controlling_terminal, hang_up
from services.proc.contract import CONSOLE, ProcContract, ProcessInfo, SystemInfo, ThreadInfo
from services.vfs.contract import SigioOwner

if TYPE_CHECKING:
    from kernel.kernel import Kernel
    from kernel.process import ThreadGroup
    from kernel.task import Task


def process_state(process: ThreadGroup) -> str:
    """/proc/PID/stat's state letter: Z(ombie), T (stopped), S (every thread asleep in a system
    call), else R."""
    if process.zombie:
        return "Z"
    if process.stopped:
        return "T"
    tasks = process.live_tasks
    return "S" if tasks and all(task.sleeping for task in tasks) else "R"


def _seccomp(task: Task) -> tuple[int, int]:
    """(mode, number of filters) of a thread, as /proc/PID/status shows them."""
    state = task.seccomp
    return (0, 0) if state is None else (state.mode, len(state.filters))


class ProcessTable(ProcContract):
    """The kernel's answer to "which processes are there, and what are they like"."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel

    @operation
    async def pids(self) -> tuple[int, ...]:
        return tuple(sorted(self._kernel.processes))

    @operation
    async def process(self, pid: int) -> ProcessInfo:
        process = self._kernel.processes.get(pid)
        if process is None:
            raise Errno(ESRCH)
        live = not process.zombie
        return ProcessInfo(
            pid=process.pid, ppid=process.ppid, pgid=process.pgid, sid=process.sid,
            state=process_state(process), comm=process.comm, creds=process.creds, umask=process.umask,
            no_new_privs=process.no_new_privs, dumpable=bool(process.dumpable),
            threads=tuple(ThreadInfo(task.tid, "S" if task.sleeping else "R", *_seccomp(task),
                                     tracer_pid=task.ptrace.tracer.pid if task.ptrace is not None else 0)
                          for task in process.live_tasks),
            argv=tuple(process.argv), envp=tuple(process.envp), exe=process.exe,
            asid=process.mm.asid if live else None,
            root=process.root if live else None, cwd=process.cwd if live else None,
            fds=tuple((fd, opened.handle, cloexec) for fd, opened, cloexec in process.fds.entries()) if live else (),
            hostname=process.uts.hostname, domainname=process.uts.domainname, auxv=process.auxv,
            platform_mappings=self._platform_mappings() if live else (),
        )

    @operation
    async def fd_handle(self, pid: int, fd: int) -> int | None:
        process = self._kernel.processes.get(pid)
        if process is None:
            raise Errno(ESRCH)
        if process.zombie or fd not in process.fds:
            return None
        return process.fds.handle(fd)

    def _platform_mappings(self) -> tuple[tuple[int, int, int, str], ...]:
        vdso = self._kernel.platform.vdso
        return () if vdso is None else vdso.mappings

    @operation
    async def system(self) -> SystemInfo:
        kernel = self._kernel
        return SystemInfo(kernel.config.hostname, kernel.online_cpus, kernel.boot_time, kernel.config.memory_limit,
                          kernel.task_count(), kernel.last_pid)

    @operation
    async def controlling_terminal(self, pid: int) -> int | None:
        process = self._kernel.processes.get(pid)
        if process is None:
            return None
        terminal = controlling_terminal(self._kernel, process)
        if terminal is None:
            return None
        return CONSOLE if terminal.pts is None else terminal.pts

    @operation
    async def send_sigio(self, owner: SigioOwner, signo: int, fd: int, reason: int) -> None:
        await send_sigio(self._kernel, owner, signo, fd, reason)

    @operation
    async def hang_up(self, ptys: tuple[int, ...]) -> None:
        for index in ptys:
            await hang_up(self._kernel, index)
