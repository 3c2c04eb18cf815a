"""inotify_init, inotify_init1, inotify_add_watch, inotify_rm_watch: the checks of
fs/notify/inotify/inotify_user.c, in its order; the instances and their watches are the VFS's
(``services/vfs/inotify.py``), which tells them of its own changes.

fanotify_init and fanotify_mark answer as Linux answers a container without CAP_SYS_ADMIN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi.errno import EINVAL, EPERM, Errno
from abi.inotify import IN_ALL_BITS, IN_CLOEXEC, IN_MASK_ADD, IN_MASK_CREATE, IN_NONBLOCK
from abi.linux import AT_FDCWD
from kernel.files import install, vfs
from kernel.syscalls.args import Addr, Fd, Int, UInt
from kernel.syscalls.paths import read_path, start_handle
from kernel.syscalls.status import errno_only, partial
from kernel.syscalls.table import syscall
from services.vfs.contract import Opened

if TYPE_CHECKING:
    from kernel.task import Task


@syscall
async def inotify_init(t: Task) -> int:
    return await inotify_init1(t, 0)


@syscall
async def inotify_init1(t: Task, flags: Int) -> int:
    """A new instance (EMFILE past max_user_instances, or the fd limit)."""
    if flags & ~(IN_CLOEXEC | IN_NONBLOCK):
        raise Errno(EINVAL)
    handle = await vfs(t, "inotify_init", flags & IN_NONBLOCK)
    return await install(t, Opened(handle), bool(flags & IN_CLOEXEC))


@syscall
@partial("events come from the sandbox's own changes: none for the host's changes under --rw or in volumes, "
         "for sendfile/splice/copy_file_range or xattr changes, nor execve's IN_ACCESS; no IN_UNMOUNT")
async def inotify_add_watch(t: Task, fd: Fd, pathname: Addr, mask: UInt) -> int:
    """Watch the inode ``pathname`` names for the events of ``mask``: its watch descriptor."""
    if not mask & IN_ALL_BITS or mask & IN_MASK_ADD and mask & IN_MASK_CREATE:
        raise Errno(EINVAL)
    handle = t.process.fds.handle(fd)
    path = await read_path(t, pathname, allow_empty=True)  # the VFS says EINVAL first, then ENOENT
    return await vfs(t, "inotify_add_watch", handle, t.process.root, start_handle(t, AT_FDCWD, path), path, mask)


@syscall
async def inotify_rm_watch(t: Task, fd: Fd, wd: Int) -> int:
    """End watch ``wd``; the instance reads IN_IGNORED for it."""
    await vfs(t, "inotify_rm_watch", t.process.fds.handle(fd), wd)
    return 0


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
