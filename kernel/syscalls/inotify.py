"""fanotify_init and fanotify_mark: answered as Linux answers a container without CAP_SYS_ADMIN.

inotify (issue 15) is to live here too, its watches kept by the VFS actor; it is not built yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EINVAL, EPERM, Errno
from kernel.syscalls.args import Addr, Fd, Int
from kernel.syscalls.status import errno_only
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task


@syscall
@errno_only("EPERM, as for docker's root (no CAP_SYS_ADMIN); Linux 5.13+ lets an unprivileged "
            "group that reports file handles (FAN_REPORT_FID) through, Sentrio does not")
async def fanotify_init(t: Task, flags: Int, event_f_flags: Int) -> int:
    raise Errno(EPERM)


@syscall
@errno_only("no fanotify group can exist: EBADF for a closed fd, EINVAL for any other")
async def fanotify_mark(t: Task, fanotify_fd: Fd, flags: Int, mask: Int, dirfd: Int, pathname: Addr) -> int:
    t.process.fds.handle(fanotify_fd)  # EBADF if it is not open
    raise Errno(EINVAL)
