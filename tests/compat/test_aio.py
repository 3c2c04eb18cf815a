"""Native AIO (``programs/aio.c``), native vs Sentrio: reads, writes, readv, fsync, an eventfd
signalled per completion, polls answered at once, later and when cancelled, a child without
its parent's contexts, and every call's errors in Linux's order."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat.conftest import USER, needs_root, same


@needs_root()
@pytest.mark.parametrize("user", [None, USER])
def test_native_aio_as_linux_does_it(image: Path, user: str | None) -> None:
    outcome = same(image, "/bin/aio", user=user)
    lines = outcome.stdout.splitlines()
    for expected in ("io_setup 2^31 events: -1 EAGAIN", "io_setup past aio-max-nr: -1 EAGAIN",
                     "aio_key after submit: 0", "read 'async', readv 'onous w'", "eventfd counted 2",
                     "  event data 5 res -14 res2 0 obj-set 1", "io_submit a good one then a bad one: 1",
                     "  event data 20 res 4 res2 0 obj-set 1", "  event data 21 res 65",
                     "io_cancel it: -1 EINPROGRESS", "  event data 22 res 0",
                     "child io_submit on its parent's context: -1 EINVAL", "io_destroy again: -1 EINVAL"):
        assert expected in lines, expected
