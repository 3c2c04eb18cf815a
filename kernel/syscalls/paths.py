"""Calls that name files by path: open and friends, mkdir, mknod, unlink, rmdir, rename, link,
symlink, readlink, access, chdir, fchdir, getcwd and umask.

Each handler reads its path from guest memory, picks where resolution starts (the root for an
absolute path, else the cwd or the dirfd's directory) and makes one call to the VFS actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from abi.errno import E2BIG, EAGAIN, EFAULT, EINVAL, ENOENT, EOPNOTSUPP, ERANGE
from abi.linux import (
    AT_EACCESS,
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_REMOVEDIR,
    AT_SYMLINK_FOLLOW,
    AT_SYMLINK_NOFOLLOW,
    O_CLOEXEC,
    O_CREAT,
    O_DIRECTORY,
    O_NOFOLLOW,
    O_PATH,
    O_TMPFILE,
    O_TRUNC,
    O_WRONLY,
    PATH_MAX,
    R_OK,
    RESOLVE_BENEATH,
    RESOLVE_CACHED,
    RESOLVE_IN_ROOT,
    RESOLVE_NO_MAGICLINKS,
    RESOLVE_NO_SYMLINKS,
    RESOLVE_NO_XDEV,
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFIFO,
    S_IFMT,
    S_IFREG,
    S_IFSOCK,
    VALID_OPEN_FLAGS,
    W_OK,
    X_OK,
)
from abi.structs import OPEN_HOW
from abi.errno import Errno
from kernel.files import install, nofile_limit, vfs
from kernel.syscalls.args import Addr, Fd, Int, Size, UInt
from kernel.syscalls.table import syscall
from kernel.tty import acquire_on_open

if TYPE_CHECKING:
    from kernel.task import Task
    from services.vfs.contract import Opened

__all__ = ["nofile_limit"]


# --- helpers shared by the file modules -----------------------------------------------------------


async def read_path(t: Task, addr: int, allow_empty: bool = False) -> bytes:
    """A path argument: EFAULT for a bad pointer, ENAMETOOLONG past PATH_MAX, ENOENT if empty."""
    if addr == 0:
        raise Errno(EFAULT)
    path = await t.mm.read_cstring(addr, PATH_MAX)
    if not path and not allow_empty:
        raise Errno(ENOENT)
    return path


def start_handle(t: Task, dirfd: int, path: bytes, anchored: bool = False) -> int:
    """Where ``path`` starts: the cwd for AT_FDCWD or an absolute path (whose dirfd Linux
    ignores, unless ``anchored``: openat2's RESOLVE_BENEATH and RESOLVE_IN_ROOT), else the
    dirfd's description (EBADF if it is not open; the VFS says ENOTDIR)."""
    if dirfd == AT_FDCWD or path.startswith(b"/") and not anchored:
        return t.process.cwd
    return t.process.fds.handle(dirfd)


async def at(t: Task, dirfd: int, addr: int, flags: int = 0) -> tuple[int, int, bytes]:
    """(root, start, path) of a (dirfd, path) argument pair; with AT_EMPTY_PATH an empty path
    means dirfd's file itself (the VFS takes the empty path to mean ``start``)."""
    path = await read_path(t, addr, allow_empty=bool(flags & AT_EMPTY_PATH))
    return t.process.root, start_handle(t, dirfd, path), path


# --- open ---------------------------------------------------------------------------------------


async def do_open(t: Task, dirfd: int, path: bytes, flags: int, mode: int, resolve: int = 0) -> int:
    """The common part of open/openat/openat2/creat (``resolve``: openat2's RESOLVE_* flags)."""
    if flags & O_PATH:
        flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
    anchored = bool(resolve & (RESOLVE_IN_ROOT | RESOLVE_BENEATH))
    start = start_handle(t, dirfd, path, anchored)
    opened = await vfs(t, "open", t.process.root, start, path, flags, mode & ~t.process.umask & 0o7777, resolve)
    if opened.pending:  # a FIFO waits for its other end
        try:
            await t.blocking(vfs(t, "finish_open", opened.handle))
        except BaseException:
            await vfs_close(t, opened)
            raise
    if opened.terminal:
        acquire_on_open(t.kernel, t.process, opened, flags)
    return await install(t, opened, bool(flags & O_CLOEXEC))


async def vfs_close(t: Task, opened: Opened) -> None:
    """Drop a description the caller holds but has not installed."""
    with trio.CancelScope(shield=True):
        await t.kernel.bus.call("vfs", "drop", (opened.handle,), t.process.fds.id)


@syscall
async def open(t: Task, pathname: Addr, flags: Int, mode: UInt) -> int:  # noqa: A001 — the call's name
    return await do_open(t, AT_FDCWD, await read_path(t, pathname), flags, mode)


@syscall
async def openat(t: Task, dirfd: Fd, pathname: Addr, flags: Int, mode: UInt) -> int:
    return await do_open(t, dirfd, await read_path(t, pathname), flags, mode)


@syscall
async def creat(t: Task, pathname: Addr, mode: UInt) -> int:
    return await do_open(t, AT_FDCWD, await read_path(t, pathname), O_CREAT | O_WRONLY | O_TRUNC, mode)


_RESOLVE_ALL = (RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH
                | RESOLVE_IN_ROOT | RESOLVE_CACHED)


@syscall
async def openat2(t: Task, dirfd: Fd, pathname: Addr, how: Addr, size: Size) -> int:
    """openat with a struct open_how: unknown flags are refused; RESOLVE_IN_ROOT, BENEATH,
    NO_SYMLINKS and NO_XDEV restrict the walk (NO_MAGICLINKS: procfs links are plain here)."""
    if size < OPEN_HOW.size or size > 4096:
        raise Errno(EINVAL)
    raw = await t.mm.copy_in(how, size)
    if any(raw[OPEN_HOW.size:]):
        raise Errno(E2BIG)
    flags, mode, resolve = OPEN_HOW.unpack(raw[:OPEN_HOW.size])
    if flags & ~VALID_OPEN_FLAGS or resolve & ~_RESOLVE_ALL or mode & ~0o7777:
        raise Errno(EINVAL)
    if mode and not flags & O_CREAT and flags & O_TMPFILE != O_TMPFILE:
        raise Errno(EINVAL)
    if resolve & RESOLVE_CACHED:
        raise Errno(EAGAIN)
    return await do_open(t, dirfd, await read_path(t, pathname), flags, mode, resolve)


# --- names --------------------------------------------------------------------------------------


@syscall
async def mkdir(t: Task, pathname: Addr, mode: UInt) -> int:
    return await mkdirat(t, AT_FDCWD, pathname, mode)


@syscall
async def mkdirat(t: Task, dirfd: Fd, pathname: Addr, mode: UInt) -> int:
    root, start, path = await at(t, dirfd, pathname)
    await vfs(t, "mknod", root, start, path.rstrip(b"/") or b"/", S_IFDIR | (mode & ~t.process.umask & 0o7777), 0)
    return 0


@syscall
async def mknod(t: Task, pathname: Addr, mode: UInt, dev: UInt) -> int:
    return await mknodat(t, AT_FDCWD, pathname, mode, dev)


@syscall
async def mknodat(t: Task, dirfd: Fd, pathname: Addr, mode: UInt, dev: UInt) -> int:
    root, start, path = await at(t, dirfd, pathname)
    kind = mode & S_IFMT or S_IFREG
    if kind not in (S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK):
        raise Errno(EINVAL)
    if kind == S_IFSOCK:
        raise Errno(EOPNOTSUPP)  # a socket file is made by the network stack's bind
    await vfs(t, "mknod", root, start, path, kind | (mode & ~t.process.umask & 0o7777), dev)
    return 0


@syscall
async def rmdir(t: Task, pathname: Addr) -> int:
    return await unlinkat(t, AT_FDCWD, pathname, AT_REMOVEDIR)


@syscall
async def unlink(t: Task, pathname: Addr) -> int:
    return await unlinkat(t, AT_FDCWD, pathname, 0)


@syscall
async def unlinkat(t: Task, dirfd: Fd, pathname: Addr, flags: Int) -> int:
    if flags & ~AT_REMOVEDIR:
        raise Errno(EINVAL)
    root, start, path = await at(t, dirfd, pathname)
    await vfs(t, "unlink", root, start, path, bool(flags & AT_REMOVEDIR))
    return 0


@syscall
async def rename(t: Task, oldpath: Addr, newpath: Addr) -> int:
    return await renameat2(t, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


@syscall
async def renameat(t: Task, olddirfd: Fd, oldpath: Addr, newdirfd: Fd, newpath: Addr) -> int:
    return await renameat2(t, olddirfd, oldpath, newdirfd, newpath, 0)


@syscall
async def renameat2(t: Task, olddirfd: Fd, oldpath: Addr, newdirfd: Fd, newpath: Addr, flags: UInt) -> int:
    root, old_start, old = await at(t, olddirfd, oldpath)
    _, new_start, new = await at(t, newdirfd, newpath)
    await vfs(t, "rename", root, old_start, old, new_start, new, flags)
    return 0


@syscall
async def link(t: Task, oldpath: Addr, newpath: Addr) -> int:
    return await linkat(t, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


@syscall
async def linkat(t: Task, olddirfd: Fd, oldpath: Addr, newdirfd: Fd, newpath: Addr, flags: Int) -> int:
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise Errno(EINVAL)
    root, old_start, old = await at(t, olddirfd, oldpath, flags)
    _, new_start, new = await at(t, newdirfd, newpath)
    await vfs(t, "link", root, old_start, old, new_start, new, bool(flags & AT_SYMLINK_FOLLOW))
    return 0


@syscall
async def symlink(t: Task, target: Addr, linkpath: Addr) -> int:
    return await symlinkat(t, target, AT_FDCWD, linkpath)


@syscall
async def symlinkat(t: Task, target: Addr, newdirfd: Fd, linkpath: Addr) -> int:
    content = await read_path(t, target)
    root, start, path = await at(t, newdirfd, linkpath)
    await vfs(t, "symlink", content, root, start, path)
    return 0


@syscall
async def readlink(t: Task, pathname: Addr, buf: Addr, bufsiz: Int) -> int:
    return await readlinkat(t, AT_FDCWD, pathname, buf, bufsiz)


@syscall
async def readlinkat(t: Task, dirfd: Fd, pathname: Addr, buf: Addr, bufsiz: Int) -> int:
    if bufsiz <= 0:
        raise Errno(EINVAL)
    target = (await vfs(t, "readlink", *await at(t, dirfd, pathname, AT_EMPTY_PATH)))[:bufsiz]
    await t.mm.copy_out(buf, target)
    return len(target)


# --- access -------------------------------------------------------------------------------------


@syscall
async def access(t: Task, pathname: Addr, mode: Int) -> int:
    return await faccessat2(t, AT_FDCWD, pathname, mode, 0)


@syscall
async def faccessat(t: Task, dirfd: Fd, pathname: Addr, mode: Int) -> int:
    return await faccessat2(t, dirfd, pathname, mode, 0)


@syscall
async def faccessat2(t: Task, dirfd: Fd, pathname: Addr, mode: Int, flags: Int) -> int:
    if mode & ~(R_OK | W_OK | X_OK) or flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise Errno(EINVAL)
    root, start, path = await at(t, dirfd, pathname, flags)
    await vfs(t, "access", root, start, path, mode, not flags & AT_SYMLINK_NOFOLLOW, bool(flags & AT_EACCESS))
    return 0


# --- the working directory and the umask --------------------------------------------------------


async def _change_directory(t: Task, root: int, start: int, path: bytes) -> int:
    cwd = await vfs(t, "chdir", root, start, path)
    old, t.process.cwd = t.process.cwd, cwd
    await t.kernel.bus.call("vfs", "drop", (old,), t.process.fds.id)
    return 0


@syscall
async def chdir(t: Task, path: Addr) -> int:
    name = await read_path(t, path)
    return await _change_directory(t, t.process.root, t.process.cwd, name)


@syscall
async def fchdir(t: Task, fd: Fd) -> int:
    return await _change_directory(t, t.process.root, t.process.fds.handle(fd), b"")


@syscall
async def getcwd(t: Task, buf: Addr, size: Size) -> int:
    path = await vfs(t, "getcwd", t.process.root, t.process.cwd) + b"\0"
    if size < len(path):
        raise Errno(ERANGE)
    await t.mm.copy_out(buf, path)
    return len(path)


@syscall
async def umask(t: Task, mask: UInt) -> int:
    old = t.process.umask
    t.process.umask = mask & 0o777
    return old
