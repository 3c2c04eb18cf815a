"""process_madvise, native vs Sentrio (``programs/process_madvise.c``), as docker's root."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_own_memory_any_advice_a_childs_needs_cap_sys_nice(image: Path) -> None:
    outcome = same(image, "/bin/process_madvise")
    lines = outcome.stdout.splitlines()
    for expected in ("self MADV_COLD: 12288", "self MADV_DONTNEED: 12288", "self bad advice: -1 EINVAL",
                     "not a pidfd: -1 EBADF", "too many: -1 EINVAL", "none: 0", "partly unmapped: 4096",
                     "unmapped: -1 ENOMEM", "child MADV_COLD: -1 EPERM", "child MADV_DONTNEED: -1 EINVAL"):
        assert expected in lines
