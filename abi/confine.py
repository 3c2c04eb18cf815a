"""Constants of the host interfaces a process confines itself with: mount(2) and pivot_root(2),
namespaces, capabilities and the prctl(2) options around them.

They are the host's, not the guest's: the Sentry, its stubs and the gofers use them on
themselves (see kernel/confine/ and gofer/confine.py). Namespace flags (``CLONE_NEW*``) live
with the other clone flags in :mod:`abi.linux`; capability numbers in :mod:`abi.creds`.
"""

from __future__ import annotations

# mount(2) and umount2(2) flags are the guest's ABI too: they live in :mod:`abi.mount`.

# --- mount_setattr(2) -------------------------------------------------------------------------------
MOUNT_ATTR_RDONLY = 0x0000_0001
MOUNT_ATTR_NOSUID = 0x0000_0002
MOUNT_ATTR_NODEV = 0x0000_0004
MOUNT_ATTR_NOEXEC = 0x0000_0008
#: ``struct mount_attr`` as first defined: attr_set, attr_clr, propagation, userns_fd (4 × u64).
MOUNT_ATTR_SIZE_VER0 = 32
AT_RECURSIVE = 0x8000
#: open_tree(2): a detached copy of the tree (with AT_RECURSIVE, its submounts too), close-on-exec.
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
#: move_mount(2): the mount to move is the fd itself.
MOVE_MOUNT_F_EMPTY_PATH = 0x4

# --- <uapi/linux/capability.h> ------------------------------------------------------------------------
LINUX_CAPABILITY_VERSION_3 = 0x2008_0522
#: capget/capset take two ``{effective, permitted, inheritable}`` u32 triples (bits 0-31, 32-63).
LINUX_CAPABILITY_U32S_3 = 2

# --- <uapi/linux/prctl.h>: the options about privilege (the others are in abi.linux) ----------------
PR_GET_KEEPCAPS = 7
PR_SET_KEEPCAPS = 8
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# --- the unprivileged identity ------------------------------------------------------------------------
#: uid and gid of "nobody" (the kernel's overflowuid): what a confined process of a sandbox started
#: by root runs as, as runsc's do.
NOBODY = 65534

#: /proc/PID/ns/* names of the namespaces a sandbox has of its own.
NAMESPACE_NAMES = ("user", "mnt", "net", "ipc", "uts", "cgroup")
