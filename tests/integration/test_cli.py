"""The command line as a user drives it: output, exit statuses, tracing, hooks, swapped actors,
and no stub left behind when the Sentry is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel.images.build import build_demo

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="Sentrio runs guests under ptrace as root")


def sentrio(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kernel", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-image")
    build_demo(root)
    for source in PROGRAMS.glob("*.c"):
        subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / source.stem), str(source)], check=True)
    (root / "bin" / "not-executable").write_text("#!/bin/sh\n")
    return root


def test_the_demo_greets_with_the_sandbox_view(image: Path) -> None:
    result = sentrio("run", str(image), "--", "/bin/hello", "world")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Hello world!"
    assert lines[1] == "kernel: Linux 6.1.0-sentrio x86_64 (sentrio)"
    assert lines[2] == "pid 1, parent 0, uid 0"
    assert lines[3] == "touched 1 MiB (sum 7340032), slept >= 20 ms"
    assert result.stderr == ""


def test_hostname_flag_is_the_nodename(image: Path) -> None:
    result = sentrio("run", "--hostname", "box", str(image), "--", "/bin/hello")
    assert "x86_64 (box)" in result.stdout


@pytest.mark.parametrize(("args", "status", "message"), [
    (["/nonexistent/image", "--", "/bin/hello"], 125, "sentrio: image '/nonexistent/image' is not a directory"),
    (["{image}", "--", "/bin/nope"], 127, "/bin/nope: not found in the image"),
    (["{image}", "--", "/bin/not-executable"], 126, "/bin/not-executable: not executable (Permission denied)"),
    (["--service", "mm=no.such.module:Factory", "{image}", "--", "/bin/hello"], 125,
     "sentrio: cannot load no.such.module:Factory"),
])
def test_runtime_errors_are_one_line_and_a_docker_status(
        image: Path, args: list[str], status: int, message: str) -> None:
    result = sentrio("run", *(a.format(image=image) for a in args))
    assert result.returncode == status
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stdout == ""


def test_strace_prints_each_call_with_arguments_and_result(image: Path) -> None:
    result = sentrio("run", "--strace", str(image), "--", "/bin/hello", "strace")
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert all(line.startswith("[   1] ") for line in lines), lines[:5]
    calls = [line[7:] for line in lines]
    # stdout is a pipe, so glibc writes everything at exit in one call, shown up to 32 bytes.
    assert any(c.startswith('write(1, "Hello strace!\\nkernel: Linux') for c in calls), calls[-3:]
    assert any(c.startswith("uname(0x") and c.endswith(") = 0") for c in calls)
    assert any(c.startswith("brk(NULL) = 0x") or c.startswith("brk(0) = 0x") for c in calls), calls[:10]
    assert calls[-1] == "exit_group(0) = ?"


def test_strace_names_errors(image: Path) -> None:
    result = sentrio("run", "--strace", "--plugin", "tests.integration.plugins:deny_uname",
                     str(image), "--", "/bin/uname_errno")
    assert "uname(0x" in result.stderr
    assert ") = -1 EPERM (Operation not permitted)" in result.stderr


def test_trace_messages_records_every_bus_message(image: Path, tmp_path: Path) -> None:
    trace = tmp_path / "messages.jsonl"
    result = sentrio("run", "--trace-messages", str(trace), str(image), "--", "/bin/hello")
    assert result.returncode == 0
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    records = [r for r in records if r.get("type") == "message"]  # not the header nor the spans of calls
    assert records, "no messages traced"
    assert {"mm", "vfs", "gofer", "signals"} <= {r["service"] for r in records}
    ops = [r["op"] for r in records]
    assert ops[0] == "mount" and records[0]["caller"] == "kernel"  # the vfs mounts the image first
    assert "create" in ops
    assert "brk" in ops and "copy_out" in ops and "mmap" in ops
    assert any(r["caller"] == "task 1" for r in records)
    # background gofer work (clunks) completes out of order: seqs are unique, not sorted
    assert len({r["seq"] for r in records}) == len(records)
    assert all(("result" in r) != ("errno" in r) for r in records)


def test_plugin_hooks_answer_calls(image: Path) -> None:
    plain = sentrio("run", str(image), "--", "/bin/uname_errno")
    hooked = sentrio("run", "--plugin", "tests.integration.plugins:deny_uname", str(image), "--", "/bin/uname_errno")
    assert plain.stdout == "sysname Linux\n"
    assert hooked.stdout == "uname failed: Operation not permitted\n"


def test_a_swapped_actor_serves_the_sandbox(image: Path, tmp_path: Path) -> None:
    counts_file = tmp_path / "counts.json"
    env = dict(os.environ, SENTRIO_TEST_COUNTS=str(counts_file))
    result = sentrio("run", "--service", "mm=tests.integration.plugins:counting_mm",
                     str(image), "--", "/bin/hello", "swapped", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hello swapped!\n")
    counts = json.loads(counts_file.read_text())
    assert counts["create"] == 1 and counts["copy_out"] > 0 and counts["iovecs"] > 0


def _stub_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm, open(f"/proc/{entry}/stat") as stat:
                    if comm.read().strip() == "sentrio-stub" and stat.read().split(") ")[1][0] != "Z":
                        pids.add(int(entry))
            except OSError:
                pass
    return pids


def test_killing_the_sentry_leaves_no_stub(image: Path) -> None:
    before = _stub_pids()
    sentry = subprocess.Popen([sys.executable, "-m", "kernel", "run", str(image), "--", "/bin/sleeper"],
                              stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert sentry.stdout is not None
        assert sentry.stdout.readline() == b"ready\n"
        ours = _stub_pids() - before
        assert len(ours) >= 2, "expected the template stub and the guest's stub"
        sentry.send_signal(signal.SIGKILL)
        sentry.wait(10)
        deadline = time.monotonic() + 10
        while ours & _stub_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not ours & _stub_pids(), "stubs outlived the Sentry"
    finally:
        if sentry.poll() is None:
            sentry.kill()


@pytest.mark.parametrize("target", ["file", "/dev/null"])
def test_stdout_may_be_a_regular_file_or_a_device(image: Path, tmp_path: Path, target: str) -> None:
    """Neither can be waited on with epoll; writes must still go straight through."""
    path = tmp_path / "out.txt" if target == "file" else Path(target)
    with open(path, "w") as stdout:
        result = subprocess.run([sys.executable, "-m", "kernel", "run", str(image), "--", "/bin/hello", "redirected"],
                                stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    if target == "file":
        assert path.read_text().startswith("Hello redirected!\n")
