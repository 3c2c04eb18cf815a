"""Thread groups (Linux's "processes") and their lifecycle.

A :class:`ThreadGroup` owns what the threads of a process share: its virtual pid, its address
space (by id, in the MM), resource limits, credentials and working directory. It ends once —
by ``exit_group``, by its last thread's ``exit``, or by a fatal signal — and records its wait
status; the first process's status becomes the sandbox's.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from kernel.abi.linux import RLIM_INFINITY, RLIM_NLIMITS
from kernel.memory import MemoryClient

if TYPE_CHECKING:
    from kernel.kernel import Kernel, KernelConfig
    from kernel.task import Task


@dataclass(slots=True)
class Credentials:
    """The guest's view of its ids; the Sentry itself never changes identity for them."""

    uid: int = 0
    euid: int = 0
    suid: int = 0
    gid: int = 0
    egid: int = 0
    sgid: int = 0


def host_rlimits() -> list[tuple[int, int]]:
    """The limits the sandbox starts with: the Sentry's own, as a container inherits them."""
    limits = []
    for res in range(RLIM_NLIMITS):
        try:
            soft, hard = resource.getrlimit(res)
        except (ValueError, OSError):
            soft = hard = resource.RLIM_INFINITY
        limits.append(tuple(RLIM_INFINITY if v == resource.RLIM_INFINITY else v for v in (soft, hard)))
    return limits  # type: ignore[return-value]


class ThreadGroup:
    """A guest process: the state its threads share."""

    def __init__(self, kernel: Kernel, pid: int, parent: ThreadGroup | None, asid: int) -> None:
        self.kernel = kernel
        self.pid = pid
        self.parent = parent
        self.mm = MemoryClient(kernel.bus, asid)
        self.tasks: list[Task] = []
        self.rlimits: list[tuple[int, int]] = list(parent.rlimits) if parent else host_rlimits()
        self.creds = Credentials()
        self.cwd = b"/"
        self.comm = b""
        #: The wait status once the group has ended, else None.
        self.exit_status: int | None = None
        self.exited = trio.Event()
        if parent is None:
            self._configure_first(kernel.config)

    def _configure_first(self, config: KernelConfig) -> None:
        """The first process: identity, limits and working directory as the sandbox is configured
        (``-u``, ``-w``, a bundle's ``process``)."""
        for resource_number, limit in config.rlimits.items():
            self.rlimits[resource_number] = limit
        self.creds = Credentials(uid=config.uid, euid=config.uid, suid=config.uid,
                                 gid=config.gid, egid=config.gid, sgid=config.gid)
        self.cwd = config.cwd

    @property
    def ppid(self) -> int:
        """The parent's pid; 0 for the first process, as for init in a pid namespace."""
        return self.parent.pid if self.parent else 0

    @property
    def live_tasks(self) -> list[Task]:
        return [t for t in self.tasks if not t.exited]

    async def exit(self, status: int) -> None:
        """End the whole group with wait status ``status``: every thread stops, memory goes."""
        if self.exit_status is not None:
            return
        self.exit_status = status
        for task in self.tasks:
            task.stop()
        try:
            await self.mm.call("destroy")
        finally:
            self.kernel.process_exited(self)
            self.exited.set()
