"""CPython's own regression tests, three ways: natively, under runsc, under Sentrio.

``python -m tests.compat.cpython [--module test_os ...] [--markdown FILE]`` runs each module of
Debian's libpython3.11-testsuite (by default the ones issue 15 names: test_os, test_posix,
test_signal, test_subprocess, test_mmap, test_io) in a Debian image made once per machine
(debootstrap, cached under /var/cache/sentrio), under each runtime at the same time, and prints
a table: how many cases passed, failed, errored and were skipped, per runtime. Then every case
that passes natively *and* under runsc but not under Sentrio, by name, with the first line of
its failure: the list of bugs to fix (or to explain in docs/compatibility.md).

Each run is ``python3 -m test -v --junit-xml`` inside the sandbox; the XML comes back on stdout
after a marker (the sandboxes' file systems are overlays, so nothing written inside reaches the
host), and the verbose log is kept under the output directory for reading the failures.

The native run is a chroot in private mount and pid namespaces with its own /proc, the host's
/dev and a fresh /tmp, as root (as the two sandboxes run it).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import shlex
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from kernel.images.build import cached_debian

REPO = Path(__file__).resolve().parents[2]
IMAGE_NAME = "cpython-tests-bookworm"
PACKAGES = ("python3", "libpython3.11-testsuite")
MODULES = ("test_os", "test_posix", "test_signal", "test_subprocess", "test_mmap", "test_io")
RUNTIMES = ("native", "runsc", "sentrio")
MARKER = "=====JUNIT-XML====="
#: Per test case (regrtest's faulthandler timeout) and per module run, in seconds.
CASE_TIMEOUT = 300
MODULE_TIMEOUT = 3600


def build_image() -> Path:
    """Debian bookworm minbase with python3 and its test suite, debootstrapped once."""
    return cached_debian(IMAGE_NAME, PACKAGES)


def guest_command(module: str) -> list[str]:
    """What runs inside: the module's tests with a JUnit report printed after a marker."""
    script = (f"cd /root && python3 -m test -v --timeout {CASE_TIMEOUT} --junit-xml /tmp/junit.xml {module} 1>&2; "
              f"echo {MARKER}; cat /tmp/junit.xml")
    return ["/bin/sh", "-c", script]


def host_command(runtime: str, image: Path, argv: list[str]) -> list[str]:
    if runtime == "native":
        inner = " ".join(shlex.quote(word) for word in ["chroot", str(image), *argv])
        root = shlex.quote(str(image))
        setup = (f"mount -t proc proc {root}/proc && mount --rbind /dev {root}/dev && "
                 f"mount -t tmpfs tmpfs {root}/tmp && exec {inner}")
        return ["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c", setup]
    if runtime == "runsc":
        return ["runsc", "--platform=ptrace", "--network=none", "do", "--root", str(image), "--cwd", "/", *argv]
    return [sys.executable, "-m", "kernel", "run", str(image), "--", *argv]


@dataclass
class ModuleRun:
    """One module under one runtime: each case's outcome, and how the run ended."""

    runtime: str
    module: str
    #: Test id -> "passed", "failed", "error" or "skipped"; the message of a failure.
    cases: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    status: int = 0
    seconds: float = 0.0
    #: Why no report came back (a crash, a hang), if none did.
    problem: str = ""

    def count(self, outcome: str) -> int:
        return sum(1 for value in self.cases.values() if value == outcome)


def parse_junit(text: str, run: ModuleRun) -> None:
    root = ElementTree.fromstring(text)
    for case in root.iter("testcase"):
        name = ".".join(part for part in (case.get("classname"), case.get("name")) if part).removeprefix("test.")
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = (child.get("message") or child.text or "").strip().splitlines()[0:1]
                message = message[0] if message else ""
                break
        run.cases[name] = outcome
        if message:
            run.messages[name] = message


def run_module(runtime: str, module: str, image: Path, logs: Path) -> ModuleRun:
    run = ModuleRun(runtime, module)
    log = logs / f"{module}.{runtime}.log"
    started = time.monotonic()
    try:
        with log.open("wb") as stderr:
            result = subprocess.run(host_command(runtime, image, guest_command(module)), stdout=subprocess.PIPE,
                                    stderr=stderr, stdin=subprocess.DEVNULL, timeout=MODULE_TIMEOUT, cwd=REPO)
    except subprocess.TimeoutExpired:
        run.problem = f"no end after {MODULE_TIMEOUT} s"
        return run
    run.seconds = time.monotonic() - started
    run.status = result.returncode
    out = result.stdout.decode(errors="replace")
    if MARKER not in out:
        run.problem = f"no report (exit status {result.returncode}; see {log})"
        return run
    try:
        parse_junit(out.split(MARKER, 1)[1].strip(), run)
    except ElementTree.ParseError as error:
        run.problem = f"unreadable report: {error}"
    return run


def table(runs: dict[tuple[str, str], ModuleRun], modules: list[str]) -> str:
    lines = ["| module | " + " | ".join(f"{r}: pass / fail / error / skip" for r in RUNTIMES) + " |",
             "|---|" + "---|" * len(RUNTIMES)]
    for module in modules:
        cells = []
        for runtime in RUNTIMES:
            run = runs[(runtime, module)]
            if run.problem:
                cells.append(run.problem)
            else:
                cells.append(f"{run.count('passed')} / {run.count('failed')} / {run.count('error')} / "
                             f"{run.count('skipped')}")
        lines.append(f"| {module} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def regressions(runs: dict[tuple[str, str], ModuleRun], modules: list[str]) -> list[str]:
    """Cases that pass natively and under runsc (when it ran) but not under Sentrio, with
    their message."""
    found = []
    for module in modules:
        native, runsc, sentrio = (runs[(runtime, module)] for runtime in RUNTIMES)
        if sentrio.problem:
            found.append(f"- {module}: {sentrio.problem}")
            continue
        for case, outcome in sorted(native.cases.items()):
            elsewhere = runsc.problem == "not run" or runsc.cases.get(case) == "passed"
            if outcome == "passed" and elsewhere and sentrio.cases.get(case) != "passed":
                message = sentrio.messages.get(case, "")
                found.append(f"- `{case}`: {sentrio.cases.get(case, 'not run')}{': ' + message if message else ''}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.compat.cpython", description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", help="a test module (default: issue 15's six)")
    parser.add_argument("--runtime", action="append", choices=RUNTIMES, help="only these (default: all three)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/sentrio-cpython-tests"), help="where logs go")
    parser.add_argument("--markdown", type=Path, help="also write the table and the list here")
    options = parser.parse_args(argv)
    modules = options.module or list(MODULES)
    runtimes = options.runtime or list(RUNTIMES)
    image = build_image()
    options.out.mkdir(parents=True, exist_ok=True)
    runs: dict[tuple[str, str], ModuleRun] = {}
    with concurrent.futures.ThreadPoolExecutor(len(runtimes)) as pool:
        for module in modules:
            futures = {runtime: pool.submit(run_module, runtime, module, image, options.out) for runtime in runtimes}
            for runtime in RUNTIMES:
                runs[(runtime, module)] = futures[runtime].result() if runtime in futures else \
                    ModuleRun(runtime, module, problem="not run")
                run = runs[(runtime, module)]
                print(f"{module} {runtime}: {run.problem or f'{len(run.cases)} cases in {run.seconds:.0f} s'}",
                      file=sys.stderr)
    where = "natively" if "runsc" not in runtimes else "natively and under runsc"
    report = [table(runs, modules), "", f"Passing {where}, not under Sentrio:", ""]
    report += regressions(runs, modules) or ["- none"]
    text = "\n".join(report) + "\n"
    print(text)
    if options.markdown:
        options.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
