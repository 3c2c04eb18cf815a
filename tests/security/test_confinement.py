"""What each host process of a live sandbox may do, read from /proc, against runsc's.

A sandbox runs a guest that sleeps, with the image served read-only (the default overlay) and
a volume served ``--rw``. For the Sentry, every stub and every gofer, the test reads what the
host kernel says about it — uid, CapEff, Seccomp, NoNewPrivs, each namespace compared with the
test's own, and its root — checks every row is at least as strict as runsc's (measured on this
machine, docs/security.md), and that docs/security.md's table is exactly what it read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from abi.creds import CAP_NAMES
from kernel.images.build import build_demo
from tests.hostprocs import process_args

REPO = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).parent / "programs"
DOC = REPO / "docs" / "security.md"
NAMESPACES = ("user", "mnt", "net", "ipc", "uts", "cgroup", "pid", "time")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="Sentrio runs guests under ptrace as root")


@dataclass(frozen=True)
class Row:
    """One host process as /proc shows it."""

    process: str
    uid: str
    cap_eff: int
    seccomp: int
    no_new_privs: int
    namespaces: frozenset[str]  # those it does not share with the test
    root: str

    def cells(self) -> list[str]:
        caps = ", ".join(CAP_NAMES[bit].removeprefix("CAP_").lower()
                         for bit in range(64) if self.cap_eff >> bit & 1) or "none"
        own = ", ".join(name for name in NAMESPACES if name in self.namespaces) or "none: the host's"
        return [self.process, self.uid, f"{self.cap_eff:#x} ({caps})", str(self.seccomp), str(self.no_new_privs),
                own, self.root]


#: runsc's rows, read from /proc on this machine (design brief, section 9, and issue 12).
RUNSC = {
    "Sentry": Row("Sentry", "65534", 0x240000, 2, 1, frozenset({"user", "mnt", "net", "ipc", "uts"}), ""),
    "stubs": Row("stubs", "65534", 0x240000, 2, 1, frozenset({"user", "mnt", "net", "ipc", "uts"}), ""),
    "gofer": Row("gofer", "0", 0x4001F, 2, 0, frozenset({"mnt"}), ""),
}
#: runsc has no process of its own for connections out (its Sentry's netstack writes to a veth
#: the engine made): the net helper is held to runsc's other helper process, its gofer.
RUNSC["net"] = RUNSC["gofer"]


def at_least_as_strict(ours: Row, runsc: Row) -> list[str]:
    """What in ``ours`` is looser than in ``runsc`` (nothing, one hopes)."""
    looser = []
    if runsc.uid != "0" and ours.uid == "0":
        looser.append("runs as root")
    if ours.cap_eff & ~runsc.cap_eff:
        looser.append(f"capabilities {ours.cap_eff & ~runsc.cap_eff:#x} beyond runsc's")
    if ours.seccomp < runsc.seccomp:
        looser.append("no seccomp filter")
    if ours.no_new_privs < runsc.no_new_privs:
        looser.append("no no_new_privs")
    if runsc.namespaces - ours.namespaces:
        looser.append(f"shares {sorted(runsc.namespaces - ours.namespaces)} with the host")
    if "host" in ours.root:
        looser.append("sees the host's root")
    return looser


def status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as file:
        return dict(line.rstrip("\n").split(":\t", 1) for line in file if ":\t" in line)


def own_namespaces(pid: int) -> frozenset[str]:
    return frozenset(name for name in NAMESPACES
                     if os.stat(f"/proc/{pid}/ns/{name}").st_ino != os.stat(f"/proc/self/ns/{name}").st_ino)


def describe_root(pid: int, served: Path | None = None) -> str:
    """What ``pid``'s root directory is: empty, the host's, or the directory it serves."""
    root = f"/proc/{pid}/root/"
    fields = next(line.split() for line in open(f"/proc/{pid}/mountinfo") if line.split()[4] == "/")
    fstype = fields[fields.index("-") + 1]
    read_only = "ro" in fields[5].split(",")
    mode = "read-only" if read_only else "read-write"
    here = os.stat(root)
    if (here.st_dev, here.st_ino) == (os.stat("/").st_dev, os.stat("/").st_ino):
        return "the host's /"
    if served is not None and (here.st_dev, here.st_ino) == (served.stat().st_dev, served.stat().st_ino):
        return f"the directory it serves, {mode}"
    entries = sorted(os.listdir(root))
    return f"a {mode} {fstype} holding only {', '.join(entries)}" if entries else f"an empty {mode} {fstype}"


def read_row(process: str, pid: int, served: Path | None = None) -> Row:
    info = status(pid)
    uids = set(info["Uid"].split())
    return Row(process, " ".join(sorted(uids)), int(info["CapEff"], 16), int(info["Seccomp"]),
               int(info["NoNewPrivs"]), own_namespaces(pid), describe_root(pid, served))


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if status(int(entry))["PPid"] == str(pid):
                    found.append(int(entry))
            except (OSError, KeyError):
                continue
    return found


def cmdline(pid: int) -> list[str]:
    return process_args(pid)


@dataclass
class Sandbox:
    sentry: subprocess.Popen[bytes]
    image: Path
    volume: Path

    def stubs(self) -> list[int]:
        templates = [pid for pid in children(self.sentry.pid) if status(pid)["Name"] == "sentrio-stub"]
        return templates + [pid for template in templates for pid in children(template)]

    def net_helper(self) -> int:
        [pid] = [pid for pid in children(self.sentry.pid) if "netgate" in cmdline(pid)]
        return pid

    def gofers(self) -> dict[str, tuple[int, Path]]:
        """'ro'/'rw' -> (pid, the directory served)."""
        found = {}
        for pid in children(self.sentry.pid):
            args = cmdline(pid)
            if "gofer" in args:
                found["rw" if "--rw" in args else "ro"] = (pid, Path(args[args.index("--root") + 1]))
        return found


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("security-image")
    build_demo(root)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "napper"), str(PROGRAMS / "napper.c")],
                   check=True)
    return root


@pytest.fixture
def sandbox(image: Path, tmp_path: Path) -> Iterator[Sandbox]:
    volume = tmp_path / "volume"
    volume.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), SENTRIO_RUNTIME_DIR=str(tmp_path / "run"))
    sentry = subprocess.Popen([sys.executable, "-m", "kernel", "run", "-v", f"{volume}:/data", str(image), "--",
                               "/bin/napper"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO, env=env)
    assert sentry.stdout is not None
    try:
        assert sentry.stdout.readline() == b"ready Linux\n"
        yield Sandbox(sentry, image, volume)
    finally:
        sentry.kill()
        sentry.wait(10)


def read_rows(box: Sandbox) -> list[Row]:
    stubs = box.stubs()
    assert len(stubs) >= 2, stubs  # the template and the guest's address space
    stub_rows = {read_row("stubs", pid) for pid in stubs}
    assert len(stub_rows) == 1, stub_rows  # every stub alike
    gofers = box.gofers()
    assert set(gofers) == {"ro", "rw"}, gofers
    return [read_row("Sentry", box.sentry.pid), *stub_rows,
            read_row("gofer (image, read-only)", *gofers["ro"]),
            read_row("gofer (volume, --rw)", *gofers["rw"]),
            read_row("net helper", box.net_helper())]


def test_every_host_process_is_at_least_as_confined_as_runsc_s(sandbox: Sandbox) -> None:
    rows = read_rows(sandbox)
    for row in rows:
        runsc = RUNSC[row.process.split()[0]]
        assert at_least_as_strict(row, runsc) == [], (row, runsc)
        assert row.uid == "65534"
        assert row.seccomp == 2 and row.no_new_privs == 1
    sentry, stubs, ro, rw, net = rows
    assert sentry.cap_eff == stubs.cap_eff == 0
    assert sentry.namespaces == stubs.namespaces == {"user", "mnt", "net", "ipc", "uts", "cgroup"}
    assert ro.namespaces == rw.namespaces == {"mnt", "net", "ipc", "uts", "cgroup"}
    assert sentry.root == stubs.root == "a read-only tmpfs holding only proc"
    assert ro.root == "the directory it serves, read-only" and ro.cap_eff == 1 << 1  # dac_override
    assert rw.root == "the directory it serves, read-write" and rw.cap_eff == 0b11011
    assert net.cap_eff == 0 and net.namespaces == {"mnt", "ipc", "uts", "cgroup"}  # the host's network: its job
    assert net.root == "an empty read-only tmpfs"


def test_the_sentry_and_its_stubs_share_one_set_of_namespaces(sandbox: Sandbox) -> None:
    def ids(pid: int) -> list[int]:
        return [os.stat(f"/proc/{pid}/ns/{name}").st_ino for name in NAMESPACES]

    assert {tuple(ids(pid)) for pid in sandbox.stubs()} == {tuple(ids(sandbox.sentry.pid))}


def test_a_stub_holds_only_the_memory_file_and_stands_in_the_sandbox_root(sandbox: Sandbox) -> None:
    for pid in sandbox.stubs():
        assert os.listdir(f"/proc/{pid}/fd") == ["3"]
        assert os.readlink(f"/proc/{pid}/fd/3").startswith("/memfd:sentrio-memory")
        assert os.stat(f"/proc/{pid}/cwd").st_ino == os.stat(f"/proc/{pid}/root").st_ino
        assert os.listdir(f"/proc/{pid}/cwd") == ["proc"]


def test_a_gofer_writes_to_a_pipe_not_the_user_s_terminal(sandbox: Sandbox) -> None:
    for pid, _ in sandbox.gofers().values():
        for fd in (1, 2):
            assert os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")


def test_docs_security_md_shows_what_proc_shows(sandbox: Sandbox) -> None:
    rows = read_rows(sandbox)
    table = ["| process | uid | CapEff | Seccomp | NoNewPrivs | namespaces of its own | root |",
             "|---|---|---|---|---|---|---|"]
    table += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    text = DOC.read_text()
    found = re.search(r"<!-- sentrio-table -->\n(.*?)\n<!-- end -->", text, re.DOTALL)
    assert found is not None, "docs/security.md lost its <!-- sentrio-table --> markers"
    assert found.group(1).splitlines() == table, "docs/security.md should read:\n" + "\n".join(table)


def test_debug_unconfined_leaves_the_sentry_as_it_was_started(image: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), SENTRIO_RUNTIME_DIR=str(tmp_path / "run"))
    sentry = subprocess.Popen([sys.executable, "-m", "kernel", "run", "--debug-unconfined", str(image), "--",
                               "/bin/napper"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, cwd=REPO, env=env)
    assert sentry.stdout is not None
    try:
        assert sentry.stdout.readline() == b"ready Linux\n"
        row = read_row("Sentry", sentry.pid)
        assert (row.uid, row.seccomp, row.namespaces, row.root) == ("0", 0, frozenset(), "the host's /")
        gofer = next(pid for pid in children(sentry.pid) if "gofer" in cmdline(pid))
        assert read_row("gofer", gofer, image).seccomp == 2  # the gofers stay confined
    finally:
        sentry.kill()
        sentry.wait(10)
