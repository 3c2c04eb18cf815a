"""The VFS's boundary as a researcher sees it: every file effect is a message a trace shows and a
fault rule can hit, reproducibly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.images.build import build_busybox

REPO = Path(__file__).resolve().parents[2]
#: Sizes that make md5sum read each file in several 4 KiB reads.
SIZES = {"f1": 5000, "f2": 9000, "f3": 13000}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="Sentrio runs guests under ptrace as root")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vfs-boundary")
    build_busybox(root)
    for name, size in SIZES.items():
        (root / "etc" / name).write_bytes(os.urandom(size))
    return root


def sentrio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kernel", "run", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def md5sum(image: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return sentrio(*flags, str(image), "--", "md5sum", *(f"/etc/{name}" for name in SIZES))


def test_every_read_system_call_is_a_vfs_read_message(image: Path, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    result = md5sum(image, "--strace", "--trace-messages", str(trace))
    assert result.returncode == 0, result.stderr
    reads = re.findall(r"^\[\s*1\] read\((\d+), ", result.stderr, re.MULTILINE)
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    records = [r for r in records if r.get("type") == "message"]
    vfs_reads = [r for r in records if (r["service"], r["op"]) == ("vfs", "read")]
    assert len(reads) == len(vfs_reads) >= len(SIZES) * 2  # each file: its data, then the end of file
    assert {r["caller"] for r in vfs_reads} == {"task 1"}


def test_a_vfs_read_rule_fails_exactly_the_third_read(image: Path) -> None:
    rule = "vfs.read:fail=EIO:nth=3"
    runs = [md5sum(image, "--inject", rule, "--seed", seed) for seed in ("1", "1", "2")]
    clean = md5sum(image)
    assert clean.returncode == 0 and clean.stderr == ""
    for run in runs:
        # f1 takes reads 1-3 (4096, 904, then the end of file): the third fails, f2 and f3 are whole
        assert run.returncode == 1
        assert run.stderr == "md5sum: can't read '/etc/f1': Input/output error\n"
        assert run.stdout == "".join(line + "\n" for line in clean.stdout.splitlines()[1:])
    assert runs[0].stdout == runs[1].stdout


def test_a_gofer_rule_fails_exactly_the_second_file_the_gofer_opens(image: Path) -> None:
    """With donated fds a file's bytes come from the host fd the gofer's lopen grants, so the
    gofer-level fault for a file's data is at lopen: the second image file opened gets EIO."""
    opened = md5sum(image, "--inject", "gofer.lopen:fail=EIO:nth=2:from=task*")
    clean = md5sum(image)
    lines = clean.stdout.splitlines()
    assert opened.returncode == 1
    assert opened.stderr == "md5sum: can't open '/etc/f2': Input/output error\n"
    assert opened.stdout == f"{lines[0]}\n{lines[2]}\n"
