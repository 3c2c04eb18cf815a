"""getdents's records, encoded a page at a time, against the layout the man page gives record by record."""

from __future__ import annotations

import random

import pytest

from abi.structs import DIRENT64_HEAD, DIRENT_HEAD
from services.vfs.descriptions import encode_dirents

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
