"""The guest's mount(2), umount2(2) and pivot_root(2) ABI (<uapi/linux/mount.h>).

The guest passes these; the Sentry and the gofers use the same flags on the host (kernel/confine/, gofer/confine.py).
"""

from __future__ import annotations

# --- mount(2) flags -------------------------------------------------------------------------------
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
#: The magic number old programs put in the flags' top half (ignored, as Linux ignores it).
MS_MGC_MSK = 0xFFFF0000
MS_MGC_VAL = 0xC0ED0000
#: The flags that change a mount's propagation type; exactly one may be given.
MS_PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE
#: The per-mount flags a remount (with MS_BIND, of the mount only) sets.
MS_MOUNT_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME \
    | MS_STRICTATIME | MS_NOSYMFOLLOW

# --- umount2(2) flags -----------------------------------------------------------------------------
MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8
