"""``python -m tests.security.census [PYTEST ARGS]``: which host system calls confined processes make.

Runs the test suite (or the tests named) with ``SENTRIO_SYSCALL_CENSUS`` set: every Sentry and
gofer, at the point where it would install its seccomp filter, has ``strace -c`` attached
instead and runs unfiltered. The counts are summed per role — the Sentry, a read-only gofer, a
``--rw`` gofer — and set against the allowlists: a call made but not listed would kill a
sandbox; a call listed but never made is a candidate for removal (or is made only on paths the
suite does not take: the allowlist's comment should say which). Needs strace (Debian's).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from abi.syscalls import NAMES, number
from gofer.seccomp import CENSUS_FILE, CENSUS_VARIABLE, gofer_entries
from kernel.confine.allowlist import sentry_entries

REPO = Path(__file__).resolve().parents[2]


def read_counts(directory: Path) -> dict[str, tuple[Counter[str], Counter[str]]]:
    """role -> (calls per system call, processes that made it), from strace -c summaries."""
    result: dict[str, tuple[Counter[str], Counter[str]]] = defaultdict(lambda: (Counter(), Counter()))
    for path in directory.glob("*.txt"):
        role = path.name.rsplit("-", 1)[0]
        calls, processes = result[role]
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] in NAMES.values() and fields[1].isdigit():
                calls[fields[0]] += int(fields[1])
                processes[fields[0]] += 1
    return result


def allowed(role: str) -> set[str]:
    if role == "sentry":
        entries = sentry_entries(0)
    else:
        entries = gofer_entries(writable=role == "gofer-rw", pid=0)
    return {entry.name for entry in entries}


def report(counts: dict[str, tuple[Counter[str], Counter[str]]]) -> str:
    lines = []
    for role in sorted(counts):
        calls, processes = counts[role]
        listed = allowed(role)
        lines.append(f"## {role}: {max(processes.values(), default=0)} processes\n")
        lines.append("| call | calls | processes | allowed |")
        lines.append("|---|---|---|---|")
        for name in sorted(calls, key=number):
            lines.append(f"| {name} | {calls[name]} | {processes[name]} | {'yes' if name in listed else '**no**'} |")
        unused = sorted(listed - set(calls), key=number)
        lines.append(f"\nallowed, never called: {', '.join(unused) or 'none'}\n")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="sentrio-census-") as directory:
        env = dict(os.environ, **{CENSUS_VARIABLE: directory})
        Path(CENSUS_FILE).write_text(directory)  # for the sandboxes started with a clean environment
        try:
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *argv], cwd=REPO, env=env)
        finally:
            os.unlink(CENSUS_FILE)
        print(report(read_counts(Path(directory))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
