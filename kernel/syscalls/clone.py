"""New threads and processes: clone, clone3, fork, vfork.

A thread (CLONE_THREAD) is a new stub thread in the caller's address space; a process is a
new address space the MM forks from the caller's (private memory copy-on-write, shared
memory shared), or — with CLONE_VM and no CLONE_THREAD, as vfork and posix_spawn do — the same one.
The child starts with the caller's registers (rax = 0), on ``stack`` if given. With CLONE_PIDFD
the caller also gets a close-on-exec pidfd of the child (of the new thread with CLONE_THREAD, as
PIDFD_THREAD), its number stored where clone's ``parent_tid`` or clone3's ``pidfd`` points.
"""

from __future__ import annotations

import trio

from abi import structs
from abi.creds import CAP_SYS_ADMIN, CAP_SYS_RESOURCE
from abi.errno import EAGAIN, EINVAL, EPERM
from abi.events import PIDFD_THREAD
from abi.linux import (
    CLONE_ARGS_SIZE_VER0,
    CLONE_CHILD_CLEARTID,
    CLONE_CHILD_SETTID,
    CLONE_CLEAR_SIGHAND,
    CLONE_DETACHED,
    CLONE_FILES,
    CLONE_FS,
    CLONE_INTO_CGROUP,
    CLONE_IO,
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    CLONE_PARENT,
    CLONE_PARENT_SETTID,
    CLONE_PIDFD,
    CLONE_PTRACE,
    CLONE_SETTLS,
    CLONE_SIGHAND,
    CLONE_SYSVSEM,
    CLONE_THREAD,
    CLONE_UNTRACED,
    CLONE_VFORK,
    CLONE_VM,
    CSIGNAL,
    PAGE_SIZE,
    RLIM_INFINITY,
    RLIMIT_NPROC,
    Signal,
)
from abi.errno import Errno
from kernel.files import install, vfs
from kernel.process import ThreadGroup
from kernel.syscalls.args import Addr, Size, ULong
from kernel.syscalls.sched import forked_sched
from kernel.syscalls.table import syscall
from kernel.task import Task
from services.vfs.contract import Opened

_NAMESPACES = (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
               | CLONE_NEWCGROUP)
#: Flags with no effect here: the sandbox has one of each of these, or tracing is ours.
_ACCEPTED = (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_VFORK | CLONE_PARENT | CLONE_THREAD
             | CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_DETACHED
             | CLONE_UNTRACED | CLONE_CHILD_SETTID | CLONE_IO | CLONE_PTRACE | CLONE_CLEAR_SIGHAND | CSIGNAL)


async def do_clone(t: Task, flags: int, stack: int, parent_tid: int, child_tid: int, tls: int,
                   exit_signal: int, pidfd: int = 0) -> int:
    """The common work of clone, clone3, fork and vfork; returns the child's tid in the caller.
    ``pidfd`` is where CLONE_PIDFD stores the child's pidfd."""
    if flags & CLONE_PIDFD and flags & CLONE_PARENT_SETTID and pidfd == parent_tid:
        raise Errno(EINVAL)  # one int cannot hold both (always so for clone(2))
    if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
        raise Errno(EINVAL)
    if flags & CLONE_SIGHAND and not flags & CLONE_VM:
        raise Errno(EINVAL)
    if flags & CLONE_CLEAR_SIGHAND and flags & CLONE_SIGHAND:
        raise Errno(EINVAL)
    if flags & _NAMESPACES:
        raise Errno(EPERM)  # the sandbox is one set of namespaces
    if flags & CLONE_PIDFD and flags & CLONE_DETACHED:
        raise Errno(EINVAL)  # kept free by Linux for a future meaning with CLONE_PIDFD
    if flags & CLONE_INTO_CGROUP or flags & ~(_ACCEPTED | CLONE_PIDFD):
        raise Errno(EINVAL)
    if not 0 <= exit_signal <= 64:
        raise Errno(EINVAL)
    if flags & CLONE_PIDFD:
        await _probe_int(t, pidfd)  # Linux's put_user fails the clone before any child exists
    kernel = t.kernel
    _check_nproc(t)
    tid = kernel.allocate_pid(t.process.creds.uid)  # counts against the limits from here on
    try:
        return await _clone(t, tid, flags, stack, parent_tid, child_tid, tls, exit_signal, pidfd)
    finally:
        kernel.release_pid(tid)  # a failed clone gives its pid back


async def _clone(t: Task, tid: int, flags: int, stack: int, parent_tid: int, child_tid: int, tls: int,
                 exit_signal: int, pidfd: int) -> int:
    kernel = t.kernel
    parent = t.process
    if flags & CLONE_THREAD:
        process = parent
        context = await t.mm.call("new_thread")
    else:
        if flags & CLONE_VM:
            asid = t.mm.asid
        else:
            asid = await t.mm.call("fork")
            await kernel.bus.call("ipc", "address_space_forked", t.mm.asid, asid)  # SysV shm attachments
        kernel.use_mm(asid)
        real_parent = parent.parent if flags & CLONE_PARENT and parent.parent else parent
        process = ThreadGroup(kernel, tid, real_parent, asid)
        process.exit_signal = exit_signal
        process.comm = parent.comm
        await process.inherit_files(parent, share=bool(flags & CLONE_FILES))
        try:
            context = await process.mm.call("new_thread")
        except BaseException:
            await kernel.release_mm(asid)
            raise
        kernel.processes[tid] = process
        real_parent.children.append(process)
    bus = kernel.bus
    if process is not parent:
        await bus.call("signals", "new_process", tid, parent.pid)
    await bus.call("signals", "new_thread", tid, process.pid, t.tid,
                   not flags & CLONE_VM or bool(flags & CLONE_VFORK))
    child = Task(kernel, process, tid, context)
    kernel.release_pid(tid)  # the thread counts as itself now
    child.copy_registers_from(t)
    child.seccomp = t.seccomp  # filters are inherited (and shared: a state never changes)
    child.sched = forked_sched(t.sched)
    child.affinity = t.affinity
    if stack:
        child.regs.rsp = stack
    if flags & CLONE_SETTLS:
        child.regs.fs_base = tls
    if flags & CLONE_PIDFD:
        await _write_tid(t, pidfd, await _open_pidfd(t, tid, child.done if flags & CLONE_THREAD else process.exited,
                                                     PIDFD_THREAD if flags & CLONE_THREAD else 0))
    if flags & CLONE_PARENT_SETTID:
        await _write_tid(t, parent_tid, tid)
    if flags & CLONE_CHILD_SETTID:
        await _write_tid(child, child_tid, tid)
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = child_tid
    kernel.start_task(child)
    if flags & CLONE_VFORK and process is not parent:
        await process.vfork_done.wait()
    return tid


async def _open_pidfd(t: Task, tid: int, ended: trio.Event, flags: int) -> int:
    """CLONE_PIDFD: a close-on-exec pidfd in the caller's table naming the new child, as
    pidfd_open(tid) gives (for a new thread, pidfd_open(tid, PIDFD_THREAD))."""
    handle = await vfs(t, "pidfd_open", tid, ended, flags)
    return await install(t, Opened(handle), True)


async def _probe_int(t: Task, addr: int) -> None:
    """EFAULT unless the caller may store an int at ``addr`` (its value is written back)."""
    raw = await t.mm.copy_in(addr, structs.I32.size)
    await t.mm.write_struct(structs.I32, addr, *structs.I32.unpack(raw))


def _check_nproc(t: Task) -> None:
    """RLIMIT_NPROC: a real user other than root may own at most that many threads (those
    being created included), unless the caller holds CAP_SYS_RESOURCE or CAP_SYS_ADMIN."""
    creds = t.process.creds
    limit = t.process.rlimits[RLIMIT_NPROC][0]
    if creds.uid == 0 or limit == RLIM_INFINITY or creds.has_cap(CAP_SYS_RESOURCE) or creds.has_cap(CAP_SYS_ADMIN):
        return
    owned = sum(1 for task in t.kernel.threads.values() if task.process.creds.uid == creds.uid)
    if owned + t.kernel.reserved_pids_of(creds.uid) >= limit:
        raise Errno(EAGAIN)


async def _write_tid(t: Task, addr: int, tid: int) -> None:
    """Store a tid for CLONE_*_SETTID; a bad address is ignored, as Linux's put_user there."""
    try:
        await t.mm.write_struct(structs.I32, addr, tid)
    except Errno:
        pass


@syscall
async def clone(t: Task, flags: ULong, stack: Addr, parent_tid: Addr, child_tid: Addr, tls: ULong) -> int:
    """clone(2), x86-64 argument order: flags, stack, parent_tid, child_tid, tls."""
    return await do_clone(t, flags & ~CSIGNAL & 0xFFFF_FFFF, stack, parent_tid, child_tid, tls, flags & CSIGNAL,
                          pidfd=parent_tid)


@syscall
async def clone3(t: Task, cl_args: Addr, size: Size) -> int:
    """clone3(2): the arguments come in a struct clone_args of ``size`` bytes."""
    if size < CLONE_ARGS_SIZE_VER0 or size > PAGE_SIZE:
        raise Errno(EINVAL)
    raw = await t.mm.copy_in(cl_args, size)
    if size > structs.CLONE_ARGS.size and any(raw[structs.CLONE_ARGS.size:]):
        raise Errno(EINVAL)  # a newer struct with fields we do not know set
    raw = raw[:structs.CLONE_ARGS.size].ljust(structs.CLONE_ARGS.size, b"\0")
    (flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
     _cgroup) = structs.CLONE_ARGS.unpack(raw)
    if flags & CSIGNAL or exit_signal > 64 or set_tid or set_tid_size:
        raise Errno(EINVAL)
    if (stack == 0) != (stack_size == 0):
        raise Errno(EINVAL)
    return await do_clone(t, flags, stack + stack_size if stack else 0, parent_tid, child_tid, tls,
                          exit_signal, pidfd)


@syscall
async def fork(t: Task) -> int:
    return await do_clone(t, 0, 0, 0, 0, 0, int(Signal.SIGCHLD))


@syscall
async def vfork(t: Task) -> int:
    return await do_clone(t, CLONE_VM | CLONE_VFORK, 0, 0, 0, 0, int(Signal.SIGCHLD))
