"""The list of benchmarks: which C program, with which arguments, and how to read its figure.

A benchmark is a static C program in ``bench/programs/`` that times its own inner loop (so that
process start-up and sandbox boot are excluded) and prints one figure per operation. To add one,
write the program and append a :class:`Benchmark` to :data:`BENCHMARKS`; the runner compiles it,
puts it in an image at ``/<name>`` and runs it under every runtime.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROGRAMS_DIR = Path(__file__).resolve().parent / "programs"


class ParseError(ValueError):
    """A benchmark's output did not contain the figure it should print."""


@dataclass(frozen=True)
class Benchmark:
    """One benchmark program and how to interpret what it prints.

    ``args`` turns the iteration count into the program's argument list; ``parse`` turns its
    stdout into one figure in ``unit``. ``lower_is_better`` says how to read ratios (a time
    per call: lower is better; a throughput: higher is better). With ``measures_memory`` the
    figure is instead the peak memory of the runtime's whole process tree while the program
    runs (:mod:`bench.memory`), and ``parse`` only checks that the program did its work.
    With ``measures_wall`` the figure is the wall time of the whole runtime command, from its
    start to its exit (sandbox boot and tear-down included), in milliseconds.
    """

    name: str
    source: Path
    args: Callable[[int], list[str]]
    parse: Callable[[str], float]
    unit: str
    default_iterations: int
    description: str
    lower_is_better: bool = True
    measures_memory: bool = False
    measures_wall: bool = False

    @property
    def guest_path(self) -> str:
        """Where the compiled program sits inside the image."""
        return f"/{self.name}"


def parse_key(key: str, scale: float = 1.0) -> Callable[[str], float]:
    """A parser that finds ``key=<number>`` in the output and multiplies it by ``scale``."""
    pattern = re.compile(rf"\b{re.escape(key)}=([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)")

    def parse(output: str) -> float:
        match = pattern.search(output)
        if match is None:
            raise ParseError(f"no {key}=<number> in output: {output.strip()[:200]!r}")
        return float(match.group(1)) * scale

    return parse


def no_args(iterations: int) -> list[str]:
    """Arguments for programs that take none (the iteration count is not theirs to use)."""
    return []


def exits_cleanly(output: str) -> float:
    """The parser of a program that prints nothing: it ran (its exit status was checked)."""
    return 0.0


def iterations_only(iterations: int) -> list[str]:
    """Arguments for programs whose only argument is the iteration count."""
    return [str(iterations)]


BENCHMARKS: list[Benchmark] = [
    Benchmark(
        name="startup_true",
        source=PROGRAMS_DIR / "true.c",
        args=no_args,
        parse=exits_cleanly,
        unit="ms wall",
        default_iterations=1,
        description="the whole command running a static program that exits at once: sandbox "
                    "start-up and tear-down (`run IMAGE -- /bin/true`)",
        measures_wall=True,
    ),
    Benchmark(
        name="getppid_loop",
        source=PROGRAMS_DIR / "getppid_loop.c",
        args=iterations_only,
        parse=parse_key("ns_per_call", scale=1e-3),
        unit="µs/call",
        default_iterations=100_000,
        description="syscall(SYS_getppid) in a loop: the cost of one trapped system call round trip",
    ),
    Benchmark(
        name="open_close",
        source=PROGRAMS_DIR / "open_close.c",
        args=iterations_only,
        parse=parse_key("ns_per_call", scale=1e-3),
        unit="µs/call",
        default_iterations=20_000,
        description="open(\"/bench/small\") + close: path walk and file description life",
    ),
    Benchmark(
        name="stat_path",
        source=PROGRAMS_DIR / "stat_path.c",
        args=iterations_only,
        parse=parse_key("ns_per_call", scale=1e-3),
        unit="µs/call",
        default_iterations=20_000,
        description="stat(\"/bench/small\"): path walk and attributes",
    ),
    Benchmark(
        name="stat_after_compute",
        source=PROGRAMS_DIR / "stat_after_compute.c",
        args=iterations_only,
        parse=parse_key("ns_per_call", scale=1e-3),
        unit="µs/call",
        default_iterations=3_000,
        description="three stat(\"/bench/small\") after each ~100 µs of arithmetic: the call that "
                    "ends a computation, which a loop of calls never shows",
    ),
    Benchmark(
        name="read_seq",
        source=PROGRAMS_DIR / "read_seq.c",
        args=iterations_only,
        parse=parse_key("mib_per_s"),
        unit="MiB/s",
        default_iterations=4,
        description="read a 64 MiB image file sequentially in 1 MiB reads (N passes)",
        lower_is_better=False,
    ),
    Benchmark(
        name="pipe_throughput",
        source=PROGRAMS_DIR / "pipe_throughput.c",
        args=iterations_only,
        parse=parse_key("mib_per_s"),
        unit="MiB/s",
        default_iterations=256,
        description="N MiB from a forked writer to its parent through a pipe, 64 KiB writes",
        lower_is_better=False,
    ),
    Benchmark(
        name="fork_exec_wait",
        source=PROGRAMS_DIR / "fork_exec_wait.c",
        args=iterations_only,
        parse=parse_key("us_per_call", scale=1e-3),
        unit="ms/call",
        default_iterations=200,
        description="fork + execve(\"/bench/true\") + waitpid",
    ),
    Benchmark(
        name="pthread_create_join",
        source=PROGRAMS_DIR / "pthread_create_join.c",
        args=iterations_only,
        parse=parse_key("us_per_call"),
        unit="µs/call",
        default_iterations=2_000,
        description="pthread_create of a thread that returns at once + pthread_join",
    ),
    Benchmark(
        name="memory_idle",
        source=PROGRAMS_DIR / "memory_hold.c",
        args=iterations_only,
        parse=parse_key("held_mib"),
        unit="MiB peak",
        default_iterations=1,
        description="peak PSS of the whole sandbox (kernel, file servers, stubs, guest) around a "
                    "guest holding 1 MiB",
        measures_memory=True,
    ),
    Benchmark(
        name="memory_64m",
        source=PROGRAMS_DIR / "memory_hold.c",
        args=iterations_only,
        parse=parse_key("held_mib"),
        unit="MiB peak",
        default_iterations=64,
        description="the same around a guest holding 64 MiB: what guest memory costs on top",
        measures_memory=True,
    ),
    # --- the network (issue 13): the netstack's loopback, native and runsc's by the same programs
    Benchmark(
        name="tcp_throughput",
        source=PROGRAMS_DIR / "tcp_throughput.c",
        args=iterations_only,
        parse=parse_key("mib_per_s"),
        unit="MiB/s",
        default_iterations=128,
        description="N MiB from a forked writer to its parent over TCP on 127.0.0.1, 64 KiB writes",
        lower_is_better=False,
    ),
    Benchmark(
        name="tcp_round_trip",
        source=PROGRAMS_DIR / "tcp_round_trip.c",
        args=iterations_only,
        parse=parse_key("us_per_call"),
        unit="µs/call",
        default_iterations=2_000,
        description="a one-byte ping-pong over TCP on 127.0.0.1 (TCP_NODELAY) with a forked echoer",
    ),
    Benchmark(
        name="unix_round_trip",
        source=PROGRAMS_DIR / "tcp_round_trip.c",
        args=lambda iterations: [str(iterations), "unix"],
        parse=parse_key("us_per_call"),
        unit="µs/call",
        default_iterations=2_000,
        description="the same ping-pong over a socketpair(AF_UNIX, SOCK_STREAM)",
    ),
    Benchmark(
        name="tcp_accept",
        source=PROGRAMS_DIR / "tcp_accept.c",
        args=iterations_only,
        parse=parse_key("conn_per_s"),
        unit="conn/s",
        default_iterations=500,
        description="connect (a forked client) + accept + close on 127.0.0.1, connections per second",
        lower_is_better=False,
    ),
]


def by_name(name: str) -> Benchmark:
    """The benchmark called ``name``; ``KeyError`` if there is none."""
    for benchmark in BENCHMARKS:
        if benchmark.name == name:
            return benchmark
    raise KeyError(name)
