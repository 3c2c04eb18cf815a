"""System call handlers, one module per area, and the table that dispatches to them.

Importing a handler module registers its handlers (see :func:`table.syscall`); the list below is
the set of areas Sentrio implements. ``docs/syscalls.md`` is generated from the table.
"""

from kernel.syscalls.table import SyscallTable


def default_table(strict: bool = False) -> SyscallTable:
    """A table with every handler Sentrio ships (``strict``: handler bugs propagate)."""
    from kernel.syscalls import (  # noqa: F401
        arch, attrs, clone, creds, events, execve, fdops, filedata, futex, info, itimer, limits, memory, paths,
        pipes, poll, posix_timers, process, readwrite, signals, time, usage, wait,
    )
    from kernel.syscalls import sched, seccomp  # noqa: F401
    from kernel.syscalls import capability, ipc, net  # noqa: F401
    from kernel.syscalls import ptrace  # noqa: F401
    from kernel.syscalls import crossproc, pidfd, timerfd  # noqa: F401
    from kernel.syscalls import compat, mqueue, xattrs  # noqa: F401
    from kernel.syscalls import aio  # noqa: F401
    from kernel.syscalls import inotify, pagecache, privileged, procmem, vmsplice  # noqa: F401
    from kernel.syscalls import mount  # noqa: F401

    return SyscallTable(strict=strict)
