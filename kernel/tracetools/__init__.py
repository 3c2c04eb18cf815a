"""``python -m kernel trace summarize|timeline FILE``: read a ``--trace-messages`` trace back.

``summarize`` prints what the run did: the header (command, seed, rules), the system calls and
bus messages by name with their counts, errors and latency percentiles, the hottest paths (the
files the most messages named, with the time spent on them) and the faults injected.
``timeline`` writes an HTML page with one row per task: its system calls as spans, the bus
messages each sent beneath them, a tooltip on each.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kernel.tracetools.timeline import write_timeline

#: The newest trace format we read (see kernel.tracing.VERSION).
READS_VERSION = 2


class TraceError(ValueError):
    """A file that is not a trace we can read."""


@dataclass
class Trace:
    """A trace file's records, by type."""

    header: dict[str, Any] = field(default_factory=dict)
    syscalls: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, path: str) -> Trace:
        try:
            with open(path) as stream:
                return cls.parse(stream, path)
        except OSError as error:
            raise TraceError(f"{path}: {error.strerror or error}") from None

    @classmethod
    def parse(cls, lines: Iterable[str], name: str = "trace") -> Trace:
        trace = cls()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise TraceError(f"{name}:{number}: not a JSON record") from None
            if not isinstance(record, dict):
                raise TraceError(f"{name}:{number}: not a JSON object")
            kind = record.get("type", "message")  # version 1 had only messages, untyped
            if kind == "header":
                if int(record.get("version", 0)) > READS_VERSION:
                    raise TraceError(f"{name}: trace version {record['version']} is newer than this reader's")
                trace.header = record
            elif kind == "syscall":
                trace.syscalls.append(record)
            elif kind == "message":
                trace.messages.append(record)
            elif kind == "end":
                trace.end = record
        return trace


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-int(fraction * 1000) * len(sorted_values) // 1000))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Row:
    name: str
    count: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)

    def cells(self) -> list[str]:
        values = sorted(self.latencies)
        figures = [percentile(values, f) for f in (0.5, 0.9, 0.99)] + [values[-1] if values else 0.0]
        return [self.name, str(self.count), str(self.errors), *(f"{v:.1f}" for v in figures)]


def syscall_rows(trace: Trace) -> list[Row]:
    rows: dict[str, Row] = {}
    for record in trace.syscalls:
        row = rows.setdefault(record["op"], Row(record["op"]))
        row.count += 1
        result = record.get("result")
        row.errors += isinstance(result, int) and -4096 < result < 0
        row.latencies.append((record["end"] - record["start"]) * 1e6)
    return sorted(rows.values(), key=lambda r: (-r.count, r.name))


def message_rows(trace: Trace) -> list[Row]:
    rows: dict[str, Row] = {}
    for record in trace.messages:
        name = f"{record['service']}.{record['op']}"
        row = rows.setdefault(name, Row(name))
        row.count += 1
        row.errors += "errno" in record
        row.latencies.append(float(record.get("us", 0.0)))
    return sorted(rows.values(), key=lambda r: (-r.count, r.name))


def hottest_paths(trace: Trace, limit: int = 10) -> list[tuple[str, int, float]]:
    """(path, messages naming it, their total µs), most messages first."""
    counts: Counter[str] = Counter()
    micros: dict[str, float] = defaultdict(float)
    for record in trace.messages:
        for path in record.get("paths", ()):
            counts[path] += 1
            micros[path] += float(record.get("us", 0.0))
    return [(path, count, micros[path]) for path, count in counts.most_common(limit)]


def _table(header: list[str], rows: Iterable[list[str]]) -> Iterator[str]:
    rows = list(rows)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        yield "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))


def summarize(trace: Trace) -> list[str]:
    """The summary ``trace summarize`` prints, as lines."""
    lines = []
    header = trace.header
    if header:
        lines.append(f"trace version {header.get('version')}, seed {header.get('seed')}")
        if header.get("argv"):
            lines.append("command: " + " ".join(map(str, header["argv"])))
        for rule in header.get("rules") or ():
            lines.append(f"rule: {rule}")
        for service in header.get("services") or ():
            lines.append(f"service: {service}")
    latency = ["p50 µs", "p90 µs", "p99 µs", "max µs"]
    syscalls = syscall_rows(trace)
    lines.append(f"system calls: {sum(r.count for r in syscalls)}")
    lines.extend(_table(["name", "count", "errors", *latency], (r.cells() for r in syscalls)))
    messages = message_rows(trace)
    lines.append(f"bus messages: {sum(r.count for r in messages)}")
    lines.extend(_table(["operation", "count", "errors", *latency], (r.cells() for r in messages)))
    paths = hottest_paths(trace)
    if paths:
        lines.append("hottest paths:")
        lines.extend(_table(["path", "messages", "total µs"], ([p, str(c), f"{us:.1f}"] for p, c, us in paths)))
    faults = trace.end.get("faults")
    if faults:
        lines.append("faults:")
        lines.extend(f"  {line.strip()}" for line in faults)
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="trace_command", required=True)
    summary = commands.add_parser("summarize", help="counts, latency percentiles and hottest paths")
    summary.add_argument("file", help="a --trace-messages file")
    timeline = commands.add_parser("timeline", help="an HTML timeline per task")
    timeline.add_argument("file", help="a --trace-messages file")
    timeline.add_argument("-o", "--output", metavar="HTML", help="where to write it (default: FILE.html)")


def main(args: argparse.Namespace) -> int:
    try:
        trace = Trace.read(args.file)
    except TraceError as error:
        print(f"sentrio: {error}", file=sys.stderr)
        return 125
    if args.trace_command == "summarize":
        print("\n".join(summarize(trace)))
        return 0
    output = args.output or args.file + ".html"
    try:
        write_timeline(trace, output)
    except OSError as error:
        print(f"sentrio: {output}: {error.strerror or error}", file=sys.stderr)
        return 125
    print(output)
    return 0
