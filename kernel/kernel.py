"""The Kernel: everything one sandbox shares, and its lifetime.

Boot order: the gofers (the image's and the volumes'), started first so that they start and confine themselves
while the Sentry imports and builds the rest (:class:`PrestartedGofers`); the memory file; the
platform (which starts the template stub with the memory file in hand); the bus and its actors
(the VFS's mount of the image takes the gofer already running); then the first process, which is
execve'd from the image. The
sandbox lives as long as that process (pid 1 of the sandbox's pid namespace): when it ends,
every other process is killed, as Linux does when a pid namespace's init dies.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import trio

from abi.creds import DOCKER_DEFAULT_CAPS, CapabilitySets
from abi.errno import EAGAIN
from abi.linux import PID_MAX, Signal, signal_status
from gofer import spawn
from kernel.bus import Actor, Bus, ContractError, FailCallSupervisor, check_actor, kernel_work
from abi.errno import Errno
from kernel.errors import SentryError
from kernel.oci import MountSpec
from kernel.process import ThreadGroup, host_rlimits, raise_open_file_limit
from kernel.runners import Runners
from kernel.syscalls import default_table
from kernel.syscalls.table import SyscallTable
from kernel.task import Task
from kernel.tty import Terminal
from platforms import Platform

if TYPE_CHECKING:
    from kernel.determinism.scheduler import Scheduler
    from services.gofer_proxy.actor import PrestartKey, Spawned
    from services.netstack.gate import NetGate
    from services.vfs.contract import PtyInfo

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
    #: The first process's capabilities before it execs (docker's list as a mask, or an OCI
    #: bundle's five sets), and whether it starts with no_new_privs.
    capabilities: int | CapabilitySets = DOCKER_DEFAULT_CAPS
    no_new_privs: bool = False
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
    #: Confine the Sentry and its stubs (kernel/confine/); False only for ``--debug-unconfined``.
    confine: bool = True
    #: Awaited once the sandbox is built and confined, before the first process starts: an OCI
    #: ``create`` holds it here until ``start`` (kernel/runtime/).
    start_gate: Callable[[], Awaitable[None]] | None = None
    #: ``--network`` (sandbox: connections out through the net helper; none: loopback only) and
    #: ``--allow-host-loopback`` (the gateway address reaches the host's loopback).
    network: str = "sandbox"
    allow_host_loopback: bool = False
    #: The network namespace the net helper joins (a bundle's, made by an engine); None: ours.
    netns: str | None = None
    #: The upstream resolvers the sandbox's resolver (10.0.2.3) forwards to: ``--dns``, else
    #: the host's (services/netstack/egress.py).
    resolvers: tuple[IPv4Address | IPv6Address, ...] = ()


class Kernel:
    """One sandbox's kernel state."""

    def __init__(self, config: KernelConfig, platform_factory: Callable[..., Platform] | None = None) -> None:
        from services.mm.memfile import MemoryFile  # the MM's memory file, made once per sandbox

        self.config = config
        #: The resource limits the first process starts with: the Sentry's as it was started.
        self.initial_rlimits = host_rlimits()
        raise_open_file_limit()
        #: The image's gofer, starting now, beside the Sentry's own start (taken by the VFS's mount).
        self.prestarted_gofers = PrestartedGofers.start(config)
        #: The net helper, started while the host's network is reachable (None: --network none).
        self.netgate = start_netgate(config)
        spawn.release_reserved()  # the forks a zygote's run reserved for these, if one is left unused
        self.boot_time = time.monotonic()
        #: CPUs the sandbox offers, counted before the platform pins the Sentry to one of them.
        self.online_cpus = len(os.sched_getaffinity(0))
        try:
            self.memfile = MemoryFile()
            self.platform: Platform = (platform_factory or _ptrace_platform)(self.memfile, config)
        except BaseException:
            self.prestarted_gofers.close()
            raise
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
        #: The job-control state of each devpts pseudo-terminal a session has had, by number.
        self.pts_terminals: dict[int, Terminal] = {}
        #: The ``run -t`` pty when the guest's stdio is one (set by the CLI before boot).
        self.pty: PtyInfo | None = None
        self._next_pid = 1
        #: Pids handed out whose thread does not exist yet, and the real uid of each.
        self._reserved_pids: dict[int, int] = {}
        self._nursery: trio.Nursery | None = None
        self._runners: Runners | None = None
        #: ``--deterministic``: the scheduler that runs one guest thread at a time.
        self.scheduler: Scheduler | None = None
        self._register_actors()

    def _register_actors(self) -> None:
        """Register every service's actor: ours, or the ``--service`` replacement, checked.

        A replacement must be known by name, come out of its factory as an actor, and serve
        every operation of the service's contract (:func:`check_replacement`); otherwise the
        sandbox does not start (a :class:`ServiceError`, one line and exit 125 from the CLI).
        """
        try:
            unknown = sorted(set(self.config.services) - set(DEFAULT_SERVICES))
            if unknown:
                raise ServiceError(f"no service named {', '.join(map(repr, unknown))} "
                                   f"(services: {', '.join(DEFAULT_SERVICES)})")
            for name, default in DEFAULT_SERVICES.items():
                replacement = self.config.services.get(name)
                actor = default(self) if replacement is None else check_replacement(name, replacement, self)
                self.bus.register(actor, name)
        except SentryError:
            self.platform.close()  # the template stub is running already
            self.prestarted_gofers.close()
            raise

    # --- pids ------------------------------------------------------------------------------

    def allocate_pid(self, uid: int = 0) -> int:
        """Reserve the next free pid of the sandbox's namespace (threads and processes share
        the space) for a thread of real user ``uid``; EAGAIN when the sandbox's pid limit is
        reached.

        The reservation counts against the limit at once, before the caller's first await, so
        that concurrent forks cannot all pass the check; it ends when the new thread is
        registered (it then counts as itself) or with :meth:`release_pid` if the clone fails.
        """
        self._reserved_pids = {pid: owner for pid, owner in self._reserved_pids.items()
                               if pid not in self.threads and pid not in self.processes}
        limit = min(self.config.pids_limit or PID_MAX, PID_MAX - 1)
        # Like a pids cgroup: live tasks, unreaped zombies, and tasks being created. Every zombie
        # is a process, so the zombies are counted (a walk of every process) only when the
        # processes could reach the limit at all: a clone costs the same with 3 or 3 000 of them.
        used = len(self.threads) + len(self._reserved_pids)
        if used + len(self.processes) >= limit and \
                used + sum(1 for process in self.processes.values() if process.zombie) >= limit:
            raise Errno(EAGAIN)
        while True:
            pid = self._next_pid
            self._next_pid = pid + 1 if pid + 1 < PID_MAX else 2
            if pid not in self.processes and pid not in self.threads and pid not in self._reserved_pids:
                self._reserved_pids[pid] = uid
                return pid

    @property
    def last_pid(self) -> int:
        """The last pid handed out (/proc/loadavg and /proc/stat show it)."""
        return self._next_pid - 1

    def release_pid(self, pid: int) -> None:
        """End the reservation of ``pid`` (:meth:`allocate_pid`): its thread now exists, or
        will not."""
        self._reserved_pids.pop(pid, None)

    def reserved_pids_of(self, uid: int) -> int:
        """How many threads of real user ``uid`` are being created (RLIMIT_NPROC counts them)."""
        return sum(1 for pid, owner in self._reserved_pids.items()
                   if owner == uid and pid not in self.threads)

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
        try:
            await self.bus.call("ipc", "address_space_gone", asid)  # its shm attachments end
        except Errno:
            pass
        await self.bus.call("mm", "destroy", asid)

    def task_count(self) -> int:
        return sum(len(p.live_tasks) for p in self.processes.values())

    # --- running ---------------------------------------------------------------------------

    def spawn(self, function: Callable[..., Any], *args: Any) -> None:
        """Start kernel work (``await function(*args)``) in the sandbox's nursery."""
        assert self._nursery is not None
        self._nursery.start_soon(kernel_work, function, *args)

    def start_task(self, task: Task) -> None:
        """Start running guest thread ``task`` (on a runner of :mod:`kernel.runners`)."""
        assert self._runners is not None
        self._runners.start(task)

    async def run(self) -> int:
        """Boot, run the first process to its end, shut down; returns its wait status."""
        from kernel.confine.sentry import confine_sentry
        from kernel.exec import CommandNotExecutable, CommandNotFound, exec_first_process

        startup_error: Exception | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._runners = Runners(nursery)
                await nursery.start(self.platform.serve)
                if self.scheduler is not None:
                    await nursery.start(self.scheduler.run)
                try:
                    for _, actor in self.bus.actors():
                        await nursery.start(actor.serve)  # SentryError: e.g. a mount that cannot be made
                    self.prestarted_gofers.close()  # a gofer service of its own took none
                    if self.config.confine:
                        confine_sentry(self)  # start-up is over: the host goes away
                    if self.config.start_gate is not None:
                        await self.config.start_gate()
                    init = await exec_first_process(self, self.config.argv, self.config.env)
                    await init.exited.wait()
                except (CommandNotFound, CommandNotExecutable, SentryError) as error:
                    startup_error = error  # raised plainly below, not inside an exception group
                except Errno as error:  # e.g. EAGAIN: the template stub is gone
                    startup_error = SentryError(f"the first process cannot start: {error}")
                nursery.cancel_scope.cancel()
            if startup_error is not None:
                raise startup_error
            assert init.exit_status is not None
            return init.exit_status
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        self.prestarted_gofers.close()
        if self.netgate is not None:
            self.netgate.close()  # a replaced netstack never closed it
        with trio.CancelScope(shield=True):
            for _, actor in self.bus.actors():
                try:
                    await actor.close()
                except Exception:  # noqa: BLE001 — shutting down anyway; say what went wrong
                    log.exception("actor %s failed to close", actor.service)
        self.platform.close()
        if self.syscalls.unsupported:
            log.info("unsupported system calls: %s", dict(self.syscalls.unsupported))


class PrestartedGofers:
    """The gofers of the image and of every volume, started before the Sentry needs them and
    handed to the gofer proxy.

    A gofer (a fork of the Sentry, gofer/spawn.py) still imports what the Sentry has not and
    confines itself, which used to follow the Sentry's own start (the VFS mounts the image only once
    every actor is built). Started first, they overlap the Sentry's imports, the template stub and
    the actors' construction. They are started by the very ``spawn_gofers`` the gofer proxy uses,
    with the arguments the proxy's mounts pass, so they are confined exactly as any other gofer;
    our proxy takes them (:meth:`take`) and mounts the image and the volumes with them. One not
    taken (a replaced gofer service, a failed boot) is killed and reaped by :meth:`close`.
    Processes are bounded, not one per mount: :meth:`GoferProxy.prestart` groups the mounts.
    """

    def __init__(self, ready: dict[PrestartKey, Spawned]) -> None:
        self._ready = ready

    @classmethod
    def start(cls, config: KernelConfig) -> PrestartedGofers:
        """Start the gofers the VFS will ask for: the image's (``--rw``: writable; else
        read-only) and the volumes' (bind mounts of host directories)."""
        from services.gofer_proxy.actor import GoferProxy

        image = (os.fspath(config.image), bool(config.rw))
        volumes = [(spec.source, not spec.read_only) for spec in config.mounts
                   if spec.kind == "bind" and spec.source is not None and os.path.isdir(spec.source)]
        return cls(GoferProxy.prestart(image, volumes))

    def take(self) -> dict[PrestartKey, Spawned]:
        """Hand the gofers over (to the gofer proxy, which then reaps what it does not use)."""
        ready, self._ready = self._ready, {}
        return ready

    def close(self) -> None:
        """Kill and reap the gofers nobody took."""
        from services.gofer_proxy.actor import discard_gofers

        discard_gofers(self._ready)


def start_netgate(config: KernelConfig) -> NetGate | None:
    """The net helper of ``--network sandbox`` (services/netstack/gate.py); None for ``none``."""
    from netgate.policy import NETWORK_NONE, Policy
    from services.netstack.gate import NetGate

    if config.network == NETWORK_NONE:
        return None
    return NetGate.start(Policy(config.network, allow_host_loopback=config.allow_host_loopback,
                                resolvers=config.resolvers), netns=config.netns)


# --- services ---------------------------------------------------------------------------------
#
# Our actor for each service, made by a factory taking the Kernel: the same signature a
# ``--service NAME=module:Factory`` replacement has, so a replacement may build ours and wrap it
# (see ``kernel.bus.Delegating`` and ``examples/``).


def default_mm(kernel: Kernel) -> Actor:
    """Our memory manager over the sandbox's platform and memory file, with its memory limit."""
    from services.mm.actor import MemoryManager

    return MemoryManager(kernel.platform, kernel.memfile, kernel.config.memory_limit)


def default_signals(kernel: Kernel) -> Actor:
    """Our signals actor; its doorbell is :meth:`Kernel.signal_arrived`."""
    from services.signals.actor import SignalsActor

    return SignalsActor(kernel.bus, kernel.memfile.view, kernel.signal_arrived)


def default_gofer(kernel: Kernel) -> Actor:
    """Our gofer proxy: the connections to the gofer processes serving the image."""
    from services.gofer_proxy.actor import GoferProxy

    return GoferProxy(prestarted=kernel.prestarted_gofers.take())


def default_proc(kernel: Kernel) -> Actor:
    """The kernel's own answer about its processes (procfs and /dev/tty ask it)."""
    from kernel.procinfo import ProcessTable

    return ProcessTable(kernel)


def default_netstack(kernel: Kernel) -> Actor:
    """Our netstack: every socket of the sandbox (AF_UNIX, TCP/UDP over loopback, netlink)."""
    from services.netstack.actor import Netstack

    return Netstack(kernel.netgate)


def default_vfs(kernel: Kernel) -> Actor:
    """Our VFS over the image, mounted as ``--read-only``, ``--rw`` or (default) an overlay,
    with the run's volumes and tmpfs mounts."""
    from services.vfs.actor import VirtualFilesystem

    mode = "ro" if kernel.config.read_only else "rw" if kernel.config.rw else "overlay"
    return VirtualFilesystem(kernel.bus, kernel.config.image, mode, kernel.config.mounts,
                             memory=kernel.config.memory_limit)


def default_ipc(kernel: Kernel) -> Actor:
    """Our System V IPC namespace: message queues, semaphore sets and shared memory."""
    from services.ipc.actor import IpcNamespace

    return IpcNamespace(kernel.bus)


#: Every service of a sandbox -> the factory of our actor for it, in the order they start.
DEFAULT_SERVICES: Mapping[str, Callable[[Kernel], Actor]] = MappingProxyType({
    "mm": default_mm,
    "signals": default_signals,
    "gofer": default_gofer,
    "proc": default_proc,
    "netstack": default_netstack,
    "vfs": default_vfs,
    "ipc": default_ipc,
})

#: Service -> ``module:Class`` of the contract a replacement is checked against.
SERVICE_CONTRACTS: Mapping[str, str] = MappingProxyType({
    "mm": "services.mm.contract:MemoryContract",
    "signals": "services.signals.contract:SignalsContract",
    "gofer": "services.gofer_proxy.contract:GoferContract",
    "proc": "services.proc.contract:ProcContract",
    "netstack": "services.netstack.contract:NetstackContract",
    "vfs": "services.vfs.contract:VfsContract",
    "ipc": "services.ipc.contract:IpcContract",
})


class ServiceError(SentryError):
    """A ``--service`` replacement that cannot serve: unknown name, failing factory, not an
    actor, or an actor that does not keep the service's contract."""


def service_contract(name: str) -> type[Actor]:
    """The class whose operations service ``name``'s actor must serve (see SERVICE_CONTRACTS)."""
    module, _, attribute = SERVICE_CONTRACTS[name].partition(":")
    contract: type[Actor] = getattr(importlib.import_module(module), attribute)
    return contract


def check_replacement(name: str, factory: Callable[[Kernel], Actor], kernel: Kernel) -> Actor:
    """Build service ``name``'s replacement with ``factory`` and check it against the
    service's contract; ServiceError (one line) if it cannot serve."""
    label = f"--service {name}={getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', factory)}"
    if not callable(factory):
        raise ServiceError(f"{label}: not callable")
    try:
        actor = factory(kernel)
    except SentryError:
        raise
    except Exception as error:  # a researcher's factory: say what went wrong, in one line
        log.debug("%s failed", label, exc_info=True)
        raise ServiceError(f"{label}: the factory failed: {type(error).__name__}: {_first_line(error)}") from None
    try:
        check_actor(actor, service_contract(name))
    except ContractError as error:
        raise ServiceError(f"{label}: {error}") from None
    return actor


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "(no message)"


def _ptrace_platform(memfile: Any, config: KernelConfig) -> Platform:
    from platforms.ptrace.platform import PtracePlatform

    kwargs = {} if config.spin_ns is None else {"spin_ns": config.spin_ns}
    try:
        return PtracePlatform(memfile.fd, confine=config.confine, **kwargs)
    except OSError as error:
        raise SentryError(f"cannot start the ptrace platform: {error}") from error

