"""The differential permission suite: the same programs, as the same identities, natively and
under Sentrio, over the same image.

The image is built by the tests (cached under the system temp dir by a hash of its recipe):
the programs of ``programs/`` (gcc -static), ``/etc/passwd`` and ``/etc/group``, a sticky
``/scratch`` (the sandbox mounts a fresh tmpfs on ``/tmp``), and files and directories owned by
root, uid 1000 ("user") and uid 1001 ("other") with the modes the programs probe (see :data:`LAYOUT`).

An :class:`Identity` is who runs a program: root with docker's default capabilities (less the
ones ``--cap-drop`` drops, plus those ``--cap-add`` adds), or uid:gid 1000:1000 without
supplementary groups. Natively the bounding set is cut to the same capabilities with
``setpriv`` before ``chroot`` (``--userspec`` for the user), so that native root is docker's
root, not this machine's all-powerful one; under Sentrio the identity is ``-u`` and the
``--cap-*`` flags. Each native run gets a fresh copy of the image, since the programs change it
(Sentrio's default overlay keeps the image itself untouched).
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from abi.creds import CAP_NAMES, DOCKER_DEFAULT_CAPS
from kernel.runspec import tweak_capabilities
from tests.differential.harness import cached_build, fresh_signal_state

PROGRAMS = Path(__file__).parent / "programs"
REPO = Path(__file__).resolve().parents[2]
USER, OTHER, STAFF = 1000, 1001, 50

#: The guest environment both runs see (the programs do not read it, but it is the same).
ENV = {"PATH": "/bin", "HOME": "/"}

PASSWD = (f"root:x:0:0:root:/root:/bin/sh\nuser:x:{USER}:{USER}::/home/user:/bin/sh\n"
          f"other:x:{OTHER}:{OTHER}::/home/other:/bin/sh\n")
GROUP = f"root:x:0:\nstaff:x:{STAFF}:user\nuser:x:{USER}:\nother:x:{OTHER}:\n"

#: (path, kind, mode, uid, gid, contents or program): the image beside the programs. "copy"
#: entries are copies of a compiled program (set-id variants).
LAYOUT: list[tuple[str, str, int, int, int, str]] = [
    ("etc", "dir", 0o755, 0, 0, ""),
    ("etc/passwd", "file", 0o644, 0, 0, PASSWD),
    ("etc/group", "file", 0o644, 0, 0, GROUP),
    ("tmp", "dir", 0o1777, 0, 0, ""),
    ("scratch", "dir", 0o1777, 0, 0, ""),
    ("scratch/other_file", "file", 0o644, OTHER, OTHER, "other's\n"),
    ("scratch/user_file", "file", 0o644, USER, USER, "user's\n"),
    ("scratch/other_dir", "dir", 0o777, OTHER, OTHER, ""),
    ("data", "dir", 0o755, 0, 0, ""),
    ("data/root_private", "file", 0o600, 0, 0, "root private\n"),
    ("data/root_public", "file", 0o644, 0, 0, "root public\n"),
    ("data/root_world", "file", 0o666, 0, 0, "root world\n"),
    ("data/root_exec_only", "file", 0o711, 0, 0, "#!/bin/showcaps\n"),
    ("data/other_private", "file", 0o600, OTHER, OTHER, "other private\n"),
    ("data/other_group", "file", 0o640, OTHER, STAFF, "other, staff may read\n"),
    ("data/other_suid", "file", 0o4755, OTHER, OTHER, "other setuid\n"),
    ("data/user_file", "file", 0o644, USER, USER, "user file\n"),
    ("data/user_private", "file", 0o600, USER, USER, "user private\n"),
    ("data/user_staff", "file", 0o644, USER, STAFF, "user, group staff\n"),
    ("data/user_suid", "file", 0o6775, USER, USER, "user setuid+setgid\n"),
    ("data/locked", "dir", 0o700, 0, 0, ""),
    ("data/locked/inner", "file", 0o644, 0, 0, "inner\n"),
    ("data/searchonly", "dir", 0o711, 0, 0, ""),
    ("data/searchonly/known", "file", 0o644, 0, 0, "known\n"),
    ("data/readonly_dir", "dir", 0o555, USER, USER, ""),
    ("data/readonly_dir/kept", "file", 0o644, USER, USER, "kept\n"),
    ("data/shared", "dir", 0o777, 0, 0, ""),
    ("data/shared/victim", "file", 0o644, 0, 0, "victim\n"),
    ("data/shared/rootdir", "dir", 0o755, 0, 0, ""),
    ("data/other_dir", "dir", 0o755, OTHER, OTHER, ""),
    ("data/other_dir/theirs", "file", 0o644, OTHER, OTHER, "theirs\n"),
    ("data/sticky", "dir", 0o1777, OTHER, OTHER, ""),
    ("data/sticky/strangers", "file", 0o666, 1002, 1002, "a stranger's\n"),
    ("data/sticky/users", "file", 0o644, USER, USER, "user's\n"),
    ("home", "dir", 0o755, 0, 0, ""),
    ("home/user", "dir", 0o755, USER, USER, ""),
    ("home/user/notes", "file", 0o644, USER, USER, "notes\n"),
    ("home/other", "dir", 0o700, OTHER, OTHER, ""),
    ("bin/showcaps_suid", "copy:showcaps", 0o4755, 0, 0, ""),
    ("bin/showcaps_suid_other", "copy:showcaps", 0o4755, OTHER, OTHER, ""),
    ("bin/showcaps_sgid", "copy:showcaps", 0o2755, 0, STAFF, ""),
    ("bin/showcaps_sgid_noxgrp", "copy:showcaps", 0o2745, 0, STAFF, ""),
    ("bin/showcaps_root_only", "copy:showcaps", 0o700, 0, 0, ""),
]


def _build(root: Path) -> None:
    root.chmod(0o755)
    (root / "bin").mkdir(mode=0o755)
    for source in sorted(PROGRAMS.glob("*.c")):
        subprocess.run(["gcc", "-static", "-O1", "-w", f"-I{PROGRAMS}", "-o", str(root / "bin" / source.stem),
                        str(source)], check=True)
    for path, kind, mode, uid, gid, contents in LAYOUT:
        target = root / path
        if kind == "dir":
            target.mkdir(exist_ok=True)
        elif kind == "file":
            target.write_text(contents)
        else:
            shutil.copyfile(root / "bin" / kind.split(":", 1)[1], target)
        os.chown(target, uid, gid)
        target.chmod(mode)  # after chown, which clears set-id bits


@pytest.fixture(scope="session")
def image() -> Path:
    if os.geteuid() != 0:
        pytest.skip("the native runs need root (chroot, setpriv, chown)")
    for tool in ("setpriv", "gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    return build_image()


def build_image() -> Path:
    """The image of :data:`LAYOUT` and the programs, built once per recipe."""
    return cached_build("perms", PROGRAMS.iterdir(), _build, repr(LAYOUT).encode())


@dataclass(frozen=True)
class Identity:
    """Who runs a program: root with docker's capabilities tweaked, or user 1000:1000."""

    name: str
    user: str | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()

    @property
    def capabilities(self) -> int:
        return tweak_capabilities(DOCKER_DEFAULT_CAPS, self.cap_add, self.cap_drop)

    def native_command(self, image: Path) -> list[str]:
        names = [CAP_NAMES[cap][4:].lower() for cap in sorted(CAP_NAMES) if self.capabilities >> cap & 1]
        setpriv = ["setpriv", "--bounding-set=" + ",".join(["-all", *(f"+{n}" for n in names)]), "--inh-caps=-all"]
        chroot = shutil.which("chroot") or "/usr/sbin/chroot"
        if self.user is None:
            return [*setpriv, chroot, str(image)]
        return [*setpriv, chroot, f"--userspec={self.user}", "--groups=", str(image)]

    def sentrio_options(self) -> list[str]:
        options = ["-u", self.user] if self.user else []
        options += [f"--cap-add={cap}" for cap in self.cap_add]
        options += [f"--cap-drop={cap}" for cap in self.cap_drop]
        return options


USER_1000 = Identity("user", user=f"{USER}:{USER}")
ROOT = Identity("root")


def root_without(cap: str) -> Identity:
    return Identity(f"root-{cap.lower()}", cap_drop=(cap,))


def root_with(cap: str) -> Identity:
    return Identity(f"root+{cap.lower()}", cap_add=(cap,))


@dataclass(frozen=True)
class Outcome:
    stdout: str
    stderr: str
    status: int


def run_native(image: Path, who: Identity, argv: list[str], timeout: float = 120) -> Outcome:
    """Run ``argv`` as ``who`` under chroot, in a fresh copy of ``image``."""
    with tempfile.TemporaryDirectory(prefix="sentrio-perms-native-") as scratch:
        copy = Path(scratch) / "root"
        subprocess.run(["cp", "-a", str(image), str(copy)], check=True)
        result = subprocess.run([*who.native_command(copy), *argv], capture_output=True, env=ENV,
                                timeout=timeout, preexec_fn=fresh_signal_state)
    status = result.returncode
    return Outcome(result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"),
                   128 - status if status < 0 else status)


def run_sentrio(image: Path, who: Identity, argv: list[str], timeout: float = 180,
                options: tuple[str, ...] = ()) -> Outcome:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO), "SENTRIO_STRICT": "1"}
    command = [sys.executable, "-m", "kernel", "run", *who.sentrio_options(), *options, "-e", "HOME=/",
               "-e", "PATH=/bin", str(image), "--", *argv]
    result = subprocess.run(command, capture_output=True, env=env, timeout=timeout, cwd=REPO)
    return Outcome(result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"),
                   result.returncode)


def compare(image: Path, who: Identity, *argv: str) -> Outcome:
    """Run natively and under Sentrio at the same time; assert both show the same; returns the
    native outcome."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        native = pool.submit(run_native, image, who, list(argv))
        sentrio = pool.submit(run_sentrio, image, who, list(argv))
        expected, got = native.result(), sentrio.result()
    assert got.stdout.splitlines() == expected.stdout.splitlines(), f"as {who.name}"
    assert got.stderr == expected.stderr, f"as {who.name}"
    assert got.status == expected.status, f"as {who.name}"
    return expected
