"""Confining the gofer process to the tree it serves, before it reads a single request.

The gofer is the only process that touches the image's files, so it is where a confused or
compromised Sentry could otherwise reach the host. Layers, in order:

As root (the usual case here):

1. ``chroot`` into the served directory and ``chdir("/")``: the host's file system is gone.
2. Drop every capability from the bounding set except the four file ones the gofer needs to
   serve an image whose files belong to many owners: ``CAP_DAC_OVERRIDE`` (read a root-owned
   0600 file, search any directory), ``CAP_CHOWN`` (give a created file its guest owner),
   ``CAP_FOWNER`` (chmod/utime a file it does not own), ``CAP_FSETID`` (keep setgid bits).
   Deliberately *not* ``CAP_DAC_READ_SEARCH``: it is what ``open_by_handle_at`` needs, the
   classic chroot escape ("shocker"), and ``CAP_DAC_OVERRIDE`` already covers reading.
3. Switch to uid/gid 65534 (nobody) with ``PR_SET_KEEPCAPS`` and then ``capset`` the four
   capabilities back into the effective set: the process owns nothing, cannot signal or ptrace
   root's processes, and can still open every file of the image.

Not root: Landlock (``landlock_create_ruleset``/``add_rule``/``restrict_self``) limits file
access to beneath the served directory — read rights only, unless ``--rw`` — and, where the
kernel's Landlock is new enough, also TCP and signals/abstract sockets outside the sandbox.

Both: ``PR_SET_NO_NEW_PRIVS``, a seccomp filter that refuses the system calls a file server has
no use for and that escape or attack the host (execve, ptrace, kill, mount, namespaces,
``open_by_handle_at``, new sockets, io_uring, bpf, keyrings, modules ...), and finally
``PR_SET_PDEATHSIG(SIGKILL)`` — last, because a credential change clears it — so the gofer dies
with the Sentry even if its socket were somehow kept open.

Everything the gofer will import must be imported *before* this runs: afterwards the Python
library directories are outside its reach.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import struct

from gofer.seccomp import SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_SET_MODE_FILTER, filter_program

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# capabilities kept
CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_FOWNER = 3
CAP_FSETID = 4
KEPT_CAPS = (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID)
_CAP_VERSION_3 = 0x20080522

NOBODY = 65534

# x86-64 system call numbers
_SYS_CAPSET = 126
_SYS_SECCOMP = 317
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446


class ConfinementError(Exception):
    """The gofer could not confine itself; it must not serve unconfined."""


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise ConfinementError(f"{what}: {os.strerror(code)}")
    return result


def _prctl(option: int, arg2: int = 0, arg3: int = 0, what: str = "prctl") -> int:
    return _check(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), 0, 0), what)


# --- as root: chroot, capabilities, nobody ------------------------------------------------------


def chroot_into(root: str) -> None:
    """Make ``root`` the process's ``/`` and working directory."""
    os.chroot(root)
    os.chdir("/")


def drop_privileges(uid: int = NOBODY, gid: int = NOBODY) -> None:
    """Become ``uid``/``gid`` keeping only :data:`KEPT_CAPS` (bounding, permitted, effective)."""
    for cap in range(64):
        if cap not in KEPT_CAPS and _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0:
            if ctypes.get_errno() == errno.EINVAL:  # past the kernel's last capability
                break
            _check(-1, f"dropping capability {cap} from the bounding set")
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="clearing ambient capabilities")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    _prctl(PR_SET_KEEPCAPS, 1, what="PR_SET_KEEPCAPS")
    os.setresuid(uid, uid, uid)
    _prctl(PR_SET_KEEPCAPS, 0, what="clearing PR_SET_KEEPCAPS")
    _capset(sum(1 << cap for cap in KEPT_CAPS))


def _capset(mask: int) -> None:
    """Set effective = permitted = ``mask`` (capabilities 0-31), inheritable = none."""
    header = struct.pack("=Ii", _CAP_VERSION_3, 0)
    data = struct.pack("=6I", mask, mask, 0, 0, 0, 0)  # two {effective, permitted, inheritable}
    _check(_libc.syscall(_SYS_CAPSET, header, data), "capset")


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
    return max(version, 0)


def landlock_confine(root: str, *, writable: bool) -> None:
    """Restrict this process's file access to beneath ``root`` (and TCP/signals where known)."""
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
    ruleset = _check(_libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, attr, len(attr), 0),
                     "landlock_create_ruleset")
    try:
        if writable:
            allowed = handled & ~(_LL_FS_EXECUTE | _LL_FS_MAKE_CHAR | _LL_FS_MAKE_BLOCK | _LL_FS_IOCTL_DEV)
        else:
            allowed = _LL_FS_READ_FILE | _LL_FS_READ_DIR
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            rule = struct.pack("=Qi", allowed, root_fd)  # struct landlock_path_beneath_attr is packed
            _check(_libc.syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LL_RULE_PATH_BENEATH, rule, 0),
                   "landlock_add_rule")
        finally:
            os.close(root_fd)
        set_no_new_privs()
        _check(_libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


# --- both: no_new_privs, seccomp, parent death ------------------------------------------------


def set_no_new_privs() -> None:
    _prctl(PR_SET_NO_NEW_PRIVS, 1, what="PR_SET_NO_NEW_PRIVS")


def install_seccomp() -> None:
    """Install :mod:`gofer.seccomp`'s filter on every thread of the process."""
    program = filter_program()
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(buf))
    set_no_new_privs()
    _check(_libc.syscall(_SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, fprog),
           "seccomp")


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies; exit now if it already has."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, what="PR_SET_PDEATHSIG")
    if os.getppid() != parent_pid:
        os._exit(1)


def confine(root: str, *, writable: bool) -> str:
    """Confine this process to ``root``; returns the served tree's path as now seen (``/`` after
    chroot). Raises ConfinementError if it cannot be done."""
    parent = os.getppid()
    if os.geteuid() == 0:
        chroot_into(root)
        drop_privileges()
        root = "/"
    else:
        landlock_confine(root, writable=writable)
        _prctl(PR_SET_DUMPABLE, 0, what="PR_SET_DUMPABLE")
    install_seccomp()
    die_with_parent(parent)
    return root
