"""Linux's rules for changing credentials, as pure functions from old credentials to new.

Each function mirrors one piece of Linux and is named after it: the set*id calls
(``kernel/sys.c``) with the capability fix-ups that follow a uid change
(``cap_emulate_setxuid``, ``cap_task_fix_setuid``), capset and the capability prctls
(``cap_capset``, ``cap_prctl_drop``, ``PR_CAP_AMBIENT``, ``PR_SET_SECUREBITS``), the credentials
a program gets at execve (``bprm_fill_uid`` and ``cap_bprm_creds_from_file``, without file
capabilities), and who may signal whom (``kill_ok_by_cred``). They take and return
:class:`abi.creds.Credentials` values and raise :class:`abi.errno.Errno`; none touches a process.
:func:`commit` installs new credentials in a process and does what Linux's ``commit_creds``
does beside the assignment.

"Privileged" always means a capability in the effective set (CAP_SETUID for user ids,
CAP_SETGID for group ids and setgroups, CAP_SETPCAP for capability sets), never uid 0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from abi.creds import (
    ALL_CAPS,
    CAP_FS_SET,
    CAP_KILL,
    CAP_SETGID,
    CAP_SETPCAP,
    CAP_SETUID,
    SECBIT_KEEP_CAPS,
    SECBIT_KEEP_CAPS_LOCKED,
    SECBIT_NO_CAP_AMBIENT_RAISE,
    SECBIT_NO_SETUID_FIXUP,
    SECBIT_NOROOT,
    SECURE_ALL_BITS,
    SECURE_ALL_LOCKS,
    Credentials,
)
from abi.errno import EINVAL, EPERM, Errno
from abi.linux import RLIMIT_STACK

if TYPE_CHECKING:
    from kernel.process import ThreadGroup

#: ``(uid_t) -1``: "leave this id as it is" in the set*id calls.
UNCHANGED = 0xFFFF_FFFF
#: ``/proc/sys/fs/suid_dumpable``'s default: a process whose identity changed is not dumpable.
SUID_DUMPABLE = 0
#: ``SUID_DUMP_USER``: the dumpable value of an ordinary process.
DUMPABLE = 1
#: RLIMIT_STACK's default (``_STK_LIM``): a secure exec does not inherit a larger soft limit.
STACK_LIMIT = 8 << 20


@dataclass(frozen=True, slots=True)
class IdKind:
    """One kind of id (user or group): its four fields, the capability that lifts the rules
    on changing them, and whether a change moves capabilities (only user ids do)."""

    real: str
    effective: str
    saved: str
    fs: str
    capability: int
    fixes_capabilities: bool

    def ids(self, creds: Credentials) -> tuple[int, int, int, int]:
        """(real, effective, saved, filesystem)."""
        return (getattr(creds, self.real), getattr(creds, self.effective), getattr(creds, self.saved),
                getattr(creds, self.fs))


USERS = IdKind("uid", "euid", "suid", "fsuid", CAP_SETUID, True)
GROUPS = IdKind("gid", "egid", "sgid", "fsgid", CAP_SETGID, False)


# --- set*uid and set*gid (kernel/sys.c) ---------------------------------------------------------


def set_id(old: Credentials, kind: IdKind, value: int) -> Credentials:
    """setuid/setgid: privileged, every id becomes ``value``; otherwise only the effective
    (and filesystem) id, and only to the real or saved one."""
    if value == UNCHANGED:
        raise Errno(EINVAL)
    real, _, saved, _ = kind.ids(old)
    if old.has_cap(kind.capability):
        changes = {kind.real: value, kind.effective: value, kind.saved: value, kind.fs: value}
    elif value in (real, saved):
        changes = {kind.effective: value, kind.fs: value}
    else:
        raise Errno(EPERM)
    return _fix_ids(old, _with_ids(old, changes), kind)


def set_real_effective(old: Credentials, kind: IdKind, real: int, effective: int) -> Credentials:
    """setreuid/setregid: the real id may become the effective one, the effective id the real
    or saved one (anything, privileged). The saved id follows the new effective one when the
    real id is set or the effective id moves away from the old real one."""
    old_real, old_effective, old_saved, _ = kind.ids(old)
    privileged = old.has_cap(kind.capability)
    changes: dict[str, int] = {}
    if real != UNCHANGED:
        if real not in (old_real, old_effective) and not privileged:
            raise Errno(EPERM)
        changes[kind.real] = real
    if effective != UNCHANGED:
        if effective not in (old_real, old_effective, old_saved) and not privileged:
            raise Errno(EPERM)
        changes[kind.effective] = effective
    new_effective = changes.get(kind.effective, old_effective)
    if real != UNCHANGED or (effective != UNCHANGED and effective != old_real):
        changes[kind.saved] = new_effective
    changes[kind.fs] = new_effective
    return _fix_ids(old, _with_ids(old, changes), kind)


def set_real_effective_saved(old: Credentials, kind: IdKind, real: int, effective: int,
                             saved: int) -> Credentials:
    """setresuid/setresgid: unprivileged, each new id must be one of the three current ones.
    A call that changes nothing changes nothing (not even the capabilities)."""
    old_real, old_effective, old_saved, old_fs = kind.ids(old)
    if ((real == UNCHANGED or real == old_real)
            and (effective == UNCHANGED or effective == old_effective == old_fs)
            and (saved == UNCHANGED or saved == old_saved)):
        return old
    current = (old_real, old_effective, old_saved)
    if any(value != UNCHANGED and value not in current for value in (real, effective, saved)) \
            and not old.has_cap(kind.capability):
        raise Errno(EPERM)
    changes = {name: value for name, value in ((kind.real, real), (kind.effective, effective),
                                               (kind.saved, saved)) if value != UNCHANGED}
    changes[kind.fs] = changes.get(kind.effective, old_effective)
    return _fix_ids(old, _with_ids(old, changes), kind)


def set_filesystem_id(old: Credentials, kind: IdKind, value: int) -> Credentials:
    """setfsuid/setfsgid: to any of the four current ids, or anything privileged; a refused
    change is silent (the call returns the old filesystem id either way)."""
    ids = kind.ids(old)
    if value == UNCHANGED or value == ids[3]:
        return old
    if value not in ids and not old.has_cap(kind.capability):
        return old
    new = _with_ids(old, {kind.fs: value})
    if kind.fixes_capabilities and not old.securebits & SECBIT_NO_SETUID_FIXUP:
        new = fix_fsuid_capabilities(old, new)
    return new


def set_groups(old: Credentials, groups: tuple[int, ...]) -> Credentials:
    """setgroups: CAP_SETGID only; the list is kept sorted, as Linux keeps it."""
    require(old, CAP_SETGID)
    return dataclasses.replace(old, groups=tuple(sorted(groups)))


def require(creds: Credentials, cap: int) -> None:
    """``capable()``: EPERM unless ``cap`` is in the effective set."""
    if not creds.has_cap(cap):
        raise Errno(EPERM)


def _with_ids(creds: Credentials, changes: dict[str, Any]) -> Credentials:
    """``creds`` with the ids ``changes`` names (by field) set."""
    return dataclasses.replace(creds, **changes)


def _fix_ids(old: Credentials, new: Credentials, kind: IdKind) -> Credentials:
    if kind.fixes_capabilities and not old.securebits & SECBIT_NO_SETUID_FIXUP:
        return fix_uid_capabilities(old, new)
    return new


def fix_uid_capabilities(old: Credentials, new: Credentials) -> Credentials:
    """``cap_emulate_setxuid``: what a change of the real, effective or saved uid does to the
    capabilities, so that uid 0 keeps meaning what it meant before capabilities.

    Leaving uid 0 altogether (none of the three is 0 any more) drops the permitted and
    effective sets, unless SECBIT_KEEP_CAPS, and always the ambient set. An effective uid
    leaving 0 drops the effective set; one becoming 0 raises it to the permitted set.
    """
    permitted, effective, ambient = new.cap_permitted, new.cap_effective, new.cap_ambient
    was_root = 0 in (old.uid, old.euid, old.suid)
    is_root = 0 in (new.uid, new.euid, new.suid)
    if was_root and not is_root:
        if not old.securebits & SECBIT_KEEP_CAPS:
            permitted = effective = 0
        ambient = 0
    if old.euid == 0 and new.euid != 0:
        effective = 0
    if old.euid != 0 and new.euid == 0:
        effective = permitted
    return dataclasses.replace(new, cap_permitted=permitted, cap_effective=effective, cap_ambient=ambient)


def fix_fsuid_capabilities(old: Credentials, new: Credentials) -> Credentials:
    """setfsuid's fix-up: a filesystem uid leaving 0 drops the file capabilities
    (``CAP_FS_SET``) from the effective set; one becoming 0 raises those it has permitted."""
    effective = new.cap_effective
    if old.fsuid == 0 and new.fsuid != 0:
        effective &= ~CAP_FS_SET
    if old.fsuid != 0 and new.fsuid == 0:
        effective |= new.cap_permitted & CAP_FS_SET
    return dataclasses.replace(new, cap_effective=effective)


# --- capabilities: capset and prctl (security/commoncap.c) ---------------------------------------


def capset(old: Credentials, effective: int, permitted: int, inheritable: int) -> Credentials:
    """``cap_capset``: the permitted set may only shrink, the effective set stays within the
    new permitted one, and the inheritable set gains only what is permitted (unless
    CAP_SETPCAP) and never anything outside the bounding set. Ambient capabilities that are
    no longer both permitted and inheritable go."""
    effective, permitted, inheritable = effective & ALL_CAPS, permitted & ALL_CAPS, inheritable & ALL_CAPS
    if not old.has_cap(CAP_SETPCAP) and inheritable & ~(old.cap_inheritable | old.cap_permitted):
        raise Errno(EPERM)
    if inheritable & ~(old.cap_inheritable | old.cap_bounding):
        raise Errno(EPERM)
    if permitted & ~old.cap_permitted:
        raise Errno(EPERM)
    if effective & ~permitted:
        raise Errno(EPERM)
    return dataclasses.replace(old, cap_effective=effective, cap_permitted=permitted,
                               cap_inheritable=inheritable,
                               cap_ambient=old.cap_ambient & permitted & inheritable)


def valid_cap(cap: int) -> bool:
    """``cap_valid``: a capability this kernel knows."""
    return 0 <= cap and ALL_CAPS >> cap & 1 == 1


def drop_bounding(old: Credentials, cap: int) -> Credentials:
    """PR_CAPBSET_DROP: CAP_SETPCAP first (EPERM), then a known capability (EINVAL)."""
    require(old, CAP_SETPCAP)
    if not valid_cap(cap):
        raise Errno(EINVAL)
    return dataclasses.replace(old, cap_bounding=old.cap_bounding & ~(1 << cap))


def raise_ambient(old: Credentials, cap: int) -> Credentials:
    """PR_CAP_AMBIENT_RAISE: only a capability both permitted and inheritable, and not under
    SECBIT_NO_CAP_AMBIENT_RAISE."""
    bit = 1 << cap
    if not old.cap_permitted & bit or not old.cap_inheritable & bit \
            or old.securebits & SECBIT_NO_CAP_AMBIENT_RAISE:
        raise Errno(EPERM)
    return dataclasses.replace(old, cap_ambient=old.cap_ambient | bit)


def lower_ambient(old: Credentials, cap: int) -> Credentials:
    """PR_CAP_AMBIENT_LOWER: always allowed."""
    return dataclasses.replace(old, cap_ambient=old.cap_ambient & ~(1 << cap))


def clear_ambient(old: Credentials) -> Credentials:
    """PR_CAP_AMBIENT_CLEAR_ALL: always allowed."""
    return dataclasses.replace(old, cap_ambient=0)


def set_keep_caps(old: Credentials, keep: int) -> Credentials:
    """PR_SET_KEEPCAPS: 0 or 1; EPERM once SECBIT_KEEP_CAPS_LOCKED is set."""
    if keep not in (0, 1):
        raise Errno(EINVAL)
    if old.securebits & SECBIT_KEEP_CAPS_LOCKED:
        raise Errno(EPERM)
    bits = old.securebits | SECBIT_KEEP_CAPS if keep else old.securebits & ~SECBIT_KEEP_CAPS
    return dataclasses.replace(old, securebits=bits)


def set_securebits(old: Credentials, bits: int) -> Credentials:
    """PR_SET_SECUREBITS: CAP_SETPCAP; a locked bit cannot change, a lock cannot be released,
    and no unknown bit may be set."""
    locks = old.securebits & SECURE_ALL_LOCKS
    if ((locks >> 1) & (old.securebits ^ bits)) or (locks & ~bits) \
            or bits & ~(SECURE_ALL_LOCKS | SECURE_ALL_BITS) or not old.has_cap(CAP_SETPCAP):
        raise Errno(EPERM)
    return dataclasses.replace(old, securebits=bits)


# --- execve (fs/exec.c bprm_fill_uid, security/commoncap.c cap_bprm_creds_from_file) -------------


@dataclass(frozen=True, slots=True)
class ExecCredentials:
    """Who a program runs as after execve, and whether the exec raised privileges (AT_SECURE:
    the dynamic linker then ignores LD_* variables; the parent-death signal is cleared)."""

    creds: Credentials
    secure: bool


S_ISUID = 0o4000
S_ISGID = 0o2000
S_IXGRP = 0o0010


def exec_credentials(old: Credentials, mode: int, file_uid: int, file_gid: int, *,
                     no_new_privs: bool = False, nosuid: bool = False) -> ExecCredentials:
    """The credentials after executing a file of ``mode`` owned by ``file_uid``:``file_gid``.

    A set-user-id file gives its owner as the effective uid; a set-group-id one (with the
    group execute bit) its group as the effective gid; neither on a nosuid mount or under
    no_new_privs. Then the capabilities, as Linux computes them for a file without file
    capabilities: the permitted set starts empty; an effective or real uid 0 gets the
    bounding and inheritable sets as permitted (unless SECBIT_NOROOT), and an effective uid
    0 gets them effective too; the ambient set survives an exec that changes no id, and joins
    the permitted and effective sets. Under no_new_privs a set-id change is undone and
    nothing beyond the old permitted set is gained. The saved and filesystem ids follow the
    effective ones; SECBIT_KEEP_CAPS is cleared. The exec is secure (AT_SECURE) when the
    effective ids differ from the real ones or a user gains capabilities.
    """
    euid, egid = old.euid, old.egid
    if not nosuid and not no_new_privs:
        if mode & S_ISUID:
            euid = file_uid
        if mode & (S_ISGID | S_IXGRP) == S_ISGID | S_IXGRP:
            egid = file_gid
    permitted, effective_bit = 0, False
    if not old.securebits & SECBIT_NOROOT:
        if euid == 0 or old.uid == 0:
            permitted = old.cap_bounding | old.cap_inheritable
        effective_bit = euid == 0
    # "Set-id" is an effective id differing from the old real one; since Linux 6.16 not when
    # the exec changed no id (a process whose effective ids already differed keeps them, and
    # its ambient set, even under no_new_privs), though that exec is still a secure one.
    ids_differ = euid != old.uid or egid != old.gid
    is_setid = ids_differ and (euid, egid) != (old.euid, old.egid)
    if (is_setid or permitted & ~old.cap_permitted) and no_new_privs:
        euid, egid = old.uid, old.gid
        permitted &= old.cap_permitted
    ambient = 0 if is_setid else old.cap_ambient
    permitted |= ambient
    effective = permitted if effective_bit else ambient
    new = dataclasses.replace(
        old, euid=euid, suid=euid, fsuid=euid, egid=egid, sgid=egid, fsgid=egid,
        cap_permitted=permitted, cap_effective=effective, cap_ambient=ambient,
        securebits=old.securebits & ~SECBIT_KEEP_CAPS,
    )
    secure = (euid, egid) != (old.uid, old.gid) or (new.uid != 0 and (effective_bit or bool(permitted & ~ambient)))
    return ExecCredentials(new, secure)


# --- signals (kernel/signal.c) -------------------------------------------------------------------


def may_signal(sender: Credentials, target: Credentials) -> bool:
    """``kill_ok_by_cred``: the sender's real or effective uid is the target's real or saved
    uid, or the sender holds CAP_KILL. (SIGCONT within a session and a process signalling
    itself are the caller's to allow.)"""
    return bool({sender.uid, sender.euid} & {target.uid, target.suid}) or sender.has_cap(CAP_KILL)


# --- installing new credentials (kernel/cred.c commit_creds) ------------------------------------


def commit(process: ThreadGroup, new: Credentials) -> None:
    """Give ``process`` the credentials ``new``. As Linux's ``commit_creds``: a change of the
    effective or filesystem ids, or a gain of permitted capabilities, makes the process
    undumpable and clears its parent-death signal."""
    old = process.creds
    if new is old:
        return
    if (old.euid, old.egid, old.fsuid, old.fsgid) != (new.euid, new.egid, new.fsuid, new.fsgid) \
            or new.cap_permitted & ~old.cap_permitted:
        process.dumpable = SUID_DUMPABLE
        process.pdeathsig = 0
    process.creds = new


def commit_exec(process: ThreadGroup, result: ExecCredentials) -> None:
    """Install the credentials execve computed (:func:`exec_credentials`), with what
    ``begin_new_exec`` does around them: a process whose effective ids differed from its real
    ones before the exec is not dumpable; a secure exec clears the parent-death signal and
    does not inherit a soft stack limit above the default."""
    old = process.creds
    process.dumpable = DUMPABLE if (old.euid, old.egid) == (old.uid, old.gid) else SUID_DUMPABLE
    if result.secure:
        process.pdeathsig = 0
        soft, hard = process.rlimits[RLIMIT_STACK]
        if soft > STACK_LIMIT:
            process.rlimits[RLIMIT_STACK] = (STACK_LIMIT, hard)
    commit(process, result.creds)
