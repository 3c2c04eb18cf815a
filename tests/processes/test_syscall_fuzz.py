"""Garbage arguments to every system call number: Linux's answers, and a Sentry that stays up.

Under Sentrio only (natively, garbage reaching the host kernel could signal the host's own
processes). SENTRIO_STRICT makes any Python exception in a handler fail the run instead of
becoming EIO, so a handler that trips over a bad pointer, a huge length or a negative fd shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes.conftest import needs_root, sentrio

pytestmark = needs_root()

#: Argument patterns in syscall_fuzz.c, and the call numbers it walks (0-460).
PATTERNS = 9
CALLS = 461


@pytest.mark.parametrize(("arguments", "patterns"), [((), PATTERNS), (("0", "460", "1", "4"), 4)],
                         ids=["fixed", "seed-1"])
def test_garbage_arguments_to_every_call_get_errnos_linux_has(image: Path, arguments: tuple[str, ...],
                                                              patterns: int) -> None:
    """The seeded run draws its arguments at random; to replay or widen it by hand:
    ``python -m kernel run IMAGE -- /bin/syscall_fuzz 0 460 SEED ROUNDS``."""
    outcome = sentrio(image, "/bin/syscall_fuzz", *arguments, timeout=600)
    assert outcome.status == 0, outcome.stderr[-4000:]
    assert "Traceback" not in outcome.stderr, outcome.stderr[-4000:]
    *odd, summary = outcome.stdout.splitlines()
    counts = {key: int(value) for key, value in (item.split("=") for item in summary.split())}
    assert counts["calls"] == CALLS * patterns
    assert counts["odd"] == 0, odd  # a restart code or an errno Linux does not have leaked out
    # Only calls that end the child (exit, a fatal signal, a sleep cut short) leave no answer.
    assert counts["answered"] > 0.95 * counts["calls"], counts
