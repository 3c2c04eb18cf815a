"""Thread groups (Linux's "processes") and their lifecycle.

A :class:`ThreadGroup` owns what the threads of a process share: its virtual pid, its address
space (by id, in the MM), resource limits, credentials, process group and session, and its
children. It ends once — by ``exit_group``, by its last thread's ``exit``, or by a fatal signal
— and records its wait status. It then stays a *zombie* until its parent reaps it with wait4 or
waitid; its children go to the nearest child subreaper above it, or to pid 1. The first
process's status becomes the sandbox's.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from abi import structs
from abi.creds import Credentials
from abi.linux import (
    CLD_CONTINUED,
    CLD_DUMPED,
    CLD_EXITED,
    CLD_KILLED,
    CLD_STOPPED,
    RLIM_INFINITY,
    RLIM_NLIMITS,
    Signal,
)
from kernel.bus import Bus
from abi.errno import Errno
from kernel.fdtable import FdTable
from kernel.files import release
from kernel.memory import MemoryClient
from kernel.tracee import tracer_exited, wake_for_kill

if TYPE_CHECKING:
    from kernel.kernel import Kernel
    from kernel.task import Task


@dataclass(slots=True)
class Usage:
    """CPU time in nanoseconds (what getrusage and times report)."""

    user_ns: int = 0
    system_ns: int = 0

    def add(self, other: Usage) -> None:
        self.user_ns += other.user_ns
        self.system_ns += other.system_ns


def host_rlimits() -> list[tuple[int, int]]:
    """The limits the sandbox starts with: the Sentry's own as it was started, as a container
    inherits them (read before :func:`raise_open_file_limit` raises the Sentry's own)."""
    limits = []
    for res in range(RLIM_NLIMITS):
        try:
            soft, hard = resource.getrlimit(res)
        except (ValueError, OSError):
            soft = hard = resource.RLIM_INFINITY
        limits.append(tuple(RLIM_INFINITY if v == resource.RLIM_INFINITY else v for v in (soft, hard)))
    return limits  # type: ignore[return-value]


def raise_open_file_limit() -> None:
    """Let the Sentry hold as many host fds as the host lets one process hold.

    Every pipe, socket, eventfd and tmpfs file of the sandbox is a host fd of the Sentry's, so
    the 1024 or 20 000 a shell hands down is a limit of the whole sandbox (20 000 files in its
    /tmp, and the next create failed). As root the limit goes up to ``fs.nr_open`` (runsc's
    sandbox does the same), else the soft limit to the hard one. The guest's own limits are
    what the Sentry was started with (:func:`host_rlimits`, read before)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    try:
        with open("/proc/sys/fs/nr_open") as nr_open:
            ceiling = max(int(nr_open.read()), hard)
    except (OSError, ValueError):
        ceiling = hard
    for limit in (ceiling, hard):  # raising the hard limit needs CAP_SYS_RESOURCE
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return
        except (ValueError, OSError):
            continue


@dataclass(slots=True)
class Uts:
    """A UTS namespace: what uname reports as nodename and domainname."""

    hostname: bytes
    domainname: bytes


class ThreadGroup:
    """A guest process: the state its threads share."""

    def __init__(self, kernel: Kernel, pid: int, parent: ThreadGroup | None, asid: int) -> None:
        self.kernel = kernel
        self.pid = pid
        self.parent = parent
        self.mm = MemoryClient(kernel.bus, asid)
        self.tasks: list[Task] = []
        self.rlimits: list[tuple[int, int]] = list(parent.rlimits) if parent else list(kernel.initial_rlimits)
        #: Who the process is (a value: a change of identity replaces it).
        self.creds: Credentials = parent.creds if parent else Credentials()
        #: The process's root and working directory (VFS handles, each holding a reference;
        #: a child's are set by :meth:`inherit_files`, the first process's by its exec).
        self.root: int = parent.root if parent else 0
        self.cwd: int = parent.cwd if parent else 0
        if parent is None:  # the first process: as the sandbox's configuration says (its
            config = kernel.config  # working directory is looked up by exec_first_process)
            for resource_number, limit in config.rlimits.items():
                self.rlimits[resource_number] = limit
            self.creds = Credentials.of_user(config.uid, config.gid, tuple(config.additional_gids),
                                             config.capabilities)
        #: The fd table: empty for a new process; fork replaces it with ``parent.fds.fork()``
        #: (or the parent's own table for CLONE_FILES), the first process gets the stdio.
        self.fds = FdTable()
        self.comm = parent.comm if parent else b""
        #: What /proc/PID/{cmdline,environ,exe} show: the program's, until it execs another.
        self.argv: list[bytes] = parent.argv if parent else []
        self.envp: list[bytes] = parent.envp if parent else []
        self.exe: bytes = parent.exe if parent else b""
        #: The auxiliary vector its program started with (/proc/PID/auxv), AT_NULL included.
        self.auxv: tuple[tuple[int, int], ...] = parent.auxv if parent else ()
        self.pgid = parent.pgid if parent else pid
        self.sid = parent.sid if parent else pid
        self.umask = parent.umask if parent else 0o022
        self.nice = parent.nice if parent else 0
        #: The signal the parent gets when this process ends (clone's CSIGNAL bits).
        self.exit_signal = int(Signal.SIGCHLD)
        self.children: list[ThreadGroup] = []
        #: The threads this process traces (kernel.tracee), whose stops its wait4 reports.
        self.tracees: list[Task] = []
        #: A tracer other than the parent has yet to collect this process's end: the parent waits.
        self.exit_held_by_tracer = False
        self.subreaper = False
        self.no_new_privs = parent.no_new_privs if parent else kernel.config.no_new_privs
        self.dumpable = parent.dumpable if parent else 1
        self.pdeathsig = 0
        #: Wakes wait4/waitid sleepers of this process when a child changes state.
        self.child_events = trio.lowlevel.ParkingLot()
        #: CPU time of this process's own threads once it has ended, and of its reaped children.
        self.usage = Usage()
        self.children_usage = Usage()
        #: The wait status once the group has ended, else None.
        self.exit_status: int | None = None
        self.exited = trio.Event()
        #: Set when a CLONE_VFORK child execs or exits: its parent may run again.
        self.vfork_done = trio.Event()
        #: Whether the process has called execve (setpgid on it then fails with EACCES).
        self.execed = False
        #: ITIMER_REAL and POSIX timers (kernel.syscalls.itimer / posix_timers), made on first use.
        self.real_timer: Any = None
        self.posix_timers: dict[int, Any] = {}
        #: Native AIO contexts by id (kernel.syscalls.aio): the process's own, never inherited.
        self.aio_contexts: dict[int, Any] = {}
        #: Job control: stopped by a stop signal; what wait4 has yet to report.
        self.stopped = False
        self.stop_report = 0
        self.continue_report = False
        self._continued = trio.Event()
        #: The UTS names, shared with every process of the same UTS namespace (unshare makes a copy).
        self.uts: Uts = parent.uts if parent else Uts(kernel.config.hostname.encode(), b"(none)")
        #: personality(2): the execution domain and its flags, inherited across fork.
        self.personality = parent.personality if parent else 0
        #: mlock: the locked ranges [start, end) of address space ``mlock_asid`` and whether its
        #: future mappings are locked (MCL_FUTURE); a new address space (execve) has none.
        self.mlocked: list[tuple[int, int]] = []
        self.mlock_future = 0
        self.mlock_asid = asid
        #: membarrier: the commands this process registered for (MEMBARRIER_CMD_REGISTER_*).
        self.membarrier = 0

    @property
    def ppid(self) -> int:
        """The parent's pid; 0 for the first process, as for init in a pid namespace."""
        return self.parent.pid if self.parent else 0

    @property
    def live_tasks(self) -> list[Task]:
        return [t for t in self.tasks if not t.exited]

    @property
    def zombie(self) -> bool:
        return self.exit_status is not None

    async def inherit_files(self, parent: ThreadGroup, share: bool) -> None:
        """A child's files: the parent's fd table (CLONE_FILES) or a copy of it, and the
        parent's root and working directory, each description holding one more reference."""
        self.fds = parent.fds if share else parent.fds.fork()
        self.root, self.cwd = parent.root, parent.cwd
        held = (self.root, self.cwd) + (() if share else self.fds.handles())
        await self.kernel.bus.call("vfs", "hold", held)

    async def close_on_exec(self) -> None:
        """execve closes the fds marked close-on-exec."""
        await release(self.kernel.bus, self.fds.id, self.fds.close_on_exec())

    def shares_fds(self) -> bool:
        """Whether another live process uses this process's fd table (CLONE_FILES)."""
        return any(p.fds is self.fds for p in self.kernel.processes.values() if p is not self and not p.zombie)

    def cpu_time_ns(self) -> int:
        """CPU time of the whole process so far."""
        if self.zombie:
            return self.usage.user_ns
        for task in self.tasks:
            if not task.exited:
                return task.context.cpu_time_ns(whole_process=True)
        return self.usage.user_ns

    async def exit(self, status: int) -> None:
        """End the whole group with wait status ``status``: every thread stops, memory goes."""
        if self.exit_status is not None:
            return
        self.usage.user_ns = self.cpu_time_ns()
        self.exit_status = status
        self.vfork_done.set()
        for task in self.tasks:
            task.stop()
        with trio.CancelScope(shield=True):
            await tracer_exited(self)
            await self._release_robust_futexes()
            await _send_quietly_ipc_exit(self.kernel.bus, self.pid)
        try:
            dropped: list[Any] = [self.root, self.cwd]
            if not self.shares_fds():
                dropped += self.fds.close_all()
            await release(self.kernel.bus, self.fds.id, dropped)
            await self.kernel.release_mm(self.mm.asid)
        finally:
            with trio.CancelScope(shield=True):
                self.kernel.process_exited(self)
                await self.exit_notify()
                self.exited.set()

    async def _release_robust_futexes(self) -> None:
        """Every thread's robust mutexes are marked owner-died, as each thread's exit does in
        Linux: another process sharing the memory must learn that their owner is gone."""
        from kernel.syscalls.futex import exit_robust_list

        for task in list(self.tasks):  # a task leaves the list when it ends
            if task.robust_list[0]:
                await exit_robust_list(task)

    # --- job control ----------------------------------------------------------------------------

    async def stop(self, signo: int) -> None:
        """A stop signal's default action: every thread stops until SIGCONT; the parent hears."""
        if self.stopped:
            return
        self.stopped = True
        self.stop_report = signo
        self.continue_report = False
        self._continued = trio.Event()
        for task in self.tasks:
            if not task.exited:
                task.signal_arrived()
        await self._tell_parent(CLD_STOPPED, signo)

    async def resume(self) -> None:
        """SIGCONT: a stopped process runs again; the parent hears."""
        if not self.stopped:
            return
        self.stopped = False
        self.stop_report = 0
        self.continue_report = True
        self._continued.set()
        await self._tell_parent(CLD_CONTINUED, int(Signal.SIGCONT))

    def wake_for_kill(self) -> None:
        """SIGKILL reaches even a stopped process: its threads wake to die."""
        if self.stopped:
            self.stopped = False
            self._continued.set()
        wake_for_kill(self)

    async def wait_while_stopped(self) -> None:
        while self.stopped and not self.zombie:
            await self._continued.wait()

    async def _tell_parent(self, code: int, status: int) -> None:
        parent = self.parent
        if parent is None:
            return
        parent.child_events.unpark_all()
        info = structs.SIGINFO_CHLD.pack(int(Signal.SIGCHLD), 0, code, self.pid, self.creds.uid, status, 0, 0)
        try:
            await self.kernel.bus.call("signals", "child_state", parent.pid, info)
        except Errno:
            pass

    def killed_status(self, signo: int) -> int:
        """The wait status of death by ``signo``: the core bit as Linux sets it, when the
        signal dumps core and RLIMIT_CORE allows a dump."""
        from abi.linux import CORE_DUMPING_SIGNALS, RLIMIT_CORE, signal_status

        return signal_status(signo, signo in CORE_DUMPING_SIGNALS and self.rlimits[RLIMIT_CORE][0] > 0)

    def wait_code(self) -> tuple[int, int]:
        """(si_code, si_status) of this zombie as waitid reports it."""
        status = self.exit_status or 0
        if status & 0x7F == 0:
            return CLD_EXITED, (status >> 8) & 0xFF
        return (CLD_DUMPED if status & 0x80 else CLD_KILLED), status & 0x7F

    # --- the end of a process, as its relatives see it -------------------------------------

    async def exit_notify(self) -> None:
        """After the group ended: hand its children to a reaper, tell its parent."""
        reaper = self._reaper()
        for child in self.children:
            child.parent = reaper
            if reaper is not None:
                reaper.children.append(child)
        if reaper is not None and any(child.zombie for child in self.children):
            reaper.child_events.unpark_all()
        bus = self.kernel.bus
        for child in self.children:
            if child.pdeathsig and not child.zombie:
                await _send_quietly(bus, child.pid, child.pdeathsig, b"")
        self.children = []
        await _send_quietly(bus, None, 0, b"", exit_pid=self.pid)
        parent = self.parent
        if parent is None:
            self.kernel.forget_process(self)
            return
        code, value = self.wait_code()
        info = structs.SIGINFO_CHLD.pack(int(Signal.SIGCHLD), 0, code, self.pid, self.creds.uid, value,
                                         self.usage.user_ns // 10_000_000, 0)
        try:
            keep = await bus.call("signals", "child_exited", parent.pid, self.exit_signal, info)
        except Errno:
            keep = True
        if not keep:  # the parent ignores SIGCHLD: nobody will wait for this zombie
            parent.reap(self)
        parent.child_events.unpark_all()

    def _reaper(self) -> ThreadGroup | None:
        """Who adopts this process's children: the nearest live subreaper above it, else pid 1."""
        ancestor = self.parent
        while ancestor is not None:
            if ancestor.subreaper and not ancestor.zombie:
                return ancestor
            ancestor = ancestor.parent
        init = self.kernel.processes.get(1)
        return None if init is None or init is self or init.zombie else init

    def reap(self, child: ThreadGroup) -> None:
        """Release a zombie child: its pid is free again, its CPU time becomes ours."""
        if child in self.children:
            self.children.remove(child)
        self.children_usage.add(child.usage)
        self.children_usage.add(child.children_usage)
        self.kernel.forget_process(child)


async def _send_quietly_ipc_exit(bus: Bus, pid: int) -> None:
    """Undo the process's SEM_UNDO semaphore operations, as Linux's exit_sem."""
    try:
        await bus.call("ipc", "process_exit", pid)
    except Errno:
        pass


async def _send_quietly(bus: Bus, pid: int | None, signo: int, info: bytes, exit_pid: int | None = None) -> None:
    """Send a signal (or, with ``exit_pid``, drop a process's signal state), ignoring ESRCH."""
    try:
        if exit_pid is not None:
            await bus.call("signals", "exit_process", exit_pid)
        else:
            await bus.call("signals", "send", pid, None, signo, info)
    except Errno:
        pass
