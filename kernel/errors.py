"""How the runtime itself fails.

A guest's system call fails with :class:`abi.errno.Errno` (the negative return value Linux would
give). :class:`SentryError` is the other kind: the runtime cannot do what it was asked (a bad
image, a broken platform), never the guest's fault; the CLI reports it in one line.
"""

from __future__ import annotations


class SentryError(Exception):
    """An error of the runtime itself (bad image, broken platform), never the guest's fault."""
