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

MAX_ERRNO = 4095
