"""futex2's futex_requeue and futex_waitv, native vs Sentrio (``programs/futex2.c``)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_requeue_moves_a_waiter_and_checks_as_linux(image: Path) -> None:
    outcome = same(image, "/bin/futex2", "requeue")
    lines = outcome.stdout.splitlines()
    for error in ("flags: -1 EINVAL", "reserved: -1 EINVAL", "flags differ: -1 EINVAL", "stale val: -1 EAGAIN",
                  "negative wake: -1 EINVAL", "unaligned: -1 EINVAL", "bad uaddr: -1 EFAULT"):
        assert error in lines
    assert lines[-4:] == ["moved to f2: 1", "a wake of f1 finds nobody: 0", "a wake of f2 wakes it: 1",
                          "waiter woke: 0"]


def test_waitv_returns_the_index_woken_and_times_out_on_both_clocks(image: Path) -> None:
    outcome = same(image, "/bin/futex2", "waitv")
    lines = outcome.stdout.splitlines()
    for expected in ("129: -1 EINVAL", "bad clock: -1 EINVAL", "reserved: -1 EINVAL", "stale val: -1 EAGAIN",
                     "timeout passed: -1 ETIMEDOUT", "monotonic timeout: -1 ETIMEDOUT",
                     "realtime timeout: -1 ETIMEDOUT", "waitv woken, index: 2", "no waiter is left behind: 0"):
        assert expected in lines
