"""A MAP_SHARED file mapping is one VMA whatever the MM keeps per page: mremap judges it whole
(CPython's mmap.resize shrinks one after truncating its file), and /proc/self/maps shows one
line with the file offset — against Linux's, with /proc mounted for the native run."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from tests.differential.harness import as_container_root, fresh_signal_state
from tests.processes.conftest import Outcome, sentrio


def native_with_proc(image: Path, *argv: str) -> Outcome:
    (image / "proc").mkdir(exist_ok=True)
    chroot = " ".join(shlex.quote(word) for word in [*as_container_root(), "chroot", str(image), *argv])
    script = f"mount -t proc proc {shlex.quote(str(image / 'proc'))} && exec {chroot}"
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                            capture_output=True, text=True, timeout=60, preexec_fn=fresh_signal_state)
    return Outcome(result.stdout, result.stderr, result.returncode)


def test_mremap_and_maps_see_one_vma(image: Path) -> None:
    expected = native_with_proc(image, "/bin/shared_file_vma")
    got = sentrio(image, "/bin/shared_file_vma")
    assert (got.stdout, got.stderr, got.status) == (expected.stdout, expected.stderr, expected.status)
    assert "three pages at 4096: 3 pages rw-s offset 0x1000" in expected.stdout
    assert "shrink after truncate: in place" in expected.stdout
