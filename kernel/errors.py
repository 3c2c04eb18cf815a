"""How the runtime itself fails.

A guest's system call fails with :class:`abi.errno.Errno` (the negative return value Linux would
give). :class:`SentryError` is the other kind: the runtime cannot do what it was asked (a bad
image, a broken platform), never the guest's fault; the CLI reports it in one line.
:class:`Interrupted` is neither: it ends a guest thread's sleep inside an actor's operation
when a signal comes for the thread (:mod:`kernel.interrupts`), and actors see it pass.
"""

from __future__ import annotations


class SentryError(Exception):
    """An error of the runtime itself (bad image, broken platform), never the guest's fault."""


class Interrupted(BaseException):
    """Thrown into an interruptible sleep: a signal came for the sleeping thread.

    A BaseException, like ``trio.Cancelled``, so that no ``except Exception`` takes it for an
    actor's failure; code that returns partial progress when a signal cuts a wait short (a
    pipe write that moved some bytes) catches it beside ``trio.Cancelled``.
    """
