"""The Kernel: everything one sandbox shares, and its lifetime.

Boot order: the memory file; the platform (which starts the template stub with the memory file
in hand); the bus and its actors; then the first process, which is execve'd from the image. The
sandbox lives as long as that process (pid 1 of the sandbox's pid namespace): when it ends,
every other process is killed, as Linux does when a pid namespace's init dies.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from abi.errno import EAGAIN
from abi.linux import PID_MAX, Signal, signal_status
from kernel.bus import Actor, Bus, FailCallSupervisor
from abi.errno import Errno
from kernel.errors import SentryError
from kernel.oci import MountSpec
from kernel.process import ThreadGroup
from kernel.stdio import SandboxPty
from kernel.syscalls import default_table
from kernel.syscalls.table import SyscallTable
from kernel.task import Task
from kernel.tty import Terminal, open_controlling_terminal
from platforms import Platform

if TYPE_CHECKING:
    from services.vfs.file import File

log = logging.getLogger("sentrio.kernel")

#: Threads + processes a sandbox may hold unless ``--pids-limit`` says otherwise: enough for
#: builds and shells, few enough that a fork bomb in the guest stops long before the host feels it.
DEFAULT_PIDS_LIMIT = 1024


@dataclass
class KernelConfig:
    """What a sandbox is started with (the CLI fills it from flags)."""

    image: str
    argv: list[bytes]
    env: list[bytes]
    hostname: str = "sentrio"
    #: Commit limit for guest memory in bytes (``--memory``), None for none.
    memory_limit: int | None = None
    #: The first process's working directory and identity (``-w``, ``-u``, a bundle's process).
    cwd: bytes = b"/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    #: ``RLIMIT_* -> (soft, hard)`` replacing the Sentry's own limits for the first process.
    rlimits: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: Volumes, ``--tmpfs`` and a bundle's mounts, in mount order (the VFS mounts them).
    mounts: list[MountSpec] = field(default_factory=list)
    #: Most threads + processes (zombies included) the sandbox may hold (``--pids-limit``);
    #: None for no limit but the pid space's.
    pids_limit: int | None = DEFAULT_PIDS_LIMIT
    #: Keep stdin open (``-i``); give the guest a terminal (``-t``).
    interactive: bool = False
    tty: bool = False
    #: The sandbox's id, and its runtime directory for the control socket (None: no socket).
    sandbox_id: str = ""
    runtime_dir: str | None = None
    #: ``name -> factory(kernel) -> Actor`` overriding the default actors (``--service``).
    services: dict[str, Callable[[Kernel], Actor]] = field(default_factory=dict)
    #: Re-raise actor crashes instead of failing the call with EIO (tests).
    strict: bool = False
    #: Nanoseconds a task spins on waitpid before it sleeps.
    spin_ns: int | None = None
    #: ``--read-only``: the image refuses every change (EROFS); tmpfs mounts stay writable.
    read_only: bool = False
    #: ``--rw``: changes are written through to the image instead of the overlay's upper layer.
    rw: bool = False


class Kernel:
    """One sandbox's kernel state."""

    def __init__(self, config: KernelConfig, platform_factory: Callable[..., Platform] | None = None) -> None:
        from services.mm.memfile import MemoryFile  # the MM's memory file, made once per sandbox

        self.config = config
        self.boot_time = time.monotonic()
        #: CPUs the sandbox offers, counted before the platform pins the Sentry to one of them.
        self.online_cpus = len(os.sched_getaffinity(0))
        #: The VFS's root directory, known once the vfs actor has started.
        self.root_dir: Any = None
        self.memfile = MemoryFile()
        self.platform: Platform = (platform_factory or _ptrace_platform)(self.memfile, config)
        self.bus = Bus(FailCallSupervisor(strict=config.strict))
        self.syscalls: SyscallTable = default_table(strict=config.strict)
        #: Every process of the sandbox, zombies included, by pid.
        self.processes: dict[int, ThreadGroup] = {}
        #: Every live guest thread, by tid.
        self.threads: dict[int, Task] = {}
        #: How many processes use each address space (vfork children share their parent's).
        self.mm_users: dict[int, int] = {}
        #: The guest terminal's job-control state (its session and foreground group).
        self.tty = Terminal()
        #: The ``run -t`` pty when the guest's stdio is one (set by the CLI before boot).
        self.pty: SandboxPty | None = None
        self._next_pid = 1
        self._nursery: trio.Nursery | None = None
        self._register_actors()

    def _register_actors(self) -> None:
        from services.gofer_proxy.actor import GoferProxy
        from services.mm.actor import MemoryManager
        from services.netstack.actor import Netstack
        from services.vfs.actor import VirtualFilesystem

        from services.signals.actor import SignalsActor

        mode = "ro" if self.config.read_only else "rw" if self.config.rw else "overlay"
        defaults: dict[str, Callable[[Kernel], Actor]] = {
            "mm": lambda k: MemoryManager(k.platform, k.memfile, k.config.memory_limit),
            "signals": lambda k: SignalsActor(k.bus, k.memfile.view, k.signal_arrived),
            "gofer": lambda k: GoferProxy(),
            "vfs": lambda k: VirtualFilesystem(k.bus, k.config.image, mode, k),
            "netstack": lambda k: Netstack(),
        }
        defaults.update(self.config.services)
        for name, factory in defaults.items():
            self.bus.register(factory(self), name)

    # --- pids ------------------------------------------------------------------------------

    def open_terminal(self, flags: int) -> File:
        """Open /dev/tty for the calling guest thread (see :func:`kernel.tty.open_controlling_terminal`)."""
        return open_controlling_terminal(self, flags)

    def allocate_pid(self) -> int:
        """The next free pid of the sandbox's namespace (threads and processes share the space);
        EAGAIN when the sandbox's pid limit is reached."""
        limit = min(self.config.pids_limit or PID_MAX, PID_MAX - 1)
        zombies = sum(1 for process in self.processes.values() if process.zombie)
        if len(self.threads) + zombies >= limit:  # like a pids cgroup: live tasks and unreaped zombies
            raise Errno(EAGAIN)
        while True:
            pid = self._next_pid
            self._next_pid = pid + 1 if pid + 1 < PID_MAX else 2
            if pid not in self.processes and pid not in self.threads:
                return pid

    def process_exited(self, process: ThreadGroup) -> None:
        if process.pid == 1:
            for other in list(self.processes.values()):
                if other is not process:
                    self.spawn(other.exit, signal_status(Signal.SIGKILL))  # init is gone

    def forget_process(self, process: ThreadGroup) -> None:
        """A reaped process's pid is free again."""
        if self.processes.get(process.pid) is process:
            del self.processes[process.pid]

    def signal_arrived(self, tid: int) -> None:
        """The signals actor's doorbell: thread ``tid`` has a signal to act on."""
        task = self.threads.get(tid)
        if task is not None:
            task.signal_arrived()

    def use_mm(self, asid: int) -> None:
        self.mm_users[asid] = self.mm_users.get(asid, 0) + 1

    async def release_mm(self, asid: int) -> None:
        """A process stops using address space ``asid``; the last one out destroys it."""
        users = self.mm_users.get(asid, 1) - 1
        if users > 0:
            self.mm_users[asid] = users
            return
        self.mm_users.pop(asid, None)
        await self.bus.call("mm", "destroy", asid)

    def task_count(self) -> int:
        return sum(len(p.live_tasks) for p in self.processes.values())

    # --- running ---------------------------------------------------------------------------

    def spawn(self, function: Callable[..., Any], *args: Any) -> None:
        """Start kernel work (``await function(*args)``) in the sandbox's nursery."""
        assert self._nursery is not None
        self._nursery.start_soon(function, *args)

    def start_task(self, task: Task) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(task.run, name=task.name)

    async def run(self) -> int:
        """Boot, run the first process to its end, shut down; returns its wait status."""
        from kernel.exec import CommandNotExecutable, CommandNotFound, exec_first_process

        startup_error: Exception | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.platform.serve)
                try:
                    for _, actor in self.bus.actors():
                        await nursery.start(actor.serve)  # SentryError: e.g. a mount that cannot be made
                    self.root_dir = await self.bus.call("vfs", "root_dir")
                    init = await exec_first_process(self, self.config.argv, self.config.env)
                    await init.exited.wait()
                except (CommandNotFound, CommandNotExecutable, SentryError) as error:
                    startup_error = error  # raised plainly below, not inside an exception group
                nursery.cancel_scope.cancel()
            if startup_error is not None:
                raise startup_error
            assert init.exit_status is not None
            return init.exit_status
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        with trio.CancelScope(shield=True):
            for _, actor in self.bus.actors():
                try:
                    await actor.close()
                except Exception:  # noqa: BLE001 — shutting down anyway; say what went wrong
                    log.exception("actor %s failed to close", actor.service)
        self.platform.close()
        if self.syscalls.unsupported:
            log.info("unsupported system calls: %s", dict(self.syscalls.unsupported))


def _ptrace_platform(memfile: Any, config: KernelConfig) -> Platform:
    from platforms.ptrace.platform import PtracePlatform

    kwargs = {} if config.spin_ns is None else {"spin_ns": config.spin_ns}
    try:
        return PtracePlatform(memfile.fd, **kwargs)
    except OSError as error:
        raise SentryError(f"cannot start the ptrace platform: {error}") from error

