"""Stub threads that compute run on any CPU; only those that trap in quick succession are kept
next to the Sentry (platforms/ptrace/placement.py).

A new stub thread inherits the CPUs of the thread that made it, which is the Sentry's CPU: it
must be let go once it computes, or every process of a pipeline (``head | xz | wc``) shares one
CPU with the Sentry while the others idle.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.memory import tree
from kernel.images.build import HOST_BUSYBOX, build_busybox

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="sandboxes run as root here"),
              pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="placement needs two CPUs"),
              pytest.mark.skipif(not HOST_BUSYBOX.is_file(), reason="needs busybox-static (bash scripts/setup.sh)")]


def _busiest_stub_thread(sentry: int) -> tuple[int, int] | None:
    """(tid, CPU ticks) of the stub thread below ``sentry`` that has computed the most."""
    best = None
    for pid in tree(sentry):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() != "sentrio-stub":
                continue
            for tid in os.listdir(f"/proc/{pid}/task"):
                fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks = int(fields[11]) + int(fields[12])
                if best is None or ticks > best[1]:
                    best = (int(tid), ticks)
        except OSError:
            continue
    return best


#: A child that computes before its first system call (so its first stop is a slow one), then
#: makes one and computes on: the parent waits.
COMPUTE_FIRST = r"""
#include <sys/wait.h>
#include <unistd.h>
static volatile unsigned long sink;
static void compute(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink += i; }
int main(void) {
    if (fork() == 0) {
        compute(300000000UL);
        getppid();
        for (;;) compute(1000000UL);
    }
    wait(0);
    return 0;
}
"""


def test_a_computing_guest_process_is_not_kept_on_the_sentrys_cpu(tmp_path: Path) -> None:
    image = tmp_path / "busybox"
    build_busybox(image)
    source = tmp_path / "compute_first.c"
    source.write_text(COMPUTE_FIRST)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(image / "compute_first"), str(source)], check=True)
    env = dict(os.environ, SENTRIO_ZYGOTE="off", PYTHONPATH=str(REPO))
    sentry = subprocess.Popen([sys.executable, "-m", "kernel", "run", "--network", "none", str(image), "--",
                               "/compute_first"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        busiest = None
        while time.monotonic() < deadline:
            busiest = _busiest_stub_thread(sentry.pid)
            if busiest is not None and busiest[1] >= 150:  # past its first stop: computing again
                break
            time.sleep(0.1)
        assert busiest is not None and busiest[1] >= 150, "the guest did not compute"
        allowed = os.sched_getaffinity(busiest[0])
        assert allowed == os.sched_getaffinity(0), f"a computing stub thread is held to CPUs {sorted(allowed)}"
    finally:
        sentry.kill()
        sentry.wait()
