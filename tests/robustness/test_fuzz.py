"""The fuzzer (``python -m kernel fuzz``): its parts, and short runs with fixed seeds.

The fixed seeds are the CI run the issue asks for: no Sentry crash, no handler bug (an errno
from an exception), no answer a Linux program cannot see, no stall over a second, and for the
differential seed no divergence from Linux. A long run is ``python -m kernel fuzz --calls
10000000`` (see docs/robustness.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.fuzz import campaign as campaign_module
from kernel.fuzz.campaign import Campaign, _log_signature
from kernel.fuzz.generate import DIFFERENTIAL, EXCLUDED, Generator, malformed_executable, tiny_elf
from kernel.fuzz.program import Arg, Call, Program, parse
from kernel.fuzz.runner import (
    Batch,
    Outcome,
    _parse_stderr,
    _parse_stdout,
    _stall_reports,
    differs,
    judge_stalls,
    odd_results,
)

REPO = Path(__file__).resolve().parents[2]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chroot and ptrace need root")


# --- the parts ----------------------------------------------------------------------------------

def test_the_same_seed_makes_the_same_programs() -> None:
    first = [Generator("7/0").program(8).wire() for _ in range(1)]
    again = [Generator("7/0").program(8).wire() for _ in range(1)]
    other = [Generator("8/0").program(8).wire() for _ in range(1)]
    assert first == again
    assert first != other


def test_programs_read_back_as_written() -> None:
    generator = Generator(3)
    for _ in range(200):
        program = generator.program(8)
        (copy,) = parse(program.wire())
        assert copy.wire() == program.wire()
        assert copy.render().count("\n") == len(program.calls) - 1


def test_arguments_follow_the_handlers_types() -> None:
    """write(fd, buf, count): an fd kind, a pointer or bytes, a size from the boundary list or
    small; never a forked process (fork/clone are the garbage test's)."""
    generator = Generator(5, calls=["write"])
    for _ in range(300):
        call = generator.call()
        if call.name != "write":  # a signal frame, an executable, or now and then any number
            continue
        fd, buf, count = call.args
        assert fd.kind == "f"
        assert buf.kind in "pds"
        assert count.kind == "i" and count.value >= 0
    assert not {"fork", "vfork", "clone", "clone3"} - EXCLUDED
    names = {Generator(seed).call().name for seed in range(300)}
    assert not names & EXCLUDED


def test_differential_programs_stay_within_comparable_calls() -> None:
    generator = Generator(11, differential=True)
    for _ in range(500):
        call = generator.call()
        assert call.frame or call.name in DIFFERENTIAL, call.render()
        assert not call.image
        for arg in call.args:
            assert arg.region != "h" and arg.name not in ("timer", "parent")


def test_malformed_executables_are_mutations_of_a_tiny_valid_one(tmp_path: Path) -> None:
    import random

    executable = tmp_path / "tiny"
    executable.write_bytes(tiny_elf())
    executable.chmod(0o755)
    assert subprocess.run([str(executable)]).returncode == 42
    r = random.Random(1)
    images = [malformed_executable(r) for _ in range(2000)]
    assert len(set(images)) > 1000
    assert any(image.startswith(b"#!") for image in images)
    assert all(len(image) <= len(tiny_elf()) or image.startswith(b"#!") for image in images)


def test_a_slow_sleep_is_a_stall_only_if_the_sentry_was_busy() -> None:
    """A 1 ms sleep's wall time counts the host's scheduler too: a slow sleep while the Sentry
    hardly ran (a loaded machine) is the host's, not a stall of the Sentry; one while the Sentry
    used the CPU is. Samples are (time, Sentry CPU seconds) every 0.1 s."""
    busy = [(t / 10, t / 10) for t in range(0, 40)]  # the Sentry ran all along
    idle = [(t / 10, 0.05) for t in range(0, 40)]  # it hardly ran
    lines = [(3.0, b"R 0 e0 0\n"), (3.0, b"S 2 1500\n"), (3.1, b"S 3 2000\n")]
    assert _stall_reports(lines) == [(3.0, 2, 1500), (3.1, 3, 2000)]
    sentry, host = Batch(), Batch()
    judge_stalls(sentry, _stall_reports(lines), busy)
    judge_stalls(host, _stall_reports(lines), idle)
    assert (sentry.stalls, sentry.host_stalls) == ({2: 1500, 3: 2000}, {})
    assert (host.stalls, host.host_stalls) == ({}, {2: 1500, 3: 2000})
    uncovered = Batch()  # no samples of the time before: counted against the Sentry
    judge_stalls(uncovered, [(3.0, 2, 1500)], busy[20:])
    assert uncovered.stalls == {2: 1500}


def test_what_the_executor_reports_is_read() -> None:
    batch = Batch()
    _parse_stdout("R 0 e0 3 0 -22 4096\nS 1 1500\nR 1 s11 1 -14\ngarbage\n", batch)
    assert batch.outcomes[0] == Outcome("e0", 3, (0, -22, 4096))
    assert batch.outcomes[1] == Outcome("s11", 1, (-14,))
    _parse_stderr("@P 0\n@P 1\nsentrio: ERROR: Sentry bug in madvise(0, 1): boom; the call fails with EIO\n"
                  "sentrio: WARNING: not a bug\n", batch, finished=True)
    assert batch.logs == {1: ["Sentry bug in madvise(0, 1): boom; the call fails with EIO"]}
    assert batch.crashed is None
    _parse_stderr("@P 0\n@P 4\nTraceback (most recent call last):\n  ...\nstruct.error: out of range\n", batch,
                  finished=False)
    assert batch.crashed == 4 and "struct.error" in batch.crash_text


def test_answers_no_linux_program_can_see() -> None:
    assert odd_results(Outcome("e0", 4, (0, -133, -512, -4096))) == [2]


def test_divergence_compares_errnos_and_endings_not_values() -> None:
    assert differs(Outcome("e0", 2, (140737, -22)), Outcome("e0", 2, (4096, -22))) is None
    assert differs(Outcome("e0", 1, (-14,)), Outcome("e0", 1, (-22,))) == "call 0: native EFAULT, sentrio EINVAL"
    assert differs(Outcome("s11", 1, (0,)), Outcome("e0", 1, (0,))) == "program ended: native s11, sentrio e0"
    assert differs(Outcome("t", 0, ()), Outcome("e0", 1, (0,))) is None  # a killed program: timing decided


def test_a_logged_bug_is_known_by_call_and_exception() -> None:
    assert _log_signature("Sentry bug in nanosleep(1, 2): argument out of range; the call fails with EIO") \
        == "nanosleep"
    assert _log_signature("Sentry bug in mmap(1): 'NoneType' has no attribute; TypeError") == "mmap TypeError"
    assert _log_signature("actor mm crashed in fault(3, 4, False)") == "mm.fault"


def test_a_finding_is_confirmed_and_minimized(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug shows whenever the program calls madvise: the reproducer is that call alone."""
    madvise = Call(28, (Arg("i", 0), Arg("i", 2**64 - 1), Arg("i", 4)))
    program = Program([Call(39), madvise, Call(102), Call(frame=5), Call(110)])
    runs: list[Program] = []

    def fake_run(programs: list[Program], memory: str = "", timeout: float | None = None,
                 as_native: bool = False) -> Batch:
        batch = Batch()
        for index, candidate in enumerate(programs):
            runs.append(candidate)
            batch.outcomes[index] = Outcome("e0", len(candidate.calls), (0,) * len(candidate.calls))
            if any(call.name == "madvise" for call in candidate.calls):
                batch.logs[index] = ["Sentry bug in madvise(0, 18446744073709551615, 4): boom"]
        return batch

    monkeypatch.setattr(campaign_module, "run_sentrio", fake_run)
    campaign = Campaign([1], 5)
    sentrio = fake_run([program])
    runs.clear()
    campaign._judge("test", program, 0, sentrio, None)
    (finding,) = campaign.findings.values()
    assert finding.signature == "handler-bug madvise" and finding.reproduced and finding.minimized
    assert finding.program.calls == [madvise]
    assert "madvise(0x0, -1, 0x4)" in finding.report(1)
    assert len(runs) == 1 + len(program.calls)  # confirmed once, then each call tried away
    assert campaign.failed


def test_a_crash_that_needs_an_earlier_program_is_found_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The campaign's SIGSYS: get_mempolicy in one program left the Sentry so that another,
    later in the same sandbox, killed it; alone the later one showed nothing. The finding
    keeps the one earlier program it needs, and its saved reproducer runs both."""
    culprit = Program([Call(239, (Arg("i", 0), Arg("i", 0), Arg("i", 1 << 62)))])
    victim = Program([Call(39), Call(213)])
    bystanders = [Program([Call(102)]) for _ in range(9)]
    before = [*bystanders[:4], culprit, *bystanders[4:]]

    def fake_run(programs: list[Program], memory: str = "", timeout: float | None = None,
                 as_native: bool = False) -> Batch:
        batch = Batch()
        for index, candidate in enumerate(programs):
            batch.outcomes[index] = Outcome("e0", len(candidate.calls), (0,) * len(candidate.calls))
            if candidate.calls[-1].name == "epoll_create" and culprit in programs[:index]:
                batch.crashed, batch.crash_text = index, "the sandbox exited with status -31"
                break
        return batch

    monkeypatch.setattr(campaign_module, "run_sentrio", fake_run)
    campaign = Campaign([1], 5)
    campaign._judge("test", victim, len(before), fake_run([*before, victim]), None, before)
    (finding,) = campaign.findings.values()
    assert finding.reproduced and finding.context == [culprit]
    assert finding.program.calls == [Call(213)]
    assert "get_mempolicy" in finding.report(1)


# --- fixed seeds, under Sentrio and against Linux ------------------------------------------------

def _fuzz(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("SENTRIO_STRICT", None)
    return subprocess.run([sys.executable, "-m", "kernel", "fuzz", "--quiet", *arguments], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=600)


@needs_root
def test_fixed_seeds_find_nothing() -> None:
    """Sentrio alone: every call's kind, mangled frames and malformed executables."""
    result = _fuzz("--seed", "1", "--seed", "2", "--calls", "3000")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fuzz summary: 3000 calls" in result.stdout
    assert "Sentry crashes: 0" in result.stdout and "stalls over 1 s: 0" in result.stdout
    assert re.search(r"Sentry memory: at most (\d+) MiB resident, ([1-9]\d*) MiB of it its own", result.stdout)
    assert result.stdout.rstrip().endswith("findings: none"), result.stdout


@needs_root
def test_a_fixed_seed_answers_as_linux() -> None:
    """The calls whose answers do not depend on the machine, and random signal frames, natively
    and under Sentrio: the same errnos and the same ends."""
    result = _fuzz("--native", "--seed", "3", "--calls", "1600")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "divergences from Linux: 0" in result.stdout


@needs_root
def test_a_saved_reproducer_replays(tmp_path: Path) -> None:
    saved = tmp_path / "finding.txt"
    saved.write_text("# a comment line, as --out writes them\n" + Program(
        [Call(28, (Arg("p", 0, region="r"), Arg("i", 2**64 - 1), Arg("i", 4)))]).wire())
    result = _fuzz("--replay", str(saved))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "madvise(&rw[+0x0], -1, 0x4) = -22" in result.stdout


def test_no_program_forks_or_vforks() -> None:
    """Not even through the raw numbers drawn now and then: a vfork child running the rest of
    a program holds its parent as long as it runs (once for hours: a false "crash")."""
    from abi.syscalls import NUMBERS

    forbidden = {NUMBERS[name] for name in EXCLUDED}
    numbers = {call.nr for call in Generator(7).program(20000).calls if call.nr >= 0}
    assert numbers and not numbers & forbidden
