"""Linux errno values.

On Linux, Python's ``errno`` module carries the kernel's own numbers, so they are re-exported
here rather than retyped. The restart codes are kernel-internal: they never reach a guest, they
only tell the task loop how to restart an interrupted system call.
"""

from errno import *  # noqa: F401,F403 — the whole table, by name
from errno import errorcode  # noqa: F401

ERESTARTSYS = 512
ERESTARTNOINTR = 513
ERESTARTNOHAND = 514
ERESTART_RESTARTBLOCK = 516

#: How strace(1) names the restart codes when it shows an interrupted call.
RESTART_DESCRIPTIONS = {
    ERESTARTSYS: ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    ERESTARTNOINTR: ("ERESTARTNOINTR", "To be restarted"),
    ERESTARTNOHAND: ("ERESTARTNOHAND", "To be restarted if no handler"),
    ERESTART_RESTARTBLOCK: ("ERESTART_RESTARTBLOCK", "Interrupted by signal"),
}

MAX_ERRNO = 4095


class Errno(Exception):
    """A system call failure carrying a Linux errno value.

    ``raise Errno(EFAULT)`` in a handler (or an actor serving it) makes the guest see
    ``-EFAULT``; every other exception is a Sentry bug.
    """

    __slots__ = ("errno",)

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno

    def __str__(self) -> str:
        import os

        return f"{errorcode.get(self.errno, self.errno)}: {os.strerror(self.errno)}"

    def __repr__(self) -> str:
        return f"Errno({errorcode.get(self.errno, self.errno)})"
