"""bench/cpu.py measures what it says: the Sentry process's own CPU (not its children's), and
the number of guest system calls the Sentry served."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from bench import cpu
from bench.benchmarks import PROGRAMS_DIR
from bench.run import compile_source

#: Burns ``SECONDS`` of its own CPU, after waiting for a child that burnt as much of its own.
_BURNER = textwrap.dedent("""
    import subprocess, sys, time
    SECONDS = 0.3
    def burn():
        start = time.process_time()
        while time.process_time() - start < SECONDS:
            pass
    if sys.argv[1] == "parent":
        subprocess.run([sys.executable, "-c", sys.argv[2], "child", sys.argv[2]], check=True)
    burn()
""")


def test_cpu_at_exit_counts_the_process_itself_not_its_children() -> None:
    process = subprocess.Popen([sys.executable, "-c", _BURNER, "parent", _BURNER])
    try:
        cpu_ms = cpu._cpu_at_exit(process.pid, timeout=120)
    finally:
        process.wait()
    assert process.returncode == 0
    # Its own 0.3 s (plus its interpreter's start), never its child's 0.3 s on top.
    assert 290 <= cpu_ms < 580


def test_the_sentry_reports_every_guest_system_call(tmp_path: Path) -> None:
    image = tmp_path / "image"
    image.mkdir()
    compile_source(PROGRAMS_DIR / "getppid_loop.c", image / "getppid_loop")
    served = {}
    for calls in (1, 501):
        sample, stdout = cpu.run_sentry(cpu.REPO_ROOT, image, ["/getppid_loop", str(calls)], timeout=120)
        assert f"calls={calls}" in stdout
        assert sample.cpu_ms > 0
        served[calls] = sample.syscalls
    assert served[1] > 1  # the C library's start-up and exit, and one getppid
    assert served[501] - served[1] == 500


def test_jobs_by_name_and_group() -> None:
    micro = cpu.resolve(["micro"])
    assert {job.name for job in micro} == set(cpu.MICRO_ITERATIONS)
    assert all(job.image == "micro" and job.argv[0] == f"/{job.name}" for job in micro)
    real = cpu.resolve(["real:all"])
    assert len(real) == 9 and all(job.argv[:2] == ("/bin/sh", "-c") for job in real)
    assert [job.name for job in cpu.resolve(["real:find", "true"])] == ["real:find", "true"]


def test_per_call_figures_take_the_start_up_off() -> None:
    result = cpu.Result(cpu.Job("x", ("/x",), "micro"), "this", [cpu.Sample(300.0, 1000), cpu.Sample(500.0, 1000)])
    assert result.cpu_ms == 400.0
    raw, net = cpu.per_call_us(result, startup_ms=200.0)
    assert raw == 400.0 and net == 200.0
    assert cpu.per_call_us(result, None) == (400.0, None)
