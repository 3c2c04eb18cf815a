"""Memory calls at the edges of the address space, native (docker's root) vs Sentrio."""

from __future__ import annotations

from pathlib import Path

from tests.compat.conftest import needs_root, same

pytestmark = needs_root()


def test_mremap_below_mmap_min_addr_is_eperm(image: Path) -> None:
    outcome = same(image, "/bin/mremap_low")
    assert outcome.stdout == "mremap to 0: Operation not permitted\n"  # (other low addresses: the host's sysctl)
