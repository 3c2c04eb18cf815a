"""Extended attributes: setxattr, getxattr, listxattr, removexattr in their path, l* (no
symlink following), f* (an open file) and 6.13 *xattrat forms.

The kernel copies the name and value in and the result out, in Linux's order (fs/xattr.c: the
arguments before the lookup, a bad fd before the arguments); who may do what to which
namespace is the VFS's (:mod:`services.vfs.xattr`).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from abi.errno import E2BIG, EINVAL, ENAMETOOLONG, ERANGE, Errno
from abi.linux import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_SYMLINK_NOFOLLOW,
    XATTR_ARGS_SIZE_VER0,
    XATTR_CREATE,
    XATTR_LIST_MAX,
    XATTR_NAME_MAX,
    XATTR_REPLACE,
    XATTR_SIZE_MAX,
)
from kernel.files import vfs
from kernel.syscalls.args import Addr, Fd, Int, Size, UInt
from kernel.syscalls.paths import at
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.task import Task

#: struct xattr_args: the value's address, its size, the flags.
_XATTR_ARGS = struct.Struct("<QII")
_PAGE_SIZE = 4096


async def _name(t: Task, addr: int) -> bytes:
    """An attribute name: ERANGE when empty or longer than XATTR_NAME_MAX (import_xattr_name)."""
    try:
        name = await t.mm.read_cstring(addr, XATTR_NAME_MAX + 1)
    except Errno as error:
        raise Errno(ERANGE if error.errno == ENAMETOOLONG else error.errno) from None
    if not name:
        raise Errno(ERANGE)
    return name


async def _value(t: Task, addr: int, size: int, flags: int) -> bytes:
    """setxattr's flags and value (setxattr_copy): EINVAL, E2BIG past XATTR_SIZE_MAX, EFAULT."""
    if flags & ~(XATTR_CREATE | XATTR_REPLACE):
        raise Errno(EINVAL)
    if size > XATTR_SIZE_MAX:
        raise Errno(E2BIG)
    return await t.mm.copy_in(addr, size) if size else b""


def _fd(t: Task, fd: int) -> int:
    """The handle of an open fd; EBADF first, as the f* calls check it before their arguments."""
    return t.process.fds.handle(fd)


def _at_flags(flags: int) -> None:
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise Errno(EINVAL)


async def _copy_result(t: Task, result: bytes | int, buf: int) -> int:
    """getxattr/listxattr's answer: a length (size 0 asked for it) or the bytes, copied out."""
    if isinstance(result, int):
        return result
    if result:
        await t.mm.copy_out(buf, result)
    return len(result)


# --- set ------------------------------------------------------------------------------------------


async def _set_at(t: Task, dirfd: int, pathname: int, at_flags: int, name_addr: int, value: int, size: int,
                  flags: int) -> int:
    _at_flags(at_flags)
    name = await _name(t, name_addr)
    data = await _value(t, value, size, flags)
    root, start, path = await at(t, dirfd, pathname, at_flags)
    await vfs(t, "setxattr", root, start, path, not at_flags & AT_SYMLINK_NOFOLLOW, name, data, flags)
    return 0


@syscall
async def setxattr(t: Task, pathname: Addr, name: Addr, value: Addr, size: Size, flags: Int) -> int:
    return await _set_at(t, AT_FDCWD, pathname, 0, name, value, size, flags)


@syscall
async def lsetxattr(t: Task, pathname: Addr, name: Addr, value: Addr, size: Size, flags: Int) -> int:
    return await _set_at(t, AT_FDCWD, pathname, AT_SYMLINK_NOFOLLOW, name, value, size, flags)


@syscall
async def fsetxattr(t: Task, fd: Fd, name: Addr, value: Addr, size: Size, flags: Int) -> int:
    handle = _fd(t, fd)
    key = await _name(t, name)
    data = await _value(t, value, size, flags)
    await vfs(t, "setxattr", t.process.root, handle, b"", True, key, data, flags)
    return 0


# --- get ------------------------------------------------------------------------------------------


async def _get_at(t: Task, dirfd: int, pathname: int, at_flags: int, name_addr: int, value: int, size: int) -> int:
    _at_flags(at_flags)
    name = await _name(t, name_addr)
    root, start, path = await at(t, dirfd, pathname, at_flags)
    result = await vfs(t, "getxattr", root, start, path, not at_flags & AT_SYMLINK_NOFOLLOW, name, size)
    return await _copy_result(t, result, value)


@syscall
async def getxattr(t: Task, pathname: Addr, name: Addr, value: Addr, size: Size) -> int:
    return await _get_at(t, AT_FDCWD, pathname, 0, name, value, size)


@syscall
async def lgetxattr(t: Task, pathname: Addr, name: Addr, value: Addr, size: Size) -> int:
    return await _get_at(t, AT_FDCWD, pathname, AT_SYMLINK_NOFOLLOW, name, value, size)


@syscall
async def fgetxattr(t: Task, fd: Fd, name: Addr, value: Addr, size: Size) -> int:
    handle = _fd(t, fd)
    key = await _name(t, name)
    result = await vfs(t, "getxattr", t.process.root, handle, b"", True, key, size)
    return await _copy_result(t, result, value)


# --- list -----------------------------------------------------------------------------------------


async def _list_at(t: Task, dirfd: int, pathname: int, at_flags: int, buf: int, size: int) -> int:
    _at_flags(at_flags)
    root, start, path = await at(t, dirfd, pathname, at_flags)
    result = await vfs(t, "listxattr", root, start, path, not at_flags & AT_SYMLINK_NOFOLLOW,
                       min(size, XATTR_LIST_MAX))
    return await _copy_result(t, result, buf)


@syscall
async def listxattr(t: Task, pathname: Addr, list: Addr, size: Size) -> int:  # noqa: A002 — the man page's name
    return await _list_at(t, AT_FDCWD, pathname, 0, list, size)


@syscall
async def llistxattr(t: Task, pathname: Addr, list: Addr, size: Size) -> int:  # noqa: A002
    return await _list_at(t, AT_FDCWD, pathname, AT_SYMLINK_NOFOLLOW, list, size)


@syscall
async def flistxattr(t: Task, fd: Fd, list: Addr, size: Size) -> int:  # noqa: A002
    result = await vfs(t, "listxattr", t.process.root, _fd(t, fd), b"", True, min(size, XATTR_LIST_MAX))
    return await _copy_result(t, result, list)


# --- remove ---------------------------------------------------------------------------------------


async def _remove_at(t: Task, dirfd: int, pathname: int, at_flags: int, name_addr: int) -> int:
    _at_flags(at_flags)
    name = await _name(t, name_addr)
    root, start, path = await at(t, dirfd, pathname, at_flags)
    await vfs(t, "removexattr", root, start, path, not at_flags & AT_SYMLINK_NOFOLLOW, name)
    return 0


@syscall
async def removexattr(t: Task, pathname: Addr, name: Addr) -> int:
    return await _remove_at(t, AT_FDCWD, pathname, 0, name)


@syscall
async def lremovexattr(t: Task, pathname: Addr, name: Addr) -> int:
    return await _remove_at(t, AT_FDCWD, pathname, AT_SYMLINK_NOFOLLOW, name)


@syscall
async def fremovexattr(t: Task, fd: Fd, name: Addr) -> int:
    handle = _fd(t, fd)
    await vfs(t, "removexattr", t.process.root, handle, b"", True, await _name(t, name))
    return 0


# --- the *xattrat calls of Linux 6.13 -------------------------------------------------------------


async def _xattr_args(t: Task, uargs: int, usize: int) -> tuple[int, int, int]:
    """struct xattr_args (copy_struct_from_user): E2BIG past a page or for non-zero bytes past
    the struct we know, EINVAL below its first version."""
    if usize > _PAGE_SIZE:
        raise Errno(E2BIG)
    if usize < XATTR_ARGS_SIZE_VER0:
        raise Errno(EINVAL)
    raw = await t.mm.copy_in(uargs, usize)
    if any(raw[_XATTR_ARGS.size:]):
        raise Errno(E2BIG)
    value, size, flags = _XATTR_ARGS.unpack_from(raw)
    return value, size, flags


@syscall
async def setxattrat(t: Task, dirfd: Fd, pathname: Addr, at_flags: UInt, name: Addr, uargs: Addr,
                     usize: Size) -> int:
    value, size, flags = await _xattr_args(t, uargs, usize)
    return await _set_at(t, dirfd, pathname, at_flags, name, value, size, flags)


@syscall
async def getxattrat(t: Task, dirfd: Fd, pathname: Addr, at_flags: UInt, name: Addr, uargs: Addr,
                     usize: Size) -> int:
    value, size, flags = await _xattr_args(t, uargs, usize)
    if flags:
        raise Errno(EINVAL)
    return await _get_at(t, dirfd, pathname, at_flags, name, value, size)


@syscall
async def listxattrat(t: Task, dirfd: Fd, pathname: Addr, at_flags: UInt, list: Addr, size: Size) -> int:  # noqa: A002
    return await _list_at(t, dirfd, pathname, at_flags, list, size)


@syscall
async def removexattrat(t: Task, dirfd: Fd, pathname: Addr, at_flags: UInt, name: Addr) -> int:
    return await _remove_at(t, dirfd, pathname, at_flags, name)
