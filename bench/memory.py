"""The memory a running command costs, for the memory benchmarks: the peak, while it runs, of
the memory charged to it and everything it starts — for a sandbox, its kernel, file servers,
stubs and guest together.

With cgroup v1's memory controller (this machine), the command runs in a memory cgroup of its
own and the figure is what the kernel charged there: anonymous and shared memory (a memory
file), page tables, and page cache first read by the run. A runtime may move its processes to
cgroups of its own (runsc puts its sandbox and gofer in ``/runsc-<id>``); those are found
through the command's process tree, sampled every ``interval`` seconds, and added in. Without
the controller, the figure falls back to the summed proportional set size (PSS) of the process
tree, which cannot see processes that leave the tree (runsc's stubs do).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_PROC = Path("/proc")
_MEMORY_ROOT = Path("/sys/fs/cgroup/memory")


def _parent(pid: str) -> int | None:
    try:
        stat = (_PROC / pid / "stat").read_bytes()
    except OSError:
        return None
    return int(stat[stat.rindex(b")") + 2:].split(maxsplit=2)[1])  # after "(comm) state"


def tree(root: int) -> list[int]:
    """``root`` and every live process descending from it (found through parent pids, so a
    child that starts a session of its own still counts)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir(_PROC):
        if entry.isdigit() and (parent := _parent(entry)) is not None:
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def pss_kib(pid: int) -> int:
    """The process's proportional set size in KiB (0 if it is gone)."""
    try:
        for line in (_PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def memory_cgroup(pid: int | str) -> Path | None:
    """The cgroup v1 memory cgroup directory of a process, if the controller is mounted."""
    try:
        for line in (_PROC / str(pid) / "cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                directory = _MEMORY_ROOT / path.lstrip("/")
                return directory if directory.is_dir() else None
    except (OSError, ValueError):
        pass
    return None


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return 0


class RunCgroup:
    """A memory cgroup for one run, under the runner's own; ``enter()`` (in the child, before
    exec) moves the calling process into it."""

    def __init__(self, name: str) -> None:
        parent = memory_cgroup("self")
        self.path = parent / name if parent is not None else None
        if self.path is not None:
            try:
                self.path.mkdir()
            except OSError:
                self.path = None

    def enter(self) -> None:
        if self.path is not None:
            (self.path / "cgroup.procs").write_text("0")

    def peak_bytes(self) -> int:
        return _read_int(self.path / "memory.max_usage_in_bytes") if self.path is not None else 0

    def remove(self) -> None:
        if self.path is not None:
            try:
                self.path.rmdir()
            except OSError:  # a process lingers (a zombie not yet reaped): leave it to the next boot
                pass


class PeakMemory:
    """While a command runs: samples its process tree (and the cgroups its processes moved to)
    in a background thread; ``peak_mib`` once stopped."""

    def __init__(self, root: int, cgroup: RunCgroup, interval: float = 0.01) -> None:
        self.root = root
        self.cgroup = cgroup
        self.interval = interval
        self._sampled_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return max(self._sampled_peak, self.cgroup.peak_bytes()) / (1 << 20)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._sampled_peak = max(self._sampled_peak, self._total())
            self._stop.wait(self.interval)

    def _total(self) -> int:
        pids = tree(self.root)
        if self.cgroup.path is None:
            return 1024 * sum(pss_kib(pid) for pid in pids)
        own = self.cgroup.path
        groups = {group for pid in pids if (group := memory_cgroup(pid)) is not None}
        # A process in a cgroup namespace of its own (Sentrio's gofer) shows a path relative to
        # it, which reads like an ancestor of ours: it is still in ours, so nothing to add.
        groups = {group for group in groups if group != own and group not in own.parents}
        return sum(_read_int(group / "memory.usage_in_bytes") for group in groups | {own})
