"""Issue 11 part 4 / issue 18 part 4: memory the Sentry holds for the guest (tmpfs, the overlay's
upper layer, memfds, pipe buffers) is charged against ``--memory`` with anonymous memory.

A fill stops with Linux's errno (ENOSPC for files, ENOMEM for pipes and malloc), the Sentry
stays alive and does not hold more than the limit, and freeing gives the memory back. The
tmpfs fill is also compared with Linux: a native tmpfs mounted with ``size=`` stops the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.differential.harness import fresh_signal_state

REPO = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def _run(image: Path, *argv: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), SENTRIO_STRICT="1")
    command = [sys.executable, "-m", "kernel", "run", "--memory", "64m", *options, str(image), "--",
               "/bin/memcharge", *argv]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result
    return result


def _mib(stderr: str, what: str) -> int:
    """The MiB the program reports for ``what`` on stderr."""
    line = next(line for line in stderr.splitlines() if line.startswith(what + ":"))
    return int(line.split(":")[1].split()[0])


FILLED = ["first fill: No space left on device",
          "second fill: No space left on device",
          "second fill reaches the first"]


def test_dd_into_tmp_ends_with_enospc_and_rm_frees_it(image: Path) -> None:
    """/tmp may take half the sandbox's memory by default, as Linux's tmpfs takes half of RAM."""
    result = _run(image, "fill", "/tmp/f", "200")
    assert result.stdout.splitlines() == FILLED
    assert 24 <= _mib(result.stderr, "first fill") <= 32


def test_a_big_tmpfs_still_stops_at_the_sandbox_memory(image: Path) -> None:
    """size=1g under --memory 64m: the pages are what runs out, and the write says ENOSPC."""
    result = _run(image, "fill", "/tmp/f", "200", options=("--tmpfs", "/tmp:size=1g"))
    assert result.stdout.splitlines() == FILLED
    assert 32 < _mib(result.stderr, "first fill") < 64


def test_the_overlay_upper_layer_is_charged(image: Path) -> None:
    result = _run(image, "fill", "/bin/f", "200")
    assert result.stdout.splitlines() == FILLED
    assert 0 < _mib(result.stderr, "first fill") <= 32


def test_memfd_fills_and_gives_back(image: Path) -> None:
    result = _run(image, "memfd", "200")
    assert result.stdout.splitlines() == ["first memfd: No space left on device",
                                          "fallocate: No space left on device",
                                          "ftruncate 1 GiB: done",  # sparse: nothing reserved
                                          "second memfd: No space left on device"]
    assert _mib(result.stderr, "second memfd") >= _mib(result.stderr, "first memfd") > 0


def test_many_full_pipes_stop_at_the_limit_and_closing_them_frees_it(image: Path) -> None:
    result = _run(image, "pipes")
    assert result.stdout.splitlines() == ["pipes round 0: Cannot allocate memory",
                                          "pipes round 0 held less than the limit",
                                          "pipes round 1: Cannot allocate memory",
                                          "pipes round 1 held less than the limit"]
    first, second = (_mib(result.stderr, f"pipes round {n}") for n in (0, 1))
    assert second >= first > 32


def test_tmpfs_pages_and_malloc_share_one_limit(image: Path) -> None:
    result = _run(image, "shared", options=("--tmpfs", "/tmp:size=64m"))
    assert result.stdout.splitlines() == ["fill 40 MiB of /tmp: all written",
                                          "malloc 40 MiB: Cannot allocate memory",
                                          "after rm, malloc 40 MiB: got it"]


def test_a_process_that_exits_holding_memfds_and_pipes_leaks_nothing(image: Path) -> None:
    """Each child fills a 20 MiB memfd and ten pipes and exits without closing them: were
    anything left charged, the third child (60 MiB and more in all) could not fill its own."""
    result = _run(image, "exit")
    assert result.stdout.splitlines() == [f"child {n}: filled its memfd" for n in range(3)]


def test_meminfo_and_sysinfo_count_tmpfs_pages_as_shmem(image: Path) -> None:
    result = _run(image, "meminfo")
    assert result.stdout.splitlines() == ["Shmem counts the file: yes", "MemFree fell by it: yes",
                                          "sysinfo sharedram counts it: yes", "after rm, Shmem: under 1 MiB"]


def _memfd_bytes(pid: int) -> int:
    """Bytes of memory the host gave the memfds that process ``pid`` holds open."""
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:"):
                total += os.stat(f"/proc/{pid}/fd/{fd}").st_blocks * 512
        except OSError:
            continue
    return total


def _sentry_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (the Sentry may re-execute itself into its namespaces)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo.extend(int(child) for child in children.read().split())
        except OSError:
            continue
    return pids


def test_the_host_holds_no_more_than_the_limit_while_tmp_is_full(image: Path) -> None:
    """The Sentry's files in memory are memfds: while /tmp is full (size=1g, --memory 64m), the
    memfds of /tmp files that the Sentry's processes hold add up to less than the limit."""
    env = dict(os.environ, PYTHONPATH=str(REPO), SENTRIO_STRICT="1")
    command = [sys.executable, "-m", "kernel", "run", "-i", "--memory", "64m", "--tmpfs", "/tmp:size=1g",
               str(image), "--", "/bin/memcharge", "fill", "/tmp/f", "200", "hold"]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, cwd=REPO, env=env) as sentry:
        assert sentry.stdout is not None and sentry.stdin is not None
        assert sentry.stdout.readline() == "first fill: No space left on device\n"
        held = sum(_memfd_bytes(pid) for pid in _sentry_pids(sentry.pid))
        out, err = sentry.communicate("", timeout=300)  # the program's stdin ends: it goes on
    assert 32 * MIB < held <= 64 * MIB, held
    assert out.splitlines() == FILLED[1:], err


def test_linux_stops_a_tmpfs_fill_the_same_way(image: Path) -> None:
    """Natively, in a chroot whose /tmp is a tmpfs of size=32m: the same lines."""
    if os.geteuid() != 0:
        pytest.fail("needs root to mount a tmpfs (CI runs as root)")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["unshare", "--mount", "--", "sh", "-c",
                        f"mount --rbind {image} {tmp} && mount -t tmpfs -o size=32m none {tmp}/tmp && "
                        f"chroot {tmp} /bin/memcharge fill /tmp/f 200 > {tmp}.out"],
                       check=True, preexec_fn=fresh_signal_state, timeout=120)
        native = Path(f"{tmp}.out").read_text()
        os.unlink(f"{tmp}.out")
    assert native.splitlines() == FILLED
