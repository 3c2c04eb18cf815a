"""x86-64 system call numbers, by name and by number, from python-ptrace's table.

Numbers 512 and above belong to the x32 ABI, which Sentrio does not offer: they are left out.
"""

from ptrace.syscall.linux.x86_64 import SYSCALL_NAMES as _PTRACE_NAMES

#: Calls added after the kernel python-ptrace's table was made from (5.8), up to Linux 6.17
#: (arch/x86/entry/syscalls/syscall_64.tbl).
_NEWER_NAMES = {
    441: "epoll_pwait2", 442: "mount_setattr", 443: "quotactl_fd",
    444: "landlock_create_ruleset", 445: "landlock_add_rule", 446: "landlock_restrict_self",
    447: "memfd_secret", 448: "process_mrelease", 449: "futex_waitv",
    450: "set_mempolicy_home_node", 451: "cachestat", 452: "fchmodat2", 453: "map_shadow_stack",
    454: "futex_wake", 455: "futex_wait", 456: "futex_requeue", 457: "statmount", 458: "listmount",
    459: "lsm_get_self_attr", 460: "lsm_set_self_attr", 461: "lsm_list_modules", 462: "mseal",
    463: "setxattrat", 464: "getxattrat", 465: "listxattrat", 466: "removexattrat",
    467: "open_tree_attr", 468: "file_getattr", 469: "file_setattr",
}

#: Names python-ptrace spells otherwise than syscall_64.tbl (283 was "timerfd" before 2.6.25).
_RENAMED = {283: "timerfd_create"}

#: number -> name, for the x86-64 ABI only.
NAMES: dict[int, str] = {nr: name for nr, name in _PTRACE_NAMES.items() if nr < 512} | _NEWER_NAMES | _RENAMED
#: name -> number.
NUMBERS: dict[str, int] = {name: nr for nr, name in NAMES.items()}
#: One past the highest x86-64 system call number.
COUNT = max(NAMES) + 1


def number(name: str) -> int:
    """The number of system call ``name``; KeyError if x86-64 has none by that name."""
    return NUMBERS[name]
