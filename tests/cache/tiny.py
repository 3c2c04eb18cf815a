"""A ``--plugin`` for the cache tests: the image's cache gets room for 16 entries."""

from __future__ import annotations

from typing import Any


def shrink(kernel: Any) -> None:
    import services.vfs.overlay as overlay

    overlay.CACHE_ENTRIES = 16
