"""Unit tests of Linux's credential rules (kernel/creds.py), case by case from the kernel's code.

Each test names the Linux function whose behaviour it pins down; the differential suite beside
it checks the same rules against the host kernel through real programs.
"""

from __future__ import annotations

import dataclasses

import pytest

from abi.creds import (
    ALL_CAPS,
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_FOWNER,
    CAP_KILL,
    CAP_NET_BIND_SERVICE,
    CAP_NET_RAW,
    CAP_SETGID,
    CAP_SETPCAP,
    CAP_SETUID,
    CAP_SYS_ADMIN,
    DOCKER_DEFAULT_CAPS,
    SECBIT_KEEP_CAPS,
    SECBIT_KEEP_CAPS_LOCKED,
    SECBIT_NO_CAP_AMBIENT_RAISE,
    SECBIT_NO_SETUID_FIXUP,
    SECBIT_NOROOT,
    CapabilitySets,
    Credentials,
    cap_bit,
)
from abi.errno import EINVAL, EPERM, Errno
from kernel import creds as rules
from kernel.creds import GROUPS, UNCHANGED, USERS

ROOT = Credentials.of_user(0, 0)
USER = Credentials.of_user(1000, 1000)
NET_BIND = cap_bit(CAP_NET_BIND_SERVICE)


def errno_of(call: object, *args: object) -> int:
    with pytest.raises(Errno) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.errno


def ids(creds: Credentials) -> tuple[int, ...]:
    return creds.uid, creds.euid, creds.suid, creds.fsuid


# --- set*uid: the ids (kernel/sys.c) ---------------------------------------------------------


def test_setuid_privileged_sets_all_four_ids_unprivileged_only_effective() -> None:
    assert ids(rules.set_id(ROOT, USERS, 1000)) == (1000, 1000, 1000, 1000)
    moved = dataclasses.replace(USER, euid=1001, fsuid=1001, suid=1002)
    assert ids(rules.set_id(moved, USERS, 1002)) == (1000, 1002, 1002, 1002)
    assert ids(rules.set_id(moved, USERS, 1000)) == (1000, 1000, 1002, 1000)
    assert errno_of(rules.set_id, moved, USERS, 1001) == EPERM  # the effective id is not a choice
    assert errno_of(rules.set_id, USER, USERS, UNCHANGED) == EINVAL


def test_privilege_is_cap_setuid_not_uid_0() -> None:
    no_setuid = dataclasses.replace(ROOT, cap_effective=ROOT.cap_effective & ~cap_bit(CAP_SETUID))
    assert errno_of(rules.set_id, no_setuid, USERS, 1000) == EPERM
    capable_user = dataclasses.replace(USER, cap_effective=cap_bit(CAP_SETUID), cap_permitted=cap_bit(CAP_SETUID))
    assert ids(rules.set_id(capable_user, USERS, 5)) == (5, 5, 5, 5)
    assert errno_of(rules.set_id, dataclasses.replace(ROOT, cap_effective=cap_bit(CAP_SETUID)), GROUPS, 5) == EPERM


def test_setreuid_saved_id_follows_the_new_effective_one() -> None:
    # Only the effective id set, to the old real one: the saved id stays.
    moved = dataclasses.replace(USER, euid=1001, fsuid=1001, suid=1001)
    back = rules.set_real_effective(moved, USERS, UNCHANGED, 1000)
    assert ids(back) == (1000, 1000, 1001, 1000)
    # Swapping real and effective sets the saved id to the new effective one.
    swapped = rules.set_real_effective(moved, USERS, 1001, 1000)
    assert ids(swapped) == (1001, 1000, 1000, 1000)
    assert errno_of(rules.set_real_effective, USER, USERS, 7, UNCHANGED) == EPERM
    assert errno_of(rules.set_real_effective, USER, USERS, UNCHANGED, 7) == EPERM


def test_setresuid_unprivileged_to_any_current_id_and_a_no_op_keeps_everything() -> None:
    moved = dataclasses.replace(USER, suid=1001)
    assert ids(rules.set_real_effective_saved(moved, USERS, 1001, 1001, 1000)) == (1001, 1001, 1000, 1001)
    assert errno_of(rules.set_real_effective_saved, moved, USERS, UNCHANGED, 2000, UNCHANGED) == EPERM
    # A no-op (here: root keeping its ids) is not a change, so it moves no capability.
    assert rules.set_real_effective_saved(ROOT, USERS, 0, 0, UNCHANGED) is ROOT
    # ... but an effective id equal to the old one while the filesystem id differs is a change.
    fs_moved = dataclasses.replace(USER, fsuid=1001)
    assert rules.set_real_effective_saved(fs_moved, USERS, UNCHANGED, 1000, UNCHANGED).fsuid == 1000


def test_setfsuid_to_a_stranger_is_silently_refused() -> None:
    assert rules.set_filesystem_id(USER, USERS, 5) is USER
    assert rules.set_filesystem_id(USER, USERS, UNCHANGED) is USER
    assert rules.set_filesystem_id(ROOT, USERS, 5).fsuid == 5


def test_setgroups_needs_cap_setgid_and_sorts() -> None:
    assert rules.set_groups(ROOT, (5, 3, 3)).groups == (3, 3, 5)
    assert errno_of(rules.set_groups, USER, (1,)) == EPERM


# --- cap_emulate_setxuid / the fsuid fix-up --------------------------------------------------


def test_leaving_uid_0_drops_permitted_effective_and_ambient() -> None:
    ambient = dataclasses.replace(ROOT, cap_inheritable=NET_BIND, cap_ambient=NET_BIND)
    user = rules.set_id(ambient, USERS, 1000)
    assert (user.cap_permitted, user.cap_effective, user.cap_ambient) == (0, 0, 0)
    assert user.cap_bounding == DOCKER_DEFAULT_CAPS and user.cap_inheritable == NET_BIND


def test_keep_caps_keeps_permitted_but_not_effective_nor_ambient() -> None:
    keeping = dataclasses.replace(ROOT, securebits=SECBIT_KEEP_CAPS, cap_inheritable=NET_BIND, cap_ambient=NET_BIND)
    user = rules.set_real_effective_saved(keeping, USERS, 1000, 1000, 1000)
    assert user.cap_permitted == DOCKER_DEFAULT_CAPS
    assert user.cap_effective == 0 and user.cap_ambient == 0


def test_effective_uid_leaving_and_returning_to_0() -> None:
    seteuid = rules.set_real_effective_saved(ROOT, USERS, UNCHANGED, 1000, UNCHANGED)
    assert seteuid.cap_effective == 0 and seteuid.cap_permitted == DOCKER_DEFAULT_CAPS  # the saved uid is still 0
    back = rules.set_real_effective_saved(seteuid, USERS, UNCHANGED, 0, UNCHANGED)
    assert back.cap_effective == DOCKER_DEFAULT_CAPS


def test_no_setuid_fixup_leaves_capabilities_alone() -> None:
    fixed = dataclasses.replace(ROOT, securebits=SECBIT_NO_SETUID_FIXUP)
    assert rules.set_id(fixed, USERS, 1000).cap_effective == DOCKER_DEFAULT_CAPS


def test_group_changes_move_no_capability() -> None:
    assert rules.set_id(ROOT, GROUPS, 1000).cap_effective == DOCKER_DEFAULT_CAPS


def test_fsuid_leaving_0_drops_the_file_capabilities_and_returning_raises_them() -> None:
    away = rules.set_filesystem_id(ROOT, USERS, 1000)
    assert not away.has_cap(CAP_CHOWN) and not away.has_cap(CAP_DAC_OVERRIDE) and not away.has_cap(CAP_FOWNER)
    assert away.has_cap(CAP_KILL) and away.has_cap(CAP_SETUID)
    assert rules.set_filesystem_id(away, USERS, 0).cap_effective == DOCKER_DEFAULT_CAPS


# --- cap_capset and the capability prctls ------------------------------------------------------


def test_capset_permitted_only_shrinks_and_effective_stays_within_it() -> None:
    fewer = DOCKER_DEFAULT_CAPS & ~cap_bit(CAP_KILL)
    new = rules.capset(ROOT, fewer, fewer, 0)
    assert new.cap_permitted == fewer
    assert errno_of(rules.capset, new, fewer, DOCKER_DEFAULT_CAPS, 0) == EPERM
    assert errno_of(rules.capset, new, DOCKER_DEFAULT_CAPS, fewer, 0) == EPERM


def test_capset_inheritable_within_permitted_unless_setpcap_and_always_within_bounding() -> None:
    without_setpcap = rules.capset(ROOT, DOCKER_DEFAULT_CAPS & ~cap_bit(CAP_SETPCAP), DOCKER_DEFAULT_CAPS, 0)
    assert errno_of(rules.capset, without_setpcap, 0, 0, cap_bit(CAP_SYS_ADMIN)) == EPERM
    assert rules.capset(without_setpcap, 0, 0, cap_bit(CAP_KILL)).cap_inheritable == cap_bit(CAP_KILL)
    # With CAP_SETPCAP, anything in the bounding set, even if not permitted ...
    trimmed = rules.capset(ROOT, cap_bit(CAP_SETPCAP), cap_bit(CAP_SETPCAP), 0)
    assert rules.capset(trimmed, 0, 0, cap_bit(CAP_KILL)).cap_inheritable == cap_bit(CAP_KILL)
    # ... but nothing outside it.
    assert errno_of(rules.capset, ROOT, 0, 0, cap_bit(CAP_SYS_ADMIN)) == EPERM


def test_capset_masks_ambient_to_permitted_and_inheritable() -> None:
    ambient = dataclasses.replace(ROOT, cap_inheritable=NET_BIND, cap_ambient=NET_BIND)
    assert rules.capset(ambient, 0, DOCKER_DEFAULT_CAPS, 0).cap_ambient == 0


def test_bounding_drop_needs_setpcap_before_validity() -> None:
    assert not rules.drop_bounding(ROOT, CAP_KILL).cap_bounding & cap_bit(CAP_KILL)
    assert errno_of(rules.drop_bounding, USER, 99) == EPERM
    assert errno_of(rules.drop_bounding, ROOT, 99) == EINVAL
    assert not rules.valid_cap(-1) and not rules.valid_cap(41) and rules.valid_cap(40)


def test_ambient_raise_rules() -> None:
    assert errno_of(rules.raise_ambient, ROOT, CAP_NET_BIND_SERVICE) == EPERM  # not inheritable
    inheritable = dataclasses.replace(ROOT, cap_inheritable=NET_BIND)
    assert rules.raise_ambient(inheritable, CAP_NET_BIND_SERVICE).cap_ambient == NET_BIND
    locked = dataclasses.replace(inheritable, securebits=SECBIT_NO_CAP_AMBIENT_RAISE)
    assert errno_of(rules.raise_ambient, locked, CAP_NET_BIND_SERVICE) == EPERM
    assert rules.lower_ambient(rules.raise_ambient(inheritable, CAP_NET_BIND_SERVICE), CAP_NET_BIND_SERVICE) \
        .cap_ambient == 0


def test_keepcaps_and_securebits_locks() -> None:
    assert rules.set_keep_caps(USER, 1).keep_caps
    assert errno_of(rules.set_keep_caps, USER, 2) == EINVAL
    locked = rules.set_securebits(ROOT, SECBIT_KEEP_CAPS_LOCKED)
    assert errno_of(rules.set_keep_caps, locked, 1) == EPERM
    assert errno_of(rules.set_securebits, locked, 0) == EPERM  # a lock stays
    assert errno_of(rules.set_securebits, USER, SECBIT_KEEP_CAPS) == EPERM  # needs CAP_SETPCAP
    assert errno_of(rules.set_securebits, ROOT, 1 << 20) == EPERM  # unknown bit


# --- execve: bprm_fill_uid + cap_bprm_creds_from_file ------------------------------------------


def test_root_exec_gets_bounding_and_inheritable_as_permitted_and_effective() -> None:
    dropped = dataclasses.replace(ROOT, cap_effective=0, cap_permitted=0)
    result = rules.exec_credentials(dropped, 0o100755, 0, 0)
    assert result.creds.cap_permitted == DOCKER_DEFAULT_CAPS == result.creds.cap_effective
    assert not result.secure


def test_user_exec_gets_only_ambient() -> None:
    user = dataclasses.replace(USER, cap_permitted=NET_BIND, cap_effective=NET_BIND, cap_inheritable=NET_BIND)
    assert rules.exec_credentials(user, 0o100755, 0, 0).creds.cap_permitted == 0
    ambient = dataclasses.replace(user, cap_ambient=NET_BIND)
    result = rules.exec_credentials(ambient, 0o100755, 0, 0)
    assert result.creds.cap_permitted == NET_BIND == result.creds.cap_effective == result.creds.cap_ambient
    assert not result.secure


def test_setuid_root_file_run_by_a_user() -> None:
    result = rules.exec_credentials(USER, 0o104755, 0, 0)
    assert ids(result.creds) == (1000, 0, 0, 0)
    assert result.creds.cap_permitted == DOCKER_DEFAULT_CAPS == result.creds.cap_effective
    assert result.secure


def test_setgid_needs_the_group_execute_bit() -> None:
    assert rules.exec_credentials(USER, 0o102755, 0, 50).creds.egid == 50
    assert rules.exec_credentials(USER, 0o102745, 0, 50).creds.egid == 1000  # mandatory locking, not setgid


def test_setuid_ignored_under_no_new_privs_and_on_nosuid() -> None:
    for kwargs in ({"no_new_privs": True}, {"nosuid": True}):
        result = rules.exec_credentials(USER, 0o104755, 0, 0, **kwargs)  # type: ignore[arg-type]
        assert ids(result.creds) == (1000, 1000, 1000, 1000) and result.creds.cap_permitted == 0


def test_setid_exec_clears_ambient() -> None:
    ambient = dataclasses.replace(USER, cap_permitted=NET_BIND, cap_inheritable=NET_BIND, cap_ambient=NET_BIND)
    result = rules.exec_credentials(ambient, 0o104755, 2000, 0)
    assert result.creds.euid == 2000 and result.creds.cap_ambient == 0 and result.creds.cap_permitted == 0


def test_effective_differing_from_real_is_a_secure_exec_that_keeps_its_ids() -> None:
    """``__is_setuid`` compares the new effective uid with the old *real* one; since Linux
    6.16 an exec that changed no id is not set-id for the ambient set and no_new_privs."""
    seteuid = dataclasses.replace(ROOT, euid=1001, fsuid=1001, cap_effective=0, cap_inheritable=NET_BIND,
                                  cap_ambient=NET_BIND)
    result = rules.exec_credentials(seteuid, 0o100755, 0, 0)
    assert result.secure and ids(result.creds) == (0, 1001, 1001, 1001)
    assert result.creds.cap_ambient == NET_BIND == result.creds.cap_effective
    assert rules.exec_credentials(seteuid, 0o100755, 0, 0, no_new_privs=True).creds.euid == 1001


def test_no_new_privs_undoes_a_setid_and_a_gain() -> None:
    # A real root whose exec would regain capabilities: the effective uid goes back to the
    # real one and the permitted set stays what it was.
    emptied = dataclasses.replace(ROOT, euid=1001, fsuid=1001, cap_effective=0, cap_permitted=0)
    result = rules.exec_credentials(emptied, 0o100755, 0, 0, no_new_privs=True)
    assert ids(result.creds) == (0, 0, 0, 0) and result.creds.cap_permitted == 0
    # Root with an emptied permitted set gains nothing back at exec under no_new_privs.
    dropped = dataclasses.replace(ROOT, cap_effective=0, cap_permitted=cap_bit(CAP_KILL))
    result = rules.exec_credentials(dropped, 0o100755, 0, 0, no_new_privs=True)
    assert result.creds.cap_permitted == cap_bit(CAP_KILL) == result.creds.cap_effective


def test_real_root_with_other_effective_uid_gets_permitted_not_effective() -> None:
    real_root = dataclasses.replace(ROOT, euid=1000, fsuid=1000, cap_effective=0)
    result = rules.exec_credentials(real_root, 0o100755, 0, 0, nosuid=True)
    assert result.creds.cap_permitted == DOCKER_DEFAULT_CAPS and result.creds.cap_effective == 0


def test_noroot_securebit_gives_root_nothing() -> None:
    noroot = dataclasses.replace(ROOT, securebits=SECBIT_NOROOT | SECBIT_KEEP_CAPS)
    result = rules.exec_credentials(noroot, 0o100755, 0, 0)
    assert result.creds.cap_permitted == 0 and result.creds.securebits == SECBIT_NOROOT  # keepcaps cleared


# --- kill_ok_by_cred -------------------------------------------------------------------------


@pytest.mark.parametrize(("sender", "target", "allowed"), [
    ((1000, 1000), (1000, 1001, 1001), True),    # real = real
    ((1002, 1000), (1001, 1001, 1000), True),    # effective = saved
    ((1000, 1002), (1001, 1000, 1001), False),   # only the target's *effective* uid matches
    ((1000, 1000), (0, 0, 0), False),
])
def test_kill_ok_by_cred(sender: tuple[int, int], target: tuple[int, int, int], allowed: bool) -> None:
    s = dataclasses.replace(USER, uid=sender[0], euid=sender[1])
    t = dataclasses.replace(USER, uid=target[0], euid=target[1], suid=target[2])
    assert rules.may_signal(s, t) is allowed
    assert rules.may_signal(dataclasses.replace(s, cap_effective=cap_bit(CAP_KILL)), t)


# --- the first process's sets ------------------------------------------------------------------


def test_of_user_takes_a_bundles_sets_as_a_runtime_can_set_them() -> None:
    sets = CapabilitySets(bounding=NET_BIND | cap_bit(CAP_NET_RAW), effective=ALL_CAPS, permitted=NET_BIND,
                          inheritable=NET_BIND | cap_bit(CAP_SYS_ADMIN), ambient=NET_BIND | cap_bit(CAP_NET_RAW))
    creds = Credentials.of_user(1000, 1000, (), sets)
    assert creds.cap_effective == NET_BIND and creds.cap_inheritable == NET_BIND and creds.cap_ambient == NET_BIND
    assert rules.exec_credentials(creds, 0o100755, 0, 0).creds.cap_effective == NET_BIND


def test_of_user_docker_list() -> None:
    assert Credentials.of_user(0, 0, (), cap_bit(CAP_SETGID)).cap_effective == cap_bit(CAP_SETGID)
    assert Credentials.of_user(5, 5, (), cap_bit(CAP_SETGID)).cap_permitted == 0
