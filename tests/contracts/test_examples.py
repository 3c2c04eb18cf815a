"""The example replacements in examples/: they pass the conformance suites and run busybox.

Each suite run is ``python -m pytest tests/contracts/test_<service>.py --service ...`` in a
subprocess, exactly as a researcher runs it for their own actor.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from abi.errno import EINVAL, Errno
from abi.linux import MAP_32BIT, MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PAGE_SIZE, PROT_READ, PROT_WRITE
from examples import bottom_up_mm, oplog
from kernel.bus import Actor, Bus, current_caller, operation
from kernel.kernel import Kernel
from platforms.ptrace.platform import PtracePlatform
from tests.contracts.conftest import REPO, Sandbox, sentrio

SERVICES = ("mm",)

#: Example -> the services it is offered for in the suites. A service's suite is
#: tests/contracts/test_<service>.py; add a service here when its suite exists.
SUITES = {
    "bottom_up_mm": {"mm": "examples.bottom_up_mm:factory"},
    "oplog": {"mm": "examples.oplog:mm", "signals": "examples.oplog:signals", "vfs": "examples.oplog:vfs"},
}

ANON = MAP_PRIVATE | MAP_ANONYMOUS
RW = PROT_READ | PROT_WRITE
P = PAGE_SIZE


@pytest.mark.parametrize("example", list(SUITES))
def test_the_example_passes_the_conformance_suites(example: str, tmp_path: Path) -> None:
    services = SUITES[example]
    log = tmp_path / "operations.log"
    suites = [f"tests/contracts/test_{name}.py" for name in services]
    options = [f"--service={name}={target}" for name, target in services.items()]
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *suites, *options],
                            capture_output=True, text=True, cwd=REPO, timeout=600,
                            env=dict(os.environ, SENTRIO_OPLOG=str(log)))
    summary = result.stdout.strip().splitlines()[-1]
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.fullmatch(r"=+ \d+ passed in .* =+", summary), summary  # nothing skipped, nothing failed
    assert f"contract suites hold to their contracts: {', '.join(options).replace('--service=', '')}" \
        in result.stdout
    if example == "oplog":  # the wrapper really served the suites
        operations = {line.split("(")[0].split()[-1] for line in log.read_text().splitlines()}
        assert {"mm.mmap", "mm.fork", "signals.send", "signals.futex_wait"} <= operations


# --- the bottom-up MM on its own ----------------------------------------------------------------


@pytest.fixture
def replacements() -> dict[str, Callable[[Kernel], Actor]]:
    return {"mm": bottom_up_mm.factory}


async def test_bottom_up_places_mappings_upwards_from_a_third_of_the_address_space(sandbox: Sandbox) -> None:
    actor = sandbox.bus.actor("mm")
    assert isinstance(actor, bottom_up_mm.BottomUpMemoryManager)
    base = bottom_up_mm.unmapped_base(sandbox.kernel.platform.max_user_address)
    asid = await sandbox.call("mm", "create")
    first = await sandbox.call("mm", "mmap", asid, 0, 3 * P, RW, ANON)
    second = await sandbox.call("mm", "mmap", asid, 0, P, RW, ANON)
    third = await sandbox.call("mm", "mmap", asid, 0, 2 * P, RW, ANON)
    assert (first, second, third) == (base, base + 3 * P, base + 4 * P)
    await sandbox.call("mm", "munmap", asid, first, 3 * P)
    assert await sandbox.call("mm", "mmap", asid, 0, 2 * P, RW, ANON) == base  # the lowest hole that fits
    assert await sandbox.call("mm", "mmap", asid, 0, 2 * P, RW, ANON) == base + 6 * P
    assert await sandbox.call("mm", "mmap", asid, 0x4000_0000, P, RW, ANON) == 0x4000_0000  # a free hint
    assert await sandbox.call("mm", "mmap", asid, base + 1, P, RW, ANON) == base + 2 * P  # a taken one: the hole
    low = await sandbox.call("mm", "mmap", asid, 0, P, RW, ANON | MAP_32BIT)
    assert low < 1 << 31  # MAP_32BIT is the inner MM's
    assert await sandbox.errno("mm", "mmap", asid, base + 1, P, RW, ANON | MAP_FIXED) == EINVAL


async def test_bottom_up_places_file_mappings_too(sandbox: Sandbox) -> None:
    base = bottom_up_mm.unmapped_base(sandbox.kernel.platform.max_user_address)
    asid = await sandbox.call("mm", "create")
    (sandbox.workdir / "file").write_bytes(b"mapped bytes")
    fd = os.open(sandbox.workdir / "file", os.O_RDONLY)
    try:
        start = await sandbox.call("mm", "mmap_file", asid, 0, P, PROT_READ, MAP_PRIVATE, fd, 0)
    finally:
        os.close(fd)
    assert start == base
    assert await sandbox.call("mm", "copy_in", asid, start, 12) == b"mapped bytes"


# --- the operation log on its own ---------------------------------------------------------------


class Echo(Actor):
    @operation
    async def echo(self, value: object) -> object:
        return value

    @operation
    async def fail(self) -> None:
        raise Errno(EINVAL)


async def test_the_operation_log_writes_one_line_per_operation() -> None:
    stream = io.StringIO()
    bus = Bus()
    bus.register(oplog.OperationLog(Echo(), "echo", stream), "echo")
    current_caller.set("task 7")
    assert await bus.call("echo", "echo", b"x" * 1000) == b"x" * 1000
    with pytest.raises(Errno):
        await bus.call("echo", "fail")
    await bus.call("echo", "echo", Echo())
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("task 7 echo.echo(b'xxxx") and "...xxx" in lines[0] and len(lines[0]) < 300
    assert lines[1] == "task 7 echo.fail() = EINVAL"
    assert re.fullmatch(r"task 7 echo\.echo\(<Echo 0x[0-9a-f]+>\) -> <Echo 0x[0-9a-f]+>", lines[2]), lines[2]


# --- busybox ------------------------------------------------------------------------------------------

SCRIPT = "ls /; echo ok"
#: dd allocates its 1 MiB buffer with mmap before it reads the maps of its own process.
OWN_MAPS = ["dd", "if=/proc/self/maps", "bs=1M", "count=1"]


def anonymous_starts(maps: str) -> list[int]:
    """Start addresses of the nameless mappings in /proc/PID/maps text."""
    return [int(line.split("-")[0], 16) for line in maps.splitlines() if len(line.split()) == 5]


def test_busybox_runs_on_the_bottom_up_mm(busybox: Path) -> None:
    plain = sentrio("run", str(busybox), "--", "sh", "-c", SCRIPT)
    swapped = sentrio("run", "--service", "mm=examples.bottom_up_mm:factory", str(busybox), "--", "sh", "-c", SCRIPT)
    assert plain.returncode == 0 and plain.stdout.endswith("\nok\n")
    assert (swapped.returncode, swapped.stdout, swapped.stderr) == (0, plain.stdout, plain.stderr)
    ours = sentrio("run", str(busybox), "--", *OWN_MAPS)
    bottom_up = sentrio("run", "--service", "mm=examples.bottom_up_mm:factory", str(busybox), "--", *OWN_MAPS)
    base = bottom_up_mm.unmapped_base(PtracePlatform.max_user_address)
    assert base in anonymous_starts(bottom_up.stdout), bottom_up.stdout
    assert base not in anonymous_starts(ours.stdout), ours.stdout


def test_busybox_runs_with_every_vfs_operation_logged(busybox: Path, tmp_path: Path) -> None:
    log = tmp_path / "vfs.log"
    plain = sentrio("run", str(busybox), "--", "sh", "-c", SCRIPT)
    logged = sentrio("run", "--service", "vfs=examples.oplog:vfs", str(busybox), "--", "sh", "-c", SCRIPT,
                     env=dict(os.environ, SENTRIO_OPLOG=str(log)))
    assert (logged.returncode, logged.stdout, logged.stderr) == (0, plain.stdout, plain.stderr)
    lines = log.read_text().splitlines()
    assert all(re.match(r"(task \d+|kernel) vfs\.\w+\(", line) for line in lines), lines[:5]
    operations = {line.split("(")[0].split()[-1] for line in lines}
    assert {"vfs.root", "vfs.open", "vfs.getdents", "vfs.write", "vfs.drop"} <= operations
    assert any(line.startswith("task ") and "b'/bin'" in line for line in lines)  # ls / looked at /bin
