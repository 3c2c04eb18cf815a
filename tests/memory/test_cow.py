"""Copy-on-write fork, native vs Sentrio: private memory stays private across fork whatever
either side does to it (writes, mremap, mprotect, madvise, read() by the kernel), shared memory
stays shared, vfork shares everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.processes.conftest import needs_root, same, sentrio

pytestmark = needs_root()


@pytest.mark.parametrize("libc", ["", ".musl"])
@pytest.mark.parametrize("mode", ["same-pages", "chain", "vfork", "mremap", "thread", "shared", "read", "dontneed",
                                  "mprotect", "file", "file-copies"])
def test_private_memory_across_fork(image: Path, mode: str, libc: str) -> None:
    outcome = same(image, f"/bin/cow{libc}", mode)
    assert outcome.status == 0 and outcome.stdout  # (the native run itself went as planned)


def test_parent_and_child_writing_the_same_pages(image: Path) -> None:
    outcome = same(image, "/bin/cow", "same-pages")
    assert outcome.stdout == ("child: 193 194 194\nparent: 1 154 154 0, child status 0\n"
                              "parent's memory as before the fork: yes\n")


def test_private_mappings_of_one_file_keep_their_own_writes(image: Path) -> None:
    """The Sentry backs private mappings of an image file with one copy-on-write copy."""
    outcome = same(image, "/bin/cow", "file-copies")
    assert outcome.stdout == ("a wrote X, b sees the file\nchild: a X, new mapping sees the file\n"
                              "parent: a X (file), b Y (file)\nmapped again: the file\n"
                              "past the end: zeros, then SIGBUS\n")


def test_a_thousand_forks(image: Path) -> None:
    outcome = same(image, "/bin/cow", "many")
    assert outcome.stdout.startswith("1000 forks, 0 children saw wrong memory")


#: What Linux 6.18 printed for ``cow smaps`` (with /proc mounted in the chroot, which the
#: native runs here do not have).
LINUX_SMAPS = """\
child Rss:                8192 kB
child Pss:                5120 kB
child Pss_Dirty:          5120 kB
child Shared_Dirty:       6144 kB
child Private_Dirty:      2048 kB
child RssShmem:\t    1024 kB
parent Rss:                8192 kB
parent Pss:                8192 kB
parent Pss_Dirty:          8192 kB
parent Shared_Dirty:          0 kB
parent Private_Dirty:      8192 kB
parent RssShmem:\t    1024 kB
"""


def test_smaps_and_status_count_copy_on_write_pages_as_shared(image: Path) -> None:
    outcome = sentrio(image, "/bin/cow", "smaps")
    assert (outcome.stdout, outcome.status) == (LINUX_SMAPS, 0)
