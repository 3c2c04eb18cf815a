"""RLIMIT_FSIZE: how far a caller may make a regular file grow.

Linux's generic_write_checks and inode_newsize_ok: a write that starts at or past the limit
fails with EFBIG (and the kernel sends the writer SIGXFSZ); one that would cross it is cut
short at it; a truncate or fallocate past it fails with EFBIG. The limit travels in the
message (:attr:`abi.creds.Caller.file_size_limit`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EFBIG, Errno
from abi.linux import RLIM_INFINITY
from services.vfs.file import shorten

if TYPE_CHECKING:
    from abi.creds import Caller


def check_size_limit(caller: Caller, size: int) -> None:
    """EFBIG if a file of ``size`` bytes is past the caller's limit."""
    if caller.file_size_limit != RLIM_INFINITY and size > caller.file_size_limit:
        raise Errno(EFBIG)


def within_size_limit(caller: Caller, position: int, buffers: list[memoryview]) -> list[memoryview]:
    """``buffers`` cut to what a write at ``position`` may add before the limit."""
    limit = caller.file_size_limit
    if limit == RLIM_INFINITY:
        return buffers
    if position >= limit and any(buffers):
        raise Errno(EFBIG)
    return shorten(buffers, limit - position)
