"""Credentials as a value: Linux's ``struct cred``, and who is calling an actor.

A task's credentials travel in every message that a permission depends on, so the actor that
decides (the VFS for files, the kernel for signals) never reads another actor's state to learn
who is asking. A :class:`Credentials` is immutable: a process that changes identity gets a new
value (:func:`dataclasses.replace`), so a message already sent keeps the identity it was sent with.

Capability sets are bit masks indexed by the ``CAP_*`` numbers below (``1 << CAP_CHOWN``), as in
``capget(2)``'s 64-bit view. The rules that change credentials (set*id, capset, execve) are the
kernel's (:mod:`kernel.creds`); this module holds the values and the ABI they are read through.
"""

from __future__ import annotations

from dataclasses import dataclass

from abi.linux import RLIM_INFINITY

# --- capability numbers (linux/capability.h) -------------------------------------------------------

CAP_CHOWN = 0
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
CAP_FOWNER = 3
CAP_FSETID = 4
CAP_KILL = 5
CAP_SETGID = 6
CAP_SETUID = 7
CAP_SETPCAP = 8
CAP_LINUX_IMMUTABLE = 9
CAP_NET_BIND_SERVICE = 10
CAP_NET_BROADCAST = 11
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_IPC_LOCK = 14
CAP_IPC_OWNER = 15
CAP_SYS_MODULE = 16
CAP_SYS_RAWIO = 17
CAP_SYS_CHROOT = 18
CAP_SYS_PTRACE = 19
CAP_SYS_PACCT = 20
CAP_SYS_ADMIN = 21
CAP_SYS_BOOT = 22
CAP_SYS_NICE = 23
CAP_SYS_RESOURCE = 24
CAP_SYS_TIME = 25
CAP_SYS_TTY_CONFIG = 26
CAP_MKNOD = 27
CAP_LEASE = 28
CAP_AUDIT_WRITE = 29
CAP_AUDIT_CONTROL = 30
CAP_SETFCAP = 31
CAP_MAC_OVERRIDE = 32
CAP_MAC_ADMIN = 33
CAP_SYSLOG = 34
CAP_WAKE_ALARM = 35
CAP_BLOCK_SUSPEND = 36
CAP_AUDIT_READ = 37
CAP_PERFMON = 38
CAP_BPF = 39
CAP_CHECKPOINT_RESTORE = 40
CAP_LAST_CAP = CAP_CHECKPOINT_RESTORE

#: Every capability this ABI knows.
ALL_CAPS = (1 << (CAP_LAST_CAP + 1)) - 1

#: What root in a docker container holds by default (moby's oci/caps/defaults.go).
DOCKER_DEFAULT_CAPS = sum(1 << cap for cap in (
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_NET_RAW, CAP_SETGID,
    CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,
    CAP_AUDIT_WRITE,
))

#: The ``CAP_*`` names by number, for --cap-add/--cap-drop and /proc/PID/status readers.
CAP_NAMES: dict[int, str] = {
    value: name for name, value in globals().items()
    if name.startswith("CAP_") and name != "CAP_LAST_CAP" and isinstance(value, int)
}

#: What ``fsuid == 0`` meant before capabilities (``CAP_FS_SET``): the set a change of the
#: filesystem uid away from 0 drops from the effective set, and a change back to 0 restores.
CAP_FS_SET = sum(1 << cap for cap in (
    CAP_CHOWN, CAP_MKNOD, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID,
    CAP_MAC_OVERRIDE, CAP_LINUX_IMMUTABLE,
))

# --- capget/capset (linux/capability.h) ------------------------------------------------------------

#: ``struct __user_cap_header_struct.version``: v1 carries one 32-bit word per set, v2 and v3
#: two (v2 is deprecated: it is v3 with a kernel warning).
LINUX_CAPABILITY_VERSION_1 = 0x19980330
LINUX_CAPABILITY_VERSION_2 = 0x20071026
LINUX_CAPABILITY_VERSION_3 = 0x20080522
#: 32-bit words per set for each version.
CAPABILITY_U32S = {
    LINUX_CAPABILITY_VERSION_1: 1,
    LINUX_CAPABILITY_VERSION_2: 2,
    LINUX_CAPABILITY_VERSION_3: 2,
}
#: The version the kernel writes back into a header it does not understand.
KERNEL_CAPABILITY_VERSION = LINUX_CAPABILITY_VERSION_3

# --- prctl options on capabilities and securebits (linux/prctl.h, linux/securebits.h) --------------

PR_GET_KEEPCAPS = 7
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_GET_SECUREBITS = 27
PR_SET_SECUREBITS = 28
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_LOWER = 3
PR_CAP_AMBIENT_CLEAR_ALL = 4

#: Securebits: each flag's bit, and the bit above it that locks it.
SECURE_NOROOT = 0
SECURE_NO_SETUID_FIXUP = 2
SECURE_KEEP_CAPS = 4
SECURE_NO_CAP_AMBIENT_RAISE = 6
SECBIT_NOROOT = 1 << SECURE_NOROOT
SECBIT_NO_SETUID_FIXUP = 1 << SECURE_NO_SETUID_FIXUP
SECBIT_KEEP_CAPS = 1 << SECURE_KEEP_CAPS
SECBIT_KEEP_CAPS_LOCKED = 1 << (SECURE_KEEP_CAPS + 1)
SECBIT_NO_CAP_AMBIENT_RAISE = 1 << SECURE_NO_CAP_AMBIENT_RAISE
SECURE_ALL_BITS = SECBIT_NOROOT | SECBIT_NO_SETUID_FIXUP | SECBIT_KEEP_CAPS | SECBIT_NO_CAP_AMBIENT_RAISE
SECURE_ALL_LOCKS = SECURE_ALL_BITS << 1


def cap_number(name: str) -> int | None:
    """The number of capability ``name`` (``CAP_CHOWN``, ``chown``, ``cap_chown``), or None."""
    upper = name.upper()
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    for number, known in CAP_NAMES.items():
        if known == upper:
            return number
    return None


@dataclass(frozen=True, slots=True)
class CapabilitySets:
    """The five capability sets a container's first process is given before it execs its
    program (an OCI bundle's ``process.capabilities``), as masks."""

    bounding: int = DOCKER_DEFAULT_CAPS
    effective: int = 0
    permitted: int = 0
    inheritable: int = 0
    ambient: int = 0


def cap_bit(cap: int) -> int:
    """The mask of one capability."""
    return 1 << cap


@dataclass(frozen=True, slots=True)
class Credentials:
    """A task's identity: user and group ids, supplementary groups, capability sets.

    Permission checks on files use the *filesystem* ids (``fsuid``/``fsgid``), which follow the
    effective ids unless setfsuid/setfsgid moved them; signals use the real and effective ids.
    """

    uid: int = 0
    euid: int = 0
    suid: int = 0
    fsuid: int = 0
    gid: int = 0
    egid: int = 0
    sgid: int = 0
    fsgid: int = 0
    groups: tuple[int, ...] = ()
    cap_effective: int = DOCKER_DEFAULT_CAPS
    cap_permitted: int = DOCKER_DEFAULT_CAPS
    cap_inheritable: int = 0
    cap_bounding: int = DOCKER_DEFAULT_CAPS
    cap_ambient: int = 0
    #: ``SECBIT_*`` flags (PR_SET_SECUREBITS; PR_SET_KEEPCAPS sets SECBIT_KEEP_CAPS).
    securebits: int = 0

    @property
    def keep_caps(self) -> bool:
        """PR_SET_KEEPCAPS: permitted capabilities survive a change away from uid 0."""
        return bool(self.securebits & SECBIT_KEEP_CAPS)

    def has_cap(self, cap: int) -> bool:
        """Whether ``cap`` is in the effective set (Linux's ``capable()`` in the sandbox's namespace)."""
        return bool(self.cap_effective >> cap & 1)

    def in_group(self, gid: int) -> bool:
        """Whether ``gid`` is the filesystem group or a supplementary group (``in_group_p``)."""
        return gid == self.fsgid or gid in self.groups

    @classmethod
    def of_user(cls, uid: int, gid: int, groups: tuple[int, ...] = (),
                caps: int | CapabilitySets = DOCKER_DEFAULT_CAPS) -> Credentials:
        """A container's first process before it execs its program: every id ``uid``/``gid``.

        ``caps`` as a mask is docker's capability list: it bounds everything, root holds it
        (effective and permitted) and anyone else holds none. As :class:`CapabilitySets` it
        is an OCI bundle's five sets, taken as a runtime can set them: inheritable within the
        bounding set, effective within permitted, ambient within both permitted and inheritable
        (the kernel refuses the rest).
        """
        if isinstance(caps, CapabilitySets):
            sets = caps
        else:
            held = caps if uid == 0 else 0
            sets = CapabilitySets(bounding=caps, effective=held, permitted=held)
        inheritable = sets.inheritable & sets.bounding
        return cls(uid, uid, uid, uid, gid, gid, gid, gid, tuple(groups),
                   cap_effective=sets.effective & sets.permitted, cap_permitted=sets.permitted,
                   cap_inheritable=inheritable, cap_bounding=sets.bounding,
                   cap_ambient=sets.ambient & sets.permitted & inheritable)


#: Who the Sentry itself is when no guest task is asking (boot, mounts): all-powerful root.
KERNEL_CREDENTIALS = Credentials(cap_effective=ALL_CAPS, cap_permitted=ALL_CAPS, cap_bounding=ALL_CAPS)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sends a message: the calling guest thread, its credentials and the limit on the size
    of files it writes (RLIMIT_FSIZE).

    It travels as the first argument of every operation whose answer depends on the caller
    (permission checks, /proc/self, signalfd reads, writes), never in a trace label or a context
    variable.
    """

    pid: int
    tid: int
    creds: Credentials
    #: RLIMIT_FSIZE's soft limit: no write, truncate or fallocate takes a file past it (EFBIG).
    file_size_limit: int = RLIM_INFINITY


#: The caller of messages the Sentry sends on its own behalf.
KERNEL_CALLER = Caller(0, 0, KERNEL_CREDENTIALS)
