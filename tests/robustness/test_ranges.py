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


def test_what_the_fuzzer_found_against_linux(image: Path) -> None:
    """Divergences `python -m kernel fuzz --native` found: the order of argument checks (which
    errno a bad call gets), clocks without timers or sleeps (EOPNOTSUPP), waitid writing its
    siginfo whatever the answer, mmap's types for anonymous memory, mprotect's bits and holes
    (what lies before a hole changes), writes that stop at an unwritable page, RLIMIT_AS."""
    outcome = same(image, "/bin/fuzz_findings", user="65534:65534")
    assert "mprotect changed what lies before the hole: 1" in outcome.stdout
    assert "uname wrote up to the fence: Linux" in outcome.stdout
