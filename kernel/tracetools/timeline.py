"""``trace timeline``: an HTML page, one row per task, its system calls and bus messages as spans.

A row is a task (``task 3``) or the kernel's own work (``kernel``, a timer). System calls are
the tall bars; the messages sent while serving them are drawn beneath, a level lower for each
parent they have. Hovering a span shows what it was. The page is self-contained (inline SVG).
"""

from __future__ import annotations

import html
from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel.tracetools import Trace

WIDTH = 1400
LABEL = 90
BAR = 14
LEVEL = 10
_COLOURS = {"sys": "#4e79a7", "mm": "#f28e2b", "vfs": "#59a14f", "gofer": "#e15759", "signals": "#b07aa1",
            "proc": "#76b7b2", "netstack": "#edc948"}


def _depths(messages: list[dict[str, Any]]) -> dict[int, int]:
    parents = {m["seq"]: m.get("parent") for m in messages}
    depths: dict[int, int] = {}
    for seq in parents:
        depth, parent = 0, parents[seq]
        while parent is not None and depth < 16:
            depth += 1
            parent = parents.get(parent)
        depths[seq] = depth
    return depths


def write_timeline(trace: Trace, output: str) -> None:
    rows: dict[str, list[tuple[float, float, int, str, str]]] = defaultdict(list)
    for call in trace.syscalls:
        title = f"#{call['id']} {call['op']}{tuple(call.get('args', ()))} = {call.get('result')}"
        rows[f"task {call['tid']}"].append((call["start"], call["end"], 0, "sys", title))
    depths = _depths(trace.messages)
    for message in trace.messages:
        start = message.get("start", message.get("t", 0.0))
        end = message.get("end", start + message.get("us", 0.0) / 1e6)
        outcome = message.get("errno", message.get("result"))
        title = (f"{message['caller']}: {message['service']}.{message['op']}{message.get('args')} -> {outcome}"
                 f" ({message.get('us')} µs, syscall #{message.get('syscall')})")
        level = 1 + depths.get(message["seq"], 0)
        rows[message["caller"]].append((start, end, level, message["service"], title))
    spans = [span for row in rows.values() for span in row]
    t0 = min((s[0] for s in spans), default=0.0)
    t1 = max((s[1] for s in spans), default=1.0)
    scale = (WIDTH - LABEL) / max(t1 - t0, 1e-9)
    parts = []
    y = 0
    for name in sorted(rows, key=_row_order):
        row = rows[name]
        height = BAR + LEVEL * max((s[2] for s in row), default=0) + 8
        parts.append(f'<text x="2" y="{y + 12}" font-size="11">{html.escape(name)}</text>')
        for start, end, level, kind, title in row:
            x = LABEL + (start - t0) * scale
            width = max((end - start) * scale, 0.5)
            top = y + (0 if level == 0 else BAR + LEVEL * (level - 1))
            tall = BAR if level == 0 else LEVEL - 1
            parts.append(f'<rect x="{x:.2f}" y="{top}" width="{width:.2f}" height="{tall}" '
                         f'fill="{_COLOURS.get(kind, "#999")}"><title>{html.escape(title)}</title></rect>')
        y += height
    header = trace.header
    caption = html.escape(" ".join(map(str, header.get("argv") or ())) + f" (seed {header.get('seed')})")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Sentrio timeline</title></head><body>"
            f"<h3>{caption}</h3><p>{(t1 - t0) * 1e3:.3f} ms; bars: system calls; beneath: bus messages "
            f"(colour by service). Hover for details.</p>"
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}">{"".join(parts)}</svg>'
            f"</body></html>\n")
    with open(output, "w") as stream:
        stream.write(page)


def _row_order(name: str) -> tuple[int, int, str]:
    kind, _, number = name.partition(" ")
    return (0, int(number), "") if kind == "task" and number.isdigit() else (1, 0, name)
