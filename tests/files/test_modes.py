"""The image's write modes: the overlay (default) never changes the image, ``--rw`` writes
through, ``--read-only`` refuses; and a dead gofer becomes EIO, not a hang or a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.hostprocs import process_args
from tests.files.conftest import REPO, Batch, Images, run_sentrio, tree_hash

SCRIBBLE_SEEN = (
    "cat /data2/existing: from the image\nappended\n"
    "cat /new/link: from the image\nappended\n"
    "cat /MARKER: ENOENT\n"
    "cat /data/existing: ENOENT\n"
)


def test_overlay_leaves_the_image_unchanged(images: Images) -> None:
    root = images.fresh()
    before = tree_hash(root)
    for program in ("scribble", "names", "escape"):
        result = run_sentrio(root, f"/bin/{program}")
        assert result.status == 0, result.stderr
    assert tree_hash(root) == before


def test_overlay_shows_the_guest_its_own_changes(images: Images) -> None:
    result = run_sentrio(images.fresh(), "/bin/scribble")
    assert result.status == 0, result.stderr
    assert SCRIBBLE_SEEN in result.stdout
    assert "truncate(\"/etc\", 0) = -1 EISDIR" in result.stdout
    assert result.stdout.endswith("= 384\n")  # 0600


def test_rw_writes_through_to_the_image(images: Images) -> None:
    root = images.fresh()
    result = run_sentrio(root, "/bin/scribble", flags=("--rw",))
    assert result.status == 0, result.stderr
    assert SCRIBBLE_SEEN in result.stdout
    assert (root / "data2" / "existing").read_text() == "from the image\nappended\n"
    assert (root / "data2" / "existing").stat().st_mode & 0o777 == 0o600
    assert not (root / "MARKER").exists() and not (root / "data").exists()
    assert (root / "new" / "file").read_text() == "new file\n"
    assert os.readlink(root / "new" / "link") == "/data2/existing"


def test_read_only_refuses_every_change(images: Images) -> None:
    root = images.fresh()
    before = tree_hash(root)
    result = run_sentrio(root, "/bin/rofs", flags=("--read-only",))
    assert result.status == 0, result.stderr
    assert result.stdout.splitlines() == [
        "fd = open(\"/data/existing\", O_RDONLY) = 3",
        "read(fd, buf, sizeof buf - 1) = 15",
        "read: from the image",
        "open(\"/data/existing\", O_WRONLY) = -1 EROFS",
        "open(\"/data/new\", O_CREAT | O_WRONLY, 0644) = -1 EROFS",
        "mkdir(\"/data/dir\", 0755) = -1 EROFS",
        "unlink(\"/data/existing\") = -1 EROFS",
        "rename(\"/data/existing\", \"/data/other\") = -1 EROFS",
        "symlink(\"x\", \"/data/link\") = -1 EROFS",
        "chmod(\"/data/existing\", 0600) = -1 EROFS",
        "truncate(\"/data/existing\", 0) = -1 EROFS",
        "access(\"/data/existing\", W_OK) = -1 EROFS",
        "fd = open(\"/tmp/scratch\", O_CREAT | O_WRONLY, 0644) = 3",
        "write(fd, \"ok\", 2) = 2",
    ]
    assert tree_hash(root) == before


def _gofer_of(sentry: int) -> int:
    """The pid of the gofer the Sentry ``sentry`` started (its child running ``-m gofer``)."""
    for _ in range(100):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = process_args(entry.name)
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == sentry and "gofer" in cmdline:
                return int(entry.name)
        time.sleep(0.05)
    raise AssertionError("no gofer found")


def test_a_dead_gofer_is_eio_and_the_sentry_exits_cleanly(images: Images) -> None:
    env = dict(os.environ, SENTRIO_STRICT="1", PYTHONPATH=str(REPO))
    sentry = subprocess.Popen([sys.executable, "-m", "kernel", "run", "-i", str(images.fresh()), "--",
                               "/bin/gofer_death"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                              cwd=REPO)
    assert sentry.stdout is not None and sentry.stdin is not None
    lines = [sentry.stdout.readline() for _ in range(3)]
    assert lines[-1] == b"ready\n", lines
    os.kill(_gofer_of(sentry.pid), signal.SIGKILL)
    time.sleep(0.2)  # let the Sentry see the connection end (the result is the same either way)
    out, err = sentry.communicate(b"go\n", timeout=60)
    assert sentry.returncode == 0, err
    assert out.decode().splitlines() == [
        "read(0, buf, sizeof buf) > 0 = 1",
        "open(\"/data/existing\", O_RDONLY) = -1 EIO",
        "stat(\"/etc/never-looked-up\", &st) = -1 EIO",
        "pread(fd, buf, 4, 0) = 4",
        "open(\"/tmp/still-works\", O_CREAT | O_WRONLY, 0644) = 4",
    ]
    assert b"Traceback" not in err


def test_procfs_describes_the_caller_and_stays_inside(images: Images) -> None:
    result = run_sentrio(images.fresh(), "/bin/procfs", "one", "two")
    cpus = len(os.sched_getaffinity(0))
    assert result.status == 0, result.stderr
    assert result.stdout.splitlines() == [
        "/proc/self/cmdline: /bin/procfs one two ",
        "/proc/self/comm: procfs",
        "/proc/self/exe -> /bin/procfs",
        "/proc/self/root -> /",
        "chdir(\"/data\") = 0",
        "/proc/self/cwd -> /data",
        "fd = open(\"existing\", O_RDONLY) = 3",
        "/proc/self/fd/3 -> /data/existing",
        "pipe(p) = 0",
        "readlink(\"/proc/self/fd/4\", buf, sizeof buf) > 0 = 1",
        "pipe link starts with pipe:[ 1",
        "write(p[1], \"pp\", 2) = 2",
        "again = open(\"/proc/self/fd/4\", O_RDONLY) = 6",
        "read(again, buf, sizeof buf) = 2",
        "through the link: pp",
        "close(again) = 0",
        "/proc/self/fd/3: from the image",
        "/proc/sys/kernel/ostype: Linux",
        "/sys/devices/system/cpu/possible: " + (f"0-{cpus - 1}" if cpus > 1 else "0"),
        "open(\"/proc/self/root/../../../etc/shadow\", O_RDONLY) = -1 ENOENT",
        "open(\"/proc/self/cwd/../../MARKER\", O_RDONLY) >= 0 = 1",
        "open(\"/proc/self/status\", O_WRONLY) = -1 EACCES",
        "mkdir(\"/proc/x\", 0755) = -1 EACCES",
        "access(\"/proc/1/maps\", R_OK) = 0",
        "access(\"/proc/2\", F_OK) = -1 ENOENT",
        "stat(\"/proc/self\", &st) == 0 && S_ISDIR(st.st_mode) = 1",
    ]


def test_junk_arguments_never_crash_the_sentry(images: Images) -> None:
    batch = Batch()
    for seed, flags in (("1", ()), ("6", ()), ("30", ("--rw",)), ("21", ("--read-only",))):
        batch.sentrio(seed, images.fresh(), "/bin/fuzz", seed, flags=flags)
    for seed in ("1", "6", "30", "21"):
        result = batch.result(seed)
        assert (result.stdout, result.status) == ("survived\n", 0), result.stderr
        assert "Traceback" not in result.stderr


def test_procfs_fdinfo_and_mountinfo(images: Images) -> None:
    result = run_sentrio(images.fresh(), "/bin/procinfo")
    assert result.status == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == ["/proc/self/fdinfo/3:", "pos:\t4", "flags:\t02100000", "mnt_id:\t0"]
    mounts = lines[lines.index("/proc/self/mountinfo:") + 1:]
    assert [line.split()[4] for line in mounts] == ["/", "/dev", "/dev/pts", "/tmp", "/proc", "/sys",
                                                  "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"]
