"""getdents: records encoded a page at a time, against the layout the man page gives record by
record; a listing paged from its snapshot while names are removed."""

from __future__ import annotations

import os
import random

import pytest

from abi.structs import DIRENT64_HEAD, DIRENT_HEAD
from services.vfs.descriptions import encode_dirents
from services.vfs.file import DirectoryFile
from services.vfs.inode import Dir, Filesystem, RegularInode

Entry = tuple[bytes, int, int]


def one_by_one(entries: list[Entry], offset: int, size: int, legacy: bool) -> tuple[bytes, int]:
    """getdents64(2): d_ino, d_off, d_reclen, d_type, the name and its NUL, padded to 8.
    getdents(2): d_ino, d_off, d_reclen, the name and its NUL, padding, d_type in the last byte."""
    out = b""
    for used, (name, ino, dtype) in enumerate(entries):
        if legacy:
            reclen = (DIRENT_HEAD.size + len(name) + 2 + 7) // 8 * 8
            record = DIRENT_HEAD.pack(ino, offset + used + 1, reclen) + name + b"\0"
            record = record.ljust(reclen - 1, b"\0") + bytes([dtype])
        else:
            reclen = (DIRENT64_HEAD.size + len(name) + 1 + 7) // 8 * 8
            record = (DIRENT64_HEAD.pack(ino, offset + used + 1, reclen, dtype) + name + b"\0").ljust(reclen, b"\0")
        if len(out) + len(record) > size:
            return out, used
        out += record
    return out, len(entries)


@pytest.mark.parametrize("legacy", [False, True])
def test_pages_match_the_record_by_record_layout(legacy: bool) -> None:
    rng = random.Random(14)
    for _ in range(2000):
        entries = [(bytes(rng.randrange(1, 256) for _ in range(rng.choice([1, 2, 5, 7, 8, 12, 13, 100, 255]))),
                    rng.randrange(1 << 64), rng.randrange(16)) for _ in range(rng.randrange(60))]
        offset, size = rng.randrange(1000), rng.randrange(4000)
        assert encode_dirents(entries, offset, size, legacy) == one_by_one(entries, offset, size, legacy)


def test_a_page_too_small_for_the_first_record_holds_nothing() -> None:
    assert encode_dirents([(b"name", 1, 8)], 0, 23, False) == (b"", 0)
    assert encode_dirents([(b"name", 1, 8)], 0, 24, False)[1] == 1


async def test_a_listing_read_in_pages_leaves_out_names_removed_meanwhile() -> None:
    """Paging a snapshot: names removed before the reader reached them are left out, names made
    after the snapshot wait for a rewind, and every remaining name comes exactly once."""
    fs = Filesystem()
    directory = Dir(fs, 0o755)
    for index in range(10):
        directory.children[b"f%d" % index] = RegularInode(fs, 0o644)
    reader = DirectoryFile(os.O_RDONLY, directory)

    async def page(limit: int) -> list[bytes]:
        entries = await reader.getdents(limit)
        reader.consumed(entries[:limit - 1] if len(entries) == limit else entries)  # one left unread
        return [name for name, _, _ in (entries[:limit - 1] if len(entries) == limit else entries)]

    first = await page(5)
    assert first == [b".", b"..", b"f0", b"f1"]
    del directory.children[b"f2"], directory.children[b"f5"]
    directory.children[b"new"] = RegularInode(fs, 0o644)
    rest: list[bytes] = []
    while names := await page(3):
        rest += names
    assert rest == [b"f3", b"f4", b"f6", b"f7", b"f8", b"f9"]
    await reader.seek(0, os.SEEK_SET)
    assert sorted(await page(100)) == sorted([b".", b"..", b"f0", b"f1", b"f3", b"f4", b"f6", b"f7", b"f8", b"f9",
                                             b"new"])
