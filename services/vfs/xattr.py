"""Extended attributes: who may read and write which namespace, and the VFS's operations.

The rules are Linux's (fs/xattr.c ``xattr_permission`` and the capability LSM's
``cap_inode_setxattr``/``cap_inode_removexattr``, no other LSM loaded):

* ``user.*``: only regular files and directories have them (EPERM to write one elsewhere,
  ENODATA to read); reading needs read permission, writing write permission, and in a sticky
  directory the owner or CAP_FOWNER;
* ``trusted.*``: CAP_SYS_ADMIN (without it a write is EPERM, a read ENODATA, and a listing
  leaves them out);
* ``security.*``: anyone reads them; writing or removing one needs CAP_SYS_ADMIN, but
  ``security.capability`` (file capabilities) needs CAP_SETFCAP and a well-formed value;
* ``system.posix_acl_*``: POSIX ACLs are not implemented, so EOPNOTSUPP (as a file system
  mounted without ACL support answers); any other prefix is EOPNOTSUPP too.

The values themselves are the inode's (:meth:`services.vfs.inode.Inode.get_xattr` and its
siblings): kept in the Sentry for tmpfs and the overlay.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from abi.creds import CAP_SETFCAP, CAP_SYS_ADMIN, Credentials
from abi.errno import E2BIG, EINVAL, ENODATA, EOPNOTSUPP, EPERM, ERANGE, Errno
from abi.linux import (
    S_IFDIR,
    S_IFREG,
    S_ISVTX,
    VFS_CAP_REVISION_2,
    VFS_CAP_REVISION_3,
    VFS_CAP_REVISION_MASK,
    XATTR_CAPS_SZ_2,
    XATTR_CAPS_SZ_3,
    XATTR_CREATE,
    XATTR_LIST_MAX,
    XATTR_NAME_CAPS,
    XATTR_REPLACE,
    XATTR_SECURITY_PREFIX,
    XATTR_SIZE_MAX,
    XATTR_SYSTEM_PREFIX,
    XATTR_TRUSTED_PREFIX,
    XATTR_USER_PREFIX,
)
from kernel.bus import operation
from services.vfs.core import VfsCore
from services.vfs.permissions import MAY_READ, MAY_WRITE, owner_or_capable, permission

if TYPE_CHECKING:
    from abi.creds import Caller
    from services.vfs.contract import Handle
    from services.vfs.inode import Inode

#: The namespaces a file system with xattr handlers serves (ACLs are not among them).
_NAMESPACES = (XATTR_USER_PREFIX, XATTR_TRUSTED_PREFIX, XATTR_SECURITY_PREFIX)


def check_name(name: bytes) -> None:
    """A name of a namespace we serve, with something after its prefix: EOPNOTSUPP for any
    other prefix (system.posix_acl_* among them), EINVAL for a bare prefix (xattr_resolve_name)."""
    for prefix in _NAMESPACES:
        if name.startswith(prefix):
            if len(name) == len(prefix):
                raise Errno(EINVAL)
            return
    raise Errno(EOPNOTSUPP)


def xattr_permission(creds: Credentials, inode: Inode, name: bytes, want: int) -> None:
    """Whether ``creds`` may read (MAY_READ) or write (MAY_WRITE) attribute ``name`` of ``inode``."""
    if name.startswith((XATTR_SECURITY_PREFIX, XATTR_SYSTEM_PREFIX)):
        return
    if name.startswith(XATTR_TRUSTED_PREFIX):
        if not creds.has_cap(CAP_SYS_ADMIN):
            raise Errno(EPERM if want & MAY_WRITE else ENODATA)
        return
    if name.startswith(XATTR_USER_PREFIX):
        if inode.kind not in (S_IFREG, S_IFDIR):
            raise Errno(EPERM if want & MAY_WRITE else ENODATA)
        if inode.kind == S_IFDIR and inode.mode & S_ISVTX and want & MAY_WRITE \
                and not owner_or_capable(creds, inode):
            raise Errno(EPERM)
    permission(creds, inode, want)


def security_permission(creds: Credentials, name: bytes) -> None:
    """The capability LSM on a change of a security.* attribute (cap_inode_setxattr/removexattr)."""
    if not name.startswith(XATTR_SECURITY_PREFIX):
        return
    needed = CAP_SETFCAP if name == XATTR_NAME_CAPS else CAP_SYS_ADMIN
    if not creds.has_cap(needed):
        raise Errno(EPERM)


def check_file_capability(value: bytes) -> None:
    """A security.capability value must be a struct vfs_cap_data (revision 2) or
    vfs_ns_cap_data (revision 3) of exactly its size (cap_convert_nscap: EINVAL)."""
    if len(value) not in (XATTR_CAPS_SZ_2, XATTR_CAPS_SZ_3):
        raise Errno(EINVAL)
    (magic,) = struct.unpack_from("<I", value)
    revision = magic & VFS_CAP_REVISION_MASK
    expected = VFS_CAP_REVISION_2 if len(value) == XATTR_CAPS_SZ_2 else VFS_CAP_REVISION_3
    if revision != expected:
        raise Errno(EINVAL)


def listed(creds: Credentials, inode: Inode, names: list[bytes]) -> list[bytes]:
    """What listxattr shows of ``names``: trusted.* only to CAP_SYS_ADMIN, user.* only of
    regular files and directories."""
    admin = creds.has_cap(CAP_SYS_ADMIN)
    user_ok = inode.kind in (S_IFREG, S_IFDIR)
    return [name for name in names
            if (admin or not name.startswith(XATTR_TRUSTED_PREFIX))
            and (user_ok or not name.startswith(XATTR_USER_PREFIX))]


class XattrOperations(VfsCore):
    """getxattr/setxattr/listxattr/removexattr and their l*, f* and *at forms.

    Every operation names its file as (start, path, follow); an empty path is the description
    ``start`` itself, which then must not be O_PATH (EBADF), as the f* calls take it.
    """

    async def _xattr_target(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool) -> Inode:
        if not path:
            self.usable(start)
        return await self.target(caller, root, start, path, follow)

    @operation
    async def getxattr(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool, name: bytes,
                       size: int) -> bytes | int:
        inode = await self._xattr_target(caller, root, start, path, follow)
        xattr_permission(caller.creds, inode, name, MAY_READ)
        check_name(name)
        value = await inode.get_xattr(name)
        if size == 0:
            return len(value)
        if len(value) > min(size, XATTR_SIZE_MAX):
            raise Errno(E2BIG if size >= XATTR_SIZE_MAX else ERANGE)
        return value

    @operation
    async def setxattr(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool, name: bytes,
                       value: bytes, flags: int) -> None:
        inode = await self._xattr_target(caller, root, start, path, follow)
        inode.fs.check_writable()
        if name == XATTR_NAME_CAPS and value:
            check_file_capability(value)
            if not caller.creds.has_cap(CAP_SETFCAP):
                raise Errno(EPERM)
        xattr_permission(caller.creds, inode, name, MAY_WRITE)
        security_permission(caller.creds, name)
        check_name(name)
        await inode.set_xattr(name, value, flags & (XATTR_CREATE | XATTR_REPLACE))

    @operation
    async def listxattr(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool,
                        size: int) -> bytes | int:
        inode = await self._xattr_target(caller, root, start, path, follow)
        names = listed(caller.creds, inode, await inode.list_xattrs()) if inode.fs.keeps_xattrs else []
        data = b"".join(name + b"\0" for name in names)
        if size == 0:
            return len(data)
        if len(data) > min(size, XATTR_LIST_MAX):
            raise Errno(E2BIG if size >= XATTR_LIST_MAX else ERANGE)
        return data

    @operation
    async def removexattr(self, caller: Caller, root: Handle, start: Handle, path: bytes, follow: bool,
                          name: bytes) -> None:
        inode = await self._xattr_target(caller, root, start, path, follow)
        inode.fs.check_writable()
        xattr_permission(caller.creds, inode, name, MAY_WRITE)
        security_permission(caller.creds, name)
        check_name(name)
        await inode.remove_xattr(name)

