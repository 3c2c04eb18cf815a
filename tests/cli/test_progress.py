"""The import progress bar: redrawn in place on a terminal, one line per step elsewhere."""

from __future__ import annotations

import io

import pytest

from kernel.images.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    stream = FakeTerminal()
    progress = Progress("layer 1/2", 4 << 20, stream)
    progress.advance(1 << 20)
    progress.done()
    text = stream.getvalue()
    assert text.startswith("\rlayer 1/2 [" + "#" * 7 + "-" * 23 + "]     1.0/4.0 MiB")
    assert text.endswith("\rlayer 1/2 [" + "#" * 30 + "]     4.0/4.0 MiB\n")
    assert text.count("\n") == 1


def test_elsewhere_one_line_per_step() -> None:
    stream = io.StringIO()
    progress = Progress("layer 2/2", 3 << 20, stream)
    for _ in range(3):
        progress.advance(1 << 20)
    progress.done("(done)")
    assert stream.getvalue() == "layer 2/2: 3.0 MiB (done)\n"
