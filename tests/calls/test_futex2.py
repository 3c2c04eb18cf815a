"""futex2's futex_requeue, native vs Sentrio (``programs/futex2.c``)."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_requeue_moves_a_waiter_and_checks_as_linux(image: Path) -> None:
    outcome = same(image, "/bin/futex2")
    lines = outcome.stdout.splitlines()
    for error in ("flags: -1 EINVAL", "reserved: -1 EINVAL", "flags differ: -1 EINVAL", "stale val: -1 EAGAIN",
                  "negative wake: -1 EINVAL", "unaligned: -1 EINVAL", "bad uaddr: -1 EFAULT"):
        assert error in lines
    assert lines[-4:] == ["moved to f2: 1", "a wake of f1 finds nobody: 0", "a wake of f2 wakes it: 1",
                          "waiter woke: 0"]
