"""--deterministic and --chaos: the same seed, the same run; another seed under chaos, another
interleaving."""

from __future__ import annotations

import json
from pathlib import Path

from tests.research.conftest import needs_root, sentrio

pytestmark = needs_root


def run(image: Path, *flags: str, cmd: tuple[str, ...] = ("/bin/race",)) -> str:
    result = sentrio("run", *flags, str(image), "--", *cmd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_racy_program_prints_the_same_in_20_runs_of_one_seed(image: Path) -> None:
    outputs = {run(image, "--deterministic", "--seed", "1") for _ in range(20)}
    assert len(outputs) == 1, outputs
    (output,) = outputs
    # The threads did interleave (free-running, the first thread finishes before the second starts).
    assert output.startswith("counter ") and not output.startswith("counter 40 "), output


def test_chaos_finds_other_interleavings_and_replays_each_from_its_seed(image: Path) -> None:
    by_seed = {seed: run(image, "--chaos", "--seed", str(seed)) for seed in range(1, 7)}
    assert len(set(by_seed.values())) >= 3, by_seed
    lost = [seed for seed, output in by_seed.items() if not output.startswith("counter 40 ")]
    assert lost, "no seed showed the lost updates"
    assert run(image, "--chaos", "--seed", str(lost[0])) == by_seed[lost[0]]


def test_virtual_time_starts_at_a_fixed_date_and_sleeps_take_no_real_time(image: Path) -> None:
    output = run(image, "--deterministic", cmd=("sh", "-c", "date +%s; sleep 100; date +%s"))
    assert output == "1767225600\n1767225700\n"


def test_random_bytes_and_clocks_come_from_the_seed(image: Path) -> None:
    first, again, other = (run(image, "--deterministic", "--seed", seed, cmd=("/bin/entropy",)) for seed in "112")
    assert first == again != other
    assert first.split()[1:] == other.split()[1:] and first.split()[1].startswith("1767225600.")
    free = {run(image, cmd=("/bin/entropy",)) for _ in range(2)}
    assert len(free) == 2  # without --deterministic: the host's entropy and clocks


def test_the_trace_and_the_fault_hits_are_the_same_for_the_same_seed(image: Path, tmp_path: Path) -> None:
    def trace(name: str) -> tuple[list[tuple], list[dict]]:
        path = tmp_path / name
        run(image, "--chaos", "--seed", "4", "--trace-messages", str(path),
            "--inject", "signals.futex_*:delay=1ms:p=0.5", "--inject", "mm.*:delay=10us:p=0.2")
        records = [json.loads(line) for line in path.read_text().splitlines()[1:]]
        spans = [(r["type"], r.get("seq", r.get("id")), r.get("caller"), r.get("op"), r.get("start"),
                  r.get("syscall"), r.get("parent")) for r in records]
        return spans, records[-1]["hits"]

    one, two = trace("one.jsonl"), trace("two.jsonl")
    assert one[1] and one == two


def test_pids_and_inode_numbers_repeat(image: Path) -> None:
    script = "echo $$; sh -c 'echo $$'; (echo x > /tmp/x; ls -i /tmp/x) & wait; sh -c 'echo $$'"
    outputs = {run(image, "--chaos", "--seed", seed, cmd=("sh", "-c", script)) for seed in "123"}
    assert len(outputs) == 1, outputs
