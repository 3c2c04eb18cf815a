"""Confining the gofer process to the tree it serves, before it reads a single request.

The gofer is the only process that touches the image's files, so it is where a confused or
compromised Sentry could otherwise reach the host. Layers, in order:

As root (the usual case here):

1. New mount, network, IPC, UTS and cgroup namespaces: the gofer's mounts are its own, and it
   has no network at all (a new network namespace holds only a loopback device that is down).
2. The served directory is cloned (with whatever is mounted beneath it) with ``nodev``,
   ``nosuid``, ``noexec`` and, without ``--rw``, read-only: the host kernel itself then refuses
   every write and every device node an image might carry. ``pivot_root`` into it and the old
   root is detached: the host's file system is not merely out of reach, as after a chroot, but
   gone from the gofer's mount namespace. A gofer serving several mounts keeps each clone
   detached, restricted on its own and reached only by its fd, and pivots into an empty
   read-only directory instead (:func:`isolate`).
3. Drop every capability from the bounding set except the file ones the served tree needs:
   ``CAP_DAC_OVERRIDE`` (read a root-owned 0600 file, search any directory) always, and with
   ``--rw`` also ``CAP_CHOWN`` (give a created file its guest owner), ``CAP_FOWNER`` (chmod/utime
   a file it does not own) and ``CAP_FSETID`` (keep setgid bits): the Sentry decides who may do
   what; the gofer only needs the power to apply it. Deliberately *not* ``CAP_DAC_READ_SEARCH``:
   it is what ``open_by_handle_at`` needs, the classic chroot escape ("shocker"), and
   ``CAP_DAC_OVERRIDE`` already covers reading.
4. Switch to uid/gid 65534 (nobody) with ``PR_SET_KEEPCAPS`` and then ``capset`` the kept
   capabilities back into the effective set: the process owns nothing and cannot signal or
   ptrace root's processes, and can still open every file of the image.

Not root: Landlock (``landlock_create_ruleset``/``add_rule``/``restrict_self``) limits file
access to beneath the served directory — read rights only, unless ``--rw`` — and, where the
kernel's Landlock is new enough, also TCP and signals/abstract sockets outside the sandbox.

Both: ``PR_SET_NO_NEW_PRIVS``, the seccomp allowlist of :mod:`gofer.seccomp` (exactly the system
calls the protocol's file operations make; anything else is reported by name and ends the
gofer), and before it ``PR_SET_PDEATHSIG(SIGKILL)`` — after the credential change, which clears
it — so the gofer dies with the Sentry even if its socket were somehow kept open.

Everything the gofer will import must be imported *before* this runs: afterwards the Python
library directories are gone.

The first half of this module is the host primitives (namespaces, mounts, pivot_root,
capabilities, prctl) as small functions; the Sentry's own confinement (:mod:`kernel.confine`)
is built from the same ones.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import struct
from collections.abc import Sequence

from abi.mount import MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT
from abi.confine import (
    AT_RECURSIVE,
    LINUX_CAPABILITY_VERSION_3,
    MOUNT_ATTR_NODEV,
    MOUNT_ATTR_NOEXEC,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY,
    MOUNT_ATTR_SIZE_VER0,
    MOVE_MOUNT_F_EMPTY_PATH,
    NOBODY,
    OPEN_TREE_CLOEXEC,
    OPEN_TREE_CLONE,
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAPBSET_DROP,
    PR_SET_KEEPCAPS,
)
from abi.creds import CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID
from abi.linux import (
    AT_EMPTY_PATH,
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWUTS,
    PR_SET_DUMPABLE,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
)
from abi.syscalls import number
from gofer.seccomp import Census, filter_program, install_filter, report_traps

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

#: Capabilities a read-only gofer keeps, and a ``--rw`` one.
READ_CAPS = (CAP_DAC_OVERRIDE,)
WRITE_CAPS = (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID)
#: The namespaces a gofer gets of its own (it stays in the host's user namespace: its
#: capabilities must apply to the host's files).
GOFER_NAMESPACES = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP

_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446


class ConfinementError(Exception):
    """A process could not confine itself; it must not go on unconfined."""


# --- host primitives ------------------------------------------------------------------------------


def _arg(value: int | str | bytes | None) -> ctypes.c_long | ctypes.c_char_p:
    if value is None:
        return ctypes.c_char_p(None)
    if isinstance(value, str):
        return ctypes.c_char_p(os.fsencode(value))
    if isinstance(value, bytes):
        return ctypes.c_char_p(value)
    return ctypes.c_long(value)


def syscall(name: str, *args: int | str | bytes | None) -> int:
    """Host system call ``name(*args)`` (paths as str or bytes); OSError naming it on failure."""
    result = _libc.syscall(ctypes.c_long(number(name)), *(_arg(a) for a in args))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{name}: {os.strerror(code)}")
    return int(result)


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    return syscall("prctl", option, arg2, arg3, 0, 0)


def unshare(flags: int) -> None:
    syscall("unshare", flags)


def setns(fd: int, nstype: int = 0) -> None:
    syscall("setns", fd, nstype)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    syscall("mount", source, target, fstype, flags, data)


def make_mounts_private() -> None:
    """Stop mount events propagating between this (new) mount namespace and the host's."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def pivot_into(directory: str) -> None:
    """Make ``directory`` (a mount point) the root of this mount namespace and drop the old root.

    ``pivot_root(".", ".")`` stacks the old root on top of the new one; detaching it leaves the
    new root alone, with nothing of the host above or beside it.
    """
    os.chdir(directory)
    syscall("pivot_root", ".", ".")
    syscall("umount2", ".", MNT_DETACH)
    os.chdir("/")


def restrict_mount(path: str, *, read_only: bool) -> None:
    """``nodev``, ``nosuid``, ``noexec`` (and read-only) on the bind mount at ``path`` and every
    mount beneath it; the top mount alone on kernels without mount_setattr(2)."""
    attrs = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | (MOUNT_ATTR_RDONLY if read_only else 0)
    attr = ctypes.create_string_buffer(struct.pack("=QQQQ", attrs, 0, 0, 0), MOUNT_ATTR_SIZE_VER0)
    result = _libc.syscall(ctypes.c_long(number("mount_setattr")), ctypes.c_long(-100),  # AT_FDCWD
                           ctypes.c_char_p(os.fsencode(path)), ctypes.c_long(AT_RECURSIVE),
                           attr, ctypes.c_long(MOUNT_ATTR_SIZE_VER0))
    if result == 0:
        return
    if ctypes.get_errno() != errno.ENOSYS:
        code = ctypes.get_errno()
        raise OSError(code, f"mount_setattr {path}: {os.strerror(code)}")
    flags = MS_REMOUNT | MS_BIND | MS_NODEV | MS_NOSUID | MS_NOEXEC | (MS_RDONLY if read_only else 0)
    mount(None, path, None, flags)


def capget() -> tuple[int, int, int]:
    """This process's (effective, permitted, inheritable) capability sets."""
    header = ctypes.create_string_buffer(struct.pack("=Ii", LINUX_CAPABILITY_VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(24)
    _check_call("capget", _libc.syscall(ctypes.c_long(number("capget")), header, data))
    e0, p0, i0, e1, p1, i1 = struct.unpack("=6I", data.raw)
    return e0 | e1 << 32, p0 | p1 << 32, i0 | i1 << 32


def capset(effective: int, permitted: int, inheritable: int = 0) -> None:
    """Set the three capability sets (64-bit masks)."""
    header = ctypes.create_string_buffer(struct.pack("=Ii", LINUX_CAPABILITY_VERSION_3, 0), 8)
    low, high = 0xFFFF_FFFF, 32
    data = ctypes.create_string_buffer(struct.pack(
        "=6I", effective & low, permitted & low, inheritable & low,
        effective >> high, permitted >> high, inheritable >> high), 24)
    _check_call("capset", _libc.syscall(ctypes.c_long(number("capset")), header, data))


def _check_call(what: str, result: int) -> None:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def mask_of(caps: tuple[int, ...]) -> int:
    return sum(1 << cap for cap in caps)


def drop_bounding_set(keep: tuple[int, ...] = ()) -> None:
    """Remove every capability but ``keep`` from the bounding set (needs CAP_SETPCAP), and
    clear the ambient set: no later execve could bring them back."""
    for cap in range(64):
        if cap in keep:
            continue
        try:
            prctl(PR_CAPBSET_DROP, cap)
        except OSError as error:
            if error.errno == errno.EINVAL:  # past the kernel's last capability
                break
            raise
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def become(uid: int, gid: int, keep: tuple[int, ...] = (), *, drop_groups: bool = True) -> None:
    """Switch every uid and gid to ``uid``/``gid`` (with no supplementary groups, unless
    ``drop_groups`` is false: an unprivileged caller may not change them), keeping exactly the
    capabilities ``keep`` (effective and permitted; none inheritable)."""
    if drop_groups:
        os.setgroups([])
    os.setresgid(gid, gid, gid)
    prctl(PR_SET_KEEPCAPS, 1)
    os.setresuid(uid, uid, uid)
    prctl(PR_SET_KEEPCAPS, 0)
    capset(mask_of(keep), mask_of(keep))


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_dumpable(dumpable: bool) -> None:
    prctl(PR_SET_DUMPABLE, int(dumpable))


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies; exit now if it already has.

    Call it after the last credential change, which would clear it."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(1)


# --- the gofer as root: namespaces, pivot_root, capabilities, nobody ---------------------------


#: Where the served tree is staged before the pivot (any will do; /proc is always there).
_STAGING_POINTS = ("/proc", "/tmp", "/dev")


def isolate(root: str, *, writable: bool, others: Sequence[tuple[str, bool]] = ()) -> list[int]:
    """New namespaces, and the served trees (copies of their mount trees, restricted) as the only
    file systems; returns an ``O_PATH`` fd on each tree's root (``root``'s, then ``others``').

    Each tree is cloned detached (open_tree) before anything is mounted. Alone, ``root``'s is
    moved onto a directory of a small staging tmpfs and pivoted into: this works for any
    directory, the host's / included, which cannot be pivoted into in place.

    With ``others`` (directory, writable: further mounts the same process serves), no tree is
    the root: each stays a detached mount tree held by its fd alone, whose root is its own
    parent, so ``..`` from it stays in it; the process pivots into an empty, read-only
    directory of the staging tmpfs, so an absolute path (a symlink's, should one ever be
    followed) leads from any tree to nothing, and no path from one tree leads to another."""
    unshare(GOFER_NAMESPACES)
    make_mounts_private()
    mounts = [(root, writable), *others]
    trees: list[int] = []
    try:
        for path, rw in mounts:
            trees.append(clone_tree(path))
            if others:
                restrict_tree(trees[-1], read_only=not rw)
        point = next(p for p in _STAGING_POINTS if os.path.isdir(p))
        mount("tmpfs", point, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=4k,nr_inodes=2")
        target = os.path.join(point, "root")
        os.mkdir(target, 0o700)
        if others:
            mount(target, target, None, MS_BIND)  # pivot_root wants a mount point
            restrict_mount(target, read_only=True)
            pivot_into(target)
            return trees
        tree = trees.pop()
        try:
            syscall("move_mount", tree, "", -100, target, MOVE_MOUNT_F_EMPTY_PATH)
        finally:
            os.close(tree)
        restrict_mount(target, read_only=not writable)
        pivot_into(target)
    except BaseException:
        for fd in trees:
            os.close(fd)
        raise
    return [os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)]


def clone_tree(path: str) -> int:
    """A detached copy of the mount tree at ``path`` (with every mount beneath it), as an fd."""
    return syscall("open_tree", -100, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)  # AT_FDCWD


def restrict_tree(tree_fd: int, *, read_only: bool) -> None:
    """``nodev``, ``nosuid``, ``noexec`` (and read-only) on a detached tree and all beneath it."""
    attrs = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | (MOUNT_ATTR_RDONLY if read_only else 0)
    attr = ctypes.create_string_buffer(struct.pack("=QQQQ", attrs, 0, 0, 0), MOUNT_ATTR_SIZE_VER0)
    result = _libc.syscall(ctypes.c_long(number("mount_setattr")), ctypes.c_long(tree_fd), ctypes.c_char_p(b""),
                           ctypes.c_long(AT_RECURSIVE | AT_EMPTY_PATH), attr, ctypes.c_long(MOUNT_ATTR_SIZE_VER0))
    _check_call("mount_setattr", result)


def drop_privileges(caps: tuple[int, ...], uid: int = NOBODY, gid: int = NOBODY) -> None:
    """Become ``uid``/``gid`` keeping only ``caps`` (bounding, permitted, effective)."""
    drop_bounding_set(keep=caps)
    become(uid, gid, keep=caps)


# --- not root: Landlock -------------------------------------------------------------------------

_LL_FS_EXECUTE = 1 << 0
_LL_FS_WRITE_FILE = 1 << 1
_LL_FS_READ_FILE = 1 << 2
_LL_FS_READ_DIR = 1 << 3
_LL_FS_MAKE_CHAR = 1 << 6
_LL_FS_MAKE_BLOCK = 1 << 11
_LL_FS_V1 = (1 << 13) - 1
_LL_FS_REFER = 1 << 13  # ABI 2
_LL_FS_TRUNCATE = 1 << 14  # ABI 3
_LL_FS_IOCTL_DEV = 1 << 15  # ABI 5
_LL_NET_ALL = 0b11  # ABI 4: bind and connect TCP
_LL_SCOPE_ALL = 0b11  # ABI 6: abstract unix sockets and signals
_LL_RULE_PATH_BENEATH = 1
_LL_CREATE_RULESET_VERSION = 1


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 if Landlock is unavailable."""
    version = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LL_CREATE_RULESET_VERSION)
    return max(int(version), 0)


def landlock_confine(root: str, *, writable: bool, others: Sequence[tuple[str, bool]] = ()) -> None:
    """Restrict this process's file access to beneath ``root`` and ``others`` (each with read
    rights only unless writable), and TCP/signals where the kernel knows how."""
    abi = landlock_abi()
    if abi < 1:
        raise ConfinementError("Landlock is not available on this kernel")
    handled = _LL_FS_V1
    handled |= _LL_FS_REFER if abi >= 2 else 0
    handled |= _LL_FS_TRUNCATE if abi >= 3 else 0
    handled |= _LL_FS_IOCTL_DEV if abi >= 5 else 0
    attr = struct.pack("=Q", handled)
    attr += struct.pack("=Q", _LL_NET_ALL) if abi >= 4 else b""
    attr += struct.pack("=Q", _LL_SCOPE_ALL) if abi >= 6 else b""
    ruleset = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, attr, len(attr), 0)
    if ruleset < 0:
        raise ConfinementError(f"landlock_create_ruleset: {os.strerror(ctypes.get_errno())}")
    try:
        for path, rw in ((root, writable), *others):
            _landlock_allow(ruleset, path, handled, writable=rw)
        set_no_new_privs()
        if _libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0) < 0:
            raise ConfinementError(f"landlock_restrict_self: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(ruleset)


def _landlock_allow(ruleset: int, path: str, handled: int, *, writable: bool) -> None:
    """Add the rule letting this process read (and, if ``writable``, change) beneath ``path``."""
    if writable:
        allowed = handled & ~(_LL_FS_EXECUTE | _LL_FS_MAKE_CHAR | _LL_FS_MAKE_BLOCK | _LL_FS_IOCTL_DEV)
    else:
        allowed = _LL_FS_READ_FILE | _LL_FS_READ_DIR
    root_fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        rule = struct.pack("=Qi", allowed, root_fd)  # struct landlock_path_beneath_attr is packed
        if _libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LL_RULE_PATH_BENEATH, rule, 0) < 0:
            raise ConfinementError(f"landlock_add_rule: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(root_fd)


# --- both ------------------------------------------------------------------------------------------


def install_seccomp(*, writable: bool = True, census: Census | None = None) -> None:
    """Install :mod:`gofer.seccomp`'s allowlist on every thread; a call outside it is logged by
    name and ends the process. (Under a census strace counts the calls instead.)"""
    report_traps()
    set_no_new_privs()
    if census is not None:
        census.begin()
    else:
        install_filter(filter_program(writable=writable, pid=os.getpid()))


def confine(root: str, *, writable: bool) -> str:
    """Confine this process to ``root``; returns the served tree's path as now seen (``/`` after
    pivot_root). Raises ConfinementError (or OSError) if it cannot be done."""
    [root_fd] = confine_mounts([(root, writable)])
    os.close(root_fd)
    return "/" if os.geteuid() == 0 else root


def confine_mounts(mounts: Sequence[tuple[str, bool]]) -> list[int]:
    """Confine this process to the directories ``mounts`` names (each with whether it is
    writable); returns an ``O_PATH`` directory fd on each served root, in order.

    As root, a single mount becomes this process's root (pivot_root); several stay detached mount
    trees reached only by their fds, beside an empty root (:func:`isolate`). Each tree is
    read-only on the host unless its mount is writable. The process keeps the capabilities,
    and its seccomp filter allows the calls, of a writable gofer if any mount is writable: what
    then tells one mount's writes from another's is each tree's own read-only flag, which the
    host kernel enforces, and the server's own refusal (EROFS) on a read-only mount."""
    if not mounts:
        raise ConfinementError("nothing to serve")
    (root, writable), others = mounts[0], list(mounts[1:])
    any_writable = any(rw for _, rw in mounts)
    parent = os.getppid()
    census = Census.requested("gofer-rw" if any_writable else "gofer-ro")
    if os.geteuid() == 0:
        fds = isolate(root, writable=writable, others=others)
        drop_privileges(WRITE_CAPS if any_writable else READ_CAPS)
    else:
        landlock_confine(root, writable=writable, others=others)
        set_dumpable(False)
        fds = [os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path, _ in mounts]
    die_with_parent(parent)
    install_seccomp(writable=any_writable, census=census)
    return fds
