"""The sandbox's memory account: one ledger for every byte of host memory the guest can make
the Sentry hold, against the one limit ``--memory`` sets.

Three kinds of memory are counted, as a Linux memory cgroup counts them:

``anon``
    what the MM commits for writable private and shared mappings and brk (its commit charge);
``shmem``
    pages of files that live in memory: tmpfs, the overlay's upper layer, memfds;
``buffers``
    bytes queued in pipes the Sentry holds.

The MM owns the account (it has the limit, and its commit check reads the whole ledger). The
VFS is handed the account once, at start (the ``mm.memory_account`` operation), and charges through
it synchronously, because the places where file memory appears and disappears are synchronous
(a write's block count, a description's release, an inode's last reference) and a bus round
trip per written page would cost the write path an await. Each method runs to completion
without an ``await``, so under trio a charge is atomic: two writers can never both see the
same free room. Charges are in bytes already rounded to pages by whoever holds them (a memfd's
st_blocks, a pipe's page count), so the ledger moves in page-sized steps.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE = 4096


def pages(nbytes: int) -> int:
    """``nbytes`` rounded up to whole pages, in bytes."""
    return -(-nbytes // PAGE) * PAGE


@dataclass(frozen=True, slots=True)
class Usage:
    """A snapshot of the account, for /proc/meminfo, sysinfo and tests."""

    limit: int | None
    anon: int
    shmem: int
    buffers: int

    @property
    def used(self) -> int:
        return self.anon + self.shmem + self.buffers


class MemoryAccount:
    """The ledger: bytes charged by kind, and the limit they share (None: no limit)."""

    __slots__ = ("limit", "anon", "shmem", "buffers")

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.anon = 0
        self.shmem = 0
        self.buffers = 0

    @property
    def used(self) -> int:
        return self.anon + self.shmem + self.buffers

    def room(self) -> int:
        """Bytes that may still be charged (a very large number without a limit)."""
        if self.limit is None:
            return 1 << 62
        return max(0, self.limit - self.anon - self.shmem - self.buffers)

    def fits(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more could be charged now."""
        return nbytes <= 0 or self.limit is None or self.used + nbytes <= self.limit

    def charge_shmem(self, nbytes: int) -> None:
        """File pages appeared (positive) or went (negative). Never refused: whoever grows a
        file asked :meth:`room` first, and a file's real block count is what is charged."""
        self.shmem += nbytes

    def try_charge_buffers(self, nbytes: int) -> bool:
        """Charge ``nbytes`` of pipe buffer if it fits; False (nothing charged) if not."""
        if not self.fits(nbytes):
            return False
        self.buffers += nbytes
        return True

    def uncharge_buffers(self, nbytes: int) -> None:
        self.buffers -= nbytes

    def usage(self) -> Usage:
        return Usage(self.limit, self.anon, self.shmem, self.buffers)
