"""Stubs killed from outside (the OOM killer, an administrator): the platform reports the death
and never raises, whatever the Sentry was doing with the stub at the time.

Guest code is a few hand-assembled instructions in the memory file, as in test_ptrace.py.
"""

from __future__ import annotations

import mmap
import os
import signal
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from abi.errno import EAGAIN, Errno
from abi.linux import PROT_EXEC, PROT_READ
from platforms import StopReason
from platforms.ptrace.address_space import PtraceAddressSpace
from platforms.ptrace.context import PtraceContext
from platforms.ptrace.platform import PtracePlatform

CODE = 0x400000
# mov eax, 110 (getppid); syscall; jmp back to the mov
GETPPID_LOOP = bytes.fromhex("b86e000000" "0f05" "ebf7")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ptrace tests run as root")


@pytest.fixture
async def platform() -> AsyncIterator[PtracePlatform]:
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # the platform blocks SIGCHLD; put it back after
    fd = os.memfd_create("test-memory", os.MFD_CLOEXEC)
    os.ftruncate(fd, 1 << 24)
    with mmap.mmap(fd, 1 << 24) as memory:
        memory[0:len(GETPPID_LOOP)] = GETPPID_LOOP
        platform = PtracePlatform(fd, pin_cpus=False)
        async with trio.open_nursery() as nursery:
            await nursery.start(platform.serve)
            yield platform
            nursery.cancel_scope.cancel()
        platform.close()
    os.close(fd)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


async def held_thread(platform: PtracePlatform) -> tuple[PtraceAddressSpace, PtraceContext, trio.Event]:
    """An address space with one guest thread stopped at a system call (held by the Sentry, as
    while a handler runs), and the event its ``on_death`` sets."""
    space = await platform.new_address_space()
    await space.map(CODE, 4096, PROT_READ | PROT_EXEC, 0)
    context = await space.new_context()
    context.regs.rip = CODE
    context.regs_changed()
    assert await context.switch() == StopReason.SYSCALL
    died = trio.Event()
    context.on_death = died.set
    return space, context, died


def gone(pid: int) -> bool:
    """Whether ``pid`` has been reaped (no zombie left behind)."""
    return not os.path.exists(f"/proc/{pid}")


async def test_a_stub_killed_while_its_thread_is_held_is_reported_and_never_raises(
        platform: PtracePlatform) -> None:
    space, context, died = await held_thread(platform)
    state_size = len(context.get_fp_state())
    pid = space.pid
    os.kill(pid, signal.SIGKILL)
    await died.wait()  # told at once, though nobody was waiting for the thread
    assert space.dead and context.dead
    # Everything the kernel may still do with it succeeds, without effect.
    assert context.get_fp_state() == bytes(state_size)
    context.set_fp_state(bytes(state_size))
    other, alive, _ = await held_thread(platform)  # a fork of the killed process copies its state
    alive.set_fp_state(context.get_fp_state())
    assert await alive.switch() == StopReason.SYSCALL
    other.release()
    assert context.cpu_time_ns(whole_process=True) == 0
    await space.map(CODE + 4096, 4096, PROT_READ, 4096)
    await space.protect(CODE, 4096, PROT_READ)
    await space.unmap(CODE, 4096)
    newborn = await space.new_context()  # a clone in a killed process: dead from birth
    assert await newborn.switch() == StopReason.DIED
    assert await context.switch() == StopReason.DIED
    context.release()
    space.release()
    platform.waiter.reap_orphans_blocking()
    assert gone(pid)


async def test_the_watch_moves_on_when_the_watched_thread_ends(platform: PtracePlatform) -> None:
    space, first, first_died = await held_thread(platform)
    second = await space.new_context()
    second.regs.rip = CODE
    second.regs_changed()
    assert await second.switch() == StopReason.SYSCALL
    second_died = trio.Event()
    second.on_death = second_died.set
    first.release()  # the Sentry ends the watched thread itself: that is no death of the stub
    while space._watched is not second:  # the exit watcher picks the next thread
        await trio.sleep(0.01)
    assert not space.dead and not first_died.is_set()
    assert await second.switch() == StopReason.SYSCALL
    os.kill(space.pid, signal.SIGKILL)
    await second_died.wait()
    assert not first_died.is_set()
    space.release()


async def test_a_normal_end_reports_no_death(platform: PtracePlatform) -> None:
    space, context, died = await held_thread(platform)
    pid = space.pid
    context.release()
    space.release()
    platform.waiter.reap_orphans_blocking()
    assert gone(pid)
    await trio.testing.wait_all_tasks_blocked()
    assert not died.is_set()


async def test_a_dead_template_makes_new_address_spaces_fail_with_eagain(platform: PtracePlatform) -> None:
    os.kill(platform.template_pid, signal.SIGKILL)
    for _ in range(2):  # and again: the platform does not touch the dead template's pid
        with pytest.raises(Errno) as failure:
            await platform.new_address_space()
        assert failure.value.errno == EAGAIN


async def test_address_spaces_outlive_the_template(platform: PtracePlatform) -> None:
    space, context, died = await held_thread(platform)
    template = platform.template_pid
    os.kill(template, signal.SIGKILL)
    while _state(template) not in ("Z", "X", None):  # its exit, parent-death signals included, is done
        await trio.sleep(0.01)
    assert await context.switch() == StopReason.SYSCALL
    assert not died.is_set()
    space.release()


async def _second_thread(space: PtraceAddressSpace) -> PtraceContext:
    context = await space.new_context()
    context.regs.rip = CODE
    context.regs_changed()
    assert await context.switch() == StopReason.SYSCALL
    return context


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("Threads:"))


async def test_an_ended_thread_s_stub_thread_serves_the_next_one(platform: PtracePlatform) -> None:
    space, first, died = await held_thread(platform)
    second = await _second_thread(space)
    for _ in range(200):
        assert await second.switch() == StopReason.SYSCALL
    tid = second.tid
    second.release()
    assert second.dead
    third = await space.new_context()  # no host clone: the stopped thread is handed on
    assert third.tid == tid and _threads(space.pid) == 3  # control thread + two guest threads
    assert third.cpu_time_ns(whole_process=False) == 0  # its clock starts afresh
    third.regs.rip = CODE
    third.regs_changed()
    assert await third.switch() == StopReason.SYSCALL
    assert await first.switch() == StopReason.SYSCALL
    pid = space.pid
    third.release()
    space.release()  # kills and reaps the kept thread with the rest
    platform.waiter.reap_orphans_blocking()
    assert gone(pid) and not died.is_set()


async def test_kept_threads_are_bounded(platform: PtracePlatform) -> None:
    from platforms.ptrace.address_space import IDLE_THREADS

    space, first, _died = await held_thread(platform)
    extra = [await _second_thread(space) for _ in range(IDLE_THREADS + 2)]
    for context in extra:
        context.release()
    while _threads(space.pid) > 2 + IDLE_THREADS:  # the ones not kept exit
        await trio.sleep(0.01)
    assert len({(await space.new_context()).tid for _ in range(IDLE_THREADS)}) == IDLE_THREADS
    assert _threads(space.pid) == 2 + IDLE_THREADS
    space.release()


async def test_a_stub_killed_with_kept_threads_is_reported_and_reaped(platform: PtracePlatform) -> None:
    space, first, died = await held_thread(platform)
    (await _second_thread(space)).release()  # kept, stopped
    pid = space.pid
    os.kill(pid, signal.SIGKILL)
    await died.wait()
    newborn = await space.new_context()  # not the kept thread: the process is dead
    assert newborn.dead and await newborn.switch() == StopReason.DIED
    space.release()
    platform.waiter.reap_orphans_blocking()
    assert gone(pid)


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


async def test_a_clone_racing_the_platforms_end_sees_its_thread_gone() -> None:
    """The platform closes its waiter when the sandbox ends; a guest's clone still under way
    then learns that its new stub thread is gone (ThreadGone), not that an epoll set is closed
    (a ValueError that ended a fork bomb's run with a traceback)."""
    from platforms.ptrace.waiter import StopWaiter, ThreadGone

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    waiter = StopWaiter()
    try:
        waiter.close()
        with pytest.raises(ThreadGone):
            waiter.watch_exit(os.getpid(), lambda: None)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
