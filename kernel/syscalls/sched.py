"""Scheduling and process attributes: sched_* policies and priorities, getcpu, membarrier,
mlock*, personality, sethostname/setdomainname, unshare and setns.

The Sentry does not schedule guest threads by these policies (the host does, and a guest may
not raise its host priority): it keeps each thread's policy and priority as Linux would, with
Linux's permission rules, so that programs that set and read them see what they see on Linux.
Memory locks are bookkeeping for the same reason: guest memory lives in one memory file the MM
owns, and RLIMIT_MEMLOCK is enforced on what the guest asked to lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from abi import structs
from abi.creds import CAP_IPC_LOCK, CAP_SYS_ADMIN, CAP_SYS_NICE
from abi.errno import E2BIG, EBADF, EFAULT, EINVAL, ENOMEM, EPERM, ESRCH, Errno
from abi.linux import (
    CLONE_FILES,
    CLONE_FS,
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWTIME,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    CLONE_SIGHAND,
    CLONE_SYSVSEM,
    CLONE_THREAD,
    CLONE_VM,
    MAX_RT_PRIO,
    MCL_CURRENT,
    MCL_FUTURE,
    MCL_ONFAULT,
    MEMBARRIER_CMD_FLAG_CPU,
    MEMBARRIER_CMD_GET_REGISTRATIONS,
    MEMBARRIER_CMD_GLOBAL,
    MEMBARRIER_CMD_GLOBAL_EXPEDITED,
    MEMBARRIER_CMD_PRIVATE_EXPEDITED,
    MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ,
    MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE,
    MEMBARRIER_CMD_QUERY,
    MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
    MLOCK_ONFAULT,
    NEW_UTS_LEN,
    PAGE_SIZE,
    PERSONALITY_QUERY,
    RLIMIT_MEMLOCK,
    RLIMIT_NICE,
    RLIMIT_RTPRIO,
    RR_TIMESLICE_NS,
    SCHED_ATTR,
    SCHED_ATTR_SIZE_VER0,
    SCHED_BATCH,
    SCHED_DEADLINE,
    SCHED_EXT,
    SCHED_FIFO,
    SCHED_FLAG_ALL,
    SCHED_FLAG_KEEP_PARAMS,
    SCHED_FLAG_KEEP_POLICY,
    SCHED_FLAG_RESET_ON_FORK,
    SCHED_IDLE,
    SCHED_OTHER,
    SCHED_RESET_ON_FORK,
    SCHED_RR,
    NSEC_PER_SEC,
)
from kernel.syscalls.args import Addr, Fd, Int, Size, UInt, ULong
from kernel.syscalls.table import syscall

if TYPE_CHECKING:
    from kernel.process import ThreadGroup
    from kernel.task import Task

_POLICIES = frozenset({SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE, SCHED_EXT})
_REAL_TIME = frozenset({SCHED_FIFO, SCHED_RR})
#: Linux's fair_policy: the policies whose nice value sched_setattr sets (not SCHED_IDLE).
_FAIR = frozenset({SCHED_OTHER, SCHED_BATCH, SCHED_EXT})
#: sched_setparam's "keep the policy" (SETPARAM_POLICY).
_KEEP = -1
#: CFS's time slice as sched_rr_get_interval reports it for a fair thread (sysctl_sched_base_slice).
_FAIR_SLICE_NS = 3_000_000
_DL_SCALE = 10
_DL_PERIOD_MIN_NS = 100_000
_DL_PERIOD_MAX_NS = (1 << 22) * 1000
_U64 = (1 << 64) - 1


def forked_sched(parent: tuple[int, int]) -> tuple[int, int]:
    """A child's policy: its parent's; under SCHED_RESET_ON_FORK (which the child does not keep)
    a real-time or deadline parent's child starts as SCHED_OTHER."""
    policy, priority = parent
    if not policy & SCHED_RESET_ON_FORK:
        return parent
    policy &= ~SCHED_RESET_ON_FORK
    return (SCHED_OTHER, 0) if policy in _REAL_TIME or policy == SCHED_DEADLINE else (policy, priority)


def _thread(t: Task, pid: int) -> Task:
    """The thread ``pid`` names (0: the caller); EINVAL for a negative pid, ESRCH for none."""
    if pid < 0:
        raise Errno(EINVAL)
    if pid == 0:
        return t
    task = t.kernel.threads.get(pid)
    if task is None or task.exited:
        raise Errno(ESRCH)
    return task


def _can_nice(process: ThreadGroup, nice: int, privileged: bool) -> bool:
    """Linux's can_nice: RLIMIT_NICE allows 20 - nice, or CAP_SYS_NICE."""
    return privileged or 20 - nice <= process.rlimits[RLIMIT_NICE][0]


def _dl_params_valid(runtime: int, deadline: int, period: int) -> bool:
    """__checkparam_dl: runtime <= deadline <= period, each within the kernel's bounds."""
    if deadline == 0 or runtime < 1 << _DL_SCALE or (deadline | period) >> 63:
        return False
    period = period or deadline
    return runtime <= deadline <= period and _DL_PERIOD_MIN_NS <= period <= _DL_PERIOD_MAX_NS


def _set_scheduler(t: Task, target: Task, policy: int, priority: int, reset: bool, nice: int | None,
                   dl: tuple[int, int, int] = (0, 0, 0)) -> int:
    """__sched_setscheduler with a user caller: validity (EINVAL), then permission (EPERM)."""
    current, current_priority = target.sched
    current_reset = bool(current & SCHED_RESET_ON_FORK)
    current &= ~SCHED_RESET_ON_FORK
    if policy == _KEEP:
        policy, reset = current, current_reset
    elif policy not in _POLICIES:
        raise Errno(EINVAL)
    if not 0 <= priority <= MAX_RT_PRIO - 1:
        raise Errno(EINVAL)
    if (policy == SCHED_DEADLINE and not _dl_params_valid(*dl)) or (policy in _REAL_TIME) != (priority != 0):
        raise Errno(EINVAL)
    creds, process = t.process.creds, target.process
    privileged = creds.has_cap(CAP_SYS_NICE)
    if not privileged:
        if policy in _FAIR and nice is not None and nice < process.nice and not _can_nice(process, nice, False):
            raise Errno(EPERM)
        if policy in _REAL_TIME:
            limit = process.rlimits[RLIMIT_RTPRIO][0]
            if policy != current and not limit:
                raise Errno(EPERM)
            if priority > current_priority and priority > limit:
                raise Errno(EPERM)
        if policy == SCHED_DEADLINE:
            raise Errno(EPERM)
        if current == SCHED_IDLE and policy != SCHED_IDLE and not _can_nice(process, process.nice, False):
            raise Errno(EPERM)
        if creds.euid not in (process.creds.euid, process.creds.uid):
            raise Errno(EPERM)
        if current_reset and not reset:
            raise Errno(EPERM)
    target.sched = (policy | (SCHED_RESET_ON_FORK if reset else 0), priority)
    if nice is not None and policy in _FAIR:
        process.nice = nice
    return 0


async def _read_param(t: Task, param: int) -> int:
    if not param:
        raise Errno(EINVAL)
    try:
        return (await t.mm.read_struct(structs.I32, param))[0]
    except Errno:
        raise Errno(EFAULT) from None


@syscall
async def sched_setscheduler(t: Task, pid: Int, policy: Int, param: Addr) -> int:
    """Set a thread's policy and real-time priority (SCHED_RESET_ON_FORK may be or'ed in)."""
    if policy < 0:
        raise Errno(EINVAL)
    if not param or pid < 0:
        raise Errno(EINVAL)
    priority = await _read_param(t, param)
    target = _thread(t, pid)
    reset = bool(policy & SCHED_RESET_ON_FORK)
    return _set_scheduler(t, target, policy & ~SCHED_RESET_ON_FORK, priority, reset, None)


@syscall
async def sched_setparam(t: Task, pid: Int, param: Addr) -> int:
    """Set a thread's real-time priority, keeping its policy."""
    if not param or pid < 0:
        raise Errno(EINVAL)
    priority = await _read_param(t, param)
    return _set_scheduler(t, _thread(t, pid), _KEEP, priority, False, None)


@syscall
async def sched_getscheduler(t: Task, pid: Int) -> int:
    return _thread(t, pid).sched[0]


@syscall
async def sched_getparam(t: Task, pid: Int, param: Addr) -> int:
    if not param or pid < 0:
        raise Errno(EINVAL)
    priority = _thread(t, pid).sched[1]
    await t.mm.write_struct(structs.I32, param, priority)
    return 0


@syscall
async def sched_get_priority_max(t: Task, policy: Int) -> int:
    if policy in _REAL_TIME:
        return MAX_RT_PRIO - 1
    if policy in _POLICIES:
        return 0
    raise Errno(EINVAL)


@syscall
async def sched_get_priority_min(t: Task, policy: Int) -> int:
    if policy in _REAL_TIME:
        return 1
    if policy in _POLICIES:
        return 0
    raise Errno(EINVAL)


@syscall
async def sched_rr_get_interval(t: Task, pid: Int, interval: Addr) -> int:
    """The thread's time slice: 100 ms under SCHED_RR, none under SCHED_FIFO, CFS's base slice."""
    policy = _thread(t, pid).sched[0] & ~SCHED_RESET_ON_FORK
    ns = {SCHED_RR: RR_TIMESLICE_NS, SCHED_FIFO: 0, SCHED_DEADLINE: 0}.get(policy, _FAIR_SLICE_NS)
    await t.mm.write_struct(structs.TIMESPEC, interval, *divmod(ns, NSEC_PER_SEC))
    return 0


@syscall
async def sched_getattr(t: Task, pid: Int, attr: Addr, size: UInt, flags: UInt) -> int:
    """A thread's policy, flags, nice value and priority as a struct sched_attr of ``size`` bytes."""
    if not attr or pid < 0 or size > PAGE_SIZE or size < SCHED_ATTR_SIZE_VER0 or flags:
        raise Errno(EINVAL)
    target = _thread(t, pid)
    policy, priority = target.sched
    sched_flags = SCHED_FLAG_RESET_ON_FORK if policy & SCHED_RESET_ON_FORK else 0
    policy &= ~SCHED_RESET_ON_FORK
    nice = 0 if policy in _REAL_TIME or policy == SCHED_DEADLINE else target.process.nice
    written = min(size, SCHED_ATTR.size)
    raw = SCHED_ATTR.pack(written, policy, sched_flags, nice, priority, 0, 0, 0, 0, 1024)
    await t.mm.copy_out(attr, raw[:written])
    return 0


@syscall
async def sched_setattr(t: Task, pid: Int, attr: Addr, flags: UInt) -> int:
    """Set a thread's policy, priority and nice value from a struct sched_attr."""
    if not attr or pid < 0 or flags:
        raise Errno(EINVAL)
    size = (await t.mm.read_struct(structs.U32, attr))[0]
    size = size or SCHED_ATTR_SIZE_VER0
    if size < SCHED_ATTR_SIZE_VER0 or size > PAGE_SIZE:
        await t.mm.write_struct(structs.U32, attr, SCHED_ATTR.size)
        raise Errno(E2BIG)
    raw = await t.mm.copy_in(attr, size)
    if any(raw[SCHED_ATTR.size:]):
        await t.mm.write_struct(structs.U32, attr, SCHED_ATTR.size)
        raise Errno(E2BIG)
    (_size, policy, sched_flags, nice, priority, runtime, deadline, period, _umin, _umax) = SCHED_ATTR.unpack(
        raw[:SCHED_ATTR.size].ljust(SCHED_ATTR.size, b"\0"))
    nice = max(-20, min(19, nice))
    if sched_flags & SCHED_FLAG_KEEP_POLICY:
        policy = _KEEP
    target = _thread(t, pid)
    if sched_flags & SCHED_FLAG_KEEP_PARAMS:
        priority = target.sched[1]
    if sched_flags & ~SCHED_FLAG_ALL:
        raise Errno(EINVAL)
    return _set_scheduler(t, target, policy, priority, bool(sched_flags & SCHED_FLAG_RESET_ON_FORK), nice,
                          (runtime, deadline, period))


@syscall
async def getcpu(t: Task, cpu: Addr, node: Addr, tcache: Addr) -> int:
    """The CPU and NUMA node the thread runs on: the Sentry does not know the host's CPU at the
    moment of the call, so CPU 0 (one the thread may run on), node 0."""
    if cpu:
        await t.mm.write_struct(structs.U32, cpu, 0)
    if node:
        await t.mm.write_struct(structs.U32, node, 0)
    return 0


# --- membarrier ------------------------------------------------------------------------------

_REGISTRATION = {
    MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ: MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ,
}
#: A private expedited barrier needs its registration first (EPERM).
_NEEDS = {
    MEMBARRIER_CMD_PRIVATE_EXPEDITED: MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED,
    MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE,
    MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ,
}
_SUPPORTED = (MEMBARRIER_CMD_GLOBAL | MEMBARRIER_CMD_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED
              | MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
              | MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
              | MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ
              | MEMBARRIER_CMD_GET_REGISTRATIONS)


@syscall
async def membarrier(t: Task, cmd: Int, flags: UInt, cpu_id: Int) -> int:
    """Memory barriers across threads: the queries, registrations and their errors as Linux.

    The barrier itself is implied for every guest thread stopped in the Sentry; a thread
    running guest code at that moment is not interrupted (x86's ordering makes that matter only
    to code that relies on the barrier's interrupt, e.g. asymmetric fences).
    """
    if cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ:
        if flags & ~MEMBARRIER_CMD_FLAG_CPU:
            raise Errno(EINVAL)
    elif flags:
        raise Errno(EINVAL)
    process = t.process
    if cmd == MEMBARRIER_CMD_QUERY:
        return _SUPPORTED
    if cmd in (MEMBARRIER_CMD_GLOBAL, MEMBARRIER_CMD_GLOBAL_EXPEDITED):
        return 0
    if cmd in _REGISTRATION:
        process.membarrier |= _REGISTRATION[cmd]
        return 0
    if cmd in _NEEDS:
        if not process.membarrier & _NEEDS[cmd]:
            raise Errno(EPERM)
        return 0
    if cmd == MEMBARRIER_CMD_GET_REGISTRATIONS:
        return process.membarrier
    raise Errno(EINVAL)


# --- memory locks ----------------------------------------------------------------------------


async def _mappings(t: Task) -> list[tuple[int, int]]:
    rows = await t.kernel.bus.call("mm", "maps", t.mm.asid)
    return [(row[0], row[1]) for row in rows]


def _covered(mappings: list[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end) is mapped without a hole."""
    at = start
    for low, high in mappings:
        if high <= at:
            continue
        if low > at:
            return False
        at = high
        if at >= end:
            return True
    return at >= end


def _overlap(ranges: list[tuple[int, int]], start: int, end: int) -> int:
    return sum(max(0, min(end, high) - max(start, low)) for low, high in ranges)


def _fresh_locks(process: ThreadGroup) -> None:
    """Forget the locks of an address space the process no longer has (execve made a new one)."""
    if process.mlock_asid != process.mm.asid:
        process.mlocked, process.mlock_future, process.mlock_asid = [], 0, process.mm.asid


def _locked_bytes(process: ThreadGroup, mappings: list[tuple[int, int]]) -> int:
    """What is locked and still mapped (an munmap unlocks what it unmaps)."""
    return sum(_overlap(mappings, low, high) for low, high in process.mlocked)


def _add(ranges: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted([*ranges, (start, end)]):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


def _remove(ranges: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    kept = []
    for low, high in ranges:
        if low < start:
            kept.append((low, min(high, start)))
        if high > end:
            kept.append((max(low, end), high))
    return kept


def _page_range(t: Task, start: int, length: int) -> tuple[int, int]:
    """[start, end) in whole pages, computed in 64 bits as Linux does (a length that wraps is
    an empty range); an end past 2**64 is a range that wraps, EINVAL once it is applied."""
    _fresh_locks(t.process)
    offset = start % PAGE_SIZE
    length = ((length + offset + PAGE_SIZE - 1) & _U64) & ~(PAGE_SIZE - 1)
    start -= offset
    return start, start + length


def _may_lock(t: Task) -> tuple[int, bool]:
    """(RLIMIT_MEMLOCK, whether CAP_IPC_LOCK lifts it); EPERM if the process may lock nothing."""
    limit = t.process.rlimits[RLIMIT_MEMLOCK][0]
    privileged = t.process.creds.has_cap(CAP_IPC_LOCK)
    if limit == 0 and not privileged:
        raise Errno(EPERM)
    return limit, privileged


async def _lock_range(t: Task, start: int, length: int) -> int:
    limit, privileged = _may_lock(t)
    start, end = _page_range(t, start, length)
    mappings = await _mappings(t)
    process = t.process
    locked = _locked_bytes(process, mappings) + (end - start)
    if locked > limit and not privileged:
        locked -= _overlap(process.mlocked, start, end)
        if locked > limit:
            raise Errno(ENOMEM)
    if end > _U64:
        raise Errno(EINVAL)
    if end > start:
        if not _covered(mappings, start, end):
            raise Errno(ENOMEM)
        process.mlocked = _add(process.mlocked, start, end)
    return 0


@syscall
async def mlock(t: Task, addr: Addr, length: Size) -> int:
    """Lock pages in memory, within RLIMIT_MEMLOCK unless CAP_IPC_LOCK; ENOMEM for a hole."""
    return await _lock_range(t, addr, length)


@syscall
async def mlock2(t: Task, addr: Addr, length: Size, flags: Int) -> int:
    if flags & ~MLOCK_ONFAULT:
        raise Errno(EINVAL)
    return await _lock_range(t, addr, length)


@syscall
async def munlock(t: Task, addr: Addr, length: Size) -> int:
    start, end = _page_range(t, addr, length)
    if end > _U64:
        raise Errno(EINVAL)
    if end > start:
        if not _covered(await _mappings(t), start, end):
            raise Errno(ENOMEM)
        t.process.mlocked = _remove(t.process.mlocked, start, end)
    return 0


@syscall
async def mlockall(t: Task, flags: Int) -> int:
    """Lock every mapping (MCL_CURRENT) and those to come (MCL_FUTURE)."""
    if not flags or flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) or flags == MCL_ONFAULT:
        raise Errno(EINVAL)
    limit, privileged = _may_lock(t)
    process = t.process
    _fresh_locks(process)
    if flags & MCL_CURRENT:
        mappings = await _mappings(t)
        if sum(high - low for low, high in mappings) > limit and not privileged:
            raise Errno(ENOMEM)
        process.mlocked = [(low, high) for low, high in mappings]
    process.mlock_future = flags & (MCL_FUTURE | MCL_ONFAULT)
    return 0


@syscall
async def munlockall(t: Task) -> int:
    t.process.mlocked = []
    t.process.mlock_future = 0
    return 0


# --- personality, UTS names, namespaces ---------------------------------------------------------


@syscall
async def personality(t: Task, persona: UInt) -> int:
    """Set the execution domain (0xffffffff only asks); returns the previous one."""
    old = t.process.personality
    if persona != PERSONALITY_QUERY:
        t.process.personality = persona
    return old


async def _uts_name(t: Task, name: int, length: int) -> bytes:
    if not t.process.creds.has_cap(CAP_SYS_ADMIN):
        raise Errno(EPERM)
    if not 0 <= length <= NEW_UTS_LEN:
        raise Errno(EINVAL)
    return await t.mm.copy_in(name, length)


@syscall
async def sethostname(t: Task, name: Addr, length: Int) -> int:
    """Name the host of the caller's UTS namespace (CAP_SYS_ADMIN; at most 64 bytes)."""
    t.process.uts.hostname = await _uts_name(t, name, length)
    return 0


@syscall
async def setdomainname(t: Task, name: Addr, length: Int) -> int:
    t.process.uts.domainname = await _uts_name(t, name, length)
    return 0


_UNSHARE_FLAGS = (CLONE_THREAD | CLONE_FS | CLONE_NEWNS | CLONE_SIGHAND | CLONE_VM | CLONE_FILES | CLONE_SYSVSEM
                  | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWCGROUP
                  | CLONE_NEWTIME)
#: Namespaces the sandbox has one of: unsharing them is refused as a container refuses it.
_UNSUPPORTED_NAMESPACES = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWCGROUP | CLONE_NEWTIME


@syscall
async def unshare(t: Task, flags: ULong) -> int:
    """Stop sharing what a clone shared: the fd table (CLONE_FILES), the UTS names (CLONE_NEWUTS,
    with CAP_SYS_ADMIN). CLONE_THREAD, CLONE_VM and CLONE_SIGHAND are accepted only when there
    is nothing to unshare (a single thread), as Linux does; other namespaces are EPERM."""
    if flags & CLONE_NEWUSER:
        flags |= CLONE_THREAD | CLONE_FS
    if flags & CLONE_VM:
        flags |= CLONE_SIGHAND
    if flags & CLONE_SIGHAND:
        flags |= CLONE_THREAD
    if flags & CLONE_NEWNS:
        flags |= CLONE_FS
    if flags & ~_UNSHARE_FLAGS:
        raise Errno(EINVAL)
    process = t.process
    if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM) and len(process.live_tasks) > 1:
        raise Errno(EINVAL)
    if flags & CLONE_VM and any(p.mm.asid == process.mm.asid for p in t.kernel.processes.values()
                                if p is not process and not p.zombie):
        raise Errno(EINVAL)  # a vfork child still shares its parent's memory
    if flags & CLONE_NEWUSER:
        raise Errno(EPERM)  # as Linux answers a chrooted caller
    if flags & (CLONE_NEWUTS | _UNSUPPORTED_NAMESPACES) and not process.creds.has_cap(CAP_SYS_ADMIN):
        raise Errno(EPERM)
    if flags & _UNSUPPORTED_NAMESPACES:
        raise Errno(EPERM)
    if flags & CLONE_FILES and process.shares_fds():
        process.fds = process.fds.fork()
        await t.kernel.bus.call("vfs", "hold", process.fds.handles())
    if flags & CLONE_NEWUTS:
        from kernel.process import Uts

        process.uts = Uts(process.uts.hostname, process.uts.domainname)
    return 0


@syscall
async def setns(t: Task, fd: Fd, nstype: Int) -> int:
    """Join a namespace by fd: the sandbox hands out no namespace fds, so any open fd is not one
    (EINVAL) and any other is EBADF."""
    if fd not in t.process.fds:
        raise Errno(EBADF)
    raise Errno(EINVAL)


