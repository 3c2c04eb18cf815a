"""A mount's table of live inodes by number: found while referenced, forgotten after, bounded."""

from __future__ import annotations

import gc

from services.vfs.inode import Filesystem, Inode
from services.vfs.overlay import LIVE_SWEEP_LEAST, LiveInodes


def test_an_inode_is_found_while_referenced_and_not_after() -> None:
    fs = Filesystem(0x1234)
    live = LiveInodes()
    inode = Inode(fs, 0o100644, ino=7)
    live.add(7, inode)
    assert live.get(7) is inode and live.get(8) is None
    del inode
    gc.collect()
    assert live.get(7) is None


def test_dead_numbers_are_swept_so_the_table_stays_near_the_live_count() -> None:
    fs = Filesystem(0x1234)
    live = LiveInodes()
    kept = [Inode(fs, 0o100644, ino=number) for number in range(100)]
    for number, inode in enumerate(kept):
        live.add(number, inode)
    for number in range(100, 100 + 20 * LIVE_SWEEP_LEAST):  # listed, then forgotten at once
        live.add(number, Inode(fs, 0o100644, ino=number))
    assert len(live) < 2 * LIVE_SWEEP_LEAST
    assert all(live.get(number) is inode for number, inode in enumerate(kept))
