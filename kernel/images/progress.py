"""A progress bar on stderr that knows whether anyone is watching.

On a terminal it redraws one line in place (``layer 2/3 [#######-----]  12.0/20.5 MiB``), at most
ten times a second; on a pipe or a file it prints one plain line when each step ends, so logs
stay readable. A note (the import's size cap: ``image: 30.1 MiB of at most 2.0 GiB``) follows
the numbers in parentheses.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

_WIDTH = 30
_REDRAW_EVERY = 0.1


def _mib(count: int) -> str:
    return f"{count / (1 << 20):.1f}"


def human_size(count: int) -> str:
    """``4.0 KiB``, ``12.5 MiB``, ``3.2 GiB``, ``1.5 TiB``."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.1f} {unit}"
    return f"{count / 1024:.1f} KiB"


class Progress:
    """Progress through one step of known size (e.g. one layer); call :meth:`advance`, then :meth:`done`."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, note: str = "") -> None:
        self.label = label
        self.note = f" ({note})" if note else ""
        self.total = max(total, 0)
        self.done_bytes = 0
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self._is_tty(self.stream) and os.environ.get("TERM") != "dumb"
        self._drawn_at = 0.0

    @staticmethod
    def _is_tty(stream: TextIO) -> bool:
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    def advance(self, count: int) -> None:
        self.done_bytes += count
        now = time.monotonic()
        if self.interactive and now - self._drawn_at >= _REDRAW_EVERY:
            self._drawn_at = now
            self._draw()

    def _draw(self) -> None:
        fraction = min(self.done_bytes / self.total, 1.0) if self.total else 1.0
        filled = int(fraction * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {_mib(self.done_bytes):>7}/{_mib(self.total)} MiB{self.note}")
        self.stream.flush()

    def done(self, note: str = "") -> None:
        """The step is finished: the full bar on a terminal, one summary line elsewhere."""
        self.done_bytes = max(self.done_bytes, self.total)
        if self.interactive:
            self._draw()
            self.stream.write(f" {note}\n" if note else "\n")
        else:
            self.stream.write(f"{self.label}: {_mib(self.done_bytes)} MiB{self.note}{' ' + note if note else ''}\n")
        self.stream.flush()
