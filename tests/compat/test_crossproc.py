"""process_vm_readv/writev, kcmp and futex2's futex_wait/futex_wake, native vs Sentrio
(``programs/crossproc.c``), as docker's root and as a user."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import USER, needs_root, same

pytestmark = needs_root()


@pytest.mark.parametrize("user", [None, USER])
def test_another_process_memory_kernel_objects_and_futex2(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/crossproc", user=user)
    assert "child sees: parent wrote it" in outcome.stdout
    assert "kcmp file dup: 0" in outcome.stdout
    assert "futex_wait until soon: -1 Connection timed out" in outcome.stdout
    assert "futex_wake a waiter: 1" in outcome.stdout
