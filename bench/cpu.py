"""The Sentry's own CPU time per job and per system call: ``python -m bench.cpu JOB...``.

Wall time on a machine eight developers share is noise; the CPU time the Sentry process itself
spends is not (load delays it, but barely changes it). For each job this runs ``python -m kernel
run IMAGE -- ...`` and reports:

* the Sentry's CPU (user + system of the Sentry process alone — not its gofers, stubs or keeper),
  read from ``/proc/PID/stat`` of the exited Sentry *before* it is reaped (``waitid`` with
  ``WNOWAIT``): a zombie's times are final and complete, whoever its threads were;
* how many guest system calls it served (the Sentry counts them per task, :attr:`Task.served`,
  and this tool's wrapper prints the total on the Sentry's stderr at exit);
* µs of Sentry CPU per system call, both raw and with the start-up's CPU (the ``true`` job's, run
  in the same session) taken off first.

``--profile`` runs each job once more unconfined under cProfile and prints the functions where
the Sentry's time went. ``--tree NAME=DIR`` measures other checkouts too, interleaved round by
round with this one, to compare two commits.

Jobs: the micro benchmarks of :mod:`bench.benchmarks` by name (``getppid_loop``, ``stat_path``,
``open_close``, ``read_seq``, ``pthread_create_join``, ``fork_exec_wait``, ``true``) on a small
image of static programs, and the quick real workloads of :mod:`bench.real` (``real:find``,
``real:all``...) on the Debian image. Run as root from the repository root.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where the images this tool builds are kept between runs.
CACHE = Path(os.environ.get("SENTRIO_BENCH_CPU_CACHE", "/var/tmp/sentrio-bench-cpu"))
#: The line the wrapped Sentry prints on stderr at exit: ``MARKER <system calls served>``.
MARKER = "sentrio-bench-cpu: served"
#: Iterations of the micro jobs (smaller than bench.run's: CPU time needs no long runs).
MICRO_ITERATIONS = {"getppid_loop": 20_000, "stat_path": 5_000, "open_close": 5_000, "read_seq": 1,
                    "pthread_create_join": 300, "fork_exec_wait": 50, "pipe_throughput": 256}
_TICK = os.sysconf("SC_CLK_TCK")

#: Run in the Sentry's interpreter instead of ``-m kernel``: counts system calls (and profiles).
_WRAPPER = """
import atexit, os, sys
sys.argv[0] = "kernel"
profile = os.environ.get("SENTRIO_BENCH_CPU_PROFILE")
if profile:
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
def report():
    from kernel.task import Task
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)
    sys.stderr.write("\\n%s %d\\n" % (MARKER, Task.served))
    sys.stderr.flush()
atexit.register(report)
import runpy
runpy.run_module("kernel", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class Job:
    """A guest command line on an image (``image`` is "micro" or "real")."""

    name: str
    argv: tuple[str, ...]
    image: str


@dataclass
class Sample:
    """One run: the Sentry's own CPU in milliseconds and the system calls it served."""

    cpu_ms: float
    syscalls: int


@dataclass
class Result:
    job: Job
    tree: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def cpu_ms(self) -> float:
        return statistics.median(s.cpu_ms for s in self.samples)

    @property
    def syscalls(self) -> int:
        return int(statistics.median(s.syscalls for s in self.samples))


def micro_jobs() -> dict[str, Job]:
    """The micro benchmarks, with this tool's iteration counts, and ``true`` (start-up only)."""
    jobs = {"true": Job("true", ("/bench/true",), "micro")}
    for name, iterations in MICRO_ITERATIONS.items():
        jobs[name] = Job(name, (f"/{name}", str(iterations)), "micro")
    return jobs


def real_jobs() -> dict[str, Job]:
    """The quick variants of the real workloads, as ``real:<first word of the name>``."""
    from bench import real

    return {f"real:{job.name.split()[0]}": Job(f"real:{job.name.split()[0]}",
                                                tuple(real.job_argv(job, quick=True)), "real")
            for job in real.JOBS}


def resolve(names: Sequence[str]) -> list[Job]:
    """Jobs by name; ``micro`` and ``real:all`` name whole groups."""
    known = micro_jobs() | real_jobs()
    jobs: list[Job] = []
    for name in names:
        if name == "micro":
            jobs += [job for job in micro_jobs().values() if job.name != "true"]
        elif name == "real:all":
            jobs += list(real_jobs().values())
        elif name in known:
            jobs.append(known[name])
        else:
            raise SystemExit(f"unknown job {name!r}; known: micro, real:all, {', '.join(known)}")
    return jobs


def micro_image() -> Path:
    """The image of static benchmark programs, built once into the cache."""
    from bench.benchmarks import BENCHMARKS
    from bench.run import build_image

    image = CACHE / "micro"
    stamp = image / ".complete"  # names the programs built: a new one rebuilds the image
    programs = " ".join(sorted(MICRO_ITERATIONS))
    if not stamp.exists() or stamp.read_text() != programs:
        build_image([b for b in BENCHMARKS if b.name in MICRO_ITERATIONS], image)
        stamp.write_text(programs)
    return image


def real_image() -> Path:
    """The quick Debian image of :mod:`bench.real`, copied once into the cache."""
    from bench import real

    return real.build_debian_image(CACHE / "real", quick=True)


def run_sentry(tree: Path, image: Path, argv: Sequence[str], profile: Path | None = None,
               timeout: float = 600) -> tuple[Sample, str]:
    """Run the Sentry of checkout ``tree`` on one command; its CPU and system calls, and the
    guest's stdout (to check it did its work)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed Sentry runs from bytecode
    extra = []
    if profile is not None:
        env["SENTRIO_BENCH_CPU_PROFILE"] = str(profile)
        extra = ["--debug-unconfined"]  # the profile is written after the run, to the host
    wrapper = _WRAPPER.replace("MARKER", repr(MARKER))
    command = [sys.executable, "-c", wrapper, "run", *extra, str(image), "--", *argv]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=tree, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            cpu_ms = _cpu_at_exit(process.pid, timeout)
        finally:
            process.kill() if process.poll() is None else None
            process.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    served = [line for line in stderr.splitlines() if line.startswith(MARKER)]
    if process.returncode != 0 or not served:
        raise RuntimeError(f"{' '.join(argv)} failed (status {process.returncode}):\n{stderr[-2000:]}")
    return Sample(cpu_ms, int(served[-1].split()[-1])), stdout


def _cpu_at_exit(pid: int, timeout: float) -> float:
    """The CPU milliseconds of process ``pid`` itself, read once it has exited and before it is
    reaped. (Polls: waitid has no timeout; a hung run is killed after ``timeout`` seconds.)"""
    import time

    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if info is not None:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Sentry ran for more than {timeout} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) * 1000 / _TICK


def top_functions(profile: Path, count: int) -> str:
    """The ``count`` functions with the most time of their own in a cProfile dump."""
    import io

    text = io.StringIO()
    stats = pstats.Stats(str(profile), stream=text)
    stats.sort_stats("tottime").print_stats(count)
    lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[start:])


def per_call_us(result: Result, startup_ms: float | None) -> tuple[float, float | None]:
    """µs of Sentry CPU per system call: raw, and with the start-up's CPU taken off."""
    calls = max(result.syscalls, 1)
    raw = result.cpu_ms * 1000 / calls
    if startup_ms is None:
        return raw, None
    return raw, max(result.cpu_ms - startup_ms, 0.0) * 1000 / calls


def table(results: list[Result], startup: dict[str, float]) -> str:
    """The markdown table of a session's results."""
    lines = ["| job | tree | Sentry CPU ms | system calls | µs CPU/call | µs CPU/call, start-up off |",
             "|---|---|---|---|---|---|"]
    for result in results:
        raw, net = per_call_us(result, startup.get(result.tree) if result.job.name != "true" else None)
        spread = f" [{min(s.cpu_ms for s in result.samples):.0f}–{max(s.cpu_ms for s in result.samples):.0f}]"
        lines.append(f"| {result.job.name} | {result.tree} | {result.cpu_ms:.0f}{spread} | {result.syscalls} | "
                     f"{raw:.1f} | {'' if net is None else f'{net:.1f}'} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", nargs="*", default=["micro"],
                        help="job names; 'micro' (default) and 'real:all' name groups")
    parser.add_argument("--repeat", "-r", type=int, default=3, help="runs per job and tree, interleaved")
    parser.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                        help="also measure the checkout DIR, as NAME (repeatable)")
    parser.add_argument("--profile", action="store_true", help="profile each job once (unconfined) and "
                        "print the top functions")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    jobs = resolve(args.jobs)
    trees = {"this": REPO_ROOT}
    for spec in args.tree:
        name, _, directory = spec.partition("=")
        trees[name] = Path(directory).resolve()
    from bench.run import precompile

    for directory in trees.values():
        precompile(directory)
    images = {kind: (micro_image() if kind == "micro" else real_image())
              for kind in {job.image for job in jobs} | {"micro"}}
    startup_job = micro_jobs()["true"]
    results = {(job.name, tree): Result(job, tree) for job in [startup_job, *jobs] for tree in trees}
    for round_number in range(args.repeat):
        for job in [startup_job, *jobs]:
            for tree, directory in trees.items():
                print(f"[cpu] {job.name} @{tree} round {round_number + 1}/{args.repeat}", file=sys.stderr)
                sample, _ = run_sentry(directory, images[job.image], job.argv)
                results[(job.name, tree)].samples.append(sample)
    startup = {tree: results[("true", tree)].cpu_ms for tree in trees}
    print(f"Sentry CPU per job, median of {args.repeat}, load {os.getloadavg()[0]:.1f}\n")
    print(table(list(results.values()), startup))
    if args.profile:
        scratch = Path(tempfile.mkdtemp(prefix="sentrio-cpu-profile-"))
        try:
            for job in jobs:
                for tree, directory in trees.items():
                    dump = scratch / f"{tree}.prof"
                    run_sentry(directory, images[job.image], job.argv, profile=dump)
                    print(f"\n### {job.name} @{tree} (unconfined, cProfile)\n")
                    print(top_functions(dump, args.top))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
