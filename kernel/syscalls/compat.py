"""Calls real programs make that need little of a sandbox, answered as Linux answers them:
utime, readahead, fadvise64, sync_file_range, fchmodat2, chroot, ioprio_get/ioprio_set,
syslog, the clock setters and adjtimex, the NUMA memory policies (one node, as gVisor
answers), protection keys (as a CPU without PKU), and mseal.

Each handler checks its arguments in Linux's order; what it does not do is declared with
:func:`~kernel.syscalls.status.partial` (shown in docs/syscalls.md), and a call answered on
purpose with an errno with :func:`~kernel.syscalls.status.errno_only`.
"""

from __future__ import annotations

import struct
import time
import weakref
from typing import TYPE_CHECKING

from abi.creds import CAP_SYS_ADMIN, CAP_SYS_CHROOT, CAP_SYS_NICE, CAP_SYS_TIME, CAP_SYSLOG
from abi.errno import EBADF, EFAULT, EINVAL, ENODEV, ENOMEM, EOPNOTSUPP, EPERM, ESPIPE, ESRCH, Errno
from abi.linux import (
    ADJ_ADJTIME,
    ADJ_OFFSET_READONLY,
    ADJ_OFFSET_SINGLESHOT,
    ADJ_TICK,
    AT_EMPTY_PATH,
    AT_FDCWD,
    AT_SYMLINK_NOFOLLOW,
    CLOCK_REALTIME,
    IOPRIO_CLASS_BE,
    IOPRIO_CLASS_IDLE,
    IOPRIO_CLASS_NONE,
    IOPRIO_CLASS_RT,
    IOPRIO_CLASS_SHIFT,
    IOPRIO_WHO_PGRP,
    IOPRIO_WHO_PROCESS,
    IOPRIO_WHO_USER,
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_ADDR,
    MPOL_F_MEMS_ALLOWED,
    MPOL_F_NODE,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_MAX,
    MPOL_MF_LAZY,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_VALID,
    MPOL_MODE_FLAGS,
    MPOL_PREFERRED,
    MPOL_PREFERRED_MANY,
    MPOL_WEIGHTED_INTERLEAVE,
    O_ACCMODE,
    O_WRONLY,
    POSIX_FADV_NOREUSE,
    S_IFDIR,
    S_IFIFO,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    STA_UNSYNC,
    SYNC_FILE_RANGE_WAIT_AFTER,
    SYNC_FILE_RANGE_WAIT_BEFORE,
    SYNC_FILE_RANGE_WRITE,
    SYSLOG_ACTION_MAX,
    TIME_ERROR,
    TIMEX_SIZE,
    USER_HZ,
)
from abi.structs import TIMESPEC, TIMEVAL
from kernel.files import vfs
from kernel.syscalls.args import Addr, Fd, Int, Off, Size, UInt, ULong
from kernel.syscalls.attrs import setattr_at
from kernel.syscalls.paths import at, read_path
from kernel.syscalls.status import errno_only, partial
from kernel.syscalls.table import syscall
from services.vfs.contract import Attrs

if TYPE_CHECKING:
    from kernel.task import Task

_NS = 1_000_000_000
_PAGE = 4096

# --- files ------------------------------------------------------------------------------------


@syscall
async def utime(t: Task, filename: Addr, times: Addr) -> int:
    """utime(2): struct utimbuf {actime, modtime} in seconds, or now for NULL."""
    if times:
        actime, modtime = struct.unpack("<qq", await t.mm.copy_in(times, 16))
        attrs = Attrs(atime_ns=actime * _NS, mtime_ns=modtime * _NS)
    else:
        now = time.time_ns()
        attrs = Attrs(atime_ns=now, mtime_ns=now, times_now=True)
    return await setattr_at(t, AT_FDCWD, filename, 0, attrs)


async def _fd_mode(t: Task, fd: int) -> tuple[int, int]:
    """(file type bits, access mode) of an open fd; EBADF if it is not open."""
    handle = t.process.fds.handle(fd)
    st = await t.kernel.bus.call("vfs", "fstat", handle)
    flags = await t.kernel.bus.call("vfs", "get_flags", handle)
    return st.mode & S_IFMT, flags & O_ACCMODE


@syscall
@partial("nothing is read ahead: file data is the host's page cache or the Sentry's memory already")
async def readahead(t: Task, fd: Fd, offset: Off, count: Size) -> int:
    kind, access = await _fd_mode(t, fd)
    if access == O_WRONLY:
        raise Errno(EBADF)
    if kind != S_IFREG:
        raise Errno(EINVAL)
    return 0


@syscall
@partial("the advice is checked and accepted, and changes nothing")
async def fadvise64(t: Task, fd: Fd, offset: Off, len: Off, advice: Int) -> int:  # noqa: A002 — the man page's name
    kind, _ = await _fd_mode(t, fd)
    if kind == S_IFIFO:
        raise Errno(ESPIPE)
    if len < 0 or not 0 <= advice <= POSIX_FADV_NOREUSE:
        raise Errno(EINVAL)
    return 0


_SYNC_FILE_RANGE_FLAGS = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER


@syscall
@partial("the whole file is synced (fsync), not only the range")
async def sync_file_range(t: Task, fd: Fd, offset: Off, nbytes: Off, flags: UInt) -> int:
    handle = t.process.fds.handle(fd)
    if flags & ~_SYNC_FILE_RANGE_FLAGS or offset < 0 or nbytes < 0 or offset + nbytes >= 1 << 63:
        raise Errno(EINVAL)
    st = await t.kernel.bus.call("vfs", "fstat", handle)
    if st.mode & S_IFMT not in (S_IFREG, S_IFDIR, S_IFLNK, 0o060000):
        raise Errno(ESPIPE)
    if flags & SYNC_FILE_RANGE_WRITE:
        await t.kernel.bus.call("vfs", "fsync", handle)
    return 0


@syscall
async def fchmodat2(t: Task, dirfd: Fd, pathname: Addr, mode: UInt, flags: UInt) -> int:
    """fchmodat with flags: AT_SYMLINK_NOFOLLOW (a symlink's own mode cannot change:
    EOPNOTSUPP) and AT_EMPTY_PATH."""
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise Errno(EINVAL)
    if flags & AT_SYMLINK_NOFOLLOW:
        root, start, path = await at(t, dirfd, pathname, flags)
        st = await vfs(t, "stat", root, start, path, False)
        if st.mode & S_IFMT == S_IFLNK:
            raise Errno(EOPNOTSUPP)
    return await setattr_at(t, dirfd, pathname, flags, Attrs(mode=mode & 0o7777))


@syscall
async def chroot(t: Task, path: Addr) -> int:
    """The process's root becomes the directory ``path`` names (search permission on it, then
    CAP_SYS_CHROOT); its working directory stays where it is, as on Linux."""
    name = await read_path(t, path)
    root = await vfs(t, "chdir", t.process.root, t.process.cwd, name)
    if not t.process.creds.has_cap(CAP_SYS_CHROOT):
        await t.kernel.bus.call("vfs", "drop", (root,), t.process.fds.id)
        raise Errno(EPERM)
    old, t.process.root = t.process.root, root
    await t.kernel.bus.call("vfs", "drop", (old,), t.process.fds.id)
    return 0


# --- I/O priorities -----------------------------------------------------------------------------

#: Each thread's I/O priority once set (Linux keeps it in the task's io_context).
_ioprio: weakref.WeakKeyDictionary[Task, int] = weakref.WeakKeyDictionary()


def _check_ioprio(t: Task, ioprio: int) -> None:
    """ioprio_check_cap: the real-time class needs CAP_SYS_NICE or CAP_SYS_ADMIN."""
    klass, level = (ioprio >> IOPRIO_CLASS_SHIFT) & 7, ioprio & 7
    creds = t.process.creds
    if klass == IOPRIO_CLASS_RT and not (creds.has_cap(CAP_SYS_NICE) or creds.has_cap(CAP_SYS_ADMIN)):
        raise Errno(EPERM)
    if klass not in (IOPRIO_CLASS_NONE, IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE) \
            or klass == IOPRIO_CLASS_NONE and level:
        raise Errno(EINVAL)


def _ioprio_target(t: Task, which: int, who: int) -> Task:
    if which in (IOPRIO_WHO_PGRP, IOPRIO_WHO_USER):
        return t
    if which != IOPRIO_WHO_PROCESS:
        raise Errno(EINVAL)
    target = t if who == 0 else t.kernel.threads.get(who)
    if target is None:
        raise Errno(ESRCH)
    return target


@syscall
@partial("IOPRIO_WHO_PGRP and IOPRIO_WHO_USER act on the caller alone; priorities are kept, not applied, and "
         "not inherited across fork")
async def ioprio_set(t: Task, which: Int, who: Int, ioprio: Int) -> int:
    _check_ioprio(t, ioprio)
    target = _ioprio_target(t, which, who)
    creds, owner = t.process.creds, target.process.creds
    if target is not t and creds.euid not in (owner.uid, owner.euid) and creds.uid not in (owner.uid, owner.euid) \
            and not creds.has_cap(CAP_SYS_NICE):
        raise Errno(EPERM)
    _ioprio[target] = ioprio
    return 0


@syscall
@partial("as ioprio_set")
async def ioprio_get(t: Task, which: Int, who: Int) -> int:
    target = _ioprio_target(t, which, who)
    return _ioprio.get(target, IOPRIO_CLASS_NONE << IOPRIO_CLASS_SHIFT)


# --- the kernel log and the clocks ------------------------------------------------------------


@syscall
@errno_only("EPERM: the sandbox has no kernel log to show, and kernel.dmesg_restrict is 1 "
            "(CAP_SYSLOG or CAP_SYS_ADMIN: EINVAL for an unknown action, else an empty log)")
async def syslog(t: Task, type: Int, buf: Addr, len: Int) -> int:  # noqa: A002 — the man page's names
    creds = t.process.creds
    if not (creds.has_cap(CAP_SYSLOG) or creds.has_cap(CAP_SYS_ADMIN)):
        raise Errno(EPERM)
    if not 0 <= type <= SYSLOG_ACTION_MAX:
        raise Errno(EINVAL)
    if type in (2, 3, 4) and (not buf or len < 0):
        raise Errno(EINVAL)
    return 0


@syscall
@errno_only("EPERM: the sandbox's clock is the host's, which a guest may not set (EINVAL and "
            "EFAULT first, as Linux)")
async def settimeofday(t: Task, tv: Addr, tz: Addr) -> int:
    if tv:
        seconds, microseconds = await t.mm.read_struct(TIMEVAL, tv)
        if not 0 <= microseconds < 1_000_000 or seconds < 0:
            raise Errno(EINVAL)
    if tz:
        await t.mm.copy_in(tz, 8)
    raise Errno(EPERM)


@syscall
@errno_only("EPERM for CLOCK_REALTIME (the host's clock), EINVAL for every clock that cannot be set")
async def clock_settime(t: Task, clockid: Int, tp: Addr) -> int:
    if clockid != CLOCK_REALTIME:
        raise Errno(EINVAL)
    seconds, nanoseconds = await t.mm.read_struct(TIMESPEC, tp)
    if seconds < 0 or not 0 <= nanoseconds < _NS:
        raise Errno(EINVAL)
    raise Errno(EPERM)


#: struct __kernel_timex as adjtimex fills it: modes, offset, freq, maxerror, esterror, status,
#: constant, precision, tolerance, time (timeval), tick, then the PPS fields and tai.
_TIMEX_HEAD = struct.Struct("<I4xqqqqi4xqqqqqqqqi4xqqqqqi")


async def _adjtimex(t: Task, buf: int) -> int:
    raw = await t.mm.copy_in(buf, TIMEX_SIZE)
    (modes,) = struct.unpack_from("<I", raw)
    tick = struct.unpack_from("<q", raw, 88)[0]
    if modes & ADJ_ADJTIME:
        if not modes & ADJ_OFFSET_SINGLESHOT:
            raise Errno(EINVAL)
        if not modes & ADJ_OFFSET_READONLY and not t.process.creds.has_cap(CAP_SYS_TIME):
            raise Errno(EPERM)
    else:
        if modes and not t.process.creds.has_cap(CAP_SYS_TIME):
            raise Errno(EPERM)
        if modes & ADJ_TICK and not 900000 // USER_HZ <= tick <= 1100000 // USER_HZ:
            raise Errno(EINVAL)
    if modes and not (modes & ADJ_ADJTIME and modes & ADJ_OFFSET_READONLY):
        raise Errno(EPERM)  # even with CAP_SYS_TIME: the host's clock is not the guest's to steer
    now = time.time_ns()
    state = _TIMEX_HEAD.pack(0, 0, 0, 16_000_000, 16_000_000, STA_UNSYNC, 2, 1, 32_768_000,
                             now // _NS, (now % _NS) // 1000, 1_000_000 // USER_HZ,
                             0, 0, 0, 0, 0, 0, 0, 0, 0)
    await t.mm.copy_out(buf, state + bytes(TIMEX_SIZE - len(state)))
    return TIME_ERROR


@syscall
@partial("queries only (modes 0 or ADJ_OFFSET_SS_READ): the clock reads as unsynchronised "
         "(TIME_ERROR, STA_UNSYNC); any change is EPERM, even with CAP_SYS_TIME")
async def adjtimex(t: Task, buf: Addr) -> int:
    return await _adjtimex(t, buf)


@syscall
@partial("as adjtimex, for CLOCK_REALTIME; EOPNOTSUPP for the other clocks")
async def clock_adjtime(t: Task, clockid: Int, buf: Addr) -> int:
    from kernel.syscalls.time import clock_kind

    await t.mm.copy_in(buf, TIMEX_SIZE)
    clock_kind(clockid)
    if clockid != CLOCK_REALTIME:
        raise Errno(EOPNOTSUPP)
    return await _adjtimex(t, buf)


# --- NUMA memory policies: the sandbox has one node, node 0 ---------------------------------

#: The largest node mask Linux reads (PAGE_SIZE * BITS_PER_BYTE bits), and MAX_NUMNODES.
_MAX_NODE_BITS = _PAGE * 8
_MAX_NUMNODES = 1024

#: Each thread's policy as set_mempolicy left it: (mode with its flags, node mask).
_policies: weakref.WeakKeyDictionary[Task, tuple[int, int]] = weakref.WeakKeyDictionary()


async def _node_mask(t: Task, addr: int, maxnode: int) -> int:
    """get_nodes: the mask of ``maxnode - 1`` bits at ``addr`` (Linux drops the last bit);
    EINVAL past PAGE_SIZE*8 bits or for a node other than node 0."""
    maxnode -= 1
    if maxnode <= 0 or not addr:
        return 0
    if maxnode > _MAX_NODE_BITS:
        raise Errno(EINVAL)
    words = (maxnode + 63) // 64
    raw = await t.mm.copy_in(addr, words * 8)
    mask = int.from_bytes(raw, "little") & ((1 << maxnode) - 1)
    if mask & ~1:
        raise Errno(EINVAL)
    return mask


def _check_policy(mode: int, mask: int) -> tuple[int, int]:
    """(mode, flags) of a policy after mpol_new's checks: EINVAL for an unknown mode, both
    node flags, a mask where the mode takes none or none where it needs one."""
    flags, mode = mode & MPOL_MODE_FLAGS, mode & ~MPOL_MODE_FLAGS
    if mode >= MPOL_MAX or mode < 0 or flags & MPOL_F_STATIC_NODES and flags & MPOL_F_RELATIVE_NODES:
        raise Errno(EINVAL)
    if mode == MPOL_DEFAULT and (mask or flags):
        raise Errno(EINVAL)
    if mode == MPOL_LOCAL and (mask or flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES)):
        raise Errno(EINVAL)
    if mode in (MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED_MANY, MPOL_WEIGHTED_INTERLEAVE) and not mask:
        raise Errno(EINVAL)
    if mode == MPOL_PREFERRED and not mask:
        if flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES):
            raise Errno(EINVAL)
        mode = MPOL_LOCAL
    return mode, flags


async def _mapped(t: Task, addr: int, length: int) -> None:
    """ENOMEM (as mincore says) unless every page of the range is mapped."""
    if length:
        await t.mm.call("mincore", addr & ~(_PAGE - 1), length + (addr & (_PAGE - 1)))


@syscall
@partial("one NUMA node: every policy places memory alike; a policy set by mbind is not "
         "remembered per mapping")
async def set_mempolicy(t: Task, mode: Int, nodemask: Addr, maxnode: ULong) -> int:
    mask = await _node_mask(t, nodemask, maxnode)
    base, flags = _check_policy(mode, mask)
    _policies[t] = (base | flags, mask if base != MPOL_LOCAL else 0)
    return 0


@syscall
@partial("one NUMA node; a mapping's policy reads as MPOL_DEFAULT")
async def get_mempolicy(t: Task, mode: Addr, nodemask: Addr, maxnode: ULong, addr: ULong, flags: ULong) -> int:
    if flags & ~(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED):
        raise Errno(EINVAL)
    if flags & MPOL_F_MEMS_ALLOWED and flags & (MPOL_F_NODE | MPOL_F_ADDR):
        raise Errno(EINVAL)
    if nodemask and maxnode < 1:  # maxnode < nr_node_ids
        raise Errno(EINVAL)
    policy, mask = _policies.get(t, (MPOL_DEFAULT, 0))
    if flags & MPOL_F_MEMS_ALLOWED:
        policy, mask = 0, 1
    elif flags & MPOL_F_ADDR:
        try:
            await _mapped(t, addr, 1)
        except Errno:
            raise Errno(EFAULT) from None
        policy, mask = (0 if flags & MPOL_F_NODE else MPOL_DEFAULT), 0
    elif flags & MPOL_F_NODE:
        if policy & ~MPOL_MODE_FLAGS != MPOL_INTERLEAVE:
            raise Errno(EINVAL)
        policy = 0
    if mode:
        await t.mm.copy_out(mode, struct.pack("<i", policy))
    if nodemask:
        await _copy_nodes_out(t, nodemask, maxnode, mask)
    return 0


async def _copy_nodes_out(t: Task, addr: int, maxnode: int, mask: int) -> None:
    """copy_nodes_to_user: ``maxnode - 1`` bits, rounded up to longs, of which only the first
    long (this machine's one node) is ours; the rest, at most a page, is zeroed, past a page EINVAL."""
    size = (maxnode - 1 + 63) // 64 * 8
    if size > 8:
        if size > _PAGE:
            raise Errno(EINVAL)
        await t.mm.copy_out(addr + 8, bytes(size - 8))
        size = 8
    await t.mm.copy_out(addr, mask.to_bytes(8, "little")[:size])


@syscall
@partial("one NUMA node: the policy is checked and the range must be mapped, nothing moves")
async def mbind(t: Task, addr: ULong, len: ULong, mode: ULong, nodemask: Addr, maxnode: ULong,  # noqa: A002
                flags: UInt) -> int:
    if flags & ~(MPOL_MF_VALID | MPOL_MF_LAZY) or addr & (_PAGE - 1):
        raise Errno(EINVAL)
    mode &= 0xFFFF_FFFF
    if mode & ~MPOL_MODE_FLAGS >= MPOL_MAX:
        raise Errno(EINVAL)
    mask = await _node_mask(t, nodemask, maxnode)
    _check_policy(mode, mask)
    length = (len + _PAGE - 1) & ~(_PAGE - 1)
    if addr + length < addr:
        raise Errno(EINVAL)
    try:
        await _mapped(t, addr, length)
    except Errno:
        raise Errno(EFAULT) from None
    return 0


@syscall
@partial("one NUMA node: no page ever moves")
async def migrate_pages(t: Task, pid: Int, maxnode: ULong, old_nodes: Addr, new_nodes: Addr) -> int:
    await _node_mask(t, old_nodes, maxnode)
    await _node_mask(t, new_nodes, maxnode)
    if pid and t.kernel.processes.get(pid) is None:
        raise Errno(ESRCH)
    return 0


@syscall
@partial("one NUMA node: pages report node 0 (or -EFAULT unmapped) and never move")
async def move_pages(t: Task, pid: Int, count: ULong, pages: Addr, nodes: Addr, status: Addr, flags: Int) -> int:
    if flags & ~(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        raise Errno(EINVAL)
    if flags & MPOL_MF_MOVE_ALL and not t.process.creds.has_cap(CAP_SYS_NICE):
        raise Errno(EPERM)
    if pid and t.kernel.processes.get(pid) is None:
        raise Errno(ESRCH)
    if count == 0:
        return 0
    addresses = struct.unpack(f"<{count}Q", await t.mm.copy_in(pages, 8 * count))
    if nodes:
        targets = struct.unpack(f"<{count}i", await t.mm.copy_in(nodes, 4 * count))
        for node in targets:
            if not 0 <= node < _MAX_NUMNODES:
                raise Errno(EINVAL)
            if node != 0:
                raise Errno(ENODEV)
    answers = []
    for address in addresses:
        try:
            await _mapped(t, address, 1)
            answers.append(0)
        except Errno:
            answers.append(-EFAULT)
    await t.mm.copy_out(status, struct.pack(f"<{count}i", *answers))
    return 0


@syscall
@partial("one NUMA node: the home node must be node 0; the range must be mapped")
async def set_mempolicy_home_node(t: Task, start: ULong, len: ULong, home_node: ULong, flags: ULong) -> int:  # noqa: A002
    if start & (_PAGE - 1) or flags or home_node >= 1:
        raise Errno(EINVAL)
    length = (len + _PAGE - 1) & ~(_PAGE - 1)
    if start + length < start:
        raise Errno(EINVAL)
    return 0


# --- protection keys: as a CPU without PKU --------------------------------------------------


@syscall
@errno_only("EINVAL: no protection keys, as Linux 6.18 answers on a CPU without PKU (this "
            "machine's; the man page says ENOSPC, which older kernels gave)")
async def pkey_alloc(t: Task, flags: UInt, access_rights: UInt) -> int:
    raise Errno(EINVAL)


@syscall
async def pkey_free(t: Task, pkey: Int) -> int:
    """No key was ever allocated: EINVAL."""
    raise Errno(EINVAL)


@syscall
async def pkey_mprotect(t: Task, addr: ULong, len: Size, prot: ULong, pkey: Int) -> int:  # noqa: A002
    """mprotect with a key: only -1 (no key) is valid, since none can be allocated."""
    if pkey != -1:
        if addr & (_PAGE - 1):
            raise Errno(EINVAL)
        if len == 0:
            return 0
        raise Errno(EINVAL)
    await t.mm.call("mprotect", addr, len, prot)
    return 0


# --- mseal ----------------------------------------------------------------------------------


@syscall
@partial("the range is checked (EINVAL, ENOMEM for a hole) but not sealed: a later munmap, "
         "mprotect or mremap of it still succeeds")
async def mseal(t: Task, addr: ULong, len: Size, flags: ULong) -> int:  # noqa: A002
    if flags or addr & (_PAGE - 1):
        raise Errno(EINVAL)
    length = (len + _PAGE - 1) & ~(_PAGE - 1)
    if length < len or addr + length < addr:
        raise Errno(EINVAL)
    if length:
        try:
            await _mapped(t, addr, length)
        except Errno:
            raise Errno(ENOMEM) from None
    return 0

