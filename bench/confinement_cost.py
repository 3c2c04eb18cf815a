"""What confinement costs (issue 12): the same programs under a confined Sentry and under
``--debug-unconfined``, interleaved round by round so that load hits both alike; medians and
their ratio.

``python -m bench.confinement_cost [ROUNDS]`` prints a Markdown table.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROGRAMS = REPO / "bench" / "programs"

#: (program, its arguments, the figure it prints — None: the run's wall time —, the unit)
JOBS: list[tuple[str, list[str], str | None, str]] = [
    ("getppid_loop", ["100000"], "ns_per_call", "ns/call"),
    ("open_close", ["20000"], "ns_per_call", "ns/call"),
    ("stat_path", ["20000"], "ns_per_call", "ns/call"),
    ("pipe_throughput", ["128"], "mib_per_s", "MiB/s"),
    ("fork_exec_wait", ["100"], "us_per_call", "µs/call"),
    ("true", [], None, "s wall"),
]
MODES = {"confined": [], "unconfined": ["--debug-unconfined"]}


def build_image() -> Path:
    image = Path(tempfile.mkdtemp(prefix="sentrio-confinement-"))
    (image / "bench").mkdir()
    for name, *_ in JOBS:
        subprocess.run(["gcc", "-static", "-O2", f"-I{PROGRAMS}", "-o", str(image / "bench" / name),
                        str(PROGRAMS / f"{name}.c")], check=True)
    (image / "bench" / "small").write_bytes(b"x" * 100)
    return image


def measure(image: Path, name: str, args: list[str], key: str | None, flags: list[str]) -> float | None:
    start = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "kernel", "run", *flags, str(image), "--", f"/bench/{name}", *args],
                         capture_output=True, text=True, cwd=REPO, timeout=600)
    if key is None:
        return time.monotonic() - start
    found = re.search(rf"{key}=([0-9.]+)", run.stdout)
    return float(found.group(1)) if found else None


def main(rounds: int) -> None:
    image = build_image()
    samples: dict[tuple[str, str], list[float]] = {(job[0], mode): [] for job in JOBS for mode in MODES}
    for round_ in range(rounds):
        order = list(MODES) if round_ % 2 == 0 else list(reversed(MODES))
        for name, args, key, _ in JOBS:
            for mode in order:
                value = measure(image, name, args, key, MODES[mode])
                if value is not None:
                    samples[(name, mode)].append(value)
    print("| benchmark | unit | confined | unconfined | confined / unconfined |")
    print("|---|---|---|---|---|")
    for name, _, _, unit in JOBS:
        confined = statistics.median(samples[(name, "confined")])
        unconfined = statistics.median(samples[(name, "unconfined")])
        print(f"| {name} | {unit} | {confined:.3f} | {unconfined:.3f} | {confined / unconfined:.2f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
