"""Run Sentrio's benchmarks natively, under ``runsc --platform=ptrace`` and under Sentrio.

``python -m bench.run`` (or ``python bench/run.py``) compiles every benchmark program with
``gcc -static -O2`` into a temporary image directory, runs each under every runtime ``--repeat``
times (interleaved, so that the VM's noise spreads over all of them), and prints a Markdown table
of the median figure per runtime with the ratios Sentrio/runsc, Sentrio/native and runsc/native.
The same results, with every sample and a description of the machine, go to
``bench/results/<UTC time>.json``.

A runtime that fails is reported as ``n/a (error: ...)``, never as a crash of the runner.
Nothing here asserts on timing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

if not __package__:  # run as ``python bench/run.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchmarks import BENCHMARKS, PROGRAMS_DIR, Benchmark, parse_key
from bench.memory import PeakMemory, RunCgroup
from bench.runners import RATIOS, RUNNERS, Runner, runner_version, sentrio_tree, served_tree
from bench.zygote import Zygote, ZygoteError

#: The zygote of each served runner in this session, or why it did not start.
Zygotes = dict[str, Zygote | ZygoteError]

#: Size of /bench/big, the file read_seq reads.
BIG_FILE_SIZE = 64 << 20

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_REPEAT = 5
DEFAULT_TIMEOUT = 300.0


class BuildError(RuntimeError):
    """A benchmark program did not compile."""


@dataclass
class Measurement:
    """Every sample of one benchmark under one runner, or why there are none."""

    runner: str
    samples: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median(self) -> float | None:
        """The median sample, or ``None`` when the runner failed or never ran."""
        if self.error is not None or not self.samples:
            return None
        return statistics.median(self.samples)


# --- building ---------------------------------------------------------------------------------

def compile_program(benchmark: Benchmark, binary: Path) -> Path:
    """Compile the benchmark's C source statically to ``binary``; return it."""
    return compile_source(benchmark.source, binary)


def compile_source(source: Path, binary: Path) -> Path:
    """Compile a C source statically to ``binary``; return it."""
    command = ["gcc", "-static", "-O2", "-Wall", "-pthread", "-o", str(binary), str(source)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"{' '.join(command)} failed:\n{done.stderr}")
    return binary


def precompile(tree: Path) -> None:
    """Compile a Sentrio checkout's modules to bytecode, as installing it would.

    With ``PYTHONDONTWRITEBYTECODE`` set (as in the developers' shells here) Python never writes
    ``__pycache__``, and every run compiled ~290 modules from source again: ~0.35 s of start-up
    on a quiet machine, which no installed copy pays. Measured runs load the bytecode instead.
    """
    packages = [name for name in ("abi", "kernel", "services", "platforms", "gofer") if (tree / name).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], cwd=tree,
                   stdout=subprocess.DEVNULL, check=False)


def precompile_sentrio(runners: Sequence[Runner]) -> None:
    """:func:`precompile` every Sentrio checkout among ``runners``."""
    for runner in runners:
        if runner.name.startswith("sentrio") and runner.cwd is not None:
            precompile(runner.cwd)


def build_image(benchmarks: Iterable[Benchmark], image: Path) -> Path:
    """Make ``image`` a root directory holding each benchmark's program at its guest path."""
    image.mkdir(parents=True, exist_ok=True)
    for benchmark in benchmarks:
        compile_program(benchmark, image / benchmark.guest_path.lstrip("/"))
    add_bench_files(image / "bench")
    return image


def add_bench_files(directory: Path) -> None:
    """The files the file and process benchmarks use: a small file, a 64 MiB file with real
    (non-sparse) contents, and a static ``true`` to execute."""
    directory.mkdir(exist_ok=True)
    (directory / "small").write_bytes(b"sentrio benchmark file\n" * 64)
    big = directory / "big"
    if not big.exists() or big.stat().st_size != BIG_FILE_SIZE:
        block = bytes(range(256)) * 4096  # 1 MiB
        with big.open("wb") as out:
            for _ in range(BIG_FILE_SIZE // len(block)):
                out.write(block)
    compile_source(PROGRAMS_DIR / "true.c", directory / "true")


# --- running ----------------------------------------------------------------------------------

def first_line(text: str) -> str:
    """The most telling line of an error output: the exception of a traceback, else the first."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("Traceback"):
        return lines[-1]
    return lines[0]


def pin_to(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child (and so all it starts) to ``cpu``, or ``None``."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def run_in_own_group(command: list[str], cwd: Path | None, timeout: float, cpu: int | None,
                     sample_memory: bool = False, env: dict[str, str] | None = None,
                     ) -> tuple[subprocess.CompletedProcess[str], float | None]:
    """Run ``command`` in a new session (with ``env`` added to ours); on timeout kill its whole
    process group. With ``sample_memory``, also return the peak memory (MiB) of everything it
    started.

    Raises ``RuntimeError`` on timeout, ``OSError`` if it cannot start.
    """
    cgroup = RunCgroup(f"sentrio-bench-{os.getpid()}") if sample_memory else None
    pin = pin_to(cpu)

    def prepare_child() -> None:
        if pin is not None:
            pin()
        if cgroup is not None:
            cgroup.enter()

    try:
        with subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True,
                              env=os.environ | env if env else None,
                              preexec_fn=prepare_child) as process:
            sampler = PeakMemory(process.pid, cgroup) if cgroup is not None else None
            with sampler or contextlib.nullcontext():
                try:
                    stdout, stderr = process.communicate(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.communicate()
                    raise RuntimeError(f"timed out after {timeout:g} s") from None
    finally:
        if cgroup is not None:
            peak = sampler.peak_mib if sampler is not None else None
            cgroup.remove()
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return done, peak if cgroup is not None else None


@contextlib.contextmanager
def zygotes_for(runners: Sequence[Runner]) -> Iterator[Zygotes]:
    """A zygote for each served runner, for as long as the session lasts."""
    with contextlib.ExitStack() as stack:
        zygotes: Zygotes = {}
        for runner in runners:
            if runner.served:
                progress(f"starting a zygote for {runner.name}")
                try:
                    zygotes[runner.name] = stack.enter_context(Zygote(runner.cwd or Path.cwd(), runner.name))
                except ZygoteError as error:
                    progress(str(error))
                    zygotes[runner.name] = error
        yield zygotes


def zygote_memory(zygotes: Zygotes) -> dict[str, dict[str, float]]:
    """What each idle zygote holds (reported once beside the served runs' own memory)."""
    return {name: zygote.memory_mib() for name, zygote in zygotes.items() if isinstance(zygote, Zygote)}


def launch(runner: Runner, argv: list[str], image: Path, timeout: float, cpu: int | None,
           zygotes: Zygotes, sample_memory: bool = False,
           ) -> tuple[subprocess.CompletedProcess[str], float | None, float]:
    """Run guest ``argv`` under ``runner``: the finished process, its peak memory (with
    ``sample_memory``) and its wall seconds. ``RuntimeError`` if it failed to start, timed out,
    exited non-zero or (served) ran without its zygote."""
    command = runner.command(image, argv)
    env = dict(runner.env)
    zygote = zygotes.get(runner.name)
    if isinstance(zygote, ZygoteError):
        raise RuntimeError(str(zygote))
    if zygote is not None:
        env |= zygote.environment()
    try:
        started = time.monotonic()
        done, peak_mib = run_in_own_group(command, runner.cwd, timeout, cpu, sample_memory, env)
        wall = time.monotonic() - started
    except OSError as error:
        raise RuntimeError(f"cannot start {command[0]}: {error}") from None
    finally:
        not_served = zygote.check_served() if zygote is not None else None  # (after a failed run too)
    if done.returncode != 0:
        detail = first_line(done.stderr) or first_line(done.stdout) or "no output"
        raise RuntimeError(f"exit {done.returncode}: {detail}")
    if not_served is not None:
        raise RuntimeError(not_served)
    return done, peak_mib, wall


def wall_seconds(runner: Runner, argv: list[str], image: Path, timeout: float, cpu: int | None,
                 zygotes: Zygotes) -> float:
    """The wall seconds of one run of ``argv`` under ``runner``."""
    return launch(runner, argv, image, timeout, cpu, zygotes)[2]


def run_once(runner: Runner, benchmark: Benchmark, image: Path, iterations: int,
             timeout: float, cpu: int | None, zygotes: Zygotes) -> float:
    """Run the benchmark once under ``runner``; return its figure or raise ``RuntimeError``."""
    argv = [benchmark.guest_path, *benchmark.args(iterations)]
    done, peak_mib, wall = launch(runner, argv, image, timeout, cpu, zygotes, benchmark.measures_memory)
    try:
        figure = benchmark.parse(done.stdout)  # a memory benchmark's output still proves it ran
    except ValueError as error:
        raise RuntimeError(str(error)) from None
    if benchmark.measures_wall:
        return wall * 1e3
    return peak_mib if peak_mib is not None else figure


def round_robin(name: str, runners: Sequence[Runner], repeat: int,
                sample: Callable[[Runner], float]) -> dict[str, Measurement]:
    """``sample(runner)`` ``repeat`` times for each runner, round-robin (so that the machine's
    noise spreads over all of them). A runner that fails once is not run again for ``name``."""
    results = {runner.name: Measurement(runner.name) for runner in runners}
    for round_number in range(1, repeat + 1):
        for runner in runners:
            measurement = results[runner.name]
            if measurement.error is not None:
                continue
            progress(f"{name}: {runner.name} run {round_number}/{repeat}")
            try:
                measurement.samples.append(sample(runner))
            except RuntimeError as error:
                measurement.error = str(error)
                progress(f"{name}: {runner.name} failed: {error}")
    return results


def measure(benchmark: Benchmark, runners: Sequence[Runner], image: Path, iterations: int,
            repeat: int, timeout: float, cpu: int | None, zygotes: Zygotes) -> dict[str, Measurement]:
    """Run the benchmark ``repeat`` times under each runner, round-robin."""
    return round_robin(benchmark.name, runners, repeat,
                       lambda runner: run_once(runner, benchmark, image, iterations, timeout, cpu, zygotes))


def ratio(results: dict[str, Measurement], numerator: str, denominator: str) -> float | None:
    """``numerator``'s median over ``denominator``'s, or ``None`` if either is missing."""
    top, bottom = results.get(numerator), results.get(denominator)
    if top is None or bottom is None or top.median is None or not bottom.median:
        return None
    return top.median / bottom.median


# --- reporting --------------------------------------------------------------------------------

def progress(message: str) -> None:
    """One line of progress on stderr (stdout carries only the report)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def format_figure(value: float) -> str:
    """Three or four significant digits, without exponent notation."""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def format_cell(measurement: Measurement | None) -> str:
    """Median with the [min–max] range, or ``n/a (error: …)``."""
    if measurement is None:
        return "—"
    if measurement.error is not None:
        return f"n/a (error: {measurement.error})".replace("|", "\\|")
    if measurement.median is None:
        return "—"
    low, high = min(measurement.samples), max(measurement.samples)
    return f"**{format_figure(measurement.median)}** [{format_figure(low)}–{format_figure(high)}]"


def format_ratio(value: float | None) -> str:
    """``1.23×``, or ``—`` when a side is missing."""
    return "—" if value is None else f"{format_figure(value)}×"


def markdown_table(rows: list[tuple[Benchmark, dict[str, Measurement]]],
                   runners: Sequence[Runner]) -> str:
    """The report: one row per benchmark, a column per runner, then the ratios."""
    labels = {runner.name: runner.short for runner in RUNNERS}
    header = ["benchmark", "unit", *(runner.label for runner in runners),
              *(f"{labels[a]}/{labels[b]}" for a, b in RATIOS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for benchmark, results in rows:
        cells = [benchmark.name, benchmark.unit,
                 *(format_cell(results.get(runner.name)) for runner in runners),
                 *(format_ratio(ratio(results, a, b)) for a, b in RATIOS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def command_output(command: Sequence[str]) -> str | None:
    """The first line a host command prints, or ``None`` if it cannot run."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return first_line(done.stdout) or None


def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return None


def machine_info(runners: Sequence[Runner]) -> dict[str, object]:
    """What the figures depend on: kernel, CPU, cores, load, compiler and runtime versions."""
    return {
        "hostname": platform.node(),
        "kernel": platform.release(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "python": platform.python_version(),
        "gcc": command_output(["gcc", "--version"]),
        "versions": {runner.name: runner_version(runner) for runner in runners},
    }


def write_json(path: Path, report: dict[str, object]) -> None:
    """Write the machine-readable report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


# --- command line -----------------------------------------------------------------------------

def select(only: Sequence[str], trees: Sequence[Runner] = ()) -> tuple[list[Benchmark], list[Runner]]:
    """Benchmarks and runners named by ``--only`` (all of a kind when none of it is named), and
    then every ``--sentrio-tree`` runner."""
    benchmark_names = {benchmark.name for benchmark in BENCHMARKS}
    runner_names = {runner.name for runner in RUNNERS}
    unknown = set(only) - benchmark_names - runner_names
    if unknown:
        raise SystemExit(f"--only: unknown name(s) {sorted(unknown)}; "
                         f"benchmarks: {sorted(benchmark_names)}, runners: {sorted(runner_names)}")
    wanted_benchmarks = set(only) & benchmark_names or benchmark_names
    wanted_runners = set(only) & runner_names or runner_names
    return ([b for b in BENCHMARKS if b.name in wanted_benchmarks],
            [r for r in RUNNERS if r.name in wanted_runners] + list(trees))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The runner's options."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", "-n", type=int,
                        help="operations per run (default: each benchmark's own, e.g. 100000)")
    parser.add_argument("--repeat", "-r", type=int, default=DEFAULT_REPEAT,
                        help=f"runs per benchmark and runtime; the median is reported (default {DEFAULT_REPEAT})")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this benchmark or runtime (native, runsc, sentrio, served); "
                             "repeatable, or comma-separated")
    parser.add_argument("--cpu", type=int, metavar="N",
                        help="pin every runtime and all it starts to CPU N (default: unpinned)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds before one run counts as failed (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--output", type=Path,
                        help="JSON report path (default: bench/results/<UTC time>.json)")
    parser.add_argument("--sentrio-tree", action="append", default=[], metavar="NAME=DIR",
                        help="also run Sentrio from checkout DIR, as runner sentrio@NAME (compare "
                             "commits in one session); repeatable")
    parser.add_argument("--served-tree", action="append", default=[], metavar="NAME=DIR",
                        help="also run Sentrio served from checkout DIR (a zygote of its own), as "
                             "runner served@NAME; repeatable")
    parser.add_argument("--real", action="store_true",
                        help="run the real-workload jobs (bench/real.py) on a Debian image instead")
    parser.add_argument("--scaling", action="store_true",
                        help="measure the scaling curves (bench/scaling.py) and plot them into docs/")
    parser.add_argument("--quick", action="store_true",
                        help="with --real or --scaling: smaller jobs, fewer points (a few minutes)")
    parser.add_argument("--curve", action="append", default=[], metavar="NAME",
                        help="with --scaling: only this curve; repeatable")
    parser.add_argument("--plots", type=Path, metavar="DIR",
                        help="with --scaling: where the PNG files go (default: docs/)")
    parser.add_argument("--keep-image", type=Path, metavar="DIR",
                        help="build the image in DIR and keep it (default: a temporary directory)")
    args = parser.parse_args(argv)
    args.only = [name for item in args.only for name in item.split(",") if name]
    trees = []
    for option, items, make in (("--sentrio-tree", args.sentrio_tree, sentrio_tree),
                                ("--served-tree", args.served_tree, served_tree)):
        for item in items:
            name, sep, tree = item.partition("=")
            if not sep or not name or not Path(tree, "kernel", "__main__.py").is_file():
                parser.error(f"{option}: expected NAME=DIR with DIR a Sentrio checkout, got {item!r}")
            trees.append(make(name, Path(tree).resolve()))
    args.sentrio_tree = trees  # every runner of another checkout, cold and served
    if args.repeat < 1 or (args.iterations is not None and args.iterations < 1):
        parser.error("--repeat and --iterations must be positive")
    return args


def run_all(args: argparse.Namespace, image: Path) -> dict[str, object]:
    """Build the image, run every selected benchmark, print the table; return the report."""
    benchmarks, runners = select(args.only, args.sentrio_tree)
    started = dt.datetime.now(dt.UTC)
    progress(f"building {len(benchmarks)} program(s) into {image}")
    build_image(benchmarks, image)
    precompile_sentrio(runners)
    rows: list[tuple[Benchmark, dict[str, Measurement]]] = []
    with zygotes_for(runners) as zygotes:
        held = zygote_memory(zygotes)
        for benchmark in benchmarks:
            iterations = args.iterations or benchmark.default_iterations
            results = measure(benchmark, runners, image, iterations, args.repeat, args.timeout, args.cpu, zygotes)
            rows.append((benchmark, results))
    pinning = "unpinned" if args.cpu is None else f"pinned to CPU {args.cpu}"
    print(f"Sentrio benchmarks, {started:%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{os.cpu_count()} CPUs, median of {args.repeat} runs [min–max], {pinning}\n")
    print(markdown_table(rows, runners))
    print_zygote_memory(held)
    return {
        "started": started.isoformat(timespec="seconds"),
        "repeat": args.repeat,
        "zygote_memory_mib": held,
        "cpu": args.cpu,
        "machine": machine_info(runners),
        "commands": {runner.name: runner.command(Path("IMAGE"), ["/PROGRAM", "ARGS"]) for runner in runners},
        "benchmarks": [
            {
                "name": benchmark.name,
                "unit": benchmark.unit,
                "lower_is_better": benchmark.lower_is_better,
                "iterations": args.iterations or benchmark.default_iterations,
                "results": {name: asdict(m) | {"median": m.median} for name, m in results.items()},
                "ratios": {f"{a}/{b}": ratio(results, a, b) for a, b in RATIOS},
            }
            for benchmark, results in rows
        ],
    }


def print_zygote_memory(held: dict[str, dict[str, float]]) -> None:
    """One line per zygote: what it held idle, once for the whole session."""
    for name, memory in held.items():
        print(f"\n{name}: the idle zygote itself held {memory['charged']} MiB charged "
              f"({memory['pss']} MiB PSS), once for all its runs")


def run_real(args: argparse.Namespace, image: Path) -> dict[str, object]:
    """Every real-workload job under every runner, round-robin; the table of wall seconds."""
    from bench import real

    _, runners = select([name for name in args.only if name in {r.name for r in RUNNERS}], args.sentrio_tree)
    started = dt.datetime.now(dt.UTC)
    real.build_debian_image(image, args.quick)
    precompile_sentrio(runners)
    rows: list[tuple[Benchmark, dict[str, Measurement]]] = []
    repeat = 1 if args.quick and args.repeat == DEFAULT_REPEAT else args.repeat
    with zygotes_for(runners) as zygotes:
        held = zygote_memory(zygotes)
        for job in real.JOBS:
            results = round_robin(job.name, runners, repeat,
                                  functools.partial(wall_seconds, argv=real.job_argv(job, args.quick), image=image,
                                                    timeout=args.timeout, cpu=args.cpu, zygotes=zygotes))
            row = Benchmark(job.name, PROGRAMS_DIR, lambda n: [], float, "s wall", 1, job.command)
            rows.append((row, results))
    variant = "quick" if args.quick else "full"
    print(f"Sentrio real workloads ({variant}), {started:%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"load {os.getloadavg()[0]:.1f}, median of {repeat} [min–max]\n")
    print(markdown_table(rows, runners))
    print_zygote_memory(held)
    return {
        "started": started.isoformat(timespec="seconds"), "kind": "real", "quick": args.quick,
        "zygote_memory_mib": held,
        "machine": machine_info(runners),
        "jobs": [{"name": b.name, "command": b.description,
                  "results": {name: asdict(m) | {"median": m.median} for name, m in results.items()}}
                 for b, results in rows],
    }


def run_scaling(args: argparse.Namespace, image: Path) -> dict[str, object]:
    """Every point of every selected curve under every runner; PNGs and the slope table."""
    from bench import scaling

    _, runners = select([name for name in args.only if name in {r.name for r in RUNNERS}], args.sentrio_tree)
    try:
        curves = scaling.by_name(args.curve)
    except KeyError as error:
        raise SystemExit(f"--curve: unknown curve {error}; curves: {[c.name for c in scaling.CURVES]}") from None
    started = dt.datetime.now(dt.UTC)
    image.mkdir(parents=True, exist_ok=True)
    compile_source(PROGRAMS_DIR / "scaling.c", image / "scaling")
    (image / "tmp").mkdir(exist_ok=True)
    precompile_sentrio(runners)
    repeat = 1 if args.quick and args.repeat == DEFAULT_REPEAT else args.repeat
    results: list[tuple[scaling.Curve, scaling.Points]] = []
    plots = args.plots or scaling.DOCS_DIR
    with zygotes_for(runners) as zygotes:
        for curve in curves:
            samples: dict[str, dict[int, list[float]]] = {runner.name: {} for runner in runners}
            for size in curve.quick_sizes if args.quick else curve.sizes:
                for _ in range(repeat):
                    for runner in runners:
                        progress(f"{curve.name} {size}: {runner.name}")
                        try:
                            done, *_ = launch(runner, curve.argv(size, args.quick), image, args.timeout,
                                              args.cpu, zygotes)
                            samples[runner.name].setdefault(size, []).append(parse_key("value")(done.stdout))
                        except (RuntimeError, ValueError) as error:
                            progress(f"{curve.name} {size}: {runner.name} failed: {error}")
            points = scaling.median_points(samples)
            path = scaling.write_plot(curve, points, plots / f"scaling-{curve.name}.png")
            progress(f"wrote {path}")
            results.append((curve, points))
    print(f"Sentrio scaling curves, {started:%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"load {os.getloadavg()[0]:.1f}, log-log slopes\n")
    print(scaling.summary_table(results, [runner.name for runner in runners]))
    return {
        "started": started.isoformat(timespec="seconds"), "kind": "scaling", "quick": args.quick,
        "machine": machine_info(runners),
        "curves": [{"name": c.name, "unit": c.unit, "points": p} for c, p in results],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run, print the Markdown table, write the JSON report."""
    args = parse_args(argv)
    if args.real or args.scaling:
        with tempfile.TemporaryDirectory(prefix="sentrio-bench-") as temp:
            image = (args.keep_image or Path(temp) / "image").resolve()
            report = run_real(args, image) if args.real else run_scaling(args, image)
        stamp = str(report["started"]).replace(":", "").replace("+0000", "Z")
        output = args.output or RESULTS_DIR / f"{report['kind']}-{stamp}.json"
        write_json(output, report)
        progress(f"wrote {output}")
        return 0
    try:
        if args.keep_image is not None:
            report = run_all(args, args.keep_image.resolve())
        else:
            with tempfile.TemporaryDirectory(prefix="sentrio-bench-") as temp:
                image = Path(temp) / "image"
                report = run_all(args, image)
    except BuildError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    stamp = str(report["started"]).replace(":", "").replace("+0000", "Z")
    output = args.output or RESULTS_DIR / f"{stamp}.json"
    write_json(output, report)
    progress(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
