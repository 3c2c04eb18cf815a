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

    def usage_bytes(self) -> int:
        return _read_int(self.path / "memory.usage_in_bytes") if self.path is not None else 0

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


# --- the footprint of mounts: ``python -m bench.memory --mounts N`` ---------------------------


def rss_kib(pid: int) -> int:
    """The process's resident set size in KiB (0 if it is gone)."""
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def sandbox_footprint(mounts: int, image: Path, work: Path, tree_dir: Path) -> dict[str, float]:
    """Start a sandbox with ``mounts`` volumes (every other one read-only) whose guest waits
    on stdin; once it waits, sum the RSS and PSS (MiB) of its whole process tree — Sentry,
    stubs, gofers — and count its gofers. ``tree_dir`` is the Sentrio checkout to run."""
    import subprocess
    import sys

    args: list[str] = []
    for i in range(mounts):
        volume = work / f"v{i}"
        volume.mkdir(exist_ok=True)
        args += ["-v", f"{volume}:/v/{i}" + (":ro" if i % 2 == 0 else "")]
    command = [sys.executable, "-m", "kernel", "run", "-i", *args, str(image), "--", "sh", "-c",
               "echo ready; read line"]
    pipe = subprocess.PIPE
    sandbox = subprocess.Popen(command, cwd=tree_dir, stdin=pipe, stdout=pipe, stderr=pipe)
    try:
        assert sandbox.stdout is not None and sandbox.stdin is not None
        if sandbox.stdout.readline() != b"ready\n":
            raise RuntimeError(f"the sandbox did not start: {sandbox.stderr.read().decode() if sandbox.stderr else ''}")
        pids = tree(sandbox.pid)
        gofers = sum(1 for pid in pids if b"gofer" in (_PROC / str(pid) / "cmdline").read_bytes().split(b"\0"))
        figures = {"rss_mib": sum(map(rss_kib, pids)) / 1024, "pss_mib": sum(map(pss_kib, pids)) / 1024,
                   "processes": len(pids), "gofers": gofers}
        sandbox.stdin.write(b"\n")
        sandbox.stdin.flush()
        sandbox.communicate(timeout=120)
    finally:
        if sandbox.poll() is None:
            sandbox.kill()
            sandbox.wait()
    return figures


def main(argv: list[str] | None = None) -> int:
    import argparse
    import statistics
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m bench.memory",
                                     description="the idle footprint of a sandbox with N volumes")
    parser.add_argument("--mounts", type=int, nargs="+", default=[1, 10, 100], metavar="N")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the Sentrio checkout to measure (default: this one)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from kernel.images.build import build_busybox

    with tempfile.TemporaryDirectory(prefix="sentrio-mounts-") as scratch:
        image = Path(scratch) / "image"
        build_busybox(image)
        for count in args.mounts:
            runs = [sandbox_footprint(count, image, Path(scratch), args.tree) for _ in range(args.repeat)]
            print(f"mounts={count} gofers={runs[0]['gofers']} processes={runs[0]['processes']} "
                  f"rss_mib={statistics.median(r['rss_mib'] for r in runs):.1f} "
                  f"pss_mib={statistics.median(r['pss_mib'] for r in runs):.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
