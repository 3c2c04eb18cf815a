"""Traces you can analyse: headers, spans with parents and syscall ids, read back by `trace`."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

from kernel.tracetools import Trace, percentile, summarize
from tests.research.conftest import NO_SENDFILE, needs_root, sentrio

pytestmark = needs_root


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_summarize_counts_match_strace_for_the_same_run(image: Path, tmp_path: Path) -> None:
    trace = tmp_path / "cat.jsonl"
    run = sentrio("run", "--strace", "--trace-messages", str(trace), "--inject", NO_SENDFILE,
                  str(image), "--", "cat", "/data/g", "/data/f")
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("[")]
    straced = collections.Counter(re.match(r"\[\s*\d+\] (\w+)\(", line).group(1) for line in lines)
    summary = sentrio("trace", "summarize", str(trace))
    assert summary.returncode == 0, summary.stderr
    text = summary.stdout.splitlines()
    start = text.index(f"system calls: {sum(straced.values())}")
    end = next(i for i, line in enumerate(text) if line.startswith("bus messages: "))
    rows = [line.split() for line in text[start + 2:end]]
    assert {row[0]: int(row[1]) for row in rows} == dict(straced)
    assert {row[0]: int(row[2]) for row in rows}["sendfile"] == straced["sendfile"]  # every one EINVAL
    # The ids strace shows are the trace's syscall ids, one for one.
    ids = [int(re.search(r" <#(\d+)>$", line).group(1)) for line in lines]
    assert sorted(ids) == sorted(r["id"] for r in _records(trace) if r["type"] == "syscall")
    assert "  /data/f " in summary.stdout.split("hottest paths:")[1]


def test_records_link_messages_to_their_syscall_and_parent(image: Path, tmp_path: Path) -> None:
    trace = tmp_path / "cat.jsonl"
    run = sentrio("run", "--trace-messages", str(trace), "--seed", "5", "--inject", NO_SENDFILE,
                  "-w", "/data", str(image), "--", "cat", "g")
    assert run.returncode == 0, run.stderr
    records = _records(trace)
    header = records[0]
    assert header["type"] == "header" and header["version"] == 2 and header["seed"] == 5
    assert header["rules"] == [NO_SENDFILE] and header["argv"][-2:] == ["cat", "g"]
    assert records[-1]["type"] == "end"
    syscalls = {r["id"]: r for r in records if r["type"] == "syscall"}
    messages = {r["seq"]: r for r in records if r["type"] == "message"}
    (opened,) = [m for m in messages.values() if m["op"] == "open" and "g" in m["args"]]
    assert opened["paths"] == ["/data/g"]  # a relative path, shown in full
    assert syscalls[opened["syscall"]]["op"] == "openat"
    children = [m for m in messages.values() if m["parent"] == opened["seq"]]
    assert children and {m["service"] for m in children} == {"gofer"}
    assert all(m["syscall"] == opened["syscall"] for m in children)
    for message in messages.values():
        assert message["start"] <= message["end"]
        if message["parent"] is not None:
            parent = messages[message["parent"]]
            assert parent["start"] <= message["start"] and message["end"] <= parent["end"]
    (read,) = [m for m in messages.values() if m["op"] == "read" and m["service"] == "vfs" and m["result"]]
    assert read["paths"] == ["/data/g"]


def test_timer_messages_are_the_kernels_not_the_guest_threads(image: Path, tmp_path: Path) -> None:
    trace = tmp_path / "itimer.jsonl"
    run = sentrio("run", "--trace-messages", str(trace), str(image), "--", "/bin/itimer")
    assert run.stdout == "3 alarms\n"
    sends = [r for r in _records(trace) if (r.get("service"), r.get("op")) == ("signals", "send")]
    assert len(sends) >= 3
    assert {(r["caller"], r["syscall"]) for r in sends} == {("kernel", None)}


def test_timeline_has_a_row_per_task(image: Path, tmp_path: Path) -> None:
    trace = tmp_path / "race.jsonl"
    run = sentrio("run", "--trace-messages", str(trace), str(image), "--", "/bin/race")
    assert run.returncode == 0, run.stderr
    page = tmp_path / "race.html"
    result = sentrio("trace", "timeline", str(trace), "-o", str(page))
    assert result.returncode == 0 and result.stdout == f"{page}\n"
    html = page.read_text()
    for row in ("task 1", "task 2", "task 3", "kernel"):
        assert f">{row}</text>" in html
    assert html.count("<rect") == sum(1 for r in _records(trace) if r["type"] in ("syscall", "message"))


def test_summary_of_hand_made_records() -> None:
    lines = [
        json.dumps({"type": "header", "version": 2, "seed": 1, "argv": ["x"], "rules": ["vfs.read:fail=EIO"]}),
        *(json.dumps({"type": "syscall", "id": i, "tid": 1, "op": "read", "start": 0.0, "end": i * 1e-6,
                      "result": -5 if i == 3 else 1}) for i in range(1, 5)),
        json.dumps({"type": "message", "seq": 1, "caller": "task 1", "service": "vfs", "op": "read",
                    "us": 7.0, "paths": ["/a"], "errno": "EIO"}),
        json.dumps({"type": "end", "faults": ["vfs.read:fail=EIO: matched 1, hit 1"]}),
    ]
    text = summarize(Trace.parse(lines))
    assert text[:3] == ["trace version 2, seed 1", "command: x", "rule: vfs.read:fail=EIO"]
    assert "system calls: 4" in text and "bus messages: 1" in text
    (row,) = [line.split() for line in text if line.startswith("  read ")]
    assert row == ["read", "4", "1", "2.0", "4.0", "4.0", "4.0"]
    assert text[-2:] == ["faults:", "  vfs.read:fail=EIO: matched 1, hit 1"]
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.0


def test_a_trace_that_is_not_one_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("hello\n")
    result = sentrio("trace", "summarize", str(bad))
    assert (result.returncode, result.stderr) == (125, f"sentrio: {bad}:1: not a JSON record\n")
