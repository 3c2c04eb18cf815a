"""--inject and --seed as a researcher uses them: reproducible faults seen by a real guest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="Sentrio runs guests under ptrace as root")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults-image")
    (root / "bin").mkdir()
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "mmap_many"), str(PROGRAMS / "mmap_many.c")],
                   check=True)
    return root


def sentrio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kernel", "run", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_the_same_seed_fails_the_same_guest_calls(image: Path) -> None:
    rule = "mm.mmap:fail=ENOMEM:p=0.5:from=task*"
    runs = [sentrio("--inject", rule, "--seed", seed, str(image), "--", "/bin/mmap_many") for seed in "119"]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr
    first, again, other = (run.stdout.splitlines() for run in runs)
    assert first == again
    assert first != other
    failed = [line for line in first if line.endswith("Cannot allocate memory")]
    assert 0 < len(failed) < 20


def test_injected_faults_are_noted_in_the_message_trace(image: Path, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    rule = "mm.mmap:fail=ENOMEM:nth=2:from=task*"
    result = sentrio("--trace-messages", str(trace), "--inject", rule, str(image), "--", "/bin/mmap_many")
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    faulted = [r for r in records if "notes" in r]
    assert [(r["op"], r["errno"], r["notes"]) for r in faulted] == [("mmap", "ENOMEM", {"fault": rule})]
    assert result.stdout.count("Cannot allocate memory") == 1


def test_faults_in_loading_the_program_are_reported_as_the_runtime_s(image: Path) -> None:
    result = sentrio("--inject", "mm.mmap:fail=ENOMEM:from=kernel", str(image), "--", "/bin/mmap_many")
    assert (result.returncode, result.stderr) == (126, "/bin/mmap_many: not executable (Cannot allocate memory)\n")


def test_a_bad_rule_is_one_line_and_status_125(image: Path) -> None:
    result = sentrio("--inject", "mm.mmap:explode", str(image), "--", "/bin/mmap_many")
    assert result.returncode == 125
    assert result.stderr.startswith("sentrio: fault rule 'mm.mmap:explode': unknown key 'explode'")
    assert len(result.stderr.splitlines()) == 1
