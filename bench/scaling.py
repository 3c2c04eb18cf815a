"""Scaling curves: how each cost grows with the size of the work, native vs runsc vs Sentrio.

``python -m bench.run --scaling [--quick]`` runs ``bench/programs/scaling.c`` once per point and
runtime (interleaved), writes one PNG per curve into ``docs/`` (``scaling-<name>.png``, log-log
axes) and prints, per curve, the log-log slope of each runtime: how the cost grows with the size
(0 flat, 1 linear). A curve whose Sentrio slope exceeds runsc's by more than
:data:`SLOPE_MARGIN` is named as worse. Nothing here asserts on timing.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"

#: How much steeper than runsc's a Sentrio slope may be before the curve is named as worse.
SLOPE_MARGIN = 0.15


@dataclass(frozen=True)
class Curve:
    """One curve: ``scaling KIND x rounds(x)`` at each x; ``value=`` in ``unit``."""

    name: str
    kind: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]
    rounds: Callable[[int], int]
    xlabel: str
    unit: str
    title: str
    lower_is_better: bool = True

    def argv(self, size: int, quick: bool) -> list[str]:
        """The guest command line of one point (fewer rounds when ``quick``)."""
        rounds = self.rounds(size)
        if quick:
            rounds = max(1, rounds // 4)
        return ["/scaling", self.kind, str(size), str(rounds)]


CURVES: list[Curve] = [
    Curve("fork", "fork", (1, 16, 64, 256, 1024), (1, 16, 64), lambda mib: 20,
          "parent's written memory (MiB)", "µs per fork+exit+wait", "fork vs parent size"),
    Curve("threads", "threads", (1, 2, 4, 8, 16, 32, 64), (1, 4, 16), lambda n: 2000,
          "threads making getppid at once", "µs per call (overall)", "threads making system calls"),
    Curve("processes", "procs", (1, 4, 16, 64, 256), (1, 4, 16), lambda n: 1000,
          "processes making getppid at once", "µs per call (overall)", "processes making system calls"),
    Curve("stat-depth", "stat", (1, 4, 16, 64), (1, 8), lambda depth: 2000,
          "path depth (components)", "µs per stat", "stat vs path depth"),
    Curve("open-depth", "open", (1, 4, 16, 64), (1, 8), lambda depth: 2000,
          "path depth (components)", "µs per open+close", "open vs path depth"),
    Curve("getdents", "getdents", (1000, 10000, 100000), (1000, 5000), lambda n: 3,
          "directory entries", "µs per entry", "getdents vs directory size"),
    Curve("pipe-chunk", "pipe", (512, 4096, 65536, 1 << 20), (4096, 65536), lambda chunk: 64,
          "write size (bytes)", "MiB/s", "pipe throughput vs chunk size", lower_is_better=False),
    Curve("file-chunk", "file", (512, 4096, 65536, 1 << 20), (4096, 65536), lambda chunk: 64,
          "write/read size (bytes)", "MiB/s", "file throughput vs chunk size", lower_is_better=False),
    Curve("touch", "touch", (64, 256, 1024, 4096), (64, 128), lambda mib: 1,
          "anonymous mapping touched (MiB)", "ns per page", "a mapping touched, page by page"),
]


def by_name(names: Sequence[str]) -> list[Curve]:
    """The curves named (all when none is); ``KeyError`` for an unknown name."""
    known = {curve.name: curve for curve in CURVES}
    return [known[name] for name in names] if names else list(CURVES)


Points = dict[str, list[tuple[int, float]]]
"""Runner name -> (size, figure) pairs, in size order."""


def median_points(samples: dict[str, dict[int, list[float]]]) -> Points:
    """The median figure per runner and size."""
    return {runner: sorted((size, statistics.median(values)) for size, values in by_size.items() if values)
            for runner, by_size in samples.items()}


def slope(points: Sequence[tuple[int, float]]) -> float | None:
    """The least-squares slope of log(figure) against log(size); ``None`` under two points."""
    usable = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(usable) < 2:
        return None
    mean_x = statistics.fmean(x for x, _ in usable)
    mean_y = statistics.fmean(y for _, y in usable)
    spread = sum((x - mean_x) ** 2 for x, _ in usable)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in usable) / spread


def worse_than_runsc(curve: Curve, points: Points) -> bool:
    """Whether Sentrio's cost grows faster than runsc's on this curve (throughputs: falls faster
    or grows slower)."""
    ours, theirs = slope(points.get("sentrio", [])), slope(points.get("runsc", []))
    if ours is None or theirs is None:
        return False
    if curve.lower_is_better:
        return ours > theirs + SLOPE_MARGIN
    return ours < theirs - SLOPE_MARGIN


def write_plot(curve: Curve, points: Points, path: Path) -> Path:
    """Draw the curve's points, one line per runtime, log-log, into the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(6, 4), dpi=100)
    try:
        for runner, series in points.items():
            if series:
                xs, ys = zip(*series)
                axes.plot(xs, ys, marker="o", label=runner)
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel(curve.xlabel)
        axes.set_ylabel(curve.unit)
        axes.set_title(curve.title)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    finally:
        pyplot.close(figure)
    return path


def summary_table(results: Sequence[tuple[Curve, Points]], runners: Sequence[str]) -> str:
    """Markdown: per curve, each runtime's slope and whether Sentrio's is worse than runsc's."""
    lines = ["| curve | " + " | ".join(f"{name} slope" for name in runners) + " | Sentrio worse than runsc |",
             "|" + "---|" * (len(runners) + 2)]
    for curve, points in results:
        slopes = [slope(points.get(name, [])) for name in runners]
        cells = ["—" if value is None else f"{value:+.2f}" for value in slopes]
        worse = "**yes**" if worse_than_runsc(curve, points) else "no"
        lines.append(f"| {curve.name} | " + " | ".join(cells) + f" | {worse} |")
    return "\n".join(lines)
