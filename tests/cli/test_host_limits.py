"""The host's limits on the Sentry are not the sandbox's limits.

Every file of the sandbox's tmpfs is a host fd of the Sentry's (a memfd), so the open-file limit
a shell hands the Sentry caps how many files the sandbox's /tmp can hold. Past it, the next
create used to crash the VFS actor (the guest saw EIO). Now the Sentry raises its own limit as
far as the host lets it (up to ``fs.nr_open`` with CAP_SYS_RESOURCE, else to its hard limit),
the guest keeps the limits it was started with, and a host that is truly out of fds gives the
guest ENFILE, as Linux does when the whole system is, never a crash.
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


def test_a_host_out_of_fds_is_enfile_for_the_guest_not_a_crash(busybox: Path) -> None:
    files = 2 * SOFT  # past the hard limit: without CAP_SYS_RESOURCE the Sentry cannot go further
    done = _run(busybox, _create(files), (SOFT, SOFT))
    if done.returncode == 0:  # with CAP_SYS_RESOURCE the Sentry went up to fs.nr_open
        assert done.stdout.split() == [str(files)]
        return
    assert "can't create /tmp/f" in done.stderr and "Too many open files in system" in done.stderr  # ENFILE
    assert "crashed" not in done.stderr
