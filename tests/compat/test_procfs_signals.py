"""/proc/self/status's SigPnd, ShdPnd, SigBlk, SigIgn and SigCgt, against Linux's (a native
run with its own /proc)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, sentrio
from tests.differential.harness import run_native_with_proc

pytestmark = needs_root()


def test_signal_masks_in_status(image: Path) -> None:
    expected = run_native_with_proc(image, ["/bin/status_signals"])
    got = sentrio(image, "/bin/status_signals")
    assert (got.stdout, got.stderr, got.status) == (expected.stdout, expected.stderr, expected.status)
    assert "after: SigIgn:\t0000000000000002" in expected.stdout
    assert "after: SigPnd:\t0000000000000800" in expected.stdout  # SIGUSR2, raised by the thread
