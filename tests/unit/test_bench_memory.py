"""The memory benchmarks' measuring: a process tree through parent pids, and a run's peak."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from bench.memory import PeakMemory, RunCgroup, tree


def test_the_tree_keeps_a_child_that_started_its_own_session() -> None:
    shell = subprocess.Popen(["sh", "-c", "setsid sleep 5 & exec sleep 5"])
    try:
        deadline = time.monotonic() + 5
        while len(tree(shell.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        members = tree(shell.pid)
        assert members[0] == shell.pid and len(members) == 2
    finally:
        subprocess.run(["pkill", "-P", str(shell.pid)])
        shell.kill()
        shell.wait()


def test_a_run_s_peak_counts_what_its_child_held() -> None:
    cgroup = RunCgroup(f"sentrio-test-{time.monotonic_ns()}")
    if cgroup.path is None:
        pytest.skip("no cgroup v1 memory controller to run in")
    hold = "x = bytearray(48 << 20); import time; time.sleep(0.3)"
    try:
        child = subprocess.Popen([sys.executable, "-c", hold], preexec_fn=cgroup.enter)
        with PeakMemory(child.pid, cgroup) as peak:
            child.wait()
        assert 48 <= peak.peak_mib < 200
    finally:
        cgroup.remove()
