"""Address ranges from guest numbers that wrap or pass the top of the address space (issue 18,
item 2): ``madvise(0, ~0UL, MADV_DONTNEED)`` zeroed every private mapping and killed the guest;
Linux answers EINVAL and touches nothing. The same for mprotect, munmap, msync, mincore, mremap
and mmap (with file offsets past any file's end), each errno as Linux gives it.
"""

from __future__ import annotations

from pathlib import Path

from tests.robustness.conftest import same


def test_wrapping_ranges_are_refused_and_touch_nothing(image: Path) -> None:
    outcome = same(image, "/bin/ranges")
    assert "madvise(0, ~0ul, MADV_DONTNEED)              -1 EINVAL" in outcome.stdout
    assert outcome.stdout.endswith("memory intact: yes\n")
