"""The sandbox's standard streams are the user's: a reader that lags must not stall the guest."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.conftest import REPO

FLOOD = 2 << 20


def test_a_reader_that_lags_on_stdout_stalls_only_the_writer(busybox: Path) -> None:
    # dd writes 1 MiB at a time to stdout, which nobody reads yet; the other guest process must
    # keep ticking on stderr meanwhile (a blocking host write used to stop the whole Sentry
    # until stdout drained)
    script = "(while :; do echo tick >&2; sleep 0.05; done) & dd if=/dev/zero bs=1M count=2 2>/dev/null; kill $!"
    sandbox = subprocess.Popen([sys.executable, "-m", "kernel", "run", str(busybox), "--", "sh", "-c", script],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                               env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        ticks = b""
        deadline = time.monotonic() + 30
        while ticks.count(b"tick\n") < 5 and time.monotonic() < deadline:
            if select.select([sandbox.stderr], [], [], 0.5)[0]:
                ticks += os.read(sandbox.stderr.fileno(), 4096)  # type: ignore[union-attr]
        assert ticks.count(b"tick\n") >= 5, ticks
        stdout, _ = sandbox.communicate(timeout=60)
    finally:
        sandbox.kill()
        sandbox.wait()
    assert stdout == bytes(FLOOD)
    assert sandbox.returncode == 0
