"""Fault rules that match what a message is about, with every action, as a real guest sees them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.research.conftest import NO_SENDFILE, needs_root, sentrio

pytestmark = needs_root


def cat(image: Path, *rules: str, flags: tuple[str, ...] = (), files: tuple[str, ...] = ("/data/g", "/data/f")):
    options = [item for rule in (NO_SENDFILE, *rules) for item in ("--inject", rule)]
    return sentrio("run", *options, *flags, str(image), "--", "cat", *files)


def test_a_path_rule_fails_exactly_the_third_read_of_that_file(image: Path) -> None:
    data = (image / "data" / "f").read_text()
    result = cat(image, "vfs.read:fail=EIO:path=/data/f:nth=3")
    # /data/g's reads do not count; /data/f's first two 64 KiB reads get through, the third fails.
    assert result.stdout == (image / "data" / "g").read_text() + data[:2 * 65536]
    assert result.stderr == "cat: read error: Input/output error\n"
    assert result.returncode == 1


def test_a_path_pattern_matches_relative_paths_made_absolute(image: Path) -> None:
    result = sentrio("run", "--inject", NO_SENDFILE, "--inject", "vfs.open:fail=EACCES:path=/data/*",
                     "-w", "/data", str(image), "--", "cat", "g")
    assert result.stderr == "cat: can't open 'g': Permission denied\n"


def _experiment(tmp_path: Path, seed: int, rules: list[str]) -> Path:
    path = tmp_path / f"exp{seed}.toml"
    path.write_text(f"seed = {seed}\ncommand = [\"cat\", \"/data/f\"]\nrules = {json.dumps(rules)}\n")
    return path


def test_a_probabilistic_rule_hits_the_same_reads_for_a_seed_and_others_for_another(
        image: Path, tmp_path: Path) -> None:
    # The first rule that hits a message acts: the short reads are for the reads the fault spares.
    rules = [NO_SENDFILE, "vfs.read:fail=EIO:path=/data/f:p=0.02", "vfs.read:short=1000:path=/data/f",
             "mm.no_such_op:fail=ENOMEM"]
    runs = [sentrio("run", "--experiment", str(_experiment(tmp_path, seed, rules)), str(image))
            for seed in (1, 1, 2)]
    first, again, other = runs
    assert (first.stdout, first.stderr) == (again.stdout, again.stderr)
    assert first.stdout != other.stdout
    for run in runs:
        assert run.returncode == 1
        assert run.stderr.startswith("cat: read error: Input/output error\nsentrio: fault rules (seed ")
        assert "sentrio:   mm.no_such_op:fail=ENOMEM: never matched\n" in run.stderr
        (line,) = [text for text in run.stderr.splitlines() if "p=0.02:" in text]
        assert ", hit 1: message " in line and "(syscall #" in line


def test_short_reads_are_read_again_by_the_guest(image: Path) -> None:
    result = cat(image, "vfs.read:short=1000:path=/data/f", flags=("--strace",), files=("/data/f",))
    assert result.returncode == 0
    assert result.stdout == (image / "data" / "f").read_text()
    reads = [line for line in result.stderr.splitlines() if "] read(3, " in line]
    assert len(reads) == 271 and reads[0].endswith(" = 1000") and reads[-1].endswith(" = 0")


def test_a_dropped_message_times_out(image: Path) -> None:
    result = cat(image, "vfs.read:drop=20ms:path=/data/f", files=("/data/f",))
    assert (result.stdout, result.stderr) == ("", "cat: read error: Connection timed out\n")
    result = cat(image, "vfs.read:drop=20ms:errno=EIO:path=/data/f", files=("/data/f",))
    assert result.stderr == "cat: read error: Input/output error\n"


def test_fd_and_size_rules_look_at_the_system_call_and_the_request(image: Path) -> None:
    # fd 1 is cat's stdout: writes to it fail; the reads of fd 3 do not.
    result = cat(image, "vfs.write:fail=ENOSPC:fd=1", files=("/data/g",))
    assert result.stderr == "cat: write error: No space left on device\n"
    result = cat(image, "vfs.read:fail=EIO:fd=1", files=("/data/g",))
    assert result.returncode == 0
    # Only the large reads are hit: cat's 64 KiB buffer.
    assert cat(image, "vfs.read:fail=EIO:size>65535", files=("/data/g",)).returncode == 1
    assert cat(image, "vfs.read:fail=EIO:size<65536", files=("/data/g",)).returncode == 0


def test_experiment_file_errors_are_one_line(image: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = 'one'\n")
    result = sentrio("run", "--experiment", str(bad), str(image))
    assert (result.returncode, result.stderr) == (125, f"sentrio: --experiment '{bad}': seed must be int, not str\n")
    bad.write_text("rules = ['vfs.read:explode']\n")
    result = sentrio("run", "--experiment", str(bad), str(image))
    assert result.stderr == "sentrio: fault rule 'vfs.read:explode': unknown key 'explode'\n"
