"""Who may do what to a file: Linux's discretionary access rules, decided in one place.

Every VFS operation asks these functions, with the credentials the caller sent in its message;
no other module of the Sentry decides a file permission. They mirror the few functions Linux
decides in (fs/namei.c, fs/attr.c, fs/inode.c):

* :func:`permission` — ``generic_permission``: the owner, group or other bits, then
  CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH;
* :func:`may_create`, :func:`may_delete` — ``may_create``/``may_delete``: write and search on
  the directory, and the sticky bit;
* :func:`owner_or_capable` — ``inode_owner_or_capable``;
* :func:`prepare_setattr` — ``setattr_prepare`` plus the set-id bit rules of chmod and chown;
* :func:`may_link` — ``may_linkat`` under ``protected_hardlinks``;
* :func:`killpriv` — ``file_remove_privs``: a write by anyone without CAP_FSETID clears set-id bits.

The walls around the Sentry (the gofer's own confinement) hold when a rule here is wrong;
these rules are what make a guest that is not root unable to change what it does not own.
"""

from __future__ import annotations

from abi.creds import (
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_FSETID,
    CAP_MKNOD,
    Credentials,
)
from abi.errno import EACCES, EPERM, Errno
from abi.linux import S_IFDIR, S_IFMT, S_IFREG, S_ISGID, S_ISUID, S_ISVTX, S_IXGRP

#: Access bits, as access(2) and generic_permission name them.
MAY_EXEC = 1
MAY_WRITE = 2
MAY_READ = 4



class Subject:
    """What the rules need of a file: its type, mode and owner (every Inode has them)."""

    mode: int
    uid: int
    gid: int


def _class_bits(creds: Credentials, inode: Subject, real: bool) -> int:
    """The rwx bits of ``inode`` that apply to the caller: owner's, group's or others'."""
    uid = creds.uid if real else creds.fsuid
    mode = inode.mode
    if uid == inode.uid:
        return (mode >> 6) & 7
    gid = creds.gid if real else creds.fsgid
    if inode.gid == gid or inode.gid in creds.groups:
        return (mode >> 3) & 7
    return mode & 7


def allowed(creds: Credentials, inode: Subject, want: int, real: bool = False) -> bool:
    """Whether ``creds`` may access ``inode`` for ``want`` (MAY_* bits). ``real`` checks with
    the real ids, as access(2) does without AT_EACCESS (capabilities count either way)."""
    if want & _class_bits(creds, inode, real) == want:
        return True
    is_dir = inode.mode & S_IFMT == S_IFDIR
    if creds.has_cap(CAP_DAC_OVERRIDE):
        # Read and write always; execute only if someone may execute it (or it is a directory).
        if not want & MAY_EXEC or is_dir or inode.mode & 0o111:
            return True
    if creds.has_cap(CAP_DAC_READ_SEARCH):
        if want & ~(MAY_READ | (MAY_EXEC if is_dir else 0)) == 0:
            return True
    return False


def permission(creds: Credentials, inode: Subject, want: int) -> None:
    """EACCES unless ``creds`` may access ``inode`` for ``want``."""
    if want and not allowed(creds, inode, want):
        raise Errno(EACCES)


def search(creds: Credentials, directory: Subject) -> None:
    """EACCES unless the caller may look up names in ``directory``. Every path component asks
    this, and nearly every directory may be searched by all, so that is answered first."""
    if directory.mode & 0o111 != 0o111:
        permission(creds, directory, MAY_EXEC)


def may_create(creds: Credentials, directory: Subject) -> None:
    """Creating a name in ``directory``: write and search permission on it."""
    permission(creds, directory, MAY_WRITE | MAY_EXEC)


def may_delete(creds: Credentials, directory: Subject, victim: Subject) -> None:
    """Removing (or renaming away) ``victim`` from ``directory``: write and search permission,
    and in a sticky directory, being the owner of the file or of the directory (or CAP_FOWNER)."""
    may_create(creds, directory)
    if directory.mode & S_ISVTX and creds.fsuid not in (victim.uid, directory.uid) \
            and not creds.has_cap(CAP_FOWNER):
        raise Errno(EPERM)


def owner_or_capable(creds: Credentials, inode: Subject) -> bool:
    """Whether the caller owns ``inode`` or holds CAP_FOWNER (inode_owner_or_capable)."""
    return creds.fsuid == inode.uid or creds.has_cap(CAP_FOWNER)


def may_mknod(creds: Credentials, mode: int) -> None:
    """Device nodes need CAP_MKNOD; FIFOs, sockets and regular files do not."""
    if mode & S_IFMT in (0o020000, 0o060000) and not creds.has_cap(CAP_MKNOD):
        raise Errno(EPERM)


def new_owner(creds: Credentials, directory: Subject, mode: int) -> tuple[int, int, int]:
    """(uid, gid, mode) of a file the caller creates in ``directory``: the caller's fs ids,
    except that a set-group-id directory gives its group (and its S_ISGID to new directories);
    a set-group-id file made by a non-member without CAP_FSETID loses the bit (inode_init_owner)."""
    gid = creds.fsgid
    if directory.mode & S_ISGID:
        gid = directory.gid
        if mode & S_IFMT == S_IFDIR:
            mode |= S_ISGID
        elif mode & S_ISGID and mode & S_IXGRP and not creds.in_group(gid) and not creds.has_cap(CAP_FSETID):
            mode &= ~S_ISGID
    return creds.fsuid, gid, mode


def prepare_setattr(creds: Credentials, inode: Subject, mode: int | None, uid: int | None, gid: int | None,
                    times: bool, times_now: bool, write_allowed: bool) -> int | None:
    """Check a chmod/chown/utimensat and return the mode to store (None: unchanged).

    chown (chown_ok, chgrp_ok): naming an owner needs CAP_CHOWN, unless the owner names itself;
    naming a group needs CAP_CHOWN, or ownership and membership of that group (or it is the
    file's group already). On a file that is not a directory, a chown clears S_ISUID, and
    S_ISGID when the group may execute or the caller is neither in the group nor holds CAP_FSETID;
    that clearing is a change of mode, so it needs the owner or CAP_FOWNER too (EPERM).
    chmod: the owner or CAP_FOWNER; S_ISGID is dropped when the file's group is not the caller's
    and it lacks CAP_FSETID.
    utimensat: explicit times need ownership or CAP_FOWNER (EPERM); "now" also allows write
    permission (EACCES without it).
    """
    owner = creds.fsuid == inode.uid
    if uid is not None and not (owner and uid == inode.uid) and not creds.has_cap(CAP_CHOWN):
        raise Errno(EPERM)
    if gid is not None and not (owner and (creds.in_group(gid) or gid == inode.gid)) \
            and not creds.has_cap(CAP_CHOWN):
        raise Errno(EPERM)
    if times and not owner_or_capable(creds, inode) and not (times_now and write_allowed):
        raise Errno(EACCES if times_now else EPERM)
    new_mode: int | None = None
    if mode is not None:
        if not owner_or_capable(creds, inode):
            raise Errno(EPERM)
        group = gid if gid is not None else inode.gid
        if mode & S_ISGID and not creds.in_group(group) and not creds.has_cap(CAP_FSETID):
            mode &= ~S_ISGID
        new_mode = (inode.mode & S_IFMT) | (mode & 0o7777)
    if (uid is not None or gid is not None) and inode.mode & S_IFMT != S_IFDIR:
        base = new_mode if new_mode is not None else inode.mode
        cleared = base & ~S_ISUID
        group = gid if gid is not None else inode.gid
        if base & S_IXGRP or not creds.in_group(group) and not creds.has_cap(CAP_FSETID):
            cleared &= ~S_ISGID
        if cleared != base:
            if not owner_or_capable(creds, inode):  # clearing the bits is a mode change (notify_change)
                raise Errno(EPERM)
            new_mode = cleared
    return new_mode


def killpriv(creds: Credentials, inode: Subject) -> int | None:
    """The mode a regular file keeps after a write or truncate by ``creds`` (file_remove_privs):
    S_ISUID goes, and S_ISGID with group execute, unless the writer holds CAP_FSETID. None when
    nothing changes."""
    mode = inode.mode
    if mode & S_IFMT != S_IFREG or not mode & (S_ISUID | S_ISGID) or creds.has_cap(CAP_FSETID):
        return None
    cleared = mode & ~S_ISUID
    if mode & S_IXGRP:
        cleared &= ~S_ISGID
    return cleared if cleared != mode else None


def may_link(creds: Credentials, inode: Subject) -> None:
    """A hard link to ``inode`` under protected_hardlinks (Debian's default, and Linux's since
    3.6 with it set): the owner, CAP_FOWNER, or a regular file that is neither set-uid nor
    set-gid-executable and that the caller may read and write."""
    if owner_or_capable(creds, inode):
        return
    mode = inode.mode
    if mode & S_IFMT != S_IFREG or mode & S_ISUID or mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP \
            or not allowed(creds, inode, MAY_READ | MAY_WRITE):
        raise Errno(EPERM)
