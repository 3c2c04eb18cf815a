"""How the Sentry says "this system call failed".

A handler (or an actor serving it) raises :class:`Errno`; the task loop turns it into the
negative return value Linux would give. Every other exception is a Sentry bug.
"""

from __future__ import annotations

import os

from kernel.abi.errno import errorcode


class Errno(Exception):
    """A system call failure carrying a Linux errno value.

    ``raise Errno(EFAULT)`` in a handler makes the guest see ``-EFAULT``.
    """

    __slots__ = ("errno",)

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno

    def __str__(self) -> str:
        return f"{errorcode.get(self.errno, self.errno)}: {os.strerror(self.errno)}"

    def __repr__(self) -> str:
        return f"Errno({errorcode.get(self.errno, self.errno)})"


class SentryError(Exception):
    """An error of the runtime itself (bad image, broken platform), never the guest's fault."""
