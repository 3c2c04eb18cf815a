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
from typing import Any

import trio

from kernel.abi.linux import Signal, signal_status
from kernel.bus import Actor, Bus, FailCallSupervisor
from kernel.errors import SentryError
from kernel.image import ImageRoot
from kernel.process import ThreadGroup
from kernel.stdio import Stdio
from kernel.syscalls import default_table
from kernel.syscalls.table import SyscallTable
from kernel.task import Task
from platforms import Platform
from kernel.oci import MountSpec

log = logging.getLogger("sentrio.kernel")


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
    #: Most threads + processes (zombies included) the sandbox may hold (``--pids-limit``).
    pids_limit: int | None = 1024


class Kernel:
    """One sandbox's kernel state."""

    def __init__(self, config: KernelConfig, platform_factory: Callable[..., Platform] | None = None) -> None:
        from services.mm.memfile import MemoryFile  # the MM's memory file, made once per sandbox

        self.config = config
        self.boot_time = time.monotonic()
        #: CPUs the sandbox offers, counted before the platform pins the Sentry to one of them.
        self.online_cpus = len(os.sched_getaffinity(0))
        self.image = ImageRoot(config.image)
        self.stdio = Stdio()
        self.memfile = MemoryFile()
        self.platform: Platform = (platform_factory or _ptrace_platform)(self.memfile, config)
        self.bus = Bus(FailCallSupervisor(strict=config.strict))
        self.syscalls: SyscallTable = default_table(strict=config.strict)
        self.processes: dict[int, ThreadGroup] = {}
        self._next_pid = 1
        self._nursery: trio.Nursery | None = None
        self._register_actors()

    def _register_actors(self) -> None:
        from services.mm.actor import MemoryManager

        defaults: dict[str, Callable[[Kernel], Actor]] = {
            "mm": lambda k: MemoryManager(k.platform, k.memfile, k.config.memory_limit),
        }
        defaults.update(self.config.services)
        for name, factory in defaults.items():
            self.bus.register(factory(self), name)

    # --- pids ------------------------------------------------------------------------------

    def allocate_pid(self) -> int:
        """The next free pid of the sandbox's namespace (threads and processes share the space)."""
        pid = self._next_pid
        self._next_pid += 1
        return pid

    def process_exited(self, process: ThreadGroup) -> None:
        self.processes.pop(process.pid, None)
        if process.pid == 1:
            for other in list(self.processes.values()):
                self.spawn(other.exit, signal_status(Signal.SIGKILL))  # init is gone

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
                for _, actor in self.bus.actors():
                    await nursery.start(actor.serve)
                try:
                    init = await exec_first_process(self, self.config.argv, self.config.env)
                    await init.exited.wait()
                except (CommandNotFound, CommandNotExecutable) as error:
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
        self.image.close()
        if self.syscalls.unsupported:
            log.info("unsupported system calls: %s", dict(self.syscalls.unsupported))


def _ptrace_platform(memfile: Any, config: KernelConfig) -> Platform:
    from platforms.ptrace.platform import PtracePlatform

    kwargs = {} if config.spin_ns is None else {"spin_ns": config.spin_ns}
    try:
        return PtracePlatform(memfile.fd, **kwargs)
    except OSError as error:
        raise SentryError(f"cannot start the ptrace platform: {error}") from error

