"""A MAP_SHARED file mapping is one VMA whatever the MM keeps per page: mremap judges it whole
(CPython's mmap.resize shrinks one after truncating its file), and /proc/self/maps shows one
line with the file offset — against Linux's, with /proc mounted for the native run."""

from __future__ import annotations

from pathlib import Path

from tests.differential.harness import run_native_with_proc
from tests.processes.conftest import sentrio


def test_mremap_and_maps_see_one_vma(image: Path) -> None:
    expected = run_native_with_proc(image, ["/bin/shared_file_vma"])
    got = sentrio(image, "/bin/shared_file_vma")
    assert (got.stdout, got.stderr, got.status) == (expected.stdout, expected.stderr, expected.status)
    assert "three pages at 4096: 3 pages rw-s offset 0x1000" in expected.stdout
    assert "shrink after truncate: in place" in expected.stdout
