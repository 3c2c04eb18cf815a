"""No call holds the Sentry (issue 18, "What to build" 2): while one process makes a call whose
work grows with a size it chose, another process's 10 ms timer still fires. The check is loose
on purpose (a call that outlasts the timer by far must not keep the other process asleep until
it returns), never a threshold on lateness.

Under Sentrio only: natively these calls are quick, and a multi-core kernel runs the other
process anyway; the question is whether the Sentry, one thread serving every guest, yields.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.robustness.conftest import sentrio


@pytest.mark.parametrize("call", ["getrandom", "mmap-shared", "mmap-private", "sendfile-self"])
def test_another_process_runs_during_a_huge_call(image: Path, call: str) -> None:
    """main held the Sentry for the whole call: getrandom of 256 MiB was one host read, a private
    file mapping one preadv (a shared one yielded only when a stub injection happened to park),
    and sendfile of 128 MiB of a tmpfs file into itself (the fuzzer's 120 s stall) copied chunk
    after chunk with no checkpoint, a tmpfs file's pread and pwrite being plain host calls."""
    outcome = sentrio(image, "/bin/stall", call, timeout=300)
    assert outcome.status == 0, outcome.stderr
    assert outcome.stdout.endswith("other process held up by the call: no\n"), outcome.stdout


def test_select_over_many_descriptors_does_not_hold_the_sentry(image: Path, tmp_path: Path) -> None:
    """select(2^18, ...) runs a quadratic bit loop in kernel/syscalls/poll.py (2^20 held the
    Sentry 28 s); Linux clamps nfds to the fd table's size. The guest's RLIMIT_NOFILE comes
    from an OCI bundle that allows 2^20 descriptors."""
    config = {"ociVersion": "1.0.2", "root": {"path": str(image)},
              "process": {"args": ["/bin/stall", "select"], "cwd": "/",
                          "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1 << 20, "hard": 1 << 20}]}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    outcome = sentrio(tmp_path, timeout=300)
    assert outcome.status == 0, outcome.stderr
    assert outcome.stdout.endswith("other process held up by the call: no\n"), outcome.stdout
