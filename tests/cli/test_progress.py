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


def test_a_note_follows_the_numbers_on_a_terminal_and_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    stream = FakeTerminal()
    Progress("layer 1/1", 1 << 20, stream, note="image: 1.0 MiB of at most 2.0 GiB").done()
    assert stream.getvalue().endswith("]     1.0/1.0 MiB (image: 1.0 MiB of at most 2.0 GiB)\n")
    plain = io.StringIO()
    Progress("layer 1/1", 1 << 20, plain, note="image: 1.0 MiB of at most 2.0 GiB").done()
    assert plain.getvalue() == "layer 1/1: 1.0 MiB (image: 1.0 MiB of at most 2.0 GiB)\n"


def test_human_sizes() -> None:
    from kernel.images.progress import human_size

    assert [human_size(n) for n in (4096, 3 << 20, (5 << 30) // 2, 1 << 40)] == \
        ["4.0 KiB", "3.0 MiB", "2.5 GiB", "1.0 TiB"]
