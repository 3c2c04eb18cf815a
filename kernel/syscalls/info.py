"""What a process can learn about its system: uname, sysinfo, getrandom, CPUs, its cwd.

Everything here is the sandbox's own view: uname names Sentrio's kernel, never the host's.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import trio

from abi import structs
from abi.encoding import rw_count
from abi.errno import EFAULT, EINVAL
from abi.linux import GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM, PAGE_SIZE
from abi.errno import Errno
from abi.ranges import user_range
from kernel import determinism
from kernel.syscalls.args import Addr, Int, Size, UInt
from kernel.syscalls.table import syscall
from kernel.syscalls.usage import affinity_target

if TYPE_CHECKING:
    from kernel.task import Task

#: The kernel release and version the sandbox reports (gVisor reports an invented one too).
RELEASE = b"6.1.0-sentrio"
VERSION = b"#1 SMP PREEMPT_DYNAMIC Sentrio"
#: getrandom(2) fills this much between two looks at other tasks and pending signals.
_GETRANDOM_BLOCK = 1 << 20


@syscall
async def uname(t: Task, buf: Addr) -> int:
    uts = t.process.uts
    fields = (b"Linux", uts.hostname, RELEASE, VERSION, b"x86_64", uts.domainname)
    await t.mm.write_struct(structs.UTSNAME, buf, *fields)
    return 0


@syscall
async def sysinfo(t: Task, info: Addr) -> int:
    usage = await t.kernel.bus.call("mm", "usage")
    total = t.kernel.config.memory_limit or os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    shared = usage.get("shmem", 0)  # tmpfs, memfd and overlay pages: sharedram, as Linux counts shmem
    used = min(usage["allocated"] + shared + usage.get("buffers", 0), total)
    uptime = int(determinism.uptime(t.kernel.boot_time))
    await t.mm.write_struct(
        structs.SYSINFO, info,
        uptime, 0, 0, 0,                       # uptime, load averages
        total, total - used, shared, 0, 0, 0,  # ram total/free/shared/buffers, swap total/free
        t.kernel.task_count(), 0,         # procs, padding
        0, 0, 1,                          # high memory total/free, mem_unit
    )
    return 0


@syscall
async def getrandom(t: Task, buf: Addr, count: Size, flags: UInt) -> int:
    """Fill ``buf`` with random bytes (the host's urandom; the sandbox never blocks on entropy).

    As Linux does it: at most MAX_RW_COUNT bytes per call, EFAULT unless the range is a user
    range, then a block at a time, so a buffer that runs off its mapping gets the bytes that
    fit (EFAULT only if none did), and a signal ends a long call early with what was written.
    """
    if flags & ~(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE):
        raise Errno(EINVAL)
    if flags & GRND_INSECURE and flags & GRND_RANDOM:
        raise Errno(EINVAL)
    count = rw_count(count)
    user_range(buf, count)
    done = 0
    while done < count:
        block = min(_GETRANDOM_BLOCK, count - done)
        written = await _fill_random(t, buf + done, block)
        done += written
        if written < block or t.signal_pending:
            break
        await trio.lowlevel.checkpoint()
    if not done and count:
        raise Errno(EFAULT)
    return done


async def _fill_random(t: Task, addr: int, length: int) -> int:
    """Random bytes into [addr, addr+length); how many went in before the first page that
    cannot be written (the block at once, else page by page to find where it stops)."""
    try:
        await t.mm.copy_out(addr, determinism.random_bytes(length))
        return length
    except Errno:
        pass
    done = 0
    while done < length:
        step = min(PAGE_SIZE - (addr + done) % PAGE_SIZE, length - done)
        try:
            await t.mm.copy_out(addr + done, determinism.random_bytes(step))
        except Errno:
            break
        done += step
    return done


@syscall
async def sched_yield(t: Task) -> int:
    await trio.lowlevel.checkpoint()
    return 0


@syscall
async def sched_getaffinity(t: Task, pid: Int, cpusetsize: Size, mask: Addr) -> int:
    """The thread's CPU mask (every CPU of the sandbox unless set); returns the size of the
    kernel's cpumask (one long here)."""
    cpus = t.kernel.online_cpus
    mask_bytes = 8 * ((cpus + 63) // 64)
    if cpusetsize * 8 < cpus or cpusetsize & 7:
        raise Errno(EINVAL)
    target = affinity_target(t, pid)
    bits = (1 << cpus) - 1 if target.affinity is None else target.affinity
    await t.mm.copy_out(mask, bits.to_bytes(mask_bytes, "little"))
    return mask_bytes
