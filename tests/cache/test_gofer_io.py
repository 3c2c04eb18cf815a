"""``--gofer-io=rpc``: no gofer donates fds, so every read of an image file is a ``gofer.read``
operation on the bus, which a fault rule can fail (issue 10's acceptance line). A program's own
bytes are read once, whole, into a memfd (mmap needs a host fd): one ``gofer.read`` for
``md5sum`` itself, then its reads of the files, one per read(2).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.cache.conftest import sentrio

FILES = [f"/data/f{i}" for i in range(1, 5)]


def _run(image: Path, trace: Path, *flags: str) -> tuple[str, str, int]:
    run = sentrio("--gofer-io=rpc", "--trace-messages", str(trace), *flags, str(image), "--", "md5sum", *FILES)
    stdout, stderr = run.communicate(timeout=120)
    return stdout, stderr, run.returncode


def _gofer_reads(trace: Path) -> list[dict[str, object]]:
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    messages = [r for r in records if r.get("type") == "message"]  # not the header nor the spans of calls
    return [m for m in messages if m["service"] == "gofer" and m["op"] == "read"]


def test_every_read_is_a_gofer_read(image: Path, tmp_path: Path) -> None:
    sums = []
    for index, path in enumerate(FILES, 1):
        data = bytes(range(256)) * (12 * index)
        (image / path.lstrip("/")).write_bytes(data)
        sums.append(f"{hashlib.md5(data).hexdigest()}  {path}\n")
    stdout, stderr, status = _run(image, tmp_path / "trace.jsonl")
    assert (stdout, stderr, status) == ("".join(sums), "", 0)
    assert len(_gofer_reads(tmp_path / "trace.jsonl")) > len(FILES)


def test_a_fault_rule_fails_exactly_the_third_read_reproducibly(image: Path, tmp_path: Path) -> None:
    for index, path in enumerate(FILES, 1):
        (image / path.lstrip("/")).write_bytes(b"%d\n" % index * 1000 * index)
    outcomes = []
    for attempt in range(2):
        trace = tmp_path / f"trace{attempt}.jsonl"
        outcomes.append(_run(image, trace, "--inject", "gofer.read:fail=EIO:nth=3"))
        reads = _gofer_reads(trace)
        assert [index for index, m in enumerate(reads, 1) if m.get("errno")] == [3]
        assert reads[2]["errno"] == "EIO"
    assert outcomes[0] == outcomes[1]
    stdout, stderr, status = outcomes[0]
    assert status == 1
    assert stderr == "md5sum: can't read '/data/f1': Input/output error\n"
    expected = [f"{hashlib.md5((image / p.lstrip('/')).read_bytes()).hexdigest()}  {p}\n" for p in FILES[1:]]
    assert stdout == "".join(expected)
