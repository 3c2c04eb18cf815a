"""The host's limits on the Sentry are not the sandbox's limits.

Every file of the sandbox's tmpfs is a host fd of the Sentry's (a memfd), so the open-file limit
a shell hands the Sentry caps how many files the sandbox's /tmp can hold. Past it, the next
create used to crash the VFS actor (the guest saw EIO). Now the Sentry raises its own limit as
far as the host lets it (up to ``fs.nr_open`` with CAP_SYS_RESOURCE, else to its hard limit),
the guest keeps the limits it was started with, and past half of that limit idle tmpfs files give
up their memfds (services/vfs/memfiles.py), so the sandbox's file count is bounded by memory,
not by the host's fd limit. (A host truly out of fds still gives the guest ENFILE, never a crash:
tests/unit/test_bus.py.)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import REPO, needs_root

pytestmark = needs_root

SOFT = 512


def _run(busybox: Path, script: str, limits: tuple[int, int]) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)

    preexec: Callable[[], None] = limited
    env = dict(os.environ, SENTRIO_ZYGOTE="off", PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "kernel", "run", "--network", "none", str(busybox), "--",
                           "sh", "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO, env=env,
                          preexec_fn=preexec)


def _create(count: int) -> str:
    return f"i=0; while [ $i -lt {count} ]; do : > /tmp/f$i || exit 9; i=$((i+1)); done; ls /tmp | wc -l"


def test_the_sandbox_holds_more_files_than_the_sentrys_soft_fd_limit(busybox: Path) -> None:
    files = 3 * SOFT
    done = _run(busybox, "ulimit -n; " + _create(files), (SOFT, 4 * SOFT))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(SOFT), str(files)]  # the guest's limit is the one it was given
    assert "crashed" not in done.stderr


def test_the_sandbox_holds_more_files_than_the_sentrys_hard_fd_limit(busybox: Path) -> None:
    """Past the hard limit the Sentry cannot raise (no CAP_SYS_RESOURCE here), idle tmpfs and
    overlay files give up their memfds (services/vfs/memfiles.py) and every byte comes back."""
    files = 3 * SOFT
    script = (f"mkdir /many; i=0; while [ $i -lt {files} ]; do echo $i > /tmp/f$i && echo $i > /many/g$i || exit 9;"
              " i=$((i+1)); done; cat /tmp/f* | wc -l; cat /many/g* | sort -n | tail -n 1; ls /many | wc -l;"
              " cat /tmp/f7 /many/g1234")
    done = _run(busybox, script, (SOFT, SOFT))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(files), str(files - 1), str(files), "7", "1234"]
    assert "crashed" not in done.stderr and "ran short" not in done.stderr


def test_files_read_through_private_mappings_are_parked_too(busybox: Path) -> None:
    """A private mapping is a copy (the MM's), so a file read through one (git reads every loose
    object so) may still give up its memfd; one mapped shared keeps it. Under a hard limit of
    512, 3 x 512 files each mapped once, as Linux prints them."""
    program = busybox / "bin" / "mapmany"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(program), str(Path(__file__).parent / "programs" / "mapmany.c")],
                   check=True)
    files = 3 * SOFT
    native = subprocess.run(["chroot", str(busybox), "/bin/mapmany", str(files)], capture_output=True, text=True,
                            timeout=120)
    subprocess.run(["sh", "-c", f"rm -f {busybox}/tmp/m* {busybox}/tmp/shared"], check=True)
    done = _run(busybox, f"/bin/mapmany {files}", (SOFT, SOFT))
    assert native.returncode == 0, native.stderr
    total = files * (files - 1) // 2
    assert native.stdout == f"sum {total} again {total} shared 'last written {files - 1}'\n"
    assert (done.returncode, done.stdout) == (0, native.stdout), done.stderr
