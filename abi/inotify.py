"""inotify(7): the flags, event bits, limits and record layout of include/uapi/linux/inotify.h."""

from __future__ import annotations

import struct

# --- inotify_init1 flags (O_CLOEXEC and O_NONBLOCK, as Linux defines them) ---------------------
IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000

# --- events a watch may ask for ---------------------------------------------------------------
IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_CLOSE_NOWRITE = 0x00000010
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_ALL_EVENTS = 0x00000FFF
IN_CLOSE = IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
IN_MOVE = IN_MOVED_FROM | IN_MOVED_TO

# --- bits only the kernel sets in an event ------------------------------------------------------
IN_UNMOUNT = 0x00002000
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ISDIR = 0x40000000

# --- flags of inotify_add_watch -----------------------------------------------------------------
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_MASK_CREATE = 0x10000000
IN_MASK_ADD = 0x20000000
IN_ONESHOT = 0x80000000
#: Every bit inotify_add_watch accepts (INOTIFY_USER_MASK); any other is EINVAL.
IN_USER_MASK = (IN_ALL_EVENTS | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK | IN_MASK_CREATE
                | IN_MASK_ADD | IN_ONESHOT)
#: Every bit Linux knows in a mask (ALL_INOTIFY_BITS): a mask with none of them is EINVAL.
IN_ALL_BITS = IN_USER_MASK | IN_UNMOUNT | IN_Q_OVERFLOW | IN_IGNORED | IN_ISDIR
#: Events that a watched directory is told of when they happen to one of its entries, with
#: the entry's name (FS_EVENTS_POSS_ON_CHILD).
IN_EVENTS_ON_CHILD = (IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_OPEN
                      | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE)

# --- limits (/proc/sys/fs/inotify), Linux's defaults ---------------------------------------------
INOTIFY_MAX_USER_INSTANCES = 128
INOTIFY_MAX_QUEUED_EVENTS = 16384
#: max_user_watches: Linux allows the watches 1% of memory holds, at a cost of about this many
#: bytes each (a mark and the inode it pins), between these bounds.
INOTIFY_WATCH_COST = 1312
INOTIFY_MIN_USER_WATCHES = 8192
INOTIFY_MAX_USER_WATCHES = 1048576


def inotify_max_user_watches(memory: int) -> int:
    """Linux's default max_user_watches for ``memory`` bytes of RAM."""
    return max(INOTIFY_MIN_USER_WATCHES, min(INOTIFY_MAX_USER_WATCHES, memory // 100 // INOTIFY_WATCH_COST))

#: struct inotify_event's head: wd, mask, cookie, len; the name follows, NUL-padded to a
#: multiple of the head's size.
INOTIFY_EVENT = struct.Struct("<iIII")
