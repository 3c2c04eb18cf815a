"""The ``proc`` service's contract: the kernel's processes, as values.

The kernel owns processes and threads; services that must show them (procfs, the controlling
terminal of /dev/tty) ask this service rather than read the kernel's objects. Its replies are
snapshots: immutable values, true at the moment of the call. The kernel serves it
(:mod:`kernel.procinfo`); a replacement could serve a fixed or recorded process table.
"""

from __future__ import annotations

from dataclasses import dataclass

from abi.creds import Credentials
from kernel.bus import Contract, operation
from services.vfs.contract import SigioOwner


#: :meth:`ProcContract.controlling_terminal`'s answer for the sandbox's own terminal (the host's
#: stdio, or the ``run -t`` pty).
CONSOLE = -1


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """One live thread: its id and its state letter (R running, S sleeping in a call, T stopped)."""

    tid: int
    state: str
    #: Its seccomp mode (0, 1 strict, 2 filter) and how many filters it has stacked.
    seccomp_mode: int = 0
    seccomp_filters: int = 0
    #: The pid of the process tracing it (ptrace), 0 for none.
    tracer_pid: int = 0


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """A process as /proc shows it."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    #: The state letter of the whole process: R, S, T or Z.
    state: str
    comm: bytes
    creds: Credentials
    umask: int
    no_new_privs: bool
    #: Whether its memory and files may be looked at by others of its user (PR_SET_DUMPABLE).
    dumpable: bool
    threads: tuple[ThreadInfo, ...]
    argv: tuple[bytes, ...]
    envp: tuple[bytes, ...]
    #: The path of the program it runs (/proc/PID/exe).
    exe: bytes
    #: Its address space in the MM; None for a zombie, which has none.
    asid: int | None
    #: VFS handles of its root and working directory; None for a zombie.
    root: int | None
    cwd: int | None
    #: (fd, VFS handle, close-on-exec) for each open fd, in order.
    fds: tuple[tuple[int, int, bool], ...]
    #: Its UTS namespace's names (uname's nodename and domainname, /proc/sys/kernel/hostname).
    hostname: bytes = b""
    domainname: bytes = b""
    #: The auxiliary vector its program started with, AT_NULL pair included.
    auxv: tuple[tuple[int, int], ...] = ()
    #: Mappings the platform puts in every address space, above the MM's (the vDSO and its
    #: data): (start, end, prot, name); none for a zombie.
    platform_mappings: tuple[tuple[int, int, int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """What the sandbox as a whole looks like from inside."""

    hostname: str
    online_cpus: int
    #: time.monotonic() when the sandbox booted.
    boot_monotonic: float
    #: The guest memory limit in bytes (``--memory``), None for none.
    memory_limit: int | None
    #: Live threads.
    tasks: int
    #: The last pid handed out.
    last_pid: int


class ProcContract(Contract):
    """The operations of the ``proc`` service."""

    service = "proc"

    @operation
    async def pids(self) -> tuple[int, ...]:
        """Every process of the sandbox, zombies included, in pid order."""
        raise NotImplementedError

    @operation
    async def process(self, pid: int) -> ProcessInfo:
        """A snapshot of process ``pid``. ESRCH if there is none."""
        raise NotImplementedError

    @operation
    async def fd_handle(self, pid: int, fd: int) -> int | None:
        """The VFS handle behind process ``pid``'s ``fd`` now, None if that fd is not open (a
        zombie has none); ESRCH if there is no such process. /proc/PID/fd/N asks this, not for
        the whole :meth:`process` snapshot: opening and chmod through /proc/self/fd/N are
        frequent (glibc's fchmodat(AT_SYMLINK_NOFOLLOW) is one)."""
        raise NotImplementedError

    @operation
    async def system(self) -> SystemInfo:
        """The sandbox's hostname, CPUs, boot time, memory limit and task counts."""
        raise NotImplementedError

    @operation
    async def controlling_terminal(self, pid: int) -> int | None:
        """The controlling terminal of ``pid``'s session: :data:`CONSOLE` for the sandbox's
        own terminal, N for the devpts pseudo-terminal /dev/pts/N, None for none."""
        raise NotImplementedError

    @operation
    async def send_sigio(self, owner: SigioOwner, signo: int, fd: int, reason: int) -> None:
        """A description with O_ASYNC became ready (``reason``: POLL_IN, POLL_OUT ...): send
        its owner its signal (``signo``, 0 for SIGIO), where the owner's setter may signal it."""
        raise NotImplementedError

    @operation
    async def hang_up(self, ptys: tuple[int, ...]) -> None:
        """These devpts pseudo-terminals were hung up (their master closed): each stops being
        its session's controlling terminal, and the session leader gets SIGHUP and SIGCONT."""
        raise NotImplementedError
