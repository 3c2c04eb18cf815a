"""A fuzzing campaign: seeded batches of programs, findings, minimal reproducers, a summary.

What counts as a finding (each a way a hostile guest could hurt the sandbox):

* ``sentry-crash``: the Sentry died (every guest process with it);
* ``handler-bug``: an unexpected exception in a system call handler, an actor or the signal
  delivery path (the guest got an errno, the Sentry logged the call and its arguments);
* ``odd-errno``: a result no Linux program can see (an internal restart code, an errno Linux
  does not have);
* ``stall``: the executor's 1 ms sleeps took over a second: the Sentry served nobody else;
* ``memory``: the Sentry's resident memory went past the guest memory limit plus 512 MiB;
* ``divergence`` (``--native``): a call's errno, or how the program ended, differs from Linux.

Each new kind of finding is confirmed by running its program alone, then minimized by
dropping calls while it still shows; findings of the same signature are counted once.
"""

from __future__ import annotations

import concurrent.futures
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO, TypeVar

from kernel.fuzz.generate import Generator
from kernel.fuzz.program import Program
from kernel.fuzz.runner import Batch, Outcome, differs, odd_results, run_native, run_sentrio

T = TypeVar("T")

#: Memory the Sentry may hold beyond the guests' limit (its own code, tables, buffers).
SENTRY_OVERHEAD = 512 << 20
#: Findings whose program alone does not show them are looked for with the earlier programs of
#: their sandbox (a crash may need state an earlier program left); at most this many runs.
CONTEXT_KINDS = ("sentry-crash", "handler-bug")
CONTEXT_TRIES = 24


@dataclass(slots=True)
class Finding:
    kind: str
    signature: str
    detail: str
    program: Program
    origin: str
    results: tuple[int, ...] | None = None
    count: int = 1
    reproduced: bool = True
    minimized: bool = False
    #: The earlier programs of its sandbox it needs to show (none when it shows alone).
    context: list[Program] = field(default_factory=list)

    def report(self, number: int) -> str:
        state = "" if self.reproduced else " (did not show again when run alone)"
        lines = [f"finding {number}: {self.signature} x{self.count}{state}", f"  first seen: {self.origin}",
                 *(f"  {line}" for line in self.detail.splitlines()[:12])]
        for index, earlier in enumerate(self.context):
            lines.append(f"  after earlier program {index} of its sandbox (it shows only after it):")
            lines += [f"    {line}" for line in earlier.render().splitlines()]
        lines.append(f"  reproducer{' (minimized)' if self.minimized else ''}, one call per line:")
        lines += [f"    {line}" for line in self.program.render(list(self.results) if self.results else None)
                  .splitlines()]
        return "\n".join(lines)


@dataclass(slots=True)
class Totals:
    calls: int = 0
    programs: int = 0
    batches: int = 0
    crashes: int = 0
    handler_bugs: int = 0
    odd_errnos: int = 0
    stalls: int = 0
    host_stalls: int = 0
    divergences: int = 0
    max_rss: int = 0
    max_anon: int = 0
    started: float = field(default_factory=time.monotonic)


class Campaign:
    """Runs ``calls`` system calls from ``seeds`` and collects findings."""

    def __init__(self, seeds: list[int], calls: int, per_program: int = 8, per_run: int = 64,
                 memory: str = "256m", native: bool = False, only: list[str] | None = None, jobs: int = 1,
                 minimize: bool = True, out: Path | None = None, progress: TextIO | None = None) -> None:
        self.seeds = seeds
        self.calls = calls
        self.per_program = per_program
        self.per_run = per_run
        self.memory = memory
        self.memory_bytes = _size(memory)
        self.native = native
        self.only = only
        self.jobs = jobs
        self.minimize = minimize
        self.out = out
        self.progress = progress
        self.findings: dict[str, Finding] = {}
        self.totals = Totals()
        self._last_progress = 0.0

    # --- the campaign --------------------------------------------------------------------------

    def batches(self) -> Iterator[tuple[str, list[Program]]]:
        """(origin, programs) per batch, the same for the same seeds and sizes."""
        per_seed = -(-self.calls // len(self.seeds))
        for seed in self.seeds:
            left, number = per_seed, 0
            while left > 0:
                generator = Generator(f"{seed}/{number}", self.only, differential=self.native)
                programs = []
                while left > 0 and len(programs) < self.per_run:
                    size = min(self.per_program, left)
                    programs.append(generator.program(size))
                    left -= size
                yield f"seed {seed}, batch {number}", programs
                number += 1

    def run(self) -> Totals:
        with concurrent.futures.ThreadPoolExecutor(self.jobs) as pool:
            pending: list[tuple[str, list[Program], concurrent.futures.Future[tuple[Batch, Batch | None]]]] = []
            for origin, programs in self.batches():
                pending.append((origin, programs, pool.submit(self._run_both, programs)))
                while len(pending) >= self.jobs:
                    self._take(*self._pop(pending))
            while pending:
                self._take(*self._pop(pending))
        self._show_progress(final=True)
        return self.totals

    @staticmethod
    def _pop(pending: list[tuple[str, list[Program], concurrent.futures.Future[tuple[Batch, Batch | None]]]]
             ) -> tuple[str, list[Program], Batch, Batch | None]:
        origin, programs, future = pending.pop(0)
        sentrio, native = future.result()
        return origin, programs, sentrio, native

    def _run_both(self, programs: list[Program]) -> tuple[Batch, Batch | None]:
        if not self.native:
            return run_sentrio(programs, self.memory), None
        with concurrent.futures.ThreadPoolExecutor(1) as side:
            native = side.submit(run_native, programs)
            return run_sentrio(programs, self.memory, as_native=True), native.result()

    def _take(self, origin: str, programs: list[Program], sentrio: Batch, native: Batch | None) -> None:
        """Account for a batch, look for findings, and run again what a Sentry crash cut off."""
        totals = self.totals
        totals.batches += 1
        totals.max_rss = max(totals.max_rss, sentrio.max_rss)
        totals.max_anon = max(totals.max_anon, sentrio.max_anon)
        for index, program in enumerate(programs):
            if sentrio.crashed is not None and index > sentrio.crashed:
                break
            totals.programs += 1
            totals.calls += len(program.calls)
            self._judge(f"{origin}, program {index}", program, index, sentrio, native, programs[:index])
        if sentrio.max_rss > self.memory_bytes + SENTRY_OVERHEAD:
            self._found("memory", "memory", f"the Sentry held {sentrio.max_rss >> 20} MiB (limit {self.memory})",
                        programs[0], origin, None, confirm=None)
        if sentrio.crashed is not None and sentrio.crashed + 1 < len(programs):
            rest = programs[sentrio.crashed + 1:]
            again, native_again = self._run_both(rest)
            self._take(f"{origin} (after a crash, from program {sentrio.crashed + 1})", rest, again, native_again)
        self._show_progress()

    def _judge(self, origin: str, program: Program, index: int, sentrio: Batch, native: Batch | None,
               before: list[Program] | None = None) -> None:
        """Look for findings in what ``program`` (the ``index``-th of its sandbox, after the
        programs ``before``) did."""
        outcome = sentrio.outcomes.get(index)
        if sentrio.crashed == index:
            self.totals.crashes += 1
            self._found("sentry-crash", "sentry-crash " + _crash_signature(sentrio.crash_text), sentrio.crash_text,
                        program, origin, outcome, confirm=lambda batch, _: batch.crashed == 0, before=before)
        for line in sentrio.logs.get(index, []):
            self.totals.handler_bugs += 1
            signature = "handler-bug " + _log_signature(line)
            self._found("handler-bug", signature, line, program, origin, outcome,
                        confirm=lambda batch, _, s=signature: s in _bug_signatures(batch), before=before)
        if index in sentrio.host_stalls:
            self.totals.host_stalls += 1
        if index in sentrio.stalls:
            self.totals.stalls += 1
            self._found("stall", "stall", f"the executor was held up {sentrio.stalls[index]} ms", program, origin,
                        outcome, confirm=lambda batch, _: 0 in batch.stalls)
        if outcome is not None:
            for signature in _odd_signatures(program, outcome):
                self.totals.odd_errnos += 1
                self._found("odd-errno", signature, signature, program, origin, outcome,
                            confirm=lambda batch, candidate, s=signature: s in _odd_signatures(
                                candidate, batch.outcomes.get(0)))
        if native is not None and outcome is not None and index in native.outcomes:
            signature = _divergence(program, native.outcomes[index], outcome)
            if signature is not None:
                self.totals.divergences += 1
                self._found("divergence", signature,
                            f"native: {native.outcomes[index]}\nsentrio: {outcome}", program, origin, outcome,
                            confirm=None, differential=True)

    def _found(self, kind: str, signature: str, detail: str, program: Program, origin: str,
               outcome: Outcome | None, confirm: Callable[[Batch, Program], bool] | None,
               differential: bool = False, before: list[Program] | None = None) -> None:
        known = self.findings.get(signature)
        if known is not None:
            known.count += 1
            return
        finding = Finding(kind, signature, detail, program, origin, outcome.results if outcome else None)
        self.findings[signature] = finding
        if self.minimize:
            self._minimize(finding, confirm, differential, before or [])
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
            path = self.out / f"finding-{len(self.findings)}.txt"
            header = "".join(f"# {line}\n" for line in finding.report(len(self.findings)).splitlines())
            path.write_text(header + "".join(program.wire() for program in [*finding.context, finding.program]))

    def _minimize(self, finding: Finding, confirm: Callable[[Batch, Program], bool] | None,
                  differential: bool, before: list[Program]) -> None:
        """Confirm the finding with its program alone (or, for a crash or a handler bug, after
        the fewest earlier programs of its sandbox it needs), then drop calls while it shows."""
        signature = finding.signature

        def shows(program: Program, context: list[Program] | None = None) -> bool:
            if differential:
                sentrio, native = self._run_both([program])
                if native is None or 0 not in native.outcomes or 0 not in sentrio.outcomes:
                    return False
                return _divergence(program, native.outcomes[0], sentrio.outcomes[0]) == signature
            context = context or []
            sentrio = _rebased(run_sentrio([*context, program], self.memory), len(context))
            if confirm is not None:
                return confirm(sentrio, program)
            return sentrio.max_rss > self.memory_bytes + SENTRY_OVERHEAD

        if not shows(finding.program):
            context = _needed(before, finding.program, shows) if finding.kind in CONTEXT_KINDS else None
            if context is None:
                finding.reproduced = False
                return
            finding.context = context
        program = finding.program
        for index in reversed(range(len(program.calls))):
            candidate = program.without(index)
            if candidate.calls and shows(candidate, finding.context):
                program = candidate
        finding.program = program
        finding.results = None
        finding.minimized = True

    # --- reporting ----------------------------------------------------------------------------

    def _show_progress(self, final: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not final and now - self._last_progress < 1.0:
            return
        self._last_progress = now
        totals = self.totals
        elapsed = max(now - totals.started, 1e-6)
        rate = totals.calls / elapsed
        share = min(totals.calls / max(self.calls, 1), 1.0)
        eta = (self.calls - totals.calls) / rate if rate else 0.0
        width = 24
        bar = "#" * int(share * width) + "." * (width - int(share * width))
        line = (f"[{bar}] {totals.calls}/{self.calls} calls {share:6.1%}  {rate:5.0f} calls/s  "
                f"{len(self.findings)} findings  Sentry {totals.max_rss >> 20} MiB  eta {_duration(eta)}")
        if self.progress.isatty():
            self.progress.write("\r" + line + ("\n" if final else ""))
        else:
            self.progress.write(line + "\n")
        self.progress.flush()

    def summary(self) -> str:
        totals = self.totals
        elapsed = time.monotonic() - totals.started
        seeds = ", ".join(str(seed) for seed in self.seeds)
        lines = [
            f"fuzz summary: {totals.calls} calls in {totals.programs} programs, {totals.batches} sandboxes "
            f"(seeds {seeds}), {_duration(elapsed)}, {totals.calls / max(elapsed, 1e-6):.0f} calls/s",
            f"  Sentry crashes: {totals.crashes}",
            f"  handler bugs (an errno from an exception, logged): {totals.handler_bugs}",
            f"  results no Linux program can see: {totals.odd_errnos}",
            f"  stalls over 1 s: {totals.stalls}",
            f"  slow sleeps while the Sentry hardly ran (the host's load, not findings): {totals.host_stalls}",
            "  divergences from Linux: " + (str(totals.divergences) if self.native else "not compared (no --native)"),
            f"  Sentry memory: at most {totals.max_rss >> 20} MiB resident, {totals.max_anon >> 20} MiB of it its own "
            f"(the rest the guest memory and files it maps; guest limit --memory {self.memory})",
        ]
        if not self.findings:
            lines.append("findings: none")
        else:
            lines.append(f"findings: {len(self.findings)}")
            lines += [finding.report(number) for number, finding in enumerate(self.findings.values(), 1)]
        return "\n".join(lines)

    @property
    def failed(self) -> bool:
        """Whether any finding showed again when confirmed (an unconfirmed stall may be the
        host's load, not the Sentry)."""
        return any(finding.reproduced or finding.kind != "stall" for finding in self.findings.values())


def _rebased(batch: Batch, first: int) -> Batch:
    """What ``batch`` showed of its programs from ``first`` on, numbered from 0."""
    if not first:
        return batch

    def shifted(table: dict[int, T]) -> dict[int, T]:
        return {index - first: value for index, value in table.items() if index >= first}

    crashed = None if batch.crashed is None else batch.crashed - first
    return Batch(outcomes=shifted(batch.outcomes), logs=shifted(batch.logs), stalls=shifted(batch.stalls),
                 host_stalls=shifted(batch.host_stalls), crashed=crashed, crash_text=batch.crash_text,
                 max_rss=batch.max_rss, max_anon=batch.max_anon, seconds=batch.seconds)


def _needed(before: list[Program], program: Program,
            shows: Callable[[Program, list[Program] | None], bool]) -> list[Program] | None:
    """The fewest of the programs ``before`` (in order) after which ``program`` shows its
    finding, found by dropping halves, then quarters... of them (at most CONTEXT_TRIES runs);
    None if it does not show even after all of them."""
    if not before or not shows(program, before):
        return None
    needed, size, tries = list(before), max(len(before) // 2, 1), 1
    while tries < CONTEXT_TRIES:
        start = 0
        while start < len(needed) and tries < CONTEXT_TRIES:
            candidate = needed[:start] + needed[start + size:]
            tries += 1
            if shows(program, candidate):
                needed = candidate
            else:
                start += size
        if size == 1:
            break
        size //= 2
    return needed


def _bug_signatures(batch: Batch) -> set[str]:
    return {"handler-bug " + _log_signature(line) for line in batch.logs.get(0, [])}


def _odd_signatures(program: Program, outcome: Outcome | None) -> set[str]:
    if outcome is None:
        return set()
    return {f"odd-errno {program.calls[call].name} {outcome.results[call]}" for call in odd_results(outcome)
            if call < len(program.calls)}


def _divergence(program: Program, native: Outcome, sentrio: Outcome) -> str | None:
    difference = differs(native, sentrio)
    if difference is None:
        return None
    call = _call_of(difference)
    name = program.calls[call].name if call is not None and call < len(program.calls) else "program"
    return f"divergence {name}: {_shape(difference)}"


def _log_signature(line: str) -> str:
    """What identifies a logged Sentry bug: the call or actor operation, and the exception type."""
    match = re.match(r"Sentry bug in (\w+)", line) or re.match(r"actor (\w+) crashed in (\w+)", line)
    where = ".".join(match.groups()) if match else line.split("(")[0][:60]
    kind = re.search(r"(\w+(?:Error|Exception|error))\b", line)
    return f"{where} {kind.group(1)}" if kind else where


def _crash_signature(text: str) -> str:
    last = [line.strip() for line in text.splitlines() if line.strip()]
    return last[-1][:80] if last else "unknown"


def _call_of(difference: str) -> int | None:
    match = re.match(r"call (\d+):", difference)
    return int(match.group(1)) if match else None


def _shape(difference: str) -> str:
    return re.sub(r"^call \d+: ", "", difference)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def _size(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)i?b?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r}")
    number, unit = match.groups()
    return int(number) << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[unit.lower()]


def replay(path: Path, memory: str, native: bool, out: TextIO = sys.stdout) -> int:
    """Run the programs saved in ``path`` and show what each did; 1 if any shows a finding."""
    from kernel.fuzz.program import parse

    saved = parse(path.read_text())
    sentrio = run_sentrio(saved, memory, as_native=native)
    native_batch = run_native(saved) if native else None
    bad = False
    for index, program in enumerate(saved):
        outcome = sentrio.outcomes.get(index)
        out.write(f"program {index}:\n")
        out.write("".join(f"  {line}\n" for line in program.render(list(outcome.results) if outcome else None)
                          .splitlines()))
        out.write(f"  ended: {outcome.status if outcome else 'not reported'}\n")
        for line in sentrio.logs.get(index, []):
            bad = True
            out.write(f"  Sentry log: {line}\n")
        if index in sentrio.stalls:
            bad = True
            out.write(f"  stall: {sentrio.stalls[index]} ms\n")
        if outcome is not None and odd_results(outcome):
            bad = True
            out.write("  results no Linux program can see\n")
        if native_batch is not None and outcome is not None and index in native_batch.outcomes:
            difference = differs(native_batch.outcomes[index], outcome)
            out.write(f"  native: {native_batch.outcomes[index].status}"
                      f"{'' if difference is None else ', differs: ' + difference}\n")
            bad = bad or difference is not None
    if sentrio.crashed is not None:
        bad = True
        out.write(f"the Sentry died during program {sentrio.crashed}:\n{sentrio.crash_text}\n")
    return 1 if bad else 0
