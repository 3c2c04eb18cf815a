"""Calls that name files by path: open and friends, mkdir, mknod, unlink, rmdir, rename, link,
symlink, readlink, access, chdir, fchdir, getcwd and umask.

Each handler reads its path from guest memory, picks where resolution starts (the root for an
absolute path, else the cwd or the dirfd's directory) and makes one call to the VFS actor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from abi.errno import (
    EACCES,
    EBADF,
    EFAULT,
    EINVAL,
    ENOENT,
    ENOTDIR,
    EOPNOTSUPP,
    ERANGE,
)
from abi.linux import (
    AT_EACCESS,
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_REMOVEDIR,
    AT_SYMLINK_FOLLOW,
    AT_SYMLINK_NOFOLLOW,
    F_OK,
    O_ACCMODE,
    O_CLOEXEC,
    O_CREAT,
    O_DIRECTORY,
    O_LARGEFILE,
    O_OPEN_ONLY_FLAGS,
    O_PATH,
    O_RDWR,
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
    S_IFCHR,
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
from kernel.syscalls.args import Addr, Fd, Int, Size, UInt
from kernel.syscalls.fdops import nofile_limit
from kernel.syscalls.table import syscall
from services.vfs.file import RegularFile
from services.vfs.inode import Dir, RegularInode

if TYPE_CHECKING:
    from kernel.task import Task
    from services.vfs.inode import Inode


# --- helpers shared by the file modules -----------------------------------------------------------


async def read_path(t: Task, addr: int, allow_empty: bool = False) -> bytes:
    """A path argument: EFAULT for a bad pointer, ENAMETOOLONG past PATH_MAX, ENOENT if empty."""
    if addr == 0:
        raise Errno(EFAULT)
    path = await t.mm.read_cstring(addr, PATH_MAX)
    if not path and not allow_empty:
        raise Errno(ENOENT)
    return path


def start_dir(t: Task, dirfd: int, path: bytes) -> Dir:
    """Where a relative ``path`` starts: the cwd for AT_FDCWD, else ``dirfd``'s directory."""
    if path.startswith(b"/") or dirfd == AT_FDCWD:
        return t.process.cwd
    directory = t.process.fds.get(dirfd).directory
    if directory is None:
        raise Errno(ENOTDIR)
    return directory


async def vfs(t: Task, op: str, *args: Any) -> Any:
    return await t.kernel.bus.call("vfs", op, *args)


async def lookup_at(t: Task, dirfd: int, addr: int, flags: int, follow: bool) -> Inode:
    """The file a (dirfd, path) pair names; with AT_EMPTY_PATH an empty path means dirfd itself."""
    path = await read_path(t, addr, allow_empty=bool(flags & AT_EMPTY_PATH))
    return await lookup_path(t, dirfd, path, follow)


async def lookup_path(t: Task, dirfd: int, path: bytes, follow: bool) -> Inode:
    """:func:`lookup_at` for a path already read from the guest."""
    if not path:
        if dirfd == AT_FDCWD:
            return t.process.cwd
        file = t.process.fds.get(dirfd)
        if file.inode is None:
            raise Errno(EBADF)
        return file.inode
    return await vfs(t, "lookup", t.process.root, start_dir(t, dirfd, path), path, follow)


def creds(t: Task) -> tuple[int, int]:
    return t.process.creds.euid, t.process.creds.egid


def permitted(t: Task, inode: Inode, want: int, real: bool = True) -> bool:
    """Whether the caller may read/write/execute (R_OK/W_OK/X_OK bits) ``inode`` by its mode."""
    c = t.process.creds
    uid, gid = (c.uid, c.gid) if real else (c.euid, c.egid)
    mode = inode.mode
    if uid == 0:
        if want & X_OK and inode.kind != 0o040000 and not mode & 0o111:
            return False
        return True
    if uid == inode.uid:
        bits = (mode >> 6) & 7
    elif gid == inode.gid:
        bits = (mode >> 3) & 7
    else:
        bits = mode & 7
    return want & bits == want


# --- open ---------------------------------------------------------------------------------------


async def do_open(t: Task, dirfd: int, path: bytes, flags: int, mode: int, resolve: int = 0) -> int:
    """The common part of open/openat/openat2/creat (``resolve``: openat2's RESOLVE_* flags)."""
    if flags & O_PATH:
        flags &= O_PATH | O_DIRECTORY | 0o400000 | O_CLOEXEC  # O_NOFOLLOW kept
    start = start_dir(t, dirfd, path)
    uid, gid = creds(t)
    cloexec = bool(flags & O_CLOEXEC)
    kept = (flags & ~O_OPEN_ONLY_FLAGS) | O_LARGEFILE
    if flags & O_TMPFILE == O_TMPFILE:
        if flags & O_ACCMODE not in (O_WRONLY, O_RDWR):
            raise Errno(EINVAL)
        directory = await vfs(t, "lookup", t.process.root, start, path, True)
        if not isinstance(directory, Dir):
            raise Errno(ENOTDIR)
        directory.fs.check_writable()
        inode = RegularInode(directory.fs, mode & ~t.process.umask & 0o7777, uid, gid)
        inode.nlink = 0
        file = RegularFile(kept, inode, await inode.data_fd(flags))
    else:
        if resolve & (RESOLVE_IN_ROOT | RESOLVE_BENEATH):
            start = start_dir(t, dirfd, b".")  # the dirfd is the walk's anchor even for "/..."
        file = await vfs(t, "open", t.process.root, start, path, flags, mode & ~t.process.umask & 0o7777,
                         uid, gid, resolve)
        if file.open_pending:  # a FIFO waits for its other end
            try:
                await t.blocking(file.finish_open())
            except BaseException:
                file.release()
                raise
        file.flags = kept
    return t.process.fds.install(file, nofile_limit(t), cloexec)


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
        from abi.errno import E2BIG

        raise Errno(E2BIG)
    flags, mode, resolve = OPEN_HOW.unpack(raw[:OPEN_HOW.size])
    if flags & ~VALID_OPEN_FLAGS or resolve & ~_RESOLVE_ALL or mode & ~0o7777:
        raise Errno(EINVAL)
    if mode and not flags & O_CREAT and flags & O_TMPFILE != O_TMPFILE:
        raise Errno(EINVAL)
    if resolve & RESOLVE_CACHED:
        from abi.errno import EAGAIN

        raise Errno(EAGAIN)
    return await do_open(t, dirfd, await read_path(t, pathname), flags, mode, resolve)


# --- names --------------------------------------------------------------------------------------


@syscall
async def mkdir(t: Task, pathname: Addr, mode: UInt) -> int:
    return await mkdirat(t, AT_FDCWD, pathname, mode)


@syscall
async def mkdirat(t: Task, dirfd: Fd, pathname: Addr, mode: UInt) -> int:
    path = await read_path(t, pathname)
    uid, gid = creds(t)
    await vfs(t, "mknod", t.process.root, start_dir(t, dirfd, path), path.rstrip(b"/") or b"/",
              0o040000 | (mode & ~t.process.umask & 0o7777), 0, uid, gid)
    return 0


@syscall
async def mknod(t: Task, pathname: Addr, mode: UInt, dev: UInt) -> int:
    return await mknodat(t, AT_FDCWD, pathname, mode, dev)


@syscall
async def mknodat(t: Task, dirfd: Fd, pathname: Addr, mode: UInt, dev: UInt) -> int:
    path = await read_path(t, pathname)
    kind = mode & S_IFMT or S_IFREG
    if kind not in (S_IFREG, S_IFCHR, 0o060000, S_IFIFO, S_IFSOCK):
        raise Errno(EINVAL)
    if kind == S_IFSOCK:
        raise Errno(EOPNOTSUPP)  # a socket file needs the network stack's bind
    uid, gid = creds(t)
    await vfs(t, "mknod", t.process.root, start_dir(t, dirfd, path), path,
              kind | (mode & ~t.process.umask & 0o7777), dev, uid, gid)
    return 0


@syscall
async def rmdir(t: Task, pathname: Addr) -> int:
    path = await read_path(t, pathname)
    await vfs(t, "unlink", t.process.root, t.process.cwd, path, True)
    return 0


@syscall
async def unlink(t: Task, pathname: Addr) -> int:
    return await unlinkat(t, AT_FDCWD, pathname, 0)


@syscall
async def unlinkat(t: Task, dirfd: Fd, pathname: Addr, flags: Int) -> int:
    if flags & ~AT_REMOVEDIR:
        raise Errno(EINVAL)
    path = await read_path(t, pathname)
    await vfs(t, "unlink", t.process.root, start_dir(t, dirfd, path), path, bool(flags & AT_REMOVEDIR))
    return 0


@syscall
async def rename(t: Task, oldpath: Addr, newpath: Addr) -> int:
    return await renameat2(t, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


@syscall
async def renameat(t: Task, olddirfd: Fd, oldpath: Addr, newdirfd: Fd, newpath: Addr) -> int:
    return await renameat2(t, olddirfd, oldpath, newdirfd, newpath, 0)


@syscall
async def renameat2(t: Task, olddirfd: Fd, oldpath: Addr, newdirfd: Fd, newpath: Addr, flags: UInt) -> int:
    old = await read_path(t, oldpath)
    new = await read_path(t, newpath)
    await vfs(t, "rename", t.process.root, start_dir(t, olddirfd, old), old, start_dir(t, newdirfd, new), new,
              flags)
    return 0


@syscall
async def link(t: Task, oldpath: Addr, newpath: Addr) -> int:
    return await linkat(t, AT_FDCWD, oldpath, AT_FDCWD, newpath, 0)


@syscall
async def linkat(t: Task, olddirfd: Fd, oldpath: Addr, newdirfd: Fd, newpath: Addr, flags: Int) -> int:
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise Errno(EINVAL)
    old = await read_path(t, oldpath, allow_empty=bool(flags & AT_EMPTY_PATH))
    new = await read_path(t, newpath)
    if not old:  # AT_EMPTY_PATH: link the file olddirfd refers to
        inode = await lookup_path(t, olddirfd, old, False)
        await vfs(t, "link_inode", t.process.root, inode, start_dir(t, newdirfd, new), new)
        return 0
    await vfs(t, "link", t.process.root, start_dir(t, olddirfd, old), old, start_dir(t, newdirfd, new), new,
              bool(flags & AT_SYMLINK_FOLLOW))
    return 0


@syscall
async def symlink(t: Task, target: Addr, linkpath: Addr) -> int:
    return await symlinkat(t, target, AT_FDCWD, linkpath)


@syscall
async def symlinkat(t: Task, target: Addr, newdirfd: Fd, linkpath: Addr) -> int:
    content = await read_path(t, target)
    path = await read_path(t, linkpath)
    uid, gid = creds(t)
    await vfs(t, "symlink", content, t.process.root, start_dir(t, newdirfd, path), path, uid, gid)
    return 0


@syscall
async def readlink(t: Task, pathname: Addr, buf: Addr, bufsiz: Int) -> int:
    return await readlinkat(t, AT_FDCWD, pathname, buf, bufsiz)


@syscall
async def readlinkat(t: Task, dirfd: Fd, pathname: Addr, buf: Addr, bufsiz: Int) -> int:
    if bufsiz <= 0:
        raise Errno(EINVAL)
    inode = await lookup_at(t, dirfd, pathname, AT_EMPTY_PATH, follow=False)
    target = await inode.readlink()
    target = target[:bufsiz]
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
    inode = await lookup_at(t, dirfd, pathname, flags, follow=not flags & AT_SYMLINK_NOFOLLOW)
    if mode == F_OK:
        return 0
    if mode & W_OK and inode.fs.read_only and inode.kind in (0o040000, S_IFREG, 0o120000):
        from abi.errno import EROFS

        raise Errno(EROFS)
    if not permitted(t, inode, mode, real=not flags & AT_EACCESS):
        raise Errno(EACCES)
    return 0


# --- the working directory and the umask --------------------------------------------------------


@syscall
async def chdir(t: Task, path: Addr) -> int:
    name = await read_path(t, path)
    inode = await vfs(t, "lookup", t.process.root, t.process.cwd, name, True)
    if not isinstance(inode, Dir):
        raise Errno(ENOTDIR)
    if not permitted(t, inode, X_OK, real=False):
        raise Errno(EACCES)
    t.process.cwd = inode
    return 0


@syscall
async def fchdir(t: Task, fd: Fd) -> int:
    directory = t.process.fds.get(fd).directory
    if directory is None:
        raise Errno(ENOTDIR)
    t.process.cwd = directory
    return 0


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
